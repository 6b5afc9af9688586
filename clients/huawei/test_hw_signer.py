"""The raw signer used by the broken-request tests is right: it reproduces signatures captured from the real
SDK (shared/reference/huawei-captures.txt, fake keys), agrees with huaweicloudsdkcore's own Signer, and
the server accepts what it signs."""
import pytest

from hw_helpers import (HwRaw, canonical_query, canonical_request, canonical_uri, raw_ok, signature,
                        string_to_sign)

UA = ("huaweicloud-usdk-python/3.0; os/Linux##1_SMP_PREEMPT_DYNAMIC_@0#x86_64 python/3.11.7 impl/CPython; "
      "app/3e3170c9-9c54-4d66-9c75-1258f2c17e08")
PID = "0123456789abcdef0123456789abcdef"
SIGNED = ["content-type", "host", "user-agent", "x-project-id", "x-sdk-date"]

# (method, raw path, raw query, content-type, date, body, captured signature)
CAPTURES = [
    ("POST", "/v1/%s/secrets" % PID, "", "application/json;charset=utf-8", "20261123T053925Z",
     b'{"name": "demo-secret_1", "description": "first", "secret_string": "hello world"}',
     "5d3f0f239a43eae4a02136c2f8b62283596e0ee993e164222b266d166a65080c"),
    ("GET", "/v1/%s/secrets/demo-secret_1/versions/latest" % PID, "", "application/json", "20261123T053925Z",
     b"", "8966613591d2bdc41da5a58ab8f2b04f2e6e038415139a905c18c7e998dbcbce"),
    ("POST", "/v1/%s/secrets/demo-secret_1/versions" % PID, "", "application/json;charset=utf-8",
     "20261123T053925Z", b'{"secret_string": "caf\\u00e9 v2", "version_stages": ["SYSCURRENT", "my-stage"]}',
     "1f7b0a19044c8e3ee7c0b257e8bb1d03c8ee34aef5daefe7a15b210074a4ba03"),
    ("GET", "/v1/%s/secrets" % PID, "limit=2&marker=a%20b%2Fc", "application/json", "20261123T053925Z", b"",
     "1f5a77d3a20588340122743d793ab46a04abac90b675fad6fb07aef14f198e4c"),
    ("DELETE", "/v1/%s/secrets/demo-secret_1" % PID, "", "application/json", "20261123T053925Z", b"",
     "8affcb69947dfbc8761abc7eb2d0fba1ad52ef8ed6795559a6b97d7123bd1ae6"),
    ("POST", "/v1/%s/secrets/x/scheduled-deleted-tasks/cancel" % PID, "", "application/json", "20261123T054623Z",
     b"", "f5e8581cab59ab5b20636383f84ddd8c2a010c0340227e466680c90e81c94647"),
    ("DELETE", "/v1/%s/csms/bb6a3d22-dc93-47ac-b5bd-88df7ad35f1e/tags/a%%20b%%3Ac%%3Dd%%2Be%%40f%%2F%%C3%%A9" % PID,
     "", "application/json", "20261123T054623Z", b"",
     "fc81530537c93c4fd7e41486d37a64f505538ca74f843690eef39ea02f7c78de"),
]


def _headers(ctype, date):
    return {"content-type": ctype, "host": "127.0.0.1:18080", "user-agent": UA, "x-project-id": PID,
            "x-sdk-date": date}


@pytest.mark.parametrize("cap", CAPTURES, ids=[c[1].split(PID)[1][:40] + ":" + c[0] for c in CAPTURES])
def test_raw_signer_reproduces_captured_sdk_signatures(cap):
    method, path, query, ctype, date, body, captured = cap
    creq = canonical_request(method, path, query, _headers(ctype, date), SIGNED, body)
    assert signature("testsecret", string_to_sign(date, creq)) == captured
    assert signature("testsecretx", string_to_sign(date, creq)) != captured


def test_worked_example_canonical_request_text():
    method, path, query, ctype, date, body, _ = CAPTURES[0]
    creq = canonical_request(method, path, query, _headers(ctype, date), SIGNED, body)
    assert creq == "\n".join([
        "POST", "/v1/%s/secrets/" % PID, "",
        "content-type:application/json;charset=utf-8", "host:127.0.0.1:18080", "user-agent:" + UA,
        "x-project-id:" + PID, "x-sdk-date:20261123T053925Z", "",
        ";".join(SIGNED), "909108fb79b591ac15d6f386b4271459e83bb7132d948f7821242da6c59043d6"])


def test_canonical_uri_and_query_rules():
    # the whole path is decoded before splitting: %2F becomes a separator; always a trailing '/'
    assert canonical_uri("/v1/p/csms/i/tags/a%20b%2F%C3%A9") == "/v1/p/csms/i/tags/a%20b/%C3%A9/"
    assert canonical_uri("/v1/p/secrets/") == "/v1/p/secrets/"
    assert canonical_uri("/v1/p/secrets/st%2Dage~x") == "/v1/p/secrets/st-age~x/"
    assert canonical_query("marker=z%20z&limit=5&a=~%2F%2B") == "a=~%2F%2B&limit=5&marker=z%20z"
    assert canonical_query("") == ""


def test_raw_signer_agrees_with_the_sdk_signer():
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.sdk_request import SdkRequest
    from huaweicloudsdkcore.signer.signer import Signer

    body = b'{"name": "x~y", "secret_string": "\\u00e9"}'
    req = SdkRequest(method="PUT", schema="http", host="127.0.0.1:8080",
                     resource_path="/v1/%s/secrets/a_b-c/stages/st%%2Dage" % PID,
                     query_params=[("marker", "z z"), ("limit", "5"), ("a", "~/+")],
                     header_params={"Content-Type": "application/json;charset=utf-8", "X-Project-Id": PID,
                                    "User-Agent": "  ua with  spaces  "},
                     body=body)
    Signer(BasicCredentials("testid", "s3cr3t")).sign(req)
    auth = req.header_params["Authorization"]
    prefix, _, sig = auth.rpartition(", Signature=")
    signed = prefix.split("SignedHeaders=")[1].split(";")
    assert signed == ["content-type", "host", "user-agent", "x-project-id", "x-sdk-date"]
    headers = {k.lower(): v for k, v in req.header_params.items()}
    path, _, query = req.uri.partition("?")
    creq = canonical_request("PUT", path, query, headers, signed, body)
    assert signature("s3cr3t", string_to_sign(headers["x-sdk-date"], creq)) == sig


def test_server_accepts_a_raw_signed_request(coffer):
    raw = HwRaw(coffer)
    body = raw_ok(raw.send("GET", raw.path("secrets"), query="limit=1"))
    assert isinstance(body["secrets"], list) and len(body["secrets"]) <= 1
    assert isinstance(body["page_info"], dict)
