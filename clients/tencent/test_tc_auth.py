"""Signature checks, dispatch errors and the wire format, with hand-signed requests (TcRaw).

The raw signer is first checked against Tencent's published vectors so a failure below is the
server's, not the signer's."""
import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from tc_helpers import (TcRaw, raw_ok, raw_tc_error, tc3_canonical_request, tc3_signature, tc3_string_to_sign,
                        tc_name, utc_date, v1_signature)


# ----------------------------------------------------------------------------- the signer itself
def test_signer_matches_tencents_tc3_vector():
    body = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
    headers = {"content-type": "application/json; charset=utf-8", "host": "cvm.tencentcloudapi.com"}
    creq = tc3_canonical_request("POST", "", headers, ["content-type", "host"], body)
    assert creq.endswith("35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064")
    sts = tc3_string_to_sign(1551113065, "2019-02-25", "cvm", creq)
    assert sts.endswith("5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031")
    assert tc3_signature("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", "2019-02-25", "cvm", sts) == \
        "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
    assert utc_date(1551113065) == "2019-02-25"


def test_signer_matches_the_local_ssm_vector():
    body = b'{"SecretName": "demo-secret_1", "VersionId": "v1"}'
    headers = {"content-type": "application/json", "host": "127.0.0.1:28417"}
    creq = tc3_canonical_request("POST", "", headers, ["content-type", "host"], body)
    sts = tc3_string_to_sign(1795462108, "2026-11-23", "ssm", creq)
    assert tc3_signature("cofferTestSecretKey", "2026-11-23", "ssm", sts) == \
        "630bd1d6e1f1314633d0432359362226cf25fbc1be9fe6a0b74e62769ad4cc56"


def test_signer_matches_tencents_v1_vector():
    source = ("GETcvm.tencentcloudapi.com/?Action=DescribeInstances&InstanceIds.0=ins-09dx96dg&Limit=20&Nonce=11886"
              "&Offset=0&Region=ap-guangzhou&SecretId=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE&Timestamp=1465185768"
              "&Version=2017-03-12")
    assert v1_signature("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", source, "HmacSHA1") == "EliP9YW3pW28FpsEdkXt/+WcGeI="


# ----------------------------------------------------------------------------- well-formed raw requests
@pytest.fixture
def secret(tc, name):
    tc.call("CreateSecret", SecretName=name, VersionId="v1", SecretString="raw value")
    return name


def test_raw_tc3_post_and_get_work(raw, secret):
    r = raw_ok(raw.tc3("GetSecretValue", {"SecretName": secret, "VersionId": "v1"}))
    assert (r["SecretName"], r["VersionId"], r["SecretString"], r["SecretBinary"]) == \
        (secret, "v1", "raw value", "")
    r = raw_ok(raw.tc3("GetSecretValue", {"SecretName": secret, "VersionId": "v1"}, method="GET"))
    assert r["SecretString"] == "raw value"


def test_raw_v1_post_and_get_work(raw, secret):
    for method in ("POST", "GET"):
        for sm in ("HmacSHA256", "HmacSHA1"):
            r = raw_ok(raw.v1("GetSecretValue", {"SecretName": secret, "VersionId": "v1"}, method=method,
                              sign_method=sm))
            assert r["SecretString"] == "raw value", (method, sm)
    # SignatureMethod absent = HmacSHA1
    r = raw_ok(raw.v1("GetSecretValue", {"SecretName": secret, "VersionId": "v1"}, sign_method="HmacSHA1",
                      omit=("SignatureMethod",)))
    assert r["SecretString"] == "raw value"


def test_more_signed_headers_are_fine(raw, secret):
    r = raw_ok(raw.tc3("DescribeSecret", {"SecretName": secret},
                       signed_headers=("content-type", "host", "x-tc-action", "x-tc-timestamp")))
    assert r["SecretName"] == secret


def test_compact_authorization_separators(raw, secret):
    """Spaces after the commas are optional."""
    ts = int(time.time())
    date = utc_date(ts)
    resp = raw.tc3("DescribeSecret", {"SecretName": secret}, timestamp=ts)  # to learn the signature
    good = resp.request.headers["authorization"]
    compact = good.replace(", ", ",")
    resp = raw.tc3("DescribeSecret", {"SecretName": secret}, timestamp=ts, date=date, authorization=compact)
    assert raw_ok(resp)["SecretName"] == secret


