"""The wire protocol and SigV4 as the server checks them: requests signed by botocore's own signer
(SigV4Auth) and then tampered with, dated outside the window, carrying a session token, aimed at an
unknown target, sent with the wrong method or a body that is not JSON."""
import datetime
import json

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from aws_helpers import REGION, expect, make_sm, name


def signed(coffer, target="GetSecretValue", body=None, *, service="secretsmanager", region=REGION,
           ak=None, sk=None, token=None, when=None, headers=None):
    """A request as botocore signs it: returns (url, headers, body bytes)."""
    url = "http://%s/" % coffer.endpoint
    data = json.dumps(body if body is not None else {}).encode() if not isinstance(body, bytes) else body
    h = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "secretsmanager.%s" % target}
    h.update(headers or {})
    req = AWSRequest(method="POST", url=url, data=data, headers=h)
    creds = Credentials(ak or coffer.ak, sk or coffer.sk, token)
    signer = SigV4Auth(creds, service, region)
    if when is not None:
        class Fixed(datetime.datetime):
            @classmethod
            def utcnow(cls):
                return when

            @classmethod
            def now(cls, tz=None):
                return when.replace(tzinfo=tz) if tz else when
        import botocore.auth as ba
        saved = ba.datetime.datetime
        ba.datetime.datetime = Fixed
        try:
            signer.add_auth(req)
        finally:
            ba.datetime.datetime = saved
    else:
        signer.add_auth(req)
    return url, dict(req.headers.items()), data


def send(url, headers, data, method="POST"):
    r = requests.request(method, url, headers=headers, data=data, timeout=10)
    return r.status_code, (r.json() if r.content else {}), r


def error_of(resp):
    status, body, _ = resp
    return status, body.get("__type"), body.get("Message", "")


@pytest.fixture(scope="module")
def secret(coffer):
    sm = make_sm(coffer)
    n = name("proto")
    sm.create_secret(Name=n, SecretString="proto-value")
    return n


def test_a_signed_request_works(coffer, secret):
    status, body, r = send(*signed(coffer, body={"SecretId": secret}))
    assert status == 200 and body["SecretString"] == "proto-value"
    assert r.headers["content-type"] == "application/x-amz-json-1.1"
    assert r.headers.get("x-amzn-requestid")


@pytest.mark.parametrize("part", ["body", "target", "content-type", "date", "host", "signature", "credential-region"])
def test_tampering_with_each_signed_part_is_refused(coffer, secret, part):
    url, h, data = signed(coffer, body={"SecretId": secret})
    if part == "body":
        data = json.dumps({"SecretId": secret + "x"}).encode()
    elif part == "target":
        h["X-Amz-Target"] = "secretsmanager.DescribeSecret"
    elif part == "content-type":
        h["Content-Type"] = "application/x-amz-json-1.0"
    elif part == "date":
        d = datetime.datetime.strptime(h["X-Amz-Date"], "%Y%m%dT%H%M%SZ") + datetime.timedelta(seconds=1)
        h["X-Amz-Date"] = d.strftime("%Y%m%dT%H%M%SZ")
    elif part == "host":
        h["Host"] = "other.example:80"
    elif part == "signature":
        sig = h["Authorization"][-64:]
        h["Authorization"] = h["Authorization"][:-64] + ("0" if sig[0] != "0" else "1") + sig[1:]
    elif part == "credential-region":
        h["Authorization"] = h["Authorization"].replace("/%s/" % REGION, "/eu-west-1/")
    status, code, message = error_of(send(url, h, data))
    assert (status, code) == (400, "InvalidSignatureException"), message


def test_content_sha256_when_sent_must_match(coffer, secret):
    url, h, data = signed(coffer, body={"SecretId": secret}, headers={"X-Amz-Content-SHA256": "0" * 64})
    assert error_of(send(url, h, data))[:2] == (400, "InvalidSignatureException")


