"""Hostile input through the official Tencent SDK: a request over the server's size limits gets
Tencent's own RequestSizeLimitExceeded (inside HTTP 200, where the SDK reads codes) in every request
shape, wrongly typed JSON gets InvalidParameter for every operation, and methods other than GET and
POST get UnsupportedProtocol."""
import pytest

from tc_helpers import expect_tc_error, make_tc, raw_tc_error, tc_name


@pytest.mark.parametrize("kind", ["tc3", "v1sha256"])
def test_a_body_over_the_limit_gets_request_size_limit_exceeded(coffer, kind):
    # POST JSON (TC3) and POST form (legacy signature): the value rides in the body, 2 MiB here,
    # over the server's 1 MiB limit.
    tc = make_tc(kind, coffer)
    with expect_tc_error("RequestSizeLimitExceeded", "1048576 bytes"):
        tc.call("CreateSecret", SecretName=tc_name("big"), VersionId="v1", SecretString="x" * (2 << 20))


@pytest.mark.parametrize("kind", ["tc3get", "v1get"])
def test_a_uri_over_the_limit_gets_request_size_limit_exceeded(coffer, kind):
    # GET puts the value in the query: over the 61440-byte URI limit.
    tc = make_tc(kind, coffer)
    with expect_tc_error("RequestSizeLimitExceeded", "61440 bytes"):
        tc.call("CreateSecret", SecretName=tc_name("long"), VersionId="v1", SecretString="x" * 62_000)


@pytest.mark.parametrize("action,params,field", [
    ("ListSecrets", {"Limit": "10"}, "Limit"),
    ("ListSecrets", {"Offset": "0", "Limit": 10}, "Offset"),
    ("ListSecrets", {"State": 1.5}, "State"),
    ("DescribeSecret", {"SecretName": 42}, "SecretName"),
    ("DeleteSecret", {"SecretName": "x", "RecoveryWindowInDays": "7"}, "RecoveryWindowInDays"),
    ("UpdateRotationStatus", {"SecretName": "x", "EnableRotation": "true"}, "EnableRotation"),
])
def test_wrongly_typed_json_is_invalid_parameter_through_the_sdk(tc, action, params, field):
    # The SDK's untyped call sends the JSON as given (its models would send the declared types).
    with expect_tc_error("InvalidParameter", field):
        tc.generic(action, params)


def test_the_same_fields_as_text_in_a_get_query_are_read_as_their_types(tc_get, name):
    tc_get.call("CreateSecret", SecretName=name, VersionId="v1", SecretString="v")
    r = tc_get.call("ListSecrets", Limit=1000, Offset=0, SearchSecretName=name)
    assert [m["SecretName"] for m in r["SecretMetadatas"]] == [name]


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_get_unsupported_protocol(raw, method):
    raw_tc_error(raw.tc3("ListSecrets", {}, method=method), "UnsupportedProtocol", "GET and POST")
