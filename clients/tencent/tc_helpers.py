"""Shared helpers for the Tencent Cloud SSM (API 2019-09-23) end-to-end tests.

Everything here talks to a real `coffer` server through one of:

* ``Tc``     - tencentcloud-sdk-python-ssm ``SsmClient`` (TC3-HMAC-SHA256 POST JSON by default;
               ``method="GET"`` for TC3 GET with flattened query; ``sign="HmacSHA256"``/``"HmacSHA1"``
               for the legacy v1 form signature)
* ``TcRaw``  - hand-signed requests (TC3 and v1) so tests can send broken ones
* ``Tccli``  - the real ``tccli`` command line, run as a subprocess

Every call returns the decoded ``Response`` object (a dict, exactly as the server sent it) or raises
``TcError`` with the error code, message and request id as the client reported them.
"""
import base64
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests

REGION = "ap-guangzhou"
API_VERSION = "2019-09-23"
SERVICE = "ssm"
VENV_BIN = Path(sys.executable).parent
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


# ----------------------------------------------------------------------------- errors
class TcError(Exception):
    def __init__(self, code, message, request_id, via, status=200, raw=None):
        self.code = code
        self.message = message or ""
        self.request_id = request_id
        self.via = via
        self.status = status
        self.raw = raw
        super().__init__("[%s] %s: %s (RequestId %s)" % (via, code, message, request_id))


class expect_tc_error:
    """Context manager: the block must raise TcError with exactly this code and a message containing
    every message part (parameter errors name the parameter)."""

    def __init__(self, code, *message_parts):
        self.code = code
        self.message_parts = message_parts
        self.error = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            pytest.fail("expected error %s, but the call succeeded" % (self.code,))
        if not issubclass(exc_type, TcError):
            return False
        self.error = exc
        assert exc.code == self.code, "expected error %s, got %s (message %r, via %s)" % (
            self.code, exc.code, exc.message, exc.via)
        for part in self.message_parts:
            assert part in exc.message, "error message %r does not mention %r (via %s)" % (
                exc.message, part, exc.via)
        assert exc.request_id and exc.request_id != "None", "error without RequestId (via %s)" % exc.via
        return True


def check_http(resp, via):
    """Every SSM answer: HTTP 200, Content-Type exactly application/json, {"Response": {..., RequestId}}."""
    assert resp.status_code == 200, "[%s] HTTP %s (errors must be HTTP 200 too): %s" % (
        via, resp.status_code, resp.content[:500])
    ctype = resp.headers.get("Content-Type")
    assert ctype == "application/json", "[%s] Content-Type %r, must be exactly application/json" % (via, ctype)
    body = json.loads(resp.content)
    assert isinstance(body, dict) and set(body) == {"Response"}, "[%s] body is not {\"Response\": ...}: %r" % (
        via, body)
    r = body["Response"]
    assert isinstance(r.get("RequestId"), str) and UUID_RE.match(r["RequestId"]), \
        "[%s] Response.RequestId missing or not a UUID: %r" % (via, r)
    return r


