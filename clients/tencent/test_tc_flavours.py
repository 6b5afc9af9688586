"""The same flows through every request shape the SDK produces: TC3 POST JSON, TC3 GET (flattened
query), legacy v1 HmacSHA256 / HmacSHA1 form POST, and v1 over GET; values written through one shape read
back byte-exact through every other."""
import itertools
import time

import pytest

from coffer_helpers import secret_value
from tc_helpers import Tc, assert_near, b64, expect_tc_error, make_tc, tc_name


def test_lifecycle(tc_any):
    tc = tc_any
    name = tc_name("fl-" + tc.kind)
    value = secret_value(tc.kind)
    now = int(time.time())
    r = tc.call("CreateSecret", SecretName=name, VersionId="v1", SecretString=value, Description="via " + tc.kind,
                Tags=[{"TagKey": "flavour", "TagValue": tc.kind}, {"TagKey": "k 2", "TagValue": "a+b=c&d"}])
    assert (r["SecretName"], r["VersionId"], r["TagCode"], r["TagMsg"]) == (name, "v1", 0, "")
    g = tc.call("GetSecretValue", SecretName=name, VersionId="v1")
    assert (g["SecretString"], g["SecretBinary"]) == (value, "")
    binv = b64(b"\x00\xff binary " + tc.kind.encode())
    tc.call("PutSecretValue", SecretName=name, VersionId="v2", SecretBinary=binv)
    g = tc.call("GetSecretValue", SecretName=name, VersionId="SSM_Current")
    assert (g["VersionId"], g["SecretString"], g["SecretBinary"]) == ("v2", "", binv)
    tc.call("UpdateSecret", SecretName=name, VersionId="v1", SecretString=value + " updated")
    assert tc.call("GetSecretValue", SecretName=name, VersionId="v1")["SecretString"] == value + " updated"
    tc.call("UpdateDescription", SecretName=name, Description="now " + tc.kind)

    d = tc.call("DescribeSecret", SecretName=name)
    assert (d["SecretName"], d["Description"], d["Status"], d["DeleteTime"], d["SecretType"]) == \
        (name, "now " + tc.kind, "Enabled", 0, 0)
    assert d["RotationStatus"] is False
    assert_near(d["CreateTime"], now)

    vs = tc.call("ListSecretVersionIds", SecretName=name)["Versions"]
    assert sorted(v["VersionId"] for v in vs) == ["v1", "v2"]

    # nested arrays of objects with arrays inside (flattened as TagFilters.0.TagValue.1=... on GET / v1)
    lst = tc.call("ListSecrets", SearchSecretName=name, OrderType=1, Offset=0, Limit=5, State=1,
                  TagFilters=[{"TagKey": "flavour", "TagValue": ["nope", tc.kind]},
                              {"TagKey": "k 2", "TagValue": ["a+b=c&d"]}])
    assert lst["TotalCount"] == 1 and [m["SecretName"] for m in lst["SecretMetadatas"]] == [name]
    lst = tc.call("ListSecrets", SearchSecretName=name, TagFilters=[{"TagKey": "flavour", "TagValue": ["nope"]}])
    assert lst["TotalCount"] == 0

    tc.call("DeleteSecretVersion", SecretName=name, VersionId="v2")
    tc.call("DisableSecret", SecretName=name)
    with expect_tc_error("ResourceUnavailable.ResourceDisabled"):
        tc.call("GetSecretValue", SecretName=name, VersionId="v1")
    # integer parameter coerced from a string on GET / v1
    r = tc.call("DeleteSecret", SecretName=name, RecoveryWindowInDays=3)
    assert_near(r["DeleteTime"], int(time.time()) + 3 * 86400)
    assert tc.call("DescribeSecret", SecretName=name)["Status"] == "PendingDelete"
    tc.call("RestoreSecret", SecretName=name)
    tc.call("EnableSecret", SecretName=name)
    assert tc.call("GetSecretValue", SecretName=name, VersionId="v1")["SecretString"] == value + " updated"
    tc.call("DisableSecret", SecretName=name)
    tc.call("DeleteSecret", SecretName=name, RecoveryWindowInDays=0)
    with expect_tc_error("ResourceNotFound"):
        tc.call("DescribeSecret", SecretName=name)


