"""CreateSecret / GetSecretValue / PutSecretValue / UpdateSecret / UpdateDescription / DescribeSecret /
ListSecretVersionIds / DeleteSecretVersion through the official SDK (TC3, POST JSON)."""
import json
import time

from coffer_helpers import binary_value, secret_value
from tc_helpers import assert_near, b64, expect_tc_error, tc_name


def get(tc, name, version):
    return tc.call("GetSecretValue", SecretName=name, VersionId=version)


def versions(tc, name):
    r = tc.call("ListSecretVersionIds", SecretName=name)
    assert r["SecretName"] == name
    for v in r["Versions"]:
        assert set(v) >= {"VersionId", "CreateTime"}, v
    return {v["VersionId"]: v["CreateTime"] for v in r["Versions"]}


# ----------------------------------------------------------------------------- create + get
def test_create_text_secret_and_read_it(tc, name):
    value = secret_value("create")
    r = tc.call("CreateSecret", SecretName=name, VersionId="v1", SecretString=value, Description="first")
    assert r["SecretName"] == name and r["VersionId"] == "v1"
    assert r["TagCode"] == 0 and r["TagMsg"] == "", r
    g = get(tc, name, "v1")
    assert g["SecretName"] == name and g["VersionId"] == "v1"
    assert g["SecretString"] == value
    assert g["SecretBinary"] == "", "the unused value field must be an empty string: %r" % g
    # the typed model got the same thing
    assert tc.last_model.SecretString == value


def test_create_binary_secret_and_read_it(tc, name):
    value = binary_value(200)
    r = tc.call("CreateSecret", SecretName=name, VersionId="bin.1", SecretBinary=value)
    assert (r["SecretName"], r["VersionId"], r["TagCode"], r["TagMsg"]) == (name, "bin.1", 0, "")
    g = get(tc, name, "bin.1")
    assert g["SecretBinary"] == value
    assert g["SecretString"] == ""


def test_binary_value_with_every_byte(tc, name):
    value = b64(bytes(range(256)) * 4)
    tc.call("CreateSecret", SecretName=name, VersionId="v1", SecretBinary=value)
    assert get(tc, name, "v1")["SecretBinary"] == value


def test_default_version_id_is_ssm_current(tc, name):
    value = secret_value("default version")
    r = tc.call("CreateSecret", SecretName=name, SecretString=value)
    assert r["VersionId"] == "SSM_Current"
    assert set(versions(tc, name)) == {"SSM_Current"}
    g = get(tc, name, "SSM_Current")
    assert (g["VersionId"], g["SecretString"]) == ("SSM_Current", value)


def test_awkward_values_roundtrip(tc, name):
    tc.call("CreateSecret", SecretName=name, VersionId="v0", SecretString="x")
    awkward = [
        "spaces and+plus %20 %2B &amp; = ; / ? # [ ] @ ! $ ' ( ) , : ~ * \\ backslash",
        "unicode: caf\u00e9 \u4e2d\u6587 \u0414\u0430 \U0001F600 \u00a0nbsp",
        "  leading and trailing  ",
        "line1\nline2\r\nline3\ttab",
        '{"user": "root", "password": "p@ss+w0rd/=="}',
    ]
    for i, value in enumerate(awkward, 1):
        tc.call("PutSecretValue", SecretName=name, VersionId="v%d" % i, SecretString=value)
    for i, value in enumerate(awkward, 1):
        assert get(tc, name, "v%d" % i)["SecretString"] == value


def test_get_unknown_secret_and_unknown_version(tc, name):
    with expect_tc_error("ResourceNotFound"):
        get(tc, tc_name("nope"), "v1")
    tc.call("CreateSecret", SecretName=name, VersionId="v1", SecretString="x")
    with expect_tc_error("ResourceNotFound"):
        get(tc, name, "v2")


def test_get_requires_version_id(tc, name):
    tc.call("CreateSecret", SecretName=name, VersionId="v1", SecretString="x")
    with expect_tc_error("MissingParameter", "VersionId"):
        tc.call("GetSecretValue", SecretName=name)
    with expect_tc_error("MissingParameter", "SecretName"):
        tc.call("GetSecretValue", VersionId="v1")


# ----------------------------------------------------------------------------- versions
def test_put_secret_value_makes_a_new_current_version(tc, name):
    v1, v2 = secret_value("one"), secret_value("two")
    tc.call("CreateSecret", SecretName=name, VersionId="v1", SecretString=v1)
    r = tc.call("PutSecretValue", SecretName=name, VersionId="v2", SecretString=v2)
    assert (r["SecretName"], r["VersionId"]) == (name, "v2")
    assert get(tc, name, "v1")["SecretString"] == v1
    assert get(tc, name, "v2")["SecretString"] == v2
    # no version is called SSM_Current here, so SSM_Current means the current version: the new one
    g = get(tc, name, "SSM_Current")
    assert (g["VersionId"], g["SecretString"]) == ("v2", v2)
    now = int(time.time())
    vs = versions(tc, name)
    assert set(vs) == {"v1", "v2"}
    for t in vs.values():
        assert_near(t, now)


