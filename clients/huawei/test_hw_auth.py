"""SDK-HMAC-SHA256 authentication and the project check (reference sections 6.2, 6.3 and 7).

Authentication failures are the API gateway's: HTTP 401, error_code APIGW.0301, request_id in the body.
A valid key used with a project that is not its account's, or with X-Project-Id differing from the path,
is HTTP 403 CSMS.0003 (Coffer decision); a malformed project id in the path is HTTP 400 CSMS.0003.
"""
from datetime import datetime, timedelta, timezone

import pytest

from hw_helpers import (ALGORITHM, Hw, HwRaw, expect_hw, hw_name, make_hw, random_project_id, raw_hw_error,
                        raw_ok, sdk_date)


def _list(raw, **kw):
    return raw.send("GET", raw.path("secrets"), query="limit=1", **kw)


def _gateway(resp):
    body = raw_hw_error(resp, 401, "APIGW.0301")
    assert body["error_msg"].startswith("Incorrect IAM authentication information"), body
    return body


# ----------------------------------------------------------------------------- through the SDK
def test_sdk_with_a_wrong_secret_key_is_401(coffer):
    bad = Hw(coffer.endpoint, coffer.ak, coffer.sk + "x", coffer.project_id)
    with expect_hw(401, "APIGW.0301") as e:
        bad.call("list_secrets")
    assert "Incorrect IAM authentication information" in e.error.message
    assert coffer.sk not in e.error.message


def test_sdk_with_an_unknown_access_key_is_401(coffer):
    bad = Hw(coffer.endpoint, "HWUNKNOWN00000000000", coffer.sk, coffer.project_id)
    with expect_hw(401, "APIGW.0301") as e:
        bad.call("show_secret", secret_name="whatever")
    assert "Incorrect IAM authentication information" in e.error.message


def test_sdk_with_a_security_token_is_rejected(coffer):
    """X-Security-Token means Huawei STS credentials, which coffer cannot validate: 401."""
    c = Hw(coffer.endpoint, coffer.ak, coffer.sk, coffer.project_id, security_token="sts-token-from-huawei")
    with expect_hw(401, "APIGW.0301"):
        c.call("list_secrets")


def test_sdk_without_a_project_id_is_rejected(coffer):
    """BasicCredentials without a project id and with_endpoint: the SDK sends the literal
    /v1/%7Bproject_id%7D/... and no X-Project-Id (captured request 7): a bad project id in the path."""
    c = Hw(coffer.endpoint, coffer.ak, coffer.sk, None)
    with expect_hw(400, "CSMS.0003"):
        c.call("show_secret", secret_name="x")
    assert "%7Bproject_id%7D" in c.last_http.request.url
    with expect_hw(400, "CSMS.0003"):
        c.call("create_secret", body={"name": hw_name("nopid"), "secret_string": "x"})


def test_sdk_with_a_project_of_no_account_is_403(coffer):
    other = make_hw(coffer, project_id=random_project_id())
    with expect_hw(403, "CSMS.0003"):
        other.call("list_secrets")
    n = hw_name("pid")
    with expect_hw(403, "CSMS.0003"):
        other.call("create_secret", body={"name": n, "secret_string": "x"})
    # nothing was written anywhere
    with expect_hw(404, "CSMS.0106"):
        make_hw(coffer).call("show_secret", secret_name=n)


def test_sdk_with_the_right_project_works(hw, coffer):
    n = hw_name("pid")
    hw.call("create_secret", body={"name": n, "secret_string": "ok"})
    assert hw.last_http.request.headers["X-Project-Id"] == coffer.project_id
    assert hw.last_http.request.url.endswith("/v1/%s/secrets" % coffer.project_id)
    assert hw.call("show_secret_version", secret_name=n, version_id="latest")["version"]["secret_string"] == "ok"


# ----------------------------------------------------------------------------- raw: project checks
def test_raw_header_project_differs_from_path_is_403(coffer, raw):
    raw_hw_error(_list(raw, project_header=random_project_id()), 403, "CSMS.0003")
    other = HwRaw(coffer, project_id=random_project_id())
    raw_hw_error(_list(other, project_header=coffer.project_id), 403, "CSMS.0003")


def test_raw_missing_project_header_is_403(raw):
    raw_hw_error(_list(raw, project_header=False), 403, "CSMS.0003")


def test_raw_project_header_case_is_not_folded(coffer, raw):
    raw_hw_error(_list(raw, project_header=coffer.project_id.upper()), 403, "CSMS.0003")


@pytest.mark.parametrize("bad", ["abc", "0123456789ABCDEF0123456789ABCDEF", "g" * 32, "0" * 33, "%7Bproject_id%7D"])
def test_raw_malformed_project_in_path_is_400(coffer, bad):
    raw = HwRaw(coffer, project_id=bad)
    raw_hw_error(_list(raw, project_header=bad if "%" not in bad else False), 400, "CSMS.0003")


def test_raw_unknown_routes_are_400_csms_0003(raw):
    raw_hw_error(raw.send("GET", raw.path("nothing-here")), 400, "CSMS.0003")
    raw_hw_error(raw.send("GET", raw.path("secrets", "a", "b", "c", "d", "e")), 400, "CSMS.0003")
    raw_hw_error(raw.send("PATCH", raw.path("secrets"), body={}), 400, "CSMS.0003")
    raw_hw_error(raw.send("DELETE", raw.path("secrets")), 400, "CSMS.0003")
    raw_hw_error(raw.send("GET", raw.path("csms", "nothing-here", "x", "y")), 400, "CSMS.0003")


# ----------------------------------------------------------------------------- raw: signatures
def test_raw_good_request_passes(raw):
    body = raw_ok(_list(raw))
    assert "secrets" in body