def test_unsigned_header_changes_nothing(coffer, secret):
    url, h, data = signed(coffer, body={"SecretId": secret})
    h["X-Unsigned-Extra"] = "anything"
    assert send(url, h, data)[0] == 200


@pytest.mark.parametrize("minutes", [-6, 6])
def test_dates_outside_five_minutes_are_refused(coffer, secret, minutes):
    when = datetime.datetime.utcnow() + datetime.timedelta(minutes=minutes)
    status, code, message = error_of(send(*signed(coffer, body={"SecretId": secret}, when=when)))
    assert (status, code) == (400, "InvalidSignatureException")
    assert ("Signature expired" if minutes < 0 else "Signature not yet current") in message


def test_dates_inside_the_window_pass(coffer, secret):
    when = datetime.datetime.utcnow() - datetime.timedelta(minutes=4)
    assert send(*signed(coffer, body={"SecretId": secret}, when=when))[0] == 200


def test_unknown_key_and_wrong_secret(coffer, secret):
    status, code, message = error_of(send(*signed(coffer, body={"SecretId": secret}, ak="AKIANOTAKEY000000000")))
    assert (status, code) == (400, "UnrecognizedClientException")
    assert "security token included in the request is invalid" in message
    status, code, _ = error_of(send(*signed(coffer, body={"SecretId": secret}, sk="wrong-secret")))
    assert (status, code) == (400, "InvalidSignatureException")


def test_session_tokens_are_refused_clearly(coffer, secret):
    status, code, message = error_of(send(*signed(coffer, body={"SecretId": secret}, token="FQoGZXIvYXdzE")))
    assert (status, code) == (400, "UnrecognizedClientException")
    assert "temporary credentials" in message
    with expect("UnrecognizedClientException"):
        make_sm(coffer, token="FQoGZXIvYXdzE").get_secret_value(SecretId=secret)


def test_other_service_in_scope_is_refused(coffer, secret):
    status, code, message = error_of(send(*signed(coffer, body={"SecretId": secret}, service="kms")))
    assert (status, code) == (400, "InvalidSignatureException") and "secretsmanager" in message


def test_missing_or_broken_authorization(coffer, secret):
    url, h, data = signed(coffer, body={"SecretId": secret})
    del h["Authorization"]
    assert error_of(send(url, h, data))[:2] == (400, "MissingAuthenticationTokenException")
    url, h, data = signed(coffer, body={"SecretId": secret})
    h["Authorization"] = "AWS4-HMAC-SHA256 Credential=garbage"
    assert error_of(send(url, h, data))[:2] == (400, "IncompleteSignature")


def test_unknown_target_wrong_method_and_bad_json(coffer, secret):
    assert error_of(send(*signed(coffer, target="StealSecrets", body={})))[:2] == (400, "UnknownOperationException")
    url, h, data = signed(coffer, body={"SecretId": secret})
    h["X-Amz-Target"] = "kms.GetSecretValue"
    url, h, data = signed(coffer, body={"SecretId": secret}, headers={"X-Amz-Target": "kms.Decrypt"})
    assert error_of(send(url, h, data))[:2] == (400, "UnknownOperationException")
    url, h, data = signed(coffer, body={"SecretId": secret})
    status, body, _ = send(url, h, data, method="GET")
    assert (status, body.get("__type")) == (405, "UnknownOperationException")
    status, code, _ = error_of(send(*signed(coffer, body=b"{not json")))
    assert (status, code) == (400, "SerializationException")
    status, code, _ = error_of(send(*signed(coffer, body=b"[1, 2]")))
    assert (status, code) == (400, "SerializationException")
    status, code, message = error_of(send(*signed(coffer, body={"SecretId": 5})))
    assert (status, code) == (400, "SerializationException") and "SecretId" in message


def test_a_body_over_the_limit_is_refused_in_aws_format(coffer):
    url, h, data = signed(coffer, target="CreateSecret", body={"Name": "big", "SecretString": "x" * (2 << 20)})
    status, body, _ = send(url, h, data)
    assert status == 413 and body["__type"] == "RequestEntityTooLarge"
