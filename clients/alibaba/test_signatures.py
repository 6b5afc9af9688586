"""Authentication: RPC v1 (HMAC-SHA1) and ACS3-HMAC-SHA256, through the SDKs and hand-signed requests."""
import base64
import uuid
from datetime import timedelta

import pytest

from coffer_helpers import (ApiError, Gen1, Gen2, acs3_canonical_request, acs3_sign, expect_error, fmt_time,
                            form_pairs, raw_error, rpc_v1_sign, rpc_v1_string_to_sign, secret_value, unique,
                            utc_now)

# ----------------------------------------------------------------------------- helper self-tests
# (worked examples from shared/reference/alibaba.md, captured from the real SDKs)
CAPTURE_2_QUERY = (
    "SecretName=demo-1&VersionStage=ACSCurrent&Version=2016-01-20&Action=GetSecretValue&Format=JSON"
    "&RegionId=cn-hangzhou&Timestamp=2026-11-23T19%3A28%3A35Z&SignatureMethod=HMAC-SHA1&SignatureType="
    "&SignatureVersion=1.0&SignatureNonce=212898a82f420d1c2eff3c6b28a03547&AccessKeyId=testid"
    "&Signature=VhIqEJ%2BOe8wa9jbCiNaBmHN%2BcBE%3D")
CAPTURE_2_STS = (
    "POST&%2F&AccessKeyId%3Dtestid%26Action%3DGetSecretValue%26Format%3DJSON%26RegionId%3Dcn-hangzhou"
    "%26SecretName%3Ddemo-1%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D212898a82f420d1c2eff3c6b28a03547"
    "%26SignatureType%3D%26SignatureVersion%3D1.0%26Timestamp%3D2026-11-23T19%253A28%253A35Z"
    "%26Version%3D2016-01-20%26VersionStage%3DACSCurrent")


def test_helper_rpc_v1_matches_capture():
    pairs = form_pairs(CAPTURE_2_QUERY)
    sent = dict(pairs)["Signature"]
    sts = rpc_v1_string_to_sign("POST", [(k, v) for k, v in pairs if k != "Signature"])
    assert sts == CAPTURE_2_STS
    assert rpc_v1_sign(sts, "testsecret") == sent == "VhIqEJ+Oe8wa9jbCiNaBmHN+cBE="
    assert rpc_v1_sign(sts, "wrong") != sent


def test_helper_acs3_matches_capture():
    headers = {
        "accept": "application/json",
        "content-type": "application/x-www-form-urlencoded",
        "host": "127.0.0.1:28471",
        "user-agent": "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2",
        "x-acs-action": "GetSecretValue",
        "x-acs-content-sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "x-acs-credentials-provider": "static_ak",
        "x-acs-date": "2026-11-23T19:28:36Z",
        "x-acs-signature-nonce": "c8040ab1fc1a664e43d4a85fab8c0517",
        "x-acs-version": "2016-01-20",
    }
    creq = acs3_canonical_request("POST", "FetchExtendedConfig=True&SecretName=demo-2&VersionStage=ACSCurrent",
                                  headers, sorted(headers))
    assert acs3_sign(creq, "testsecret") == "b2edbc4a5a859380d1ad4d3e38404a26ac9a8cdf6b2bbcf79c73d1aabbc089d8"


# ----------------------------------------------------------------------------- happy paths
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_raw_rpc_v1_signed_request_works(raw, method):
    resp = raw.rpc("GetRandomPassword", {"PasswordLength": "16"}, method=method)
    assert resp.status_code == 200, resp.text
    assert len(resp.json()["RandomPassword"]) == 16


def test_raw_rpc_v1_without_region_and_lowercase_format(raw):
    resp = raw.rpc("GetRandomPassword", {}, region=None, fmt="json")
    assert resp.status_code == 200, resp.text
    assert "application/json" in resp.headers["Content-Type"]


