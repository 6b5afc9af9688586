"""Service-level operations and the operations coffer does not offer (SDK, TC3 POST)."""
import pytest

from tc_helpers import Tc, expect_tc_error, make_tc, tc_name


def test_get_service_status(tc):
    r = tc.call("GetServiceStatus")
    assert r["ServiceEnabled"] is True
    assert r["InvalidType"] == 1
    assert tc.last_model.ServiceEnabled is True


@pytest.mark.parametrize("region", ["ap-guangzhou", "ap-shanghai", "na-siliconvalley"])
def test_get_regions_includes_the_clients_region(coffer, region):
    c = make_tc("tc3", coffer, region=region)
    r = c.call("GetRegions")
    assert isinstance(r["Regions"], list) and r["Regions"], r
    assert all(isinstance(x, str) and x for x in r["Regions"]), r
    assert region in r["Regions"], r


def test_describe_supported_products(tc):
    r = tc.call("DescribeSupportedProducts")
    assert r["Products"] == ["Mysql", "MariaDB", "PostgreSQL"] and r["TotalCount"] == 3


UNSUPPORTED = [
    ("CreateSSHKeyPairSecret", dict(SecretName="SN", ProjectId=0)),
    ("GetSSHKeyPairValue", dict(SecretName="SN")),
]


@pytest.mark.parametrize("action,params", UNSUPPORTED, ids=[a for a, _ in UNSUPPORTED])
def test_unsupported_operations(tc, action, params):
    existing = tc_name("u")
    tc.call("CreateSecret", SecretName=existing, VersionId="v1", SecretString="x")
    params = {k: (existing if v == "SN" else v) for k, v in params.items()}
    with expect_tc_error("UnsupportedOperation"):
        tc.call(action, **params)
    # nothing happened to the secret
    d = tc.call("DescribeSecret", SecretName=existing)
    assert (d["Status"], d["RotationStatus"]) == ("Enabled", False)


PRODUCT_ONLY = [
    ("RotateProductSecret", dict(SecretName="SN")),
    ("UpdateRotationStatus", dict(SecretName="SN", EnableRotation=True, Frequency=30)),
    ("DescribeRotationDetail", dict(SecretName="SN")),
    ("DescribeRotationHistory", dict(SecretName="SN")),
]


@pytest.mark.parametrize("action,params", PRODUCT_ONLY, ids=[a for a, _ in PRODUCT_ONLY])
def test_product_operations_refuse_user_secrets(tc, action, params):
    """Rotation belongs to product (database) secrets, which clients/rotation tests; on a
    user-defined secret each operation is denied and changes nothing."""
    existing = tc_name("u")
    tc.call("CreateSecret", SecretName=existing, VersionId="v1", SecretString="x")
    params = {k: (existing if v == "SN" else v) for k, v in params.items()}
    with expect_tc_error("OperationDenied", existing):
        tc.call(action, **params)
    d = tc.call("DescribeSecret", SecretName=existing)
    assert (d["Status"], d["RotationStatus"]) == ("Enabled", False)


def test_product_secret_on_an_unregistered_instance(tc):
    with expect_tc_error("ResourceNotFound", "cdb-1"):
        tc.call("CreateProductSecret", SecretName=tc_name("p"), UserNamePrefix="u", ProductName="Mysql",
                InstanceID="cdb-1", Domains=["%"],
                PrivilegesList=[{"PrivilegeName": "GlobalPrivileges", "Privileges": ["SELECT"]}],
                RotationBeginTime="2030-01-01 00:00:00")


def test_unknown_action(tc):
    with expect_tc_error("InvalidAction"):
        tc.generic("FrobnicateSecret", {"SecretName": "x"})


def test_language_en_us(coffer, name):
    c = make_tc("tc3", coffer, language="en-US")
    c.call("CreateSecret", SecretName=name, VersionId="v1", SecretString="x")
    with expect_tc_error("ResourceNotFound"):
        c.call("GetSecretValue", SecretName=name, VersionId="v2")


def test_kinds_are_what_they_claim(coffer):
    """Guard for the fixture plumbing: each flavour really sends the request shape it names."""
    seen = {}
    for kind in Tc.KINDS:
        c = make_tc(kind, coffer)
        c.call("GetServiceStatus")
        req = c.last_request
        seen[kind] = (req.method, req.header.get("Content-Type"), "Authorization" in req.header,
                      "SignatureMethod=" in (req.data or ""))
    assert seen == {
        "tc3": ("POST", "application/json", True, False),
        "tc3get": ("GET", "application/x-www-form-urlencoded", True, False),
        "v1sha256": ("POST", "application/x-www-form-urlencoded", False, True),
        "v1sha1": ("POST", "application/x-www-form-urlencoded", False, True),
        "v1get": ("GET", "application/x-www-form-urlencoded", False, True),
    }
