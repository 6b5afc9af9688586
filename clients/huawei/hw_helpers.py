"""Shared helpers for the Huawei Cloud CSMS v1 end-to-end tests.

Everything here talks to a real `coffer` server through one of:

* ``Hw``     - the official ``huaweicloudsdkcsms`` ``CsmsClient`` (huaweicloudsdkcore, SDK-HMAC-SHA256),
               pointed at coffer with ``BasicCredentials(ak, sk, project_id)`` and
               ``with_endpoint("http://127.0.0.1:PORT")`` (no region object, so no IAM call)
* ``HwRaw``  - hand-signed requests (the signer ported from shared/reference/huawei_sign_check.py) so
               tests can send broken ones

``Hw.call`` returns the response body exactly as the server sent it (a dict, or None for an empty
body) after checking the HTTP status the operation must answer with, the Content-Type and the
X-Request-Id header; the SDK's typed response is kept in ``Hw.last_model``. Errors raise ``HwError``
with the HTTP status, Huawei error code, message and request id as the SDK reported them.
"""
import base64
import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
import requests

from coffer_helpers import (SENTINEL, CofferServer, database_url_for, free_port, spawn_coffer, tail,  # noqa: F401
                            wait_ready)  # (re-exported)

# The Huawei region id the tests hand to the SDK where one is needed: any id works, every region id
# maps to the server's default region unless `--region` maps it.
HW_REGION = "cn-north-4"
# `coffer serve --default-region` for the session server (the bootstrap project lives in this region)
DEFAULT_REGION = "hw-e2e"

ALGORITHM = "SDK-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
DATE_FMT = "%Y%m%dT%H%M%SZ"

