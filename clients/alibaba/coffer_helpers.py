"""Shared helpers for the Alibaba-dialect end-to-end tests.

Everything here talks to a real `coffer` server through one of:

* ``Gen1``   - aliyun-python-sdk-core + aliyun-python-sdk-kms (RPC v1, HMAC-SHA1)
* ``Gen2``   - alibabacloud-kms20160120 + alibabacloud-tea-openapi (ACS3-HMAC-SHA256),
               or with ``signature_algorithm='v2'`` (RPC v1 over the generation-2 stack)
* ``Raw``    - hand-signed HTTP requests (RPC v1 and ACS3) so tests can send broken ones.

Every call either returns the decoded response or raises ``ApiError`` with the HTTP status,
error code, message and request id as the SDK (or the raw response) reported them.
"""
import atexit
import base64
import hashlib
import hmac
import importlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote_plus, urlencode, urlsplit, urlunsplit

import pytest
import requests

REGION = "cn-hangzhou"
API_VERSION = "2016-01-20"
DEFAULT_KEY_ALIAS = "alias/acs/secrets-manager"

# A distinctive marker embedded in (almost) every secret value the tests store. At the end of the
# session the server log is grepped for it: secret values must never be logged.
SENTINEL = "cofferSentinel" + uuid.uuid4().hex
# base64 of the sentinel (what a binary secret built by binary_value() starts with)
SENTINEL_B64_PREFIX = base64.b64encode(SENTINEL.encode())[:40].decode()

TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
ACCOUNT_RE = r"[0-9]+"


# ----------------------------------------------------------------------------- small utilities
def unique(prefix="t"):
    """A fresh secret name (letters, digits, '-')."""
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


def secret_value(tag="v"):
    """A text secret value that contains the sentinel plus characters that are awkward on the wire."""
    return "%s %s/%s a+b*c~d %%2B &x=y;é€😀\n\t\"q'" % (SENTINEL, tag, uuid.uuid4().hex[:8])


def binary_value(n=48):
    """base64 text of random bytes prefixed by the sentinel (binary secrets are base64 in and out)."""
    raw = SENTINEL.encode() + uuid.uuid4().bytes + bytes(range(256))[:n]
    return base64.b64encode(raw).decode()


def utc_now():
    return datetime.now(timezone.utc)


def fmt_time(dt):
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(s):
    assert isinstance(s, str) and TIME_RE.match(s), "not a YYYY-MM-DDTHH:MM:SSZ time: %r" % (s,)
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def assert_time_near(s, expected, tolerance=timedelta(minutes=5)):
    t = parse_time(s)
    assert abs(t - expected) <= tolerance, "time %s not within %s of %s" % (s, tolerance, fmt_time(expected))


def wrapped_list(d, outer, inner):
    """Read an Alibaba wrapped list (``{"VersionStages": {"VersionStage": [...]}}``).

    The field may be absent (empty list) but must never be a bare JSON array."""
    if d is None or outer not in d or d[outer] is None:
        return []
    v = d[outer]
    assert isinstance(v, dict), "%s must be a wrapped object {%r: [...]}, got %r" % (outer, inner, v)
    items = v.get(inner, [])
    if items is None:
        return []
    assert isinstance(items, list), "%s.%s must be a list, got %r" % (outer, inner, items)
    return items


def stages(d):
    return sorted(wrapped_list(d, "VersionStages", "VersionStage"))


def tags_of(d):
    return {t["TagKey"]: t["TagValue"] for t in wrapped_list(d, "Tags", "Tag")}


def snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


# ----------------------------------------------------------------------------- errors
class ApiError(Exception):
    def __init__(self, status, code, message, request_id, via, data=None):
        self.status = status
        self.code = code
        self.message = message or ""
        self.request_id = request_id
        self.via = via
        self.data = data
        super().__init__("[%s] HTTP %s %s: %s (RequestId %s)" % (via, status, code, message, request_id))