def test_timestamp_inside_the_window(raw, secret):
    for delta in (-200, 200):
        r = raw_ok(raw.tc3("DescribeSecret", {"SecretName": secret}, timestamp=int(time.time()) + delta))
        assert r["SecretName"] == secret


def test_json_body_without_spaces_and_with_unicode(raw, name):
    body = json.dumps({"SecretName": name, "VersionId": "v1", "SecretString": "caf\u00e9 \U0001F600"},
                      separators=(",", ":"), ensure_ascii=False).encode()
    raw_ok(raw.tc3("CreateSecret", body=body))
    r = raw_ok(raw.tc3("GetSecretValue", {"SecretName": name, "VersionId": "v1"}))
    assert r["SecretString"] == "caf\u00e9 \U0001F600"


def test_unknown_fields_are_ignored(raw, secret):
    r = raw_ok(raw.tc3("GetSecretValue", {"SecretName": secret, "VersionId": "v1", "SomeFutureField": [1, {}]}))
    assert r["SecretString"] == "raw value"


def test_each_response_has_a_fresh_request_id(raw, secret):
    ids = {raw_ok(raw.tc3("DescribeSecret", {"SecretName": secret}))["RequestId"] for _ in range(3)}
    ids |= {raw_tc_error(raw.tc3("DescribeSecret", {"SecretName": tc_name("no")}), "ResourceNotFound")["RequestId"]
            for _ in range(2)}
    assert len(ids) == 5


# ----------------------------------------------------------------------------- authentication errors
def test_missing_authorization(raw, secret):
    raw_tc_error(raw.tc3("DescribeSecret", {"SecretName": secret}, authorization=False),
                 "AuthFailure.InvalidAuthorization")


@pytest.mark.parametrize("auth", [
    "garbage",
    "TC3-HMAC-SHA256",
    "TC3-HMAC-SHA256 Credential=, SignedHeaders=, Signature=",
    "TC3-HMAC-SHA256 SignedHeaders=content-type;host, Signature=00",
    "TC3-HMAC-SHA1 Credential={sid}/{date}/ssm/tc3_request, SignedHeaders=content-type;host, Signature=00",
    "TC3-HMAC-SHA256 Credential={sid}/{date}/ssm, SignedHeaders=content-type;host, Signature=00",
    "Bearer abc.def.ghi",
])
def test_garbled_authorization(raw, secret, auth):
    auth = auth.format(sid=raw.server.ak, date=utc_date(time.time()))
    raw_tc_error(raw.tc3("DescribeSecret", {"SecretName": secret}, authorization=auth),
                 "AuthFailure.InvalidAuthorization")


@pytest.mark.parametrize("signed", [("host",), ("content-type",), ("x-tc-action",)])
def test_content_type_and_host_must_be_signed(raw, secret, signed):
    raw_tc_error(raw.tc3("DescribeSecret", {"SecretName": secret}, signed_headers=signed),
                 "AuthFailure.InvalidAuthorization")


@pytest.mark.parametrize("delta", [-400, 400, -86400 * 3])
def test_timestamp_outside_the_window(raw, secret, delta):
    raw_tc_error(raw.tc3("DescribeSecret", {"SecretName": secret}, timestamp=int(time.time()) + delta),
                 "AuthFailure.SignatureExpire")


def test_unknown_secret_id(raw, secret):
    raw_tc_error(raw.tc3("DescribeSecret", {"SecretName": secret}, secret_id="AKIDunknown" + "0" * 20),
                 "AuthFailure.SecretIdNotFound")
    raw_tc_error(raw.v1("DescribeSecret", {"SecretName": secret}, secret_id="AKIDunknown" + "0" * 20),
                 "AuthFailure.SecretIdNotFound")


def test_wrong_secret_key(raw, secret):
    raw_tc_error(raw.tc3("DescribeSecret", {"SecretName": secret}, secret_key=raw.server.sk + "x"),
                 "AuthFailure.SignatureFailure")
    raw_tc_error(raw.v1("DescribeSecret", {"SecretName": secret}, secret_key=raw.server.sk + "x"),
                 "AuthFailure.SignatureFailure")
    raw_tc_error(raw.v1("DescribeSecret", {"SecretName": secret}, signature="AAAA"),
                 "AuthFailure.SignatureFailure")


def test_credential_date_must_be_the_timestamps_utc_date(raw, secret):
    ts = int(time.time())
    day = datetime.fromtimestamp(ts, timezone.utc)
    for other in (day + timedelta(days=1), day - timedelta(days=1)):
        # correctly signed with the wrong date: still refused
        raw_tc_error(raw.tc3("DescribeSecret", {"SecretName": secret}, timestamp=ts,
                             date=other.strftime("%Y-%m-%d")), "AuthFailure.SignatureFailure")