# ----------------------------------------------------------------------------- the official SDK
class Tc:
    """tencentcloud-sdk-python-ssm SsmClient pointed at coffer.

    kind: "tc3" (POST JSON), "tc3get" (GET, flattened query), "v1sha256" / "v1sha1" (legacy form
    signature, POST), "v1get" (legacy HmacSHA256 over GET)."""

    KINDS = ("tc3", "tc3get", "v1sha256", "v1sha1", "v1get")

    def __init__(self, endpoint, secret_id, secret_key, kind="tc3", region=REGION, token=None,
                 language=None, unsigned_payload=False, scheme_in_endpoint=False):
        from tencentcloud.common import credential
        from tencentcloud.common.profile.client_profile import ClientProfile
        from tencentcloud.common.profile.http_profile import HttpProfile
        from tencentcloud.ssm.v20190923 import ssm_client

        method = "GET" if kind in ("tc3get", "v1get") else "POST"
        sign = {"v1sha256": "HmacSHA256", "v1sha1": "HmacSHA1", "v1get": "HmacSHA256"}.get(kind)
        if scheme_in_endpoint:
            # like tccli: no protocol, the scheme rides in the endpoint (and so in the Host header)
            hp = HttpProfile(endpoint="http://" + endpoint, reqMethod=method)
        else:
            hp = HttpProfile(protocol="http", endpoint=endpoint, reqMethod=method)
        hp.reqTimeout = 30
        kwargs = {}
        if language:
            kwargs["language"] = language
        profile = ClientProfile(signMethod=sign, httpProfile=hp, **kwargs)
        if unsigned_payload:
            profile.unsignedPayload = True
        self.kind = kind
        self.region = region
        self.client = ssm_client.SsmClient(credential.Credential(secret_id, secret_key, token), region, profile)
        self.last_http = None
        # record every HTTP exchange so each call can check status, Content-Type and the raw JSON
        send = self.client.request.send_request

        def recording_send(req):
            resp = send(req)
            self.last_http = resp
            self.last_request = req
            return resp

        self.client.request.send_request = recording_send

    @property
    def label(self):
        return self.kind

    @staticmethod
    def models():
        from tencentcloud.ssm.v20190923 import models

        return models

    def call(self, action, **params):
        """Typed call through ``SsmClient.<Action>(models.<Action>Request)``; returns the raw
        ``Response`` dict the server sent (types exactly as on the wire)."""
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

        params = {k: v for k, v in params.items() if v is not None}
        req = getattr(self.models(), action + "Request")()
        req.from_json_string(json.dumps(params))
        self.last_http = None
        try:
            model = getattr(self.client, action)(req)
        except TencentCloudSDKException as e:
            self._raise(e)
        r = check_http(self.last_http, self.kind)
        assert "Error" not in r, r
        self.last_model = model
        return r

    def generic(self, action, params=None, headers=None):
        """Untyped call through ``AbstractClient.call`` (for actions the model does not know)."""
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

        self.last_http = None
        try:
            body = self.client.call(action, params or {}, headers=headers)
        except TencentCloudSDKException as e:
            self._raise(e)
        r = check_http(self.last_http, self.kind)
        assert json.loads(body)["Response"] == r
        return r

    def _raise(self, e):
        raw = None
        if self.last_http is not None and e.code != "ServerNetworkError":
            raw = check_http(self.last_http, self.kind)
            assert raw["Error"]["Code"] == e.code and raw["RequestId"] == e.requestId
            assert set(raw) == {"Error", "RequestId"}, "error response with extra fields: %r" % raw
        raise TcError(e.code, e.message, e.requestId, self.kind,
                      self.last_http.status_code if self.last_http is not None else None, raw) from None


class TcKms(Tc):
    """The same signing flavours and checks, through ``KmsClient`` (KMS 2019-01-18, service kms)."""

    def __init__(self, endpoint, secret_id, secret_key, kind="tc3", region=REGION):
        from tencentcloud.kms.v20190118 import kms_client

        super().__init__(endpoint, secret_id, secret_key, kind=kind, region=region)
        ssm = self.client
        self.client = kms_client.KmsClient(ssm.credential, region, ssm.profile)
        send = self.client.request.send_request

        def recording_send(req):
            resp = send(req)
            self.last_http = resp
            self.last_request = req
            return resp

        self.client.request.send_request = recording_send

    @staticmethod
    def models():
        from tencentcloud.kms.v20190118 import models

        return models


def make_tc(kind, server, **kw):
    return Tc(server.endpoint, server.ak, server.sk, kind=kind, **kw)