class expect_error:
    """Context manager: the block must raise ApiError with this status and code (a code or a tuple of
    acceptable codes) and a message containing every message part."""

    def __init__(self, status, code, *message_parts):
        self.status = status
        self.code = code
        self.message_parts = message_parts
        self.error = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            pytest.fail("expected HTTP %s %s, but the call succeeded" % (self.status, self.code))
        if not issubclass(exc_type, ApiError):
            return False  # let unexpected exceptions propagate unchanged
        self.error = exc
        codes = self.code if isinstance(self.code, tuple) else (self.code,)
        assert exc.status == self.status and exc.code in codes, \
            "expected HTTP %s %s, got HTTP %s %s (message %r, via %s)" % (
                self.status, self.code, exc.status, exc.code, exc.message, exc.via)
        for part in self.message_parts:
            assert part in exc.message, "error message %r does not mention %r" % (exc.message, part)
        assert exc.request_id and exc.request_id != "None", "error without RequestId (via %s)" % exc.via
        return True


# ----------------------------------------------------------------------------- generation 1
class Gen1:
    """aliyun-python-sdk-core AcsClient + aliyun-python-sdk-kms request classes."""

    kind = "gen1"

    @property
    def label(self):
        return self.kind

    def __init__(self, endpoint, ak, sk, region=REGION):
        from aliyunsdkcore.client import AcsClient

        self.endpoint = endpoint
        self.region = region
        self.client = AcsClient(ak, sk, region, auto_retry=False, max_retry_time=0)

    def request(self, action):
        mod = importlib.import_module("aliyunsdkkms.request.v20160120.%sRequest" % action)
        return getattr(mod, "%sRequest" % action)()

    def prepare(self, req):
        # every KMS request class defaults to https; Coffer under test speaks plain HTTP
        req.set_endpoint(self.endpoint)
        req.set_protocol_type("http")
        return req

    def do(self, req):
        """Send a prepared-or-not request with do_action_with_exception; return the JSON dict."""
        from aliyunsdkcore.acs_exception.exceptions import ServerException

        self.prepare(req)
        try:
            body = self.client.do_action_with_exception(req)
        except ServerException as e:
            raise ApiError(e.get_http_status(), e.get_error_code(), e.get_error_msg(), e.get_request_id(),
                           self.kind) from e
        return json.loads(body)

    def call(self, action, **params):
        req = self.request(action)
        for k, v in params.items():
            if v is None:
                continue
            if k == "RegionId":
                continue  # gen 1 always sends its client region itself
            if action == "UpdateSecret" and k == "ExtendedConfig":
                req.set_ExtendedConfigCustomData(json.dumps(v.get("CustomData", {})))
                continue
            if isinstance(v, dict):
                v = json.dumps(v)
            setter = getattr(req, "set_%s" % k, None) or getattr(req, "set_%ss" % k, None)
            if setter is None:
                raise AttributeError("%sRequest has no setter for %s" % (action, k))
            setter(v)
        return self.do(req)