def test_wrong_service_in_scope(raw, secret):
    raw_tc_error(raw.tc3("DescribeSecret", {"SecretName": secret}, service="cvm"), "AuthFailure.SignatureFailure")


def test_tampered_request(raw, secret):
    """The body and the signed headers are covered by the signature."""
    good = raw.tc3("DescribeSecret", {"SecretName": secret})
    raw_ok(good)
    sent = good.request
    # same headers, different body
    tampered_body = json.dumps({"SecretName": secret + "x"}).encode()
    hdrs = dict(sent.headers)
    resp = raw._send("POST", raw.url, hdrs, tampered_body)
    raw_tc_error(resp, "AuthFailure.SignatureFailure")
    # same body, different Host
    hdrs = dict(sent.headers)
    hdrs["Host"] = "localhost:%s" % raw.server.endpoint.rsplit(":", 1)[1]
    raw_tc_error(raw._send("POST", raw.url, hdrs, sent.body), "AuthFailure.SignatureFailure")
    # GET: the query is signed
    good = raw.tc3("DescribeSecret", {"SecretName": secret}, method="GET")
    raw_ok(good)
    hdrs = dict(good.request.headers)
    url = good.request.url.replace("SecretName=", "SecretName=x")
    raw_tc_error(raw._send("GET", url, hdrs, None), "AuthFailure.SignatureFailure")


def test_token_header_is_refused(raw, secret):
    raw_tc_error(raw.tc3("DescribeSecret", {"SecretName": secret}, token="tmp-token"), "AuthFailure.TokenFailure")
    raw_tc_error(raw.v1("DescribeSecret", {"SecretName": secret}, token="tmp-token"), "AuthFailure.TokenFailure")


def test_v1_timestamp_outside_the_window(raw, secret):
    raw_tc_error(raw.v1("DescribeSecret", {"SecretName": secret}, timestamp=int(time.time()) - 400),
                 "AuthFailure.SignatureExpire")


def test_auth_checked_before_action_and_parameters(raw):
    raw_tc_error(raw.tc3("NoSuchAction", {"x": 1}, secret_key="wrong"), "AuthFailure.SignatureFailure")
    raw_tc_error(raw.tc3("CreateSecret", {"SecretName": "bad name"}, timestamp=int(time.time()) - 4000),
                 "AuthFailure.SignatureExpire")


# ----------------------------------------------------------------------------- dispatch errors
def test_unknown_action(raw):
    raw_tc_error(raw.tc3("FrobnicateSecret", {}), "InvalidAction")
    raw_tc_error(raw.v1("FrobnicateSecret", {}), "InvalidAction")


def test_wrong_version(raw, secret):
    raw_tc_error(raw.tc3("DescribeSecret", {"SecretName": secret}, version="2017-03-12"), "NoSuchVersion")


def test_missing_action(raw, secret):
    """A request without any X-TC-Action header is not recognised as Tencent at all (nothing to
    dispatch on); an empty one is a Tencent request that lacks its action."""
    raw_tc_error(raw.tc3("", {"SecretName": secret}), "MissingParameter", "Action")


# ----------------------------------------------------------------------------- malformed parameters
def test_bad_json_body(raw):
    raw_tc_error(raw.tc3("CreateSecret", body=b'{"SecretName": "x", '), "InvalidParameter")
    raw_tc_error(raw.tc3("CreateSecret", body=b'["not", "an", "object"]'), "InvalidParameter")


@pytest.mark.parametrize("params,field", [
    ({"SecretName": 5, "VersionId": "v1", "SecretString": "x"}, "SecretName"),
    ({"SecretName": "ok-name", "VersionId": "v1", "SecretString": ["x"]}, "SecretString"),
    ({"SecretName": "ok-name", "VersionId": "v1", "SecretString": "x", "Tags": {"TagKey": "a"}}, "Tags"),
    ({"SecretName": "ok-name", "VersionId": "v1", "SecretString": "x", "SecretType": "zero"}, "SecretType"),
])
def test_wrong_json_types(raw, params, field):
    raw_tc_error(raw.tc3("CreateSecret", params), "InvalidParameter", field)


def test_get_with_non_integer_for_an_integer_field(raw):
    raw_tc_error(raw.tc3("ListSecrets", {"Limit": "many"}, method="GET"), "InvalidParameter", "Limit")