def test_errors_and_service_ops(tc_any):
    tc = tc_any
    with expect_tc_error("ResourceNotFound"):
        tc.call("GetSecretValue", SecretName=tc_name("nope"), VersionId="v1")
    with expect_tc_error("InvalidParameterValue", "SecretName"):
        tc.call("CreateSecret", SecretName="bad name", VersionId="v1", SecretString="x")
    with expect_tc_error("InvalidParameterValue.TagKeysDuplicated"):
        tc.call("CreateSecret", SecretName=tc_name("dup"), VersionId="v1", SecretString="x",
                Tags=[{"TagKey": "a", "TagValue": "1"}, {"TagKey": "a", "TagValue": "2"}])
    with expect_tc_error("ResourceNotFound"):
        tc.call("RotateProductSecret", SecretName=tc_name("rot"))
    with expect_tc_error("InvalidAction"):
        tc.generic("NoSuchThing", {})
    assert tc.call("GetServiceStatus")["ServiceEnabled"] is True
    assert tc.region in tc.call("GetRegions")["Regions"]


AWKWARD = [
    "spaces and+plus %20 %2B &amp; = ; / ? # [ ] @ ! $ ' ( ) , : ~ *",
    "unicode caf\u00e9 \u4e2d\u6587 \U0001F600 \u00a0",
    "  padded  ",
    "multi\nline\r\n\ttab",
]


@pytest.mark.parametrize("writer,reader", [p for p in itertools.product(Tc.KINDS, Tc.KINDS)
                                           if p[0] != p[1] or p[0] == "tc3"])
def test_roundtrip_between_shapes(coffer, writer, reader):
    w, r = make_tc(writer, coffer), make_tc(reader, coffer)
    name = tc_name("rt")
    w.call("CreateSecret", SecretName=name, VersionId="v0", SecretString=AWKWARD[0],
           Description=AWKWARD[1])
    for i, value in enumerate(AWKWARD[1:], 1):
        w.call("PutSecretValue", SecretName=name, VersionId="v%d" % i, SecretString=value)
    for i, value in enumerate(AWKWARD):
        assert r.call("GetSecretValue", SecretName=name, VersionId="v%d" % i)["SecretString"] == value
    assert r.call("DescribeSecret", SecretName=name)["Description"] == AWKWARD[1]


@pytest.mark.parametrize("kind", ["v1sha256", "v1sha1", "v1get", "tc3get"])
def test_wrong_key_per_shape(coffer, kind):
    c = Tc(coffer.endpoint, coffer.ak, coffer.sk + "x", kind=kind)
    with expect_tc_error("AuthFailure.SignatureFailure"):
        c.call("GetServiceStatus")
    c = Tc(coffer.endpoint, "AKID" + "0" * 32, coffer.sk, kind=kind)
    with expect_tc_error("AuthFailure.SecretIdNotFound"):
        c.call("GetServiceStatus")


@pytest.mark.parametrize("kind", ["v1sha256", "tc3get", "tc3"])
def test_token_is_rejected_per_shape(coffer, kind):
    c = Tc(coffer.endpoint, coffer.ak, coffer.sk, kind=kind, token="some-session-token")
    with expect_tc_error("AuthFailure.TokenFailure"):
        c.call("GetServiceStatus")


def test_endpoint_with_scheme_in_host(coffer, name):
    """HttpProfile(endpoint="http://127.0.0.1:PORT") without protocol: Host is literally the URL."""
    c = Tc(coffer.endpoint, coffer.ak, coffer.sk, scheme_in_endpoint=True)
    c.call("CreateSecret", SecretName=name, VersionId="v1", SecretString="via scheme host")
    assert c.last_request.header["Host"] == "http://" + coffer.endpoint
    assert c.call("GetSecretValue", SecretName=name, VersionId="v1")["SecretString"] == "via scheme host"


def test_unsigned_payload_is_refused(coffer, name):
    """ClientProfile.unsignedPayload takes the JSON body out of the signature, so anyone relaying the
    request could send other parameters under it: coffer refuses it (it accepts UNSIGNED-PAYLOAD only
    with an empty body, which the SDK never sends: it sends "{}" at least)."""
    c = Tc(coffer.endpoint, coffer.ak, coffer.sk, unsigned_payload=True)
    with expect_tc_error("AuthFailure.SignatureFailure", "UNSIGNED-PAYLOAD"):
        c.call("CreateSecret", SecretName=name, VersionId="v1", SecretString="unsigned payload")
    assert c.last_request.header.get("X-TC-Content-SHA256") == "UNSIGNED-PAYLOAD"
    signed = Tc(coffer.endpoint, coffer.ak, coffer.sk)
    with expect_tc_error("ResourceNotFound"):
        signed.call("DescribeSecret", SecretName=name)