PROJECT_RE = re.compile(r"^[0-9a-f]{32}$")
REQUEST_ID_RE = re.compile(r"^[0-9a-f]{32}$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
VERSION_RE = re.compile(r"^v[0-9]{1,10}$")

# HTTP status each SDK operation answers with on success (reference section 2 and 10)
SUCCESS = {
    "create_secret": 200, "list_secrets": 200, "show_secret": 200, "update_secret": 200,
    "delete_secret": 200, "delete_secret_for_schedule": 200, "restore_secret": 200,
    "create_secret_version": 200, "list_secret_versions": 200, "show_secret_version": 200,
    "update_version": 200, "update_secret_stage": 200, "show_secret_stage": 200,
    "delete_secret_stage": 204, "rotate_secret": 200,
    "create_secret_tag": 204, "list_secret_tags": 200, "delete_secret_tag": 204,
    "batch_create_or_delete_tags": 204, "list_project_secrets_tags": 200, "list_resource_instances": 200,
    "create_secret_event": 200, "list_secret_events": 200, "show_secret_event": 200,
    "update_secret_event": 200, "delete_secret_event": 204, "list_notification_records": 200,
}


# ----------------------------------------------------------------------------- small utilities
def hw_name(prefix="hw"):
    """A fresh secret name valid for Huawei (^[a-zA-Z0-9_-]{1,64}$) and Alibaba alike."""
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


def random_project_id():
    return uuid.uuid4().hex


def now_ms():
    return int(time.time() * 1000)


def assert_ms_near(t, expected_ms, tolerance_ms=120_000):
    """t must be a JSON integer in epoch milliseconds close to expected_ms."""
    assert isinstance(t, int) and not isinstance(t, bool), "not an integer timestamp: %r" % (t,)
    assert 1_000_000_000_000 <= t <= 9_999_999_999_999, "timestamp %r is not in epoch milliseconds" % (t,)
    assert abs(t - expected_ms) <= tolerance_ms, "timestamp %s not within %s ms of %s (off by %s ms)" % (
        t, tolerance_ms, expected_ms, t - expected_ms)


def b64(data):
    return base64.b64encode(data).decode()


def hw_value(tag="v"):
    """A text secret value carrying the log sentinel plus characters that are awkward on the wire."""
    return "%s %s/%s a+b*c~d %%2B &x=y;\u00e9\u20ac\U0001F600\n\t\"q'\\" % (SENTINEL, tag, uuid.uuid4().hex[:8])


def hw_binary(n=48):
    """base64 text of bytes that start with the sentinel (binary secrets are base64 in and out)."""
    return b64(SENTINEL.encode() + uuid.uuid4().bytes + bytes(range(256))[:n])


def stages_by_version(version_metadatas):
    return {m["id"]: sorted(m.get("version_stages") or []) for m in version_metadatas}


# ----------------------------------------------------------------------------- errors
class HwError(Exception):
    def __init__(self, status, code, message, request_id, via, body=None, headers=None):
        self.status = status
        self.code = code
        self.message = message or ""
        self.request_id = request_id
        self.via = via
        self.body = body
        self.headers = headers or {}
        super().__init__("[%s] HTTP %s %s: %s (request id %s)" % (via, status, code, message, request_id))


def check_error_response(resp, via):
    """Every Huawei error: JSON (never application/xml|bson), error_code + error_msg, X-Request-Id header
    (32 hex) equal to the body's request_id. Returns the decoded body."""
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.lower().startswith("application/json"), "[%s] error Content-Type %r (body %r)" % (
        via, ctype, resp.content[:300])
    try:
        body = json.loads(resp.content)
    except ValueError:
        raise AssertionError("[%s] error body is not JSON: %r" % (via, resp.content[:300]))
    assert isinstance(body, dict), "[%s] error body is not an object: %r" % (via, body)
    assert isinstance(body.get("error_code"), str) and isinstance(body.get("error_msg"), str), \
        "[%s] error body without error_code/error_msg: %r" % (via, body)
    assert 8 <= len(body["error_code"]) <= 36 and 2 <= len(body["error_msg"]) <= 512, body
    rid = resp.headers.get("X-Request-Id")
    assert rid and REQUEST_ID_RE.match(rid), "[%s] X-Request-Id header %r is not 32 hex" % (via, rid)
    assert body.get("request_id") == rid, "[%s] body request_id %r != X-Request-Id %r" % (
        via, body.get("request_id"), rid)
    return body


class expect_hw:
    """Context manager: the block must raise HwError with exactly this HTTP status and error code (a code,
    or a tuple of acceptable (status, code) pairs when the reference leaves the choice open) and a
    message containing every message part."""

    def __init__(self, status, code=None, *message_parts, alternatives=None):
        self.allowed = [(status, code)] + list(alternatives or [])
        self.message_parts = message_parts
        self.error = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            pytest.fail("expected %s, but the call succeeded" % " or ".join("HTTP %s %s" % a for a in self.allowed))
        if not issubclass(exc_type, HwError):
            return False
        self.error = exc
        assert (exc.status, exc.code) in self.allowed, "expected %s, got HTTP %s %s (message %r, via %s)" % (
            " or ".join("HTTP %s %s" % a for a in self.allowed), exc.status, exc.code, exc.message, exc.via)
        for part in self.message_parts:
            assert part in exc.message, "error message %r does not mention %r" % (exc.message, part)
        assert exc.request_id and REQUEST_ID_RE.match(exc.request_id), \
            "error without a 32-hex request id: %r (via %s)" % (exc.request_id, exc.via)
        if exc.body is not None:
            assert exc.body.get("request_id") == exc.request_id, exc.body
        return True


# ----------------------------------------------------------------------------- the official SDK
def camel(op):
    return "".join(p.capitalize() for p in op.split("_"))


def build_model(models, klass, data):
    """Build an SDK model object from a plain dict (recursively, using the model's openapi_types).
    Values that are already model objects are passed through."""
    if isinstance(klass, str):
        m = re.match(r"list\[(.*)\]", klass)
        if m:
            return None if data is None else [build_model(models, m.group(1), d) for d in data]
        if klass in ("str", "int", "bool", "float", "object", "date", "datetime"):
            return data
        klass = getattr(models, klass)
    if data is None or not isinstance(data, dict):
        return data
    unknown = set(data) - set(klass.openapi_types)
    assert not unknown, "%s has no attributes %s" % (klass.__name__, sorted(unknown))
    return klass(**{k: build_model(models, klass.openapi_types[k], v) for k, v in data.items()})


class Hw:
    """CsmsClient from huaweicloudsdkcsms, pointed at coffer."""

    @staticmethod
    def client_class():
        from huaweicloudsdkcsms.v1 import CsmsClient

        return CsmsClient

    def __init__(self, endpoint, ak, sk, project_id, *, security_token=None, via="sdk", region=None,
                 use_endpoint=True):
        from huaweicloudsdkcore.auth.credentials import BasicCredentials
        from huaweicloudsdkcore.http.http_config import HttpConfig
        from huaweicloudsdkcore.http.http_handler import HttpHandler

        self.endpoint = endpoint
        self.project_id = project_id
        self.via = via
        self.last_http = None
        self.last_model = None
        config = HttpConfig.get_default_config()
        config.ignore_ssl_verification = True  # as in the reference; plain http anyway
        config.timeout = (10, 60)
        creds = BasicCredentials(ak, sk, project_id)
        if security_token:
            creds = creds.with_security_token(security_token)
        handler = HttpHandler().add_response_handler(self._record)
        builder = self.client_class().new_builder().with_http_config(config).with_credentials(creds) \
            .with_http_handler(handler)
        if region is not None:
            builder = builder.with_region(region)
        if use_endpoint:
            builder = builder.with_endpoint("http://" + endpoint)
        self.client = builder.build()

    def error_body(self, resp):
        """The error object of a failed answer (CSMS: the body itself)."""
        return check_error_response(resp, self.via)

    def _record(self, **kwargs):
        self.last_http = kwargs.get("response")

    @staticmethod
    def models():
        from huaweicloudsdkcsms.v1 import model

        return model

    def request(self, op, **fields):
        """The typed request object for `op` built from plain values (``body`` may be a dict)."""
        models = self.models()
        return build_model(models, camel(op) + "Request", fields)

    def call(self, op, expect_status=None, **fields):
        """``call("create_secret", body={...})`` -> the response JSON (dict) or None for an empty body."""
        from huaweicloudsdkcore.exceptions.exceptions import ServiceResponseException

        req = self.request(op, **fields)
        self.last_http = None
        try:
            model = getattr(self.client, op)(req)
        except ServiceResponseException as e:
            resp = self.last_http
            body = None
            headers = {}
            if resp is not None:
                headers = dict(resp.headers)
                body = self.error_body(resp)
                assert (body["error_code"], body["error_msg"]) == (e.error_code, e.error_msg)
                assert resp.status_code == e.status_code
            raise HwError(e.status_code, e.error_code, e.error_msg, e.request_id, self.via, body,
                          headers) from None
        resp = self.last_http
        assert resp is not None, "the SDK returned without an HTTP exchange"
        want = expect_status or SUCCESS.get(op, 200)
        assert resp.status_code == want, "[%s] %s answered HTTP %s, expected %s: %r" % (
            self.via, op, resp.status_code, want, resp.content[:500])
        assert model.status_code == want
        rid = resp.headers.get("X-Request-Id")
        assert rid and REQUEST_ID_RE.match(rid), "[%s] %s: X-Request-Id header %r is not 32 hex" % (
            self.via, op, rid)
        self.last_model = model
        self.last_request_id = rid
        if not resp.content:
            assert want == 204 or op == "delete_secret", "[%s] %s: empty body with HTTP %s" % (
                self.via, op, resp.status_code)
            return None
        ctype = resp.headers.get("Content-Type", "")
        assert ctype.lower().startswith("application/json"), "[%s] %s: Content-Type %r" % (self.via, op, ctype)
        body = json.loads(resp.content)
        assert isinstance(body, dict), "[%s] %s: body is not an object: %r" % (self.via, op, body)
        if "request_id" in body:
            assert body["request_id"] == rid, "[%s] %s: body request_id %r != header %r" % (
                self.via, op, body["request_id"], rid)
        return body


class HwKms(Hw):
    """KmsClient from huaweicloudsdkkms (module v2), on the same endpoint and credentials. KMS errors
    come as {"error": {"error_code", "error_msg", "request_id"}}."""

    @staticmethod
    def client_class():
        from huaweicloudsdkkms.v2 import KmsClient

        return KmsClient

    @staticmethod
    def models():
        from huaweicloudsdkkms.v2 import model

        return model

    def error_body(self, resp):
        ctype = resp.headers.get("Content-Type", "")
        assert ctype.lower().startswith("application/json"), "[%s] error Content-Type %r" % (self.via, ctype)
        outer = json.loads(resp.content)
        assert isinstance(outer, dict) and set(outer) == {"error"}, "[%s] KMS error body %r" % (self.via, outer)
        body = outer["error"]
        assert isinstance(body.get("error_code"), str) and isinstance(body.get("error_msg"), str), body
        rid = resp.headers.get("X-Request-Id")
        assert rid and REQUEST_ID_RE.match(rid) and body.get("request_id") == rid, (rid, body)
        return body


def make_hw(server, project_id=None, **kw):
    return Hw(server.endpoint, server.ak, server.sk, project_id or server.project_id, **kw)


# ----------------------------------------------------------------------------- signing (ported from
# shared/reference/huawei_sign_check.py: what a server must recompute)
def rfc3986(s):
    """Percent-encode everything except A-Z a-z 0-9 _ . - ~ (UTF-8, upper-case hex)."""
    return quote(s, safe="~")


def canonical_uri(raw_path):
    """Decode the WHOLE path, split on '/', re-encode each segment, join, always end with '/'."""
    uri = "/".join(rfc3986(s) for s in unquote(raw_path).split("/"))
    return uri if uri.endswith("/") else uri + "/"


def canonical_query(raw_query):
    if not raw_query:
        return ""
    pairs = []
    for item in raw_query.split("&"):
        if not item:
            continue
        k, _, v = item.partition("=")
        pairs.append((unquote(k), unquote(v)))
    pairs.sort()
    return "&".join("%s=%s" % (rfc3986(k), rfc3986(v)) for k, v in pairs)


def canonical_request(method, raw_path, raw_query, headers, signed_headers, body):
    """headers: lower-case name -> value (as sent); body: bytes."""
    canon_headers = "".join("%s:%s\n" % (h, headers.get(h, "").strip()) for h in signed_headers)
    if not body:
        payload = EMPTY_SHA256
    elif "x-sdk-content-sha256" in headers:
        payload = headers["x-sdk-content-sha256"].strip()
    else:
        payload = hashlib.sha256(body).hexdigest()
    return "\n".join([method.upper(), canonical_uri(raw_path), canonical_query(raw_query), canon_headers,
                      ";".join(signed_headers), payload])


def string_to_sign(sdk_date, creq, algorithm=ALGORITHM):
    return "%s\n%s\n%s" % (algorithm, sdk_date, hashlib.sha256(creq.encode("utf-8")).hexdigest())


def signature(sk, sts):
    return hmac.new(sk.encode("utf-8"), sts.encode("utf-8"), hashlib.sha256).hexdigest()


def sdk_date(dt=None):
    return (dt or datetime.now(timezone.utc)).strftime(DATE_FMT)


def seg(s):
    """A path segment as the SDK encodes it: quote(value, safe='')."""
    return quote(str(s), safe="")


class HwRaw:
    """Hand-built, hand-signed SDK-HMAC-SHA256 requests (send exactly what a test wants)."""

    USER_AGENT = "huaweicloud-usdk-python/3.0; coffer-e2e-raw"

    def __init__(self, server, project_id=None):
        self.server = server
        self.project_id = project_id or server.project_id
        self.session = requests.Session()

    def path(self, *segments, project=None):
        """/v1/{project}/seg/seg... with each segment encoded like the SDK does."""
        return "/v1/%s/%s" % (project or self.project_id, "/".join(seg(s) for s in segments))

    def send(self, method, path, *, query="", body=None, ak=None, sk=None, date=None, project_header=None,
             content_type=None, signed=None, extra_headers=None, omit=(), authorization=None,
             algorithm=ALGORITHM, host=None, sign_host=None, sign_body=None, sign_path=None, sign_query=None,
             sign_date=None):
        """Send one request. ``path`` is the raw wire path, ``query`` the raw query string. ``body`` may
        be bytes, str or a dict/list (JSON-encoded like simplejson's defaults). ``project_header``
        defaults to this client's project id; False omits X-Project-Id. ``signed`` lists the headers
        to sign (default: every header set here). The sign_* arguments sign something other than
        what is sent (tampering). ``authorization`` replaces the header (False omits it)."""
        ak = self.server.ak if ak is None else ak
        sk = self.server.sk if sk is None else sk
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode("utf-8")
        elif isinstance(body, str):
            data = body.encode("utf-8")
        else:
            data = body or b""
        headers = {
            "user-agent": self.USER_AGENT,
            "content-type": content_type if content_type is not None else (
                "application/json;charset=utf-8" if data else "application/json"),
            "x-sdk-date": date if date is not None else sdk_date(),
            "host": host or self.server.endpoint,
        }
        ph = self.project_id if project_header is None else project_header
        if ph is not False:
            headers["x-project-id"] = ph
        headers.update({k.lower(): v for k, v in (extra_headers or {}).items()})
        for h in omit:
            headers.pop(h, None)
        signed = sorted(headers) if signed is None else list(signed)
        sign_headers = dict(headers)
        if sign_host is not None:
            sign_headers["host"] = sign_host
        if sign_date is not None:
            sign_headers["x-sdk-date"] = sign_date
        creq = canonical_request(method, sign_path if sign_path is not None else path,
                                 sign_query if sign_query is not None else query,
                                 sign_headers, signed, sign_body if sign_body is not None else data)
        sts = string_to_sign(sign_headers.get("x-sdk-date", ""), creq, algorithm)
        if authorization is None:
            authorization = "%s Access=%s, SignedHeaders=%s, Signature=%s" % (
                algorithm, ak, ";".join(signed), signature(sk, sts))
        if authorization is not False:
            headers["authorization"] = authorization
        url = "http://%s%s%s" % (self.server.endpoint, path, "?" + query if query else "")
        req = requests.Request(method, "http://%s/" % self.server.endpoint, headers=headers,
                               data=data if data else None)
        prep = self.session.prepare_request(req)
        prep.url = url  # keep our exact percent-encoding
        if method in ("DELETE", "POST", "PUT") and not data:
            prep.headers["Content-Length"] = "0"
        resp = self.session.send(prep, timeout=30, allow_redirects=False)
        resp.canonical_request = creq
        return resp


def raw_ok(resp, status=200):
    """Assert a raw success response; returns the JSON body (None for an empty one)."""
    assert resp.status_code == status, "expected HTTP %s, got %s: %s" % (status, resp.status_code,
                                                                      resp.content[:500])
    rid = resp.headers.get("X-Request-Id")
    assert rid and REQUEST_ID_RE.match(rid), "X-Request-Id header %r is not 32 hex" % (rid,)
    if not resp.content:
        return None
    assert resp.headers.get("Content-Type", "").lower().startswith("application/json"), resp.headers
    return resp.json()


def raw_hw_error(resp, status, code, *message_parts, alternatives=None):
    """Assert a raw Huawei error response; returns the decoded body."""
    allowed = [(status, code)] + list(alternatives or [])
    body = check_error_response(resp, "raw") if resp.status_code >= 400 else None
    got = (resp.status_code, body and body.get("error_code"))
    assert got in allowed, "expected %s, got HTTP %s: %s" % (
        " or ".join("HTTP %s %s" % a for a in allowed), resp.status_code, resp.content[:500])
    for part in message_parts:
        assert part in body["error_msg"], "message %r does not mention %r" % (body["error_msg"], part)
    return body


# ----------------------------------------------------------------------------- running the server
def start_coffer_hw(binary, data_dir, log_path, ak, sk, project_id=None, default_region=DEFAULT_REGION,
                    extra_args=(), extra_env=None, timeout=60, expect_ready=True):
    """`coffer serve` with the bootstrap admin key (and Huawei project id when given); waits for /healthz.
    With expect_ready=False returns (returncode, log text) of a server that must exit by itself."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COFFER_", "HUAWEICLOUD_"))}
    if project_id is not None:
        env["COFFER_BOOTSTRAP_HUAWEI_PROJECT_ID"] = project_id
    env.update(extra_env or {})
    args = ["--default-region", default_region] if default_region is not None else []
    srv = spawn_coffer(binary, data_dir, log_path, ak, sk, extra_args=[*args, *extra_args], env=env)
    srv.project_id = project_id
    srv.default_region = default_region
    if expect_ready:
        return wait_ready(srv, timeout)
    try:
        srv.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        srv.proc.kill()
        srv.proc.wait()
        srv.log_file.close()
        pytest.fail("coffer kept running although it should have refused to start:\n%s"
                    % tail(srv.log_text()), pytrace=False)
    srv.log_file.close()
    return srv.proc.returncode, srv.log_text()


def stop_quietly(srv, timeout=15):
    if srv.proc is not None and srv.proc.poll() is None:
        srv.proc.send_signal(signal.SIGTERM)
        try:
            srv.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            srv.proc.kill()
            srv.proc.wait()
    if srv.log_file and not srv.log_file.closed:
        srv.log_file.close()


def project_list(binary, data_dir):
    """`coffer project list --json --data-dir D` -> list of {"AccountId","Region","ProjectId"}
    (with the server's --database-url when its store is in PostgreSQL)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COFFER_")}
    database_url = database_url_for(data_dir)
    if database_url is not None:
        env["COFFER_DATABASE_URL"] = database_url
    p = subprocess.run([str(binary), "project", "list", "--json", "--data-dir", str(data_dir)],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, "coffer project list failed (%s): %s %s" % (p.returncode, p.stdout, p.stderr)
    return json.loads(p.stdout)


def wait_until(pred, timeout=5.0, interval=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return pred()


DAY_MS = 86_400_000
HOUR = timedelta(hours=1)