def test_raw_acs3_signed_request_works(raw, name):
    value = secret_value("acs3 raw")
    resp = raw.acs3("CreateSecret", {"SecretName": name, "VersionId": "v1"}, body={"SecretData": value})
    assert resp.status_code == 200, resp.text
    resp = raw.acs3("GetSecretValue", {"SecretName": name})
    assert resp.status_code == 200, resp.text
    assert resp.json()["SecretData"] == value


def test_acs3_authorization_with_spaces_after_commas(raw):
    resp = raw.acs3("GetRandomPassword", {}, auth_sep=", ")
    assert resp.status_code == 200, resp.text


# ----------------------------------------------------------------------------- wrong secret
def test_wrong_secret_gen1_is_clean(coffer):
    """Gen 1 compares the server's string-to-sign (after 'server string to sign is:') with its own and
    then reports InvalidAccessKeySecret: that only happens if the server's string matches exactly."""
    from aliyunsdkcore.acs_exception.exceptions import ServerException

    g = Gen1(coffer.endpoint, coffer.ak, "definitely-wrong-secret")
    req = g.request("GetRandomPassword")
    g.prepare(req)
    with pytest.raises(ServerException) as ei:
        g.client.do_action_with_exception(req)
    assert ei.value.get_http_status() == 400
    assert ei.value.get_error_code() == "InvalidAccessKeySecret", ei.value.get_error_msg()


@pytest.mark.parametrize("alg", [None, "v2"])
def test_wrong_secret_gen2(coffer, alg):
    g = Gen2(coffer.endpoint, coffer.ak, "definitely-wrong-secret", signature_algorithm=alg)
    with expect_error(400, "SignatureDoesNotMatch"):
        g.call("GetRandomPassword")


def test_wrong_secret_raw_message_contains_string_to_sign(raw):
    resp = raw.rpc("GetRandomPassword", {"PasswordLength": "20"}, sk="wrong")
    body = raw_error(resp, 400, "SignatureDoesNotMatch", "server string to sign is:")
    assert body["Message"].split(":", 1)[1] == resp.string_to_sign
    assert body["Message"].endswith("server string to sign is:" + resp.string_to_sign)


def test_wrong_secret_raw_acs3(raw):
    raw_error(raw.acs3("GetRandomPassword", {}, sk="wrong"), 400, "SignatureDoesNotMatch")


def test_tampered_signature(raw):
    bogus = base64.b64encode(b"0" * 20).decode()
    raw_error(raw.rpc("GetRandomPassword", {}, signature=bogus), 400, "SignatureDoesNotMatch")


def test_acs3_body_hash_mismatch_is_rejected(raw, name):
    resp = raw.acs3("CreateSecret", {"SecretName": name, "VersionId": "v1"}, body={"SecretData": "original"},
                    tamper_body=b"SecretData=tampered")
    # The body no longer matches the signed x-acs-content-sha256: the signature does not cover
    # what was received (Alibaba's V3 signature page: the hash is checked against the body).
    raw_error(resp, 400, "SignatureDoesNotMatch", "x-acs-content-sha256")
    raw_error(raw.rpc("DescribeSecret", {"SecretName": name}), 404, "Forbidden.ResourceNotFound")


def test_acs3_core_headers_must_be_signed(raw):
    signed = {"host", "x-acs-action", "x-acs-content-sha256", "x-acs-signature-nonce", "x-acs-version"}
    resp = raw.acs3("GetRandomPassword", {}, signed_only=signed)  # x-acs-date left unsigned
    # Every x-acs-* header sent must be signed; a signature that leaves one out does not conform
    # to the standard: 400 IncompleteSignature (the KMS common error table), naming the header.
    raw_error(resp, 400, "IncompleteSignature", "x-acs-date")


# ----------------------------------------------------------------------------- unknown access key
@pytest.mark.parametrize("kind", ["gen1", "gen2", "gen2v2"])
def test_unknown_access_key(coffer, kind):
    from coffer_helpers import make_api

    api = make_api(kind, coffer, ak="LTAInotakey" + uuid.uuid4().hex[:8], sk="whatever")
    with expect_error(404, "InvalidAccessKeyId.NotFound"):
        api.call("GetRandomPassword")