# ----------------------------------------------------------------------------- signing
def tc3_signature(secret_key, date, service, string_to_sign):
    def h(key, msg):
        return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()

    k_date = h(("TC3" + secret_key).encode("utf-8"), date)
    k_service = h(k_date, service)
    k_signing = h(k_service, "tc3_request")
    return hmac.new(k_signing, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def tc3_canonical_request(method, query, headers, signed_headers, payload):
    """headers: lower-case name -> value; payload: bytes or the text UNSIGNED-PAYLOAD."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    lines = "".join("%s:%s\n" % (h, headers[h].strip()) for h in signed_headers)
    return "\n".join([method, "/", query, lines, ";".join(signed_headers), hashlib.sha256(payload).hexdigest()])


def tc3_string_to_sign(timestamp, date, service, canonical_request):
    return "TC3-HMAC-SHA256\n%s\n%s/%s/tc3_request\n%s" % (
        timestamp, date, service, hashlib.sha256(canonical_request.encode("utf-8")).hexdigest())


def v1_signature(secret_key, source, method="HmacSHA1"):
    digest = hashlib.sha256 if method == "HmacSHA256" else hashlib.sha1
    return base64.b64encode(hmac.new(secret_key.encode("utf-8"), source.encode("utf-8"), digest).digest()).decode()


def utc_date(ts):
    return datetime.fromtimestamp(int(ts), timezone.utc).strftime("%Y-%m-%d")


class TcRaw:
    """Hand-built, hand-signed requests."""

    def __init__(self, server):
        self.server = server
        self.session = requests.Session()
        self.url = "http://%s/" % server.endpoint

    def tc3(self, action="DescribeSecret", payload=None, *, method="POST", version=API_VERSION, region=REGION,
            secret_id=None, secret_key=None, timestamp=None, date=None, service=SERVICE, token=None,
            authorization=None, signed_headers=("content-type", "host"), content_type=None, host=None,
            extra_headers=None, body=None, unsigned_payload=False, omit=()):
        """TC3-HMAC-SHA256 as the SDK builds it. ``payload`` is a dict (JSON body for POST, flattened
        query for GET) unless ``body`` (raw bytes) is given. Names in ``omit`` drop those headers."""
        sid = self.server.ak if secret_id is None else secret_id
        skey = self.server.sk if secret_key is None else secret_key
        ts = int(time.time()) if timestamp is None else int(timestamp)
        date = utc_date(ts) if date is None else date
        query = ""
        if method == "GET":
            query = urlencode(flatten(payload or {}))
            data = b""
            ctype = content_type or "application/x-www-form-urlencoded"
        else:
            data = body if body is not None else json.dumps(payload or {}).encode("utf-8")
            ctype = content_type or "application/json"
        headers = {
            "content-type": ctype,
            "host": host or self.server.endpoint,
            "x-tc-action": action,
            "x-tc-timestamp": str(ts),
            "x-tc-version": version,
            "x-tc-region": region,
            "x-tc-language": "en-US",
            "x-tc-requestclient": "coffer-e2e-raw",
        }
        if token is not None:
            headers["x-tc-token"] = token
        if unsigned_payload:
            headers["x-tc-content-sha256"] = "UNSIGNED-PAYLOAD"
        headers.update(extra_headers or {})
        for h in omit:
            headers.pop(h, None)
        creq = tc3_canonical_request(method, query, headers, list(signed_headers),
                                     "UNSIGNED-PAYLOAD" if unsigned_payload else data)
        sig = tc3_signature(skey, date, service, tc3_string_to_sign(ts, date, service, creq))
        if authorization is None:
            authorization = "TC3-HMAC-SHA256 Credential=%s/%s/%s/tc3_request, SignedHeaders=%s, Signature=%s" % (
                sid, date, service, ";".join(signed_headers), sig)
        if authorization is not False:
            headers["authorization"] = authorization
        url = self.url + ("?" + query if query else "")
        return self._send(method, url, headers, data or None)

    def v1(self, action="DescribeSecret", params=None, *, method="POST", version=API_VERSION, region=REGION,
           secret_id=None, secret_key=None, timestamp=None, sign_method="HmacSHA256", token=None,
           signature=None, omit=()):
        """Legacy v1 signature: fields form-encoded (POST body or GET query)."""
        sid = self.server.ak if secret_id is None else secret_id
        skey = self.server.sk if secret_key is None else secret_key
        fields = {
            "Action": action, "Version": version, "Region": region,
            "Timestamp": str(int(time.time()) if timestamp is None else int(timestamp)),
            "Nonce": str(uuid.uuid4().int % 10 ** 9), "SecretId": sid, "SignatureMethod": sign_method,
            "RequestClient": "coffer-e2e-raw", "Language": "en-US",
        }
        if token is not None:
            fields["Token"] = token
        fields.update(dict(flatten(params or {})))
        for k in omit:
            fields.pop(k, None)
        joined = "&".join("%s=%s" % (k, fields[k]) for k in sorted(fields))
        source = "%s%s/?%s" % (method, self.server.endpoint, joined)
        fields["Signature"] = signature if signature is not None else v1_signature(skey, source, sign_method)
        encoded = urlencode(fields)
        headers = {"content-type": "application/x-www-form-urlencoded", "host": self.server.endpoint}
        if method == "GET":
            return self._send("GET", self.url + "?" + encoded, headers, None)
        return self._send("POST", self.url, headers, encoded.encode())

    def _send(self, method, url, headers, data):
        req = requests.Request(method, self.url, headers=headers, data=data)
        prep = self.session.prepare_request(req)
        prep.url = url  # keep our exact query string
        return self.session.send(prep, timeout=15, allow_redirects=False)


def flatten(params, prefix=""):
    """The SDK's flattening for GET / v1: lists as .0 .1, objects as .Key; values as strings."""
    out = []
    if isinstance(params, dict):
        for k, v in params.items():
            out += flatten(v, "%s.%s" % (prefix, k) if prefix else k)
    elif isinstance(params, (list, tuple)):
        for i, v in enumerate(params):
            out += flatten(v, "%s.%d" % (prefix, i))
    elif params is not None:
        out.append((prefix, str(params)))
    return out


def raw_ok(resp):
    """Assert a raw success response; returns Response."""
    r = check_http(resp, "raw")
    assert "Error" not in r, "expected success, got %r" % r
    return r


def raw_tc_error(resp, code, *message_parts):
    """Assert a raw error response (HTTP 200, exact Content-Type, Response.Error); returns Response."""
    r = check_http(resp, "raw")
    assert "Error" in r, "expected error %s, got success %r" % (code, r)
    assert r["Error"].get("Code") == code, "expected error %s, got %r" % (code, r["Error"])
    for part in message_parts:
        assert part in r["Error"].get("Message", ""), "message %r does not mention %r" % (r["Error"], part)
    return r


# ----------------------------------------------------------------------------- tccli
TCCLI_ERR_RE = re.compile(r"\[TencentCloudSDKException\] code:(\S+) message:(.*) requestId:(\S*)\s*$", re.S)


class Tccli:
    """The real `tccli` (same virtualenv as the tests), run as a subprocess.

    tccli never sets HttpProfile.protocol, so the endpoint carries the scheme: ``--endpoint
    http://127.0.0.1:PORT`` (its Host header is then literally ``http://127.0.0.1:PORT``). Credentials
    come from TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY; HOME is a private temp dir so no user
    configuration is read. On an API error tccli prints
    ``[TencentCloudSDKException] code:<Code> message:<Message> requestId:<id>`` to stderr and exits 255;
    on success it prints the Response object (without the wrapper, absent fields as null) as JSON."""

    def __init__(self, server, home, secret_id=None, secret_key=None, region=REGION):
        self.server = server
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.secret_id = server.ak if secret_id is None else secret_id
        self.secret_key = server.sk if secret_key is None else secret_key
        self.region = region
        self.exe = str(VENV_BIN / "tccli")

    def run(self, action, **params):
        args = [self.exe, "ssm", action, "--region", self.region, "--endpoint", "http://" + self.server.endpoint]
        for k, v in params.items():
            if v is None:
                continue
            if isinstance(v, (list, dict)):
                v = json.dumps(v)
            elif isinstance(v, bool):
                v = "true" if v else "false"
            args += ["--" + k, str(v)]
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("TENCENTCLOUD_", "TCCLI_", "TKE_"))}
        env["HOME"] = str(self.home)
        env["TENCENTCLOUD_SECRET_ID"] = self.secret_id
        env["TENCENTCLOUD_SECRET_KEY"] = self.secret_key
        p = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=120)
        self.last = p
        if p.returncode != 0:
            m = TCCLI_ERR_RE.search(p.stderr)
            assert m, "tccli failed (exit %s) without a TencentCloudSDKException line:\nstdout %s\nstderr %s" % (
                p.returncode, p.stdout[-2000:], p.stderr[-2000:])
            assert p.returncode == 255, "tccli exit code %s on an API error" % p.returncode
            raise TcError(m.group(1), m.group(2), m.group(3), "tccli")
        try:
            return json.loads(p.stdout)
        except ValueError:
            raise AssertionError("tccli printed no JSON:\nstdout %s\nstderr %s" % (p.stdout[-2000:], p.stderr[-2000:]))


# ----------------------------------------------------------------------------- small utilities
def tc_name(prefix="tc"):
    """A fresh secret name valid for both dialects (letters, digits, '-')."""
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


def b64(data):
    return base64.b64encode(data).decode()


def assert_near(t, expected, tolerance=120):
    assert isinstance(t, int) and not isinstance(t, bool), "not an integer unix time: %r" % (t,)
    assert abs(t - expected) <= tolerance, "time %s not within %ss of %s (off by %s)" % (
        t, tolerance, expected, t - expected)