def test_put_binary_after_text(tc, name):
    tc.call("CreateSecret", SecretName=name, VersionId="v1", SecretString="text")
    value = binary_value(64)
    tc.call("PutSecretValue", SecretName=name, VersionId="v2", SecretBinary=value)
    g = get(tc, name, "v2")
    assert (g["SecretString"], g["SecretBinary"]) == ("", value)
    g = get(tc, name, "v1")
    assert (g["SecretString"], g["SecretBinary"]) == ("text", "")


def test_ssm_current_prefers_a_version_with_that_id(tc, name):
    original = secret_value("original")
    tc.call("CreateSecret", SecretName=name, SecretString=original)  # VersionId SSM_Current
    tc.call("PutSecretValue", SecretName=name, VersionId="v2", SecretString="newer")
    g = get(tc, name, "SSM_Current")
    assert (g["VersionId"], g["SecretString"]) == ("SSM_Current", original)
    assert get(tc, name, "v2")["SecretString"] == "newer"


def test_put_existing_version_id_is_rejected(tc, name):
    tc.call("CreateSecret", SecretName=name, VersionId="v1", SecretString="one")
    with expect_tc_error("ResourceInUse.VersionIdExists"):
        tc.call("PutSecretValue", SecretName=name, VersionId="v1", SecretString="other")
    assert get(tc, name, "v1")["SecretString"] == "one"


def test_ten_versions_at_most(tc, name):
    tc.call("CreateSecret", SecretName=name, VersionId="v1", SecretString="1")
    for i in range(2, 11):
        tc.call("PutSecretValue", SecretName=name, VersionId="v%d" % i, SecretString=str(i))
    assert len(versions(tc, name)) == 10
    with expect_tc_error("LimitExceeded"):
        tc.call("PutSecretValue", SecretName=name, VersionId="v11", SecretString="11")
    assert len(versions(tc, name)) == 10
    g = get(tc, name, "SSM_Current")
    assert (g["VersionId"], g["SecretString"]) == ("v10", "10")
    # deleting one makes room again
    tc.call("DeleteSecretVersion", SecretName=name, VersionId="v1")
    tc.call("PutSecretValue", SecretName=name, VersionId="v11", SecretString="11")
    assert get(tc, name, "SSM_Current")["VersionId"] == "v11"


def test_put_to_unknown_secret(tc):
    with expect_tc_error("ResourceNotFound"):
        tc.call("PutSecretValue", SecretName=tc_name("nope"), VersionId="v1", SecretString="x")


def test_update_secret_overwrites_a_version_in_place(tc, name):
    tc.call("CreateSecret", SecretName=name, VersionId="v1", SecretString="old one")
    tc.call("PutSecretValue", SecretName=name, VersionId="v2", SecretString="old two")
    before = versions(tc, name)
    new = secret_value("updated")
    r = tc.call("UpdateSecret", SecretName=name, VersionId="v1", SecretString=new)
    assert (r["SecretName"], r["VersionId"]) == (name, "v1")
    assert get(tc, name, "v1")["SecretString"] == new
    assert get(tc, name, "v2")["SecretString"] == "old two"
    assert set(versions(tc, name)) == set(before), "UpdateSecret must not add or remove versions"
    # the current version stays v2
    assert get(tc, name, "SSM_Current")["VersionId"] == "v2"
    # switch v2 to a binary value in place
    value = binary_value(32)
    tc.call("UpdateSecret", SecretName=name, VersionId="v2", SecretBinary=value)
    g = get(tc, name, "v2")
    assert (g["SecretString"], g["SecretBinary"]) == ("", value)


def test_update_secret_unknown_version_or_secret(tc, name):
    tc.call("CreateSecret", SecretName=name, VersionId="v1", SecretString="x")
    with expect_tc_error("ResourceNotFound"):
        tc.call("UpdateSecret", SecretName=name, VersionId="v9", SecretString="y")
    with expect_tc_error("ResourceNotFound"):
        tc.call("UpdateSecret", SecretName=tc_name("nope"), VersionId="v1", SecretString="y")
    assert set(versions(tc, name)) == {"v1"}