def test_unknown_access_key_raw(raw):
    raw_error(raw.rpc("GetRandomPassword", {}, ak="nobody", sk="x"), 404, "InvalidAccessKeyId.NotFound")
    raw_error(raw.acs3("GetRandomPassword", {}, ak="nobody", sk="x"), 404, "InvalidAccessKeyId.NotFound")


def test_unknown_security_token(raw):
    resp = raw.rpc("GetRandomPassword", {}, extra_common={"SecurityToken": "not-issued-by-coffer"})
    raw_error(resp, 404, "InvalidAccessKeyId.NotFound")
    resp = raw.acs3("GetRandomPassword", {}, extra_headers={"x-acs-security-token": "not-issued-by-coffer",
                                                            "x-acs-accesskey-id": raw.server.ak})
    raw_error(resp, 404, "InvalidAccessKeyId.NotFound")


# ----------------------------------------------------------------------------- clock window
@pytest.mark.parametrize("skew_minutes", [-20, 20, -60 * 24])
def test_timestamp_outside_window(raw, skew_minutes):
    ts = fmt_time(utc_now() + timedelta(minutes=skew_minutes))
    raw_error(raw.rpc("GetRandomPassword", {}, timestamp=ts), 400, "InvalidTimeStamp.Expired")
    raw_error(raw.acs3("GetRandomPassword", {}, date=ts), 400, "InvalidTimeStamp.Expired")


@pytest.mark.parametrize("skew_minutes", [-10, 10])
def test_timestamp_inside_window(raw, skew_minutes):
    ts = fmt_time(utc_now() + timedelta(minutes=skew_minutes))
    assert raw.rpc("GetRandomPassword", {}, timestamp=ts).status_code == 200
    assert raw.acs3("GetRandomPassword", {}, date=ts).status_code == 200


def test_timestamp_garbage(raw):
    resp = raw.rpc("GetRandomPassword", {}, timestamp="yesterday")
    # Present but not YYYY-MM-DDThh:mm:ssZ: InvalidTimeStamp.Format (IllegalTimestamp is the
    # KMS example for a Timestamp that is missing, Expired for one outside the window).
    raw_error(resp, 400, "InvalidTimeStamp.Format")


# ----------------------------------------------------------------------------- nonces
def test_nonce_reuse_rpc_v1(raw):
    nonce = uuid.uuid4().hex
    assert raw.rpc("GetRandomPassword", {}, nonce=nonce).status_code == 200
    raw_error(raw.rpc("GetRandomPassword", {}, nonce=nonce), 400, "SignatureNonceUsed")
    # a different request with the same nonce is a replay too
    raw_error(raw.rpc("GetRandomPassword", {"PasswordLength": "9"}, nonce=nonce), 400, "SignatureNonceUsed")


def test_nonce_reuse_acs3(raw):
    nonce = uuid.uuid4().hex
    assert raw.acs3("GetRandomPassword", {}, nonce=nonce).status_code == 200
    raw_error(raw.acs3("GetRandomPassword", {}, nonce=nonce), 400, "SignatureNonceUsed")


def test_failed_signature_does_not_burn_nonce(raw):
    nonce = uuid.uuid4().hex
    raw_error(raw.rpc("GetRandomPassword", {}, nonce=nonce, sk="wrong"), 400, "SignatureDoesNotMatch")
    assert raw.rpc("GetRandomPassword", {}, nonce=nonce).status_code == 200


def test_sdk_requests_never_collide(gen1, gen2, gen2v2):
    for _ in range(5):
        for g in (gen1, gen2, gen2v2):
            assert len(g.call("GetRandomPassword")["RandomPassword"]) == 32


# ----------------------------------------------------------------------------- incomplete signatures
def test_missing_signature(raw):
    raw_error(raw.rpc("GetRandomPassword", {}, sign=False), 400, "IncompleteSignature")


def test_no_credentials_at_all(raw):
    resp = raw._send("POST", raw.url + "?Action=GetRandomPassword&Version=2016-01-20", {}, None)
    raw_error(resp, 400, "IncompleteSignature")