def test_raw_no_authorization_is_401(raw):
    _gateway(_list(raw, authorization=False))


@pytest.mark.parametrize("auth", [
    "garbage",
    "SDK-HMAC-SHA256",
    "SDK-HMAC-SHA256 Access=, SignedHeaders=host;x-sdk-date, Signature=00",
    "SDK-HMAC-SHA256 Access=AK,SignedHeaders=host;x-sdk-date,Signature=zz",
    "Bearer abc.def.ghi",
])
def test_raw_garbled_authorization_is_401(raw, auth):
    _gateway(_list(raw, authorization=auth))


@pytest.mark.parametrize("alg", ["SDK-HMAC-SM3", "SDK-ECDSA-P256-SHA256", "SDK-SM2-SM3", "V11-HMAC-SHA256",
                                 "SDK-HMAC-SHA1"])
def test_raw_other_algorithms_are_401(raw, alg):
    _gateway(_list(raw, algorithm=alg))


def test_raw_unknown_access_key_is_401(raw):
    _gateway(_list(raw, ak="HWNOSUCHKEY000000000"))


def test_raw_wrong_secret_key_is_401(coffer, raw):
    body = _gateway(_list(raw, sk=coffer.sk[:-1] + ("A" if coffer.sk[-1] != "A" else "B")))
    assert coffer.sk not in body["error_msg"]


def test_raw_signature_must_cover_host_and_date(raw):
    _gateway(_list(raw, signed=["content-type", "x-project-id", "x-sdk-date"]))
    _gateway(_list(raw, signed=["content-type", "host", "x-project-id"]))


def test_raw_fewer_signed_headers_are_enough(raw):
    """Only the headers named in SignedHeaders are signed (the IAM call of the SDK signs no Content-Type)."""
    raw_ok(_list(raw, signed=["host", "x-project-id", "x-sdk-date"]))


def test_raw_listed_signed_header_must_be_present(raw):
    _gateway(_list(raw, signed=["content-type", "host", "x-custom", "x-sdk-date"]))


@pytest.mark.parametrize("minutes", [-20, 20, -60 * 24])
def test_raw_stale_or_future_date_is_401(raw, minutes):
    when = datetime.now(timezone.utc) + timedelta(minutes=minutes)
    _gateway(_list(raw, date=sdk_date(when)))


@pytest.mark.parametrize("minutes", [-13, 13])
def test_raw_date_within_15_minutes_is_accepted(raw, minutes):
    when = datetime.now(timezone.utc) + timedelta(minutes=minutes)
    raw_ok(_list(raw, date=sdk_date(when)))


@pytest.mark.parametrize("date", ["2026-11-23T05:39:25Z", "20261123053925", "yesterday", ""])
def test_raw_malformed_date_is_401(raw, date):
    _gateway(_list(raw, date=date))


def test_raw_missing_date_header_is_401(raw):
    _gateway(_list(raw, omit=("x-sdk-date",), signed=["content-type", "host", "x-project-id"]))


def test_raw_tampered_body_is_401_and_writes_nothing(hw, raw):
    n = hw_name("tamper")
    signed_body = b'{"name": "%s", "secret_string": "signed"}' % n.encode()
    sent_body = b'{"name": "%s", "secret_string": "evil!!"}' % n.encode()
    _gateway(raw.send("POST", raw.path("secrets"), body=sent_body, sign_body=signed_body))
    with expect_hw(404, "CSMS.0106"):
        hw.call("show_secret", secret_name=n)


def test_raw_tampered_path_and_query_are_401(raw):
    _gateway(raw.send("GET", raw.path("secrets", "b"), sign_path=raw.path("secrets", "a")))
    _gateway(raw.send("GET", raw.path("secrets"), query="limit=2", sign_query="limit=1"))
    _gateway(raw.send("GET", raw.path("secrets"), query="limit=1", sign_query=""))


def test_raw_signed_host_must_be_the_one_received(coffer, raw):
    _gateway(_list(raw, sign_host="kms.cn-north-4.myhuaweicloud.com"))


def test_raw_tampered_signed_header_is_401(raw):
    """Sign one User-Agent, send another (same date): the signed header no longer matches."""
    date = sdk_date()
    good = raw.send("GET", raw.path("secrets"), query="limit=1", date=date)
    raw_ok(good)
    bad = raw.send("GET", raw.path("secrets"), query="limit=1", date=date,
                   extra_headers={"User-Agent": "changed"}, authorization=good.request.headers["Authorization"])
    _gateway(bad)


def test_raw_percent_encoded_path_segments_verify(hw, raw):
    """The server canonicalises the path like the SDK (decode whole path, split, re-encode): a name sent
    with needless escapes (%2D for '-') still verifies and names the same secret."""
    n = hw_name("enc")
    hw.call("create_secret", body={"name": n, "secret_string": "enc"})
    path = "/v1/%s/secrets/%s" % (raw.project_id, n.replace("-", "%2D"))
    body = raw_ok(raw.send("GET", path))
    assert body["secret"]["name"] == n


def test_raw_query_in_any_order_verifies(raw, secret):
    """The canonical query is sorted by the server, whatever order the parameters came in."""
    body = raw_ok(raw.send("GET", raw.path("secrets"), query="marker=%s&limit=1" % secret["name"]))
    assert len(body["secrets"]) <= 1 and secret["name"] not in [s["name"] for s in body["secrets"]]


def test_auth_error_carries_request_id_in_header_and_body(raw):
    resp = _list(raw, authorization=False)
    body = _gateway(resp)
    assert body["request_id"] == resp.headers["X-Request-Id"]


def test_algorithm_constant():
    assert ALGORITHM == "SDK-HMAC-SHA256"