def test_delete_secret_version(tc, name):
    tc.call("CreateSecret", SecretName=name, VersionId="v1", SecretString="1")
    tc.call("PutSecretValue", SecretName=name, VersionId="v2", SecretString="2")
    tc.call("PutSecretValue", SecretName=name, VersionId="v3", SecretString="3")
    r = tc.call("DeleteSecretVersion", SecretName=name, VersionId="v1")
    assert (r["SecretName"], r["VersionId"]) == (name, "v1")
    assert set(versions(tc, name)) == {"v2", "v3"}
    with expect_tc_error("ResourceNotFound"):
        get(tc, name, "v1")
    with expect_tc_error("ResourceNotFound"):
        tc.call("DeleteSecretVersion", SecretName=name, VersionId="v1")
    # deleting the current version makes the newest remaining one current
    tc.call("DeleteSecretVersion", SecretName=name, VersionId="v3")
    g = get(tc, name, "SSM_Current")
    assert (g["VersionId"], g["SecretString"]) == ("v2", "2")
    # the last version cannot go
    with expect_tc_error("OperationDenied"):
        tc.call("DeleteSecretVersion", SecretName=name, VersionId="v2")
    assert get(tc, name, "v2")["SecretString"] == "2"


def test_delete_current_version_picks_newest_remaining(tc, name):
    # creation order c, a, b: the newest remaining after deleting b is a (by name it would be c)
    tc.call("CreateSecret", SecretName=name, VersionId="c", SecretString="c")
    time.sleep(1.1)
    tc.call("PutSecretValue", SecretName=name, VersionId="a", SecretString="a")
    time.sleep(1.1)
    tc.call("PutSecretValue", SecretName=name, VersionId="b", SecretString="b")
    tc.call("DeleteSecretVersion", SecretName=name, VersionId="b")
    g = get(tc, name, "SSM_Current")
    assert (g["VersionId"], g["SecretString"]) == ("a", "a")


# ----------------------------------------------------------------------------- describe
def test_describe_secret_fields(tc, name, account):
    now = int(time.time())
    extra = json.dumps({"team": "payments", "n": 3})
    tc.call("CreateSecret", SecretName=name, VersionId="v1", SecretString="x", Description="my description",
            AdditionalConfig=extra)
    d = tc.call("DescribeSecret", SecretName=name)
    assert d["SecretName"] == name
    assert d["Description"] == "my description"
    assert isinstance(d["KmsKeyId"], str) and d["KmsKeyId"], d
    assert type(d["CreateUin"]) is int and d["CreateUin"] == int(account), d
    assert d["CreateUinString"] == account, d
    assert d["Status"] == "Enabled"
    assert d["DeleteTime"] == 0
    assert_near(d["CreateTime"], now)
    assert d["SecretType"] == 0
    assert d["RotationStatus"] is False, "DescribeSecret.RotationStatus must be the boolean false: %r" % d
    assert d["AdditionalConfig"] == extra


def test_describe_without_description_and_additional_config(tc, name):
    tc.call("CreateSecret", SecretName=name, VersionId="v1", SecretString="x")
    d = tc.call("DescribeSecret", SecretName=name)
    assert d["Description"] == ""
    assert d["AdditionalConfig"] == ""


def test_describe_unknown(tc):
    with expect_tc_error("ResourceNotFound"):
        tc.call("DescribeSecret", SecretName=tc_name("nope"))


def test_update_description(tc, name):
    tc.call("CreateSecret", SecretName=name, VersionId="v1", SecretString="x", Description="before")
    r = tc.call("UpdateDescription", SecretName=name, Description="after \u00e9\u4e2d \U0001F600")
    assert r["SecretName"] == name
    assert tc.call("DescribeSecret", SecretName=name)["Description"] == "after \u00e9\u4e2d \U0001F600"
    tc.call("UpdateDescription", SecretName=name, Description="d" * 2048)
    assert tc.call("DescribeSecret", SecretName=name)["Description"] == "d" * 2048
    with expect_tc_error("InvalidParameterValue", "Description"):
        tc.call("UpdateDescription", SecretName=name, Description="d" * 2049)
    with expect_tc_error("ResourceNotFound"):
        tc.call("UpdateDescription", SecretName=tc_name("nope"), Description="x")


def test_explicit_default_kms_key(tc, name):
    tc.call("CreateSecret", SecretName=name, VersionId="v1", SecretString="x")
    key = tc.call("DescribeSecret", SecretName=name)["KmsKeyId"]
    other = tc_name("k")
    tc.call("CreateSecret", SecretName=other, VersionId="v1", SecretString="y", KmsKeyId=key)
    assert tc.call("DescribeSecret", SecretName=other)["KmsKeyId"] == key
    assert get(tc, other, "v1")["SecretString"] == "y"
    # empty KmsKeyId = the default key
    third = tc_name("k")
    tc.call("CreateSecret", SecretName=third, VersionId="v1", SecretString="z", KmsKeyId="")
    assert tc.call("DescribeSecret", SecretName=third)["KmsKeyId"] == key