@pytest.mark.parametrize("auth", ["ACS3-HMAC-SHA256 garbage", "ACS3-HMAC-SM3 Credential=a,SignedHeaders=host,"
                                  "Signature=00", "Bearer abc", "ACS3-HMAC-SHA256 Credential=x"])
def test_garbled_authorization(raw, auth):
    raw_error(raw.acs3("GetRandomPassword", {}, authorization=auth), 400, "IncompleteSignature")


def test_unsupported_rpc_signature_method(raw):
    resp = raw.rpc("GetRandomPassword", {}, extra_common={"SignatureMethod": "HMAC-SHA256"})
    raw_error(resp, 400, "IncompleteSignature")


# ----------------------------------------------------------------------------- action and version
def test_unknown_action(raw):
    raw_error(raw.rpc("FrobnicateSecret", {}), 404, "InvalidAction.NotFound")
    raw_error(raw.acs3("FrobnicateSecret", {}), 404, "InvalidAction.NotFound")


@pytest.mark.parametrize("version", ["2017-01-01", "2016-1-20"])
def test_wrong_version_acs3(raw, version):
    raw_error(raw.acs3("GetRandomPassword", {}, version=version), 400, "InvalidVersion")


@pytest.mark.parametrize("version", ["2017-01-01", "2016-1-20"])
def test_wrong_version_rpc_v1(raw, version):
    """A plain RPC v1 request (no x-acs-* headers, as any hand-written or non-Python client sends)."""
    raw_error(raw.rpc("GetRandomPassword", {}, version=version), 400, "InvalidVersion")


def test_wrong_version_gen1(gen1):
    from aliyunsdkcore.request import CommonRequest

    req = CommonRequest(domain=gen1.endpoint, version="2017-01-01", action_name="GetRandomPassword")
    req.set_method("POST")
    with expect_error(400, "InvalidVersion"):
        gen1.do(req)


def test_action_header_disagreeing_with_signed_action(raw):
    resp = raw.rpc("GetRandomPassword", {}, headers={"x-acs-action": "DeleteSecret"})
    raw_error(resp, 400, "InvalidParameter")


def test_gen1_unsigned_action_headers_match(gen1):
    """Gen 1 sends Action/Version both as signed params and as unsigned x-acs-* headers; fine when equal."""
    assert len(gen1.call("GetRandomPassword", PasswordLength="12")["RandomPassword"]) == 12


def test_gen1_auth_error_surfaces_as_server_exception(coffer):
    g = Gen1(coffer.endpoint, "nobody", "nothing")
    try:
        g.call("GetRandomPassword")
    except ApiError as e:
        assert (e.status, e.code) == (404, "InvalidAccessKeyId.NotFound")
    else:
        pytest.fail("unknown AccessKeyId accepted")


# ----------------------------------------------------------------------------- order of the checks
def test_check_order(raw):
    """parse -> unknown AccessKey -> signature -> timestamp -> nonce (reference 8.3)."""
    old = fmt_time(utc_now() - timedelta(minutes=30))
    raw_error(raw.rpc("GetRandomPassword", {}, ak="nobody", sk="x", timestamp=old), 404,
              "InvalidAccessKeyId.NotFound")
    raw_error(raw.rpc("GetRandomPassword", {}, sk="wrong", timestamp=old), 400, "SignatureDoesNotMatch")
    nonce = uuid.uuid4().hex
    assert raw.rpc("GetRandomPassword", {}, nonce=nonce).status_code == 200
    raw_error(raw.rpc("GetRandomPassword", {}, nonce=nonce, timestamp=old), 400, "InvalidTimeStamp.Expired")
    raw_error(raw.rpc("GetRandomPassword", {}, nonce=nonce), 400, "SignatureNonceUsed")


def test_wrong_secret_never_echoes_a_secret_value(raw):
    value = "echo-check-" + unique("v")
    resp = raw.rpc("CreateSecret", {"SecretName": unique("echo"), "VersionId": "v1", "SecretData": value},
                   sk="wrong")
    body = raw_error(resp, 400, "SignatureDoesNotMatch", "server string to sign is:")
    assert value not in resp.text
    assert "not shown" in body["Message"]