# ----------------------------------------------------------------------------- generation 2
class Gen2:
    """alibabacloud-kms20160120 Client (ACS3 by default, RPC v1 with signature_algorithm='v2')."""

    def __init__(self, endpoint, ak, sk, region=REGION, signature_algorithm=None, protocol="http"):
        from alibabacloud_kms20160120.client import Client
        from alibabacloud_tea_openapi import models as open_api_models

        cfg = open_api_models.Config(access_key_id=ak, access_key_secret=sk, region_id=region,
                                     endpoint=endpoint)
        if protocol:
            cfg.protocol = protocol
        if signature_algorithm:
            cfg.signature_algorithm = signature_algorithm
        self.kind = "gen2v2" if signature_algorithm == "v2" else "gen2"
        self.region = region
        self.client = Client(cfg)

    @property
    def label(self):
        return self.kind

    @staticmethod
    def models():
        from alibabacloud_kms20160120 import models

        return models

    def _wrap(self, fn):
        from alibabacloud_tea_openapi.exceptions import AlibabaCloudException

        try:
            return fn()
        except AlibabaCloudException as e:
            data = e.data if isinstance(e.data, dict) else {}
            raise ApiError(e.status_code, e.code, data.get("Message") or data.get("message") or e.message,
                           e.request_id, self.kind, data) from e

    def do(self, method, **kwargs):
        """Typed call: ``do("create_secret", secret_name=...)`` -> typed response *body*."""
        from darabonba.runtime import RuntimeOptions

        camel = "".join(p.capitalize() for p in method.split("_"))
        req = getattr(self.models(), camel + "Request")(**kwargs)
        fn = getattr(self.client, method + "_with_options")
        resp = self._wrap(lambda: fn(req, RuntimeOptions()))
        assert resp.status_code == 200
        return resp.body

    def call(self, action, **params):
        """Wire-named call: ``call("CreateSecret", SecretName=...)`` -> body as a wire-named dict."""
        from darabonba.runtime import RuntimeOptions

        params = {k: v for k, v in params.items() if v is not None}
        req = getattr(self.models(), action + "Request")().from_map(params)
        fn = getattr(self.client, snake(action) + "_with_options")
        resp = self._wrap(lambda: fn(req, RuntimeOptions()))
        return resp.body.to_map()

    def call_api(self, action, query, version=API_VERSION):
        """Generic call through OpenApiClient.call_api (for actions the KMS model does not know)."""
        from alibabacloud_tea_openapi import utils_models as um
        from darabonba.runtime import RuntimeOptions

        params = um.Params(action=action, version=version, protocol="HTTP", pathname="/", method="POST",
                           auth_type="AK", style="RPC", req_body_type="formData", body_type="json")
        req = um.OpenApiRequest(query=query)
        return self._wrap(lambda: self.client.call_api(params, req, RuntimeOptions()))


def make_api(kind, server, ak=None, sk=None, region=REGION):
    ak = ak or server.ak
    sk = sk or server.sk
    if kind == "gen1":
        return Gen1(server.endpoint, ak, sk, region)
    if kind == "gen2":
        return Gen2(server.endpoint, ak, sk, region)
    if kind == "gen2v2":
        return Gen2(server.endpoint, ak, sk, region, signature_algorithm="v2")
    raise ValueError(kind)


# ----------------------------------------------------------------------------- signing (ported from
# shared/reference/alibaba_sign_check.py)
UNRESERVED = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def pct(s):
    """RFC 3986 percent-encoding of a str (UTF-8), upper-case hex; only A-Z a-z 0-9 - _ . ~ kept."""
    out = []
    for b in str(s).encode("utf-8"):
        out.append(chr(b) if b in UNRESERVED else "%%%02X" % b)
    return "".join(out)


def form_pairs(text):
    pairs = []
    if not text:
        return pairs
    for part in text.split("&"):
        if part == "":
            continue
        k, _, v = part.partition("=")
        pairs.append((unquote_plus(k), unquote_plus(v)))
    return pairs


def rpc_v1_string_to_sign(method, params):
    """params: list of (name, value) with Signature already removed."""
    items = sorted(params, key=lambda kv: (kv[0].encode("utf-8"), kv[1].encode("utf-8")))
    canon = "&".join(pct(k) + "=" + pct(v) for k, v in items)
    return method.upper() + "&" + pct("/") + "&" + pct(canon)


def rpc_v1_sign(string_to_sign, secret):
    mac = hmac.new((secret + "&").encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def acs3_canonical_request(method, query, headers, signed_headers):
    """query: raw query string; headers: dict lower-case name -> value."""
    pairs = form_pairs(query)
    pairs.sort(key=lambda kv: (kv[0].encode("utf-8"), kv[1].encode("utf-8")))
    canon_q = "&".join(pct(k) + "=" + pct(v) for k, v in pairs)
    lines = "".join("%s:%s\n" % (h, headers[h].strip()) for h in signed_headers)
    return "\n".join([method.upper(), "/", canon_q, lines, ";".join(signed_headers),
                      headers["x-acs-content-sha256"]])


def acs3_sign(canonical_request, secret):
    sts = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    return hmac.new(secret.encode("utf-8"), sts.encode("utf-8"), hashlib.sha256).hexdigest()


# ----------------------------------------------------------------------------- raw requests
class Raw:
    """Hand-built, hand-signed requests (so tests can send exactly what they want)."""

    def __init__(self, server):
        self.server = server
        self.session = requests.Session()
        self.url = "http://%s/" % server.endpoint

    def rpc(self, action="GetSecretValue", params=None, *, method="POST", body=None, version=API_VERSION,
            fmt="JSON", ak=None, sk=None, timestamp=None, nonce=None, region=REGION, sign=True, omit=(),
            signature=None, headers=None, extra_common=None):
        """RPC v1 (HMAC-SHA1). ``params`` go to the query, ``body`` (dict) to a form body; both are signed.

        A value of None in params/body/extra_common drops that parameter. Returns requests.Response
        with ``.string_to_sign`` set."""
        ak = self.server.ak if ak is None else ak
        sk = self.server.sk if sk is None else sk
        common = {
            "Action": action, "Version": version, "Format": fmt, "AccessKeyId": ak,
            "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
            "SignatureNonce": nonce or uuid.uuid4().hex,
            "Timestamp": timestamp if timestamp is not None else fmt_time(utc_now()),
            "RegionId": region,
        }
        common.update(extra_common or {})
        query = [(k, v) for k, v in common.items() if v is not None and k not in omit]
        query += [(k, v) for k, v in (params or {}).items() if v is not None]
        body_pairs = [(k, v) for k, v in (body or {}).items() if v is not None]
        query = [(k, str(v)) for k, v in query]
        body_pairs = [(k, str(v)) for k, v in body_pairs]
        sts = None
        if sign:
            sts = rpc_v1_string_to_sign(method, query + body_pairs)
            query.append(("Signature", signature if signature is not None else rpc_v1_sign(sts, sk)))
        qs = "&".join(pct(k) + "=" + pct(v) for k, v in query)
        hdrs = dict(headers or {})
        data = None
        if body_pairs:
            data = urlencode(body_pairs).encode()
            hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
        resp = self._send(method, self.url + "?" + qs, hdrs, data)
        resp.string_to_sign = sts
        return resp

    def acs3(self, action="GetSecretValue", query=None, body=None, *, version=API_VERSION, ak=None, sk=None,
             date=None, nonce=None, host=None, extra_headers=None, tamper_body=None, authorization=None,
             method="POST", auth_sep=",", signed_only=None):
        """ACS3-HMAC-SHA256 as the generation-2 SDK sends it (query = business params, body = form)."""
        ak = self.server.ak if ak is None else ak
        sk = self.server.sk if sk is None else sk
        qs = urlencode([(k, str(v)) for k, v in (query or {}).items() if v is not None])
        body_bytes = urlencode([(k, str(v)) for k, v in (body or {}).items()]).encode() if body else b""
        headers = {
            "host": host or self.server.endpoint,
            "x-acs-action": action,
            "x-acs-version": version,
            "x-acs-date": date if date is not None else fmt_time(utc_now()),
            "x-acs-signature-nonce": nonce or uuid.uuid4().hex,
            "x-acs-content-sha256": hashlib.sha256(body_bytes).hexdigest(),
            "accept": "application/json",
        }
        if body:
            headers["content-type"] = "application/x-www-form-urlencoded"
        headers.update(extra_headers or {})
        signed = sorted(h for h in headers if signed_only is None or h in signed_only)
        creq = acs3_canonical_request(method, qs, headers, signed)
        sig = acs3_sign(creq, sk)
        headers["authorization"] = authorization if authorization is not None else \
            "ACS3-HMAC-SHA256 Credential=%s%sSignedHeaders=%s%sSignature=%s" % (ak, auth_sep, ";".join(signed),
                                                                              auth_sep, sig)
        if tamper_body is not None:
            body_bytes = tamper_body
        return self._send(method, self.url + ("?" + qs if qs else ""), headers, body_bytes or None)

    def _send(self, method, url, headers, data):
        req = requests.Request(method, self.url, headers=headers, data=data)
        prep = self.session.prepare_request(req)
        prep.url = url  # keep our exact percent-encoding
        return self.session.send(prep, timeout=15, allow_redirects=False)


def raw_error(resp, status, code, *message_parts):
    """Assert a raw JSON error response; returns the decoded body."""
    assert resp.status_code == status, "expected HTTP %s %s, got %s: %s" % (status, code, resp.status_code,
                                                                           resp.text[:500])
    ctype = resp.headers.get("Content-Type", "")
    assert "json" in ctype.lower(), "error content type %r (body %r)" % (ctype, resp.text[:300])
    body = resp.json()
    assert body.get("Code") == code, "expected code %s, got %r" % (code, body)
    for part in message_parts:
        assert part in body.get("Message", ""), "message %r does not mention %r" % (body.get("Message"), part)
    assert body.get("RequestId"), body
    return body


def wait_until(pred, timeout=5.0, interval=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return pred()


# ----------------------------------------------------------------------------- running the server
REPO = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO / "target" / "release" / "coffer"


class CofferServer:
    def __init__(self, endpoint, ak, sk, proc=None, log_path=None, data_dir=None, log_file=None):
        self.endpoint = endpoint
        self.base_url = "http://%s/" % endpoint
        self.ak = ak
        self.sk = sk
        self.proc = proc
        self.log_path = log_path
        self.data_dir = data_dir
        self.log_file = log_file

    def log_size(self):
        try:
            return self.log_path.stat().st_size if self.log_path else 0
        except OSError:
            return 0

    def log_text(self, start=0):
        if not self.log_path or not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as f:
            f.seek(start)
            return f.read().decode("utf-8", "replace")


def tail(text, n=6000):
    return text if len(text) <= n else "...\n" + text[-n:]


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def coffer_binary():
    binary = Path(os.environ.get("COFFER_BIN", str(DEFAULT_BIN)))
    if not binary.is_file() or not os.access(binary, os.X_OK):
        pytest.fail("coffer binary not found at %s (build it with `cargo build --release`, or set COFFER_BIN)"
                    % binary, pytrace=False)
    return binary


# ----------------------------------------------------------------------------- PostgreSQL-backed servers
# COFFER_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/ (a server; its database part is
# ignored) makes every server these helpers start keep its store in a fresh throwaway database
# there, through `coffer serve --database-url`: one database per data dir, so that a restart on the
# same data dir finds its store again. They are dropped when the session ends (clients/conftest.py,
# and at exit should the session die first). Unset: the embedded SQLite store, as always.
PG_SERVER_ENV = "COFFER_TEST_DATABASE_URL"
_PG_DATABASES = {}  # resolved data dir -> database name


def pg_server():
    """`postgres://user@host:port` of the test PostgreSQL server, or None when not asked for."""
    url = os.environ.get(PG_SERVER_ENV, "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def _psql(database, sql):
    r = subprocess.run(["psql", "-d", "%s/%s" % (pg_server(), database), "-v", "ON_ERROR_STOP=1", "-qAt",
                        "-c", sql], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("psql %s: %s" % (sql, r.stderr.strip()))
    return r.stdout


def database_url_for(data_dir):
    """The database URL of the server on `data_dir` (made on first use), or None without
    COFFER_TEST_DATABASE_URL."""
    server = pg_server()
    if server is None:
        return None
    key = str(Path(data_dir).resolve())
    name = _PG_DATABASES.get(key)
    if name is None:
        name = "coffer_test_" + uuid.uuid4().hex
        _psql("postgres", "CREATE DATABASE %s" % name)
        _PG_DATABASES[key] = name
    return "%s/%s" % (server, name)


def database_dump_contains(data_dir, needle):
    """Whether the PostgreSQL store of the server on `data_dir` holds `needle` (text, or bytes
    shown in hex as pg_dump shows bytea) anywhere; False when that server has no such store."""
    name = _PG_DATABASES.get(str(Path(data_dir).resolve()))
    if name is None:
        return False
    r = subprocess.run(["pg_dump", "--data-only", "-d", "%s/%s" % (pg_server(), name)], capture_output=True,
                       timeout=120)
    if r.returncode != 0:
        raise RuntimeError("pg_dump: %s" % r.stderr.decode("utf-8", "replace").strip())
    return needle.encode() in r.stdout or needle.encode().hex().encode() in r.stdout


def drop_test_databases():
    """Drops every database made for this session's servers (connections and all)."""
    for name in list(_PG_DATABASES.values()):
        try:
            _psql("postgres", "DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            print("could not drop the test database %s: %s" % (name, e))
    _PG_DATABASES.clear()


atexit.register(drop_test_databases)


def spawn_coffer(binary, data_dir, log_path, ak, sk, extra_args=(), env=None):
    """Starts `coffer serve --data-dir D --listen 127.0.0.1:P` with the bootstrap admin key and
    returns its CofferServer at once. `env` replaces the inherited environment when given."""
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = dict(os.environ if env is None else env)
    env["COFFER_BOOTSTRAP_ACCESS_KEY_ID"] = ak
    env["COFFER_BOOTSTRAP_ACCESS_KEY_SECRET"] = sk
    env.setdefault("RUST_BACKTRACE", "1")
    database_url = database_url_for(data_dir)
    if database_url is None:
        env.pop("COFFER_DATABASE_URL", None)
    else:
        env["COFFER_DATABASE_URL"] = database_url
    log = open(log_path, "ab")
    args = [str(binary), "serve", "--data-dir", str(data_dir), "--listen", "127.0.0.1:%d" % port, *extra_args]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
    return CofferServer("127.0.0.1:%d" % port, ak, sk, proc, Path(log_path), Path(data_dir), log)


def wait_ready(srv, timeout=60):
    """Waits until the server answers /healthz; fails the test with its log if it never does."""
    proc = srv.proc
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        try:
            if requests.get("http://%s/healthz" % srv.endpoint, timeout=1).status_code == 200:
                return srv
        except requests.RequestException:
            pass
        time.sleep(0.1)
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    srv.log_file.close()
    pytest.fail("coffer did not become ready (exit code %s). Log:\n%s" % (proc.returncode, tail(srv.log_text())),
                pytrace=False)


def start_coffer(binary, data_dir, log_path, ak, sk, timeout=60, extra_args=()):
    """`coffer serve` with the bootstrap admin key, ready to answer."""
    return wait_ready(spawn_coffer(binary, data_dir, log_path, ak, sk, extra_args), timeout)


def stop_coffer(srv, timeout=15):
    """SIGTERM the server; return a list of problems (empty when it stopped cleanly)."""
    problems = []
    proc = srv.proc
    if proc.poll() is not None:
        problems.append("coffer exited on its own with code %s" % proc.returncode)
    else:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            problems.append("coffer did not stop within %d s of SIGTERM" % timeout)
            proc.kill()
            proc.wait()
    if srv.log_file:
        srv.log_file.close()
    return problems


def log_problems(text, sk):
    problems = []
    if re.search(r"panicked|\bpanic\b", text, re.I):
        problems.append("the server log contains a panic")
    if SENTINEL in text:
        problems.append("the server log contains a secret value (marker %s)" % SENTINEL)
    if SENTINEL_B64_PREFIX in text:
        problems.append("the server log contains a binary secret value")
    if sk and sk in text:
        problems.append("the server log contains the admin AccessKey secret")
    # What the databases are given instead of passwords is as good as one to whoever also sees
    # a login (PostgreSQL SCRAM verifiers, MariaDB native password hashes).
    if re.search(r"SCRAM-SHA-256\$\d+:", text):
        problems.append("the server log contains a PostgreSQL password verifier (SCRAM-SHA-256$...)")
    if re.search(r"\*[0-9A-Fa-f]{40}\b", text):
        problems.append("the server log contains a MariaDB password hash (*<40 hex>)")
    return problems


# Secrets a suite handled besides the marked values and the admin key (access key secrets the
# admin CLI made, database passwords), checked against its server's log at the end
# (`session_server`). Add with `remember_secret`.
LOG_SECRETS = {}


def remember_secret(value, what):
    """Checks at the end of the session that the server never logged `value` (too short to look
    for without false alarms: ignored)."""
    if isinstance(value, str) and len(value) >= 8:
        LOG_SECRETS.setdefault(value, what)


def leaked_secrets(text, secrets):
    """Problems for each secret (value -> what it is) that `text` contains; the value itself is
    not repeated in the report."""
    return ["the server log contains %s" % what for value, what in secrets.items() if value in text]


def stored_secrets(srv):
    """Every value the server's admin account can read back at the end (each version of each
    secret through Alibaba's API, which sees every secret of the account's region whichever
    API made it), and the password fields inside those that are JSON (managed secrets; their
    account names are no secret and do appear in logs): value -> what it is."""
    api = Gen2(srv.endpoint, srv.ak, srv.sk)
    out = {}

    def add(value, what):
        if isinstance(value, str) and len(value) >= 8:
            out.setdefault(value, what)

    page = 1
    while True:
        r = api.call("ListSecrets", PageSize=100, PageNumber=page)
        names = [x["SecretName"] for x in r.get("SecretList", {}).get("Secret", [])]
        for name in names:
            listed = api.call("ListSecretVersionIds", SecretName=name, IncludeDeprecated="true", PageSize=100)
            for v in listed.get("VersionIds", {}).get("VersionId", []):
                try:
                    got = api.call("GetSecretValue", SecretName=name, VersionId=v["VersionId"])
                except ApiError:
                    continue  # pending deletion: not readable, and then nothing to compare
                what = "a value of secret %s (version %s)" % (name, v["VersionId"])
                add(got["SecretData"], what)
                try:
                    parsed = json.loads(got["SecretData"])
                except ValueError:
                    continue
                stack = [parsed]
                while stack:
                    x = stack.pop()
                    if isinstance(x, dict):
                        for k, field in x.items():
                            if "password" in k.lower() and isinstance(field, str):
                                add(field, "%s, its %s" % (what, k))
                            else:
                                stack.append(field)
                    elif isinstance(x, list):
                        stack.extend(x)
        if len(names) < 100:
            return out
        page += 1


def root_key_secrets(data_dir):
    """The root key of a data dir as it could appear in a log: its file's text and its bytes in hex."""
    path = Path(data_dir) / "root.key"
    if not path.exists():
        return {}
    text = path.read_text().strip()
    out = {text: "the root key (base64)"}
    try:
        out[base64.b64decode(text).hex()] = "the root key (hex)"
    except ValueError:
        pass
    return out


def files_containing(root, needle):
    """Files under root whose bytes contain needle (bytes)."""
    hits = []
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            try:
                with open(p, "rb") as fh:
                    if needle in fh.read():
                        hits.append(p)
            except OSError:
                pass
    return hits


# ----------------------------------------------------------------------------- one server per suite
# The running server of each suite (keyed by the suite's folder name), so that the report hook in
# clients/conftest.py can attach the right server's log to a failing test.
ACTIVE_SERVERS = {}


def session_server(suite, start, collect_secrets=None):
    """Body of a suite's session fixture: starts a server with `start()`, registers it for the log
    hooks, and at the end stops it with SIGTERM and fails the session if it did not stop cleanly,
    if its log shows a panic or a leaked secret value, access key secret (the admin's and every
    one `remember_secret` was given) or the root key, or if its data dir holds a value in
    plaintext. `collect_secrets(srv)`, called before the stop, returns more secrets to look for
    (value -> what it is)."""
    srv = start()
    ACTIVE_SERVERS[suite] = srv
    try:
        yield srv
    finally:
        ACTIVE_SERVERS.pop(suite, None)
        secrets = dict(LOG_SECRETS)
        problems = []
        if collect_secrets is not None and srv.proc.poll() is None:
            try:
                secrets.update(collect_secrets(srv))
            except Exception as e:  # noqa: BLE001 - a collection that fails is itself a failure
                problems.append("collecting the suite's secrets failed: %r" % (e,))
        secrets.update(root_key_secrets(srv.data_dir))
        problems += stop_coffer(srv)
        text = srv.log_text()
        problems += log_problems(text, srv.sk)
        problems += leaked_secrets(text, secrets)
        plain = files_containing(srv.data_dir, SENTINEL.encode())
        if plain:
            problems.append("secret values stored in plaintext in %s" % plain)
        if database_dump_contains(srv.data_dir, SENTINEL):
            problems.append("secret values stored in plaintext in the PostgreSQL store")
        if problems:
            import pytest
            pytest.fail("; ".join(problems) + "\n--- server log (tail) ---\n" + tail(text, 12000), pytrace=False)


class AdminCli:
    """Runs the real `coffer` binary's admin commands against a server, signed with the
    server's admin key unless told otherwise. `COFFER_*` variables of the test environment
    are left out so that only what a test passes counts."""

    def __init__(self, server, ak=None, sk=None):
        self.server, self.ak, self.sk = server, ak or server.ak, sk or server.sk

    def run(self, *args, stdin=None, ak=None, sk=None, env_extra=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("COFFER_")}
        env.update(COFFER_ENDPOINT="http://" + self.server.endpoint,
                   COFFER_ACCESS_KEY_ID=ak or self.ak, COFFER_ACCESS_KEY_SECRET=sk or self.sk)
        env.update(env_extra or {})
        return subprocess.run([str(coffer_binary()), *args], input=stdin, capture_output=True, text=True,
                              env=env, timeout=60)

    def ok(self, *args, **kw):
        r = self.run(*args, **kw)
        assert r.returncode == 0, "coffer %s failed (%s): %s" % (" ".join(args), r.returncode, r.stderr)
        return r.stdout

    def json(self, *args, **kw):
        out = json.loads(self.ok(*args, "--json", **kw))
        if isinstance(out, dict) and "AccessKeySecret" in out:
            remember_secret(out["AccessKeySecret"], "the secret of access key %s" % out.get("AccessKeyId"))
        return out

    def fails(self, *args, **kw):
        r = self.run(*args, **kw)
        assert r.returncode != 0, "coffer %s should have failed: %s" % (" ".join(args), r.stdout)
        return r.stderr



# ----------------------------------------------------------------------------- a disk that fills up
class SmallDisk:
    """A tmpfs of `size` mounted at `path` for one test (mounting needs root, as in CI): `fill()`
    takes every free byte with a ballast file (the kernel's own ENOSPC from then on), `free()`
    deletes it, `close()` unmounts."""

    def __init__(self, path, size="16m"):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size, "tmpfs", str(self.path)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.fail("mounting a tmpfs for the disk-full test failed (it needs root): %s" % r.stderr.strip(),
                        pytrace=False)
        self.ballast = self.path / "ballast"

    def fill(self):
        chunk = b"\0" * (64 * 1024)
        with open(self.ballast, "wb", buffering=0) as f:
            while True:
                try:
                    f.write(chunk)
                except OSError as e:
                    if e.errno == 28:  # ENOSPC
                        return
                    raise

    def free(self):
        self.ballast.unlink()

    def close(self):
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True)


def until_refused(write, attempts=300):
    """Calls write(i) until it raises (SQLite may still commit a few writes into the part of its
    log it reuses on a full disk); returns the exception; fails after `attempts` successes."""
    for i in range(attempts):
        try:
            write(i)
        except Exception as e:  # noqa: BLE001 - the caller checks what it is
            return e
    pytest.fail("%d writes succeeded on a full disk" % attempts)


def until_accepted(write, within=10.0):
    """Calls write() until it succeeds (the server takes a moment to see space again)."""
    deadline = time.time() + within
    while True:
        try:
            return write()
        except Exception:  # noqa: BLE001
            if time.time() > deadline:
                raise
            time.sleep(0.2)
