"""CreateSecret / PutSecretValue parameter rules and their errors (SDK, TC3 POST JSON)."""
import pytest

from tc_helpers import TcError, b64, expect_tc_error, tc_name


def create(tc, name, **kw):
    kw.setdefault("VersionId", "v1")
    if "SecretBinary" not in kw:
        kw.setdefault("SecretString", "x")
    return tc.call("CreateSecret", SecretName=name, **kw)


def assert_absent(tc, name):
    with expect_tc_error("ResourceNotFound"):
        tc.call("DescribeSecret", SecretName=name)


# ----------------------------------------------------------------------------- names and version ids
@pytest.mark.parametrize("bad", ["-starts-with-dash", "_underscore", "has.dot", "has space", "sl/ash",
                                 "caf\u00e9", "n" * 129])
def test_bad_secret_names(tc, bad):
    with expect_tc_error("InvalidParameterValue", "SecretName"):
        create(tc, bad)


def test_longest_and_shortest_names(tc):
    longest = ("L" + tc_name("n")).ljust(128, "x")
    assert len(longest) == 128
    create(tc, longest)
    assert tc.call("DescribeSecret", SecretName=longest)["SecretName"] == longest
    try:
        create(tc, "Z")
    except TcError as e:  # an external server may have it from an earlier run
        assert e.code == "ResourceInUse.SecretExists", e
    assert tc.call("DescribeSecret", SecretName="Z")["SecretName"] == "Z"
    n = "9_under-" + tc_name("d")
    create(tc, n)
    assert tc.call("DescribeSecret", SecretName=n)["SecretName"] == n


def test_secret_names_are_case_sensitive(tc):
    n = "Case" + tc_name("c")
    create(tc, n, SecretString="upper")
    create(tc, n.lower(), SecretString="lower")
    assert tc.call("GetSecretValue", SecretName=n, VersionId="v1")["SecretString"] == "upper"
    assert tc.call("GetSecretValue", SecretName=n.lower(), VersionId="v1")["SecretString"] == "lower"


@pytest.mark.parametrize("bad", [".v1", "-v1", "_v1", "v 1", "v/1", "v:1", "v" * 65])
def test_bad_version_ids(tc, name, bad):
    with expect_tc_error("InvalidParameterValue", "VersionId"):
        create(tc, name, VersionId=bad)
    assert_absent(tc, name)
    create(tc, name, VersionId="ok")
    with expect_tc_error("InvalidParameterValue", "VersionId"):
        tc.call("PutSecretValue", SecretName=name, VersionId=bad, SecretString="y")


def test_good_version_ids(tc, name):
    create(tc, name, VersionId="1.0.0-rc_1")
    tc.call("PutSecretValue", SecretName=name, VersionId="V" * 64, SecretString="y")
    assert tc.call("GetSecretValue", SecretName=name, VersionId="V" * 64)["SecretString"] == "y"


# ----------------------------------------------------------------------------- values
def test_value_both_or_neither(tc, name):
    with expect_tc_error("InvalidParameterValue"):
        tc.call("CreateSecret", SecretName=name, VersionId="v1", SecretString="x", SecretBinary=b64(b"x"))
    with expect_tc_error("InvalidParameterValue"):
        tc.call("CreateSecret", SecretName=name, VersionId="v1")
    assert_absent(tc, name)
    create(tc, name)
    with expect_tc_error("InvalidParameterValue"):
        tc.call("PutSecretValue", SecretName=name, VersionId="v2", SecretString="x", SecretBinary=b64(b"x"))
    with expect_tc_error("InvalidParameterValue"):
        tc.call("PutSecretValue", SecretName=name, VersionId="v2")
    with expect_tc_error("InvalidParameterValue"):
        tc.call("UpdateSecret", SecretName=name, VersionId="v1")


@pytest.mark.parametrize("bad", ["not base64!", "@@@@", "YWJjZA=x"])
def test_bad_base64(tc, name, bad):
    with expect_tc_error("InvalidParameterValue", "SecretBinary"):
        tc.call("CreateSecret", SecretName=name, VersionId="v1", SecretBinary=bad)
    assert_absent(tc, name)


def test_value_size_limit_string_counts_utf8_bytes(tc, name):
    ok = "\u00e9" * 16384  # 32768 bytes in UTF-8
    create(tc, name, SecretString=ok)
    assert tc.call("GetSecretValue", SecretName=name, VersionId="v1")["SecretString"] == ok
    with expect_tc_error("InvalidParameterValue"):
        tc.call("PutSecretValue", SecretName=name, VersionId="v2", SecretString="\u00e9" * 16384 + "a")
    with expect_tc_error("InvalidParameterValue"):
        create(tc, tc_name("big"), SecretString="a" * 32769)
    tc.call("PutSecretValue", SecretName=name, VersionId="v3", SecretString="a" * 32768)


def test_value_size_limit_binary_counts_decoded_bytes(tc, name):
    ok = b64(b"\xff" * 32768)
    create(tc, name, SecretBinary=ok)
    assert tc.call("GetSecretValue", SecretName=name, VersionId="v1")["SecretBinary"] == ok
    with expect_tc_error("InvalidParameterValue"):
        tc.call("PutSecretValue", SecretName=name, VersionId="v2", SecretBinary=b64(b"\xff" * 32769))
    with expect_tc_error("InvalidParameterValue"):
        tc.call("UpdateSecret", SecretName=name, VersionId="v1", SecretString="a" * 32769)


def test_description_limit(tc, name):
    with expect_tc_error("InvalidParameterValue", "Description"):
        create(tc, name, Description="\u00e9" * 1024 + "x")  # 2049 bytes
    assert_absent(tc, name)
    create(tc, name, Description="\u00e9" * 1024)  # 2048 bytes
    assert tc.call("DescribeSecret", SecretName=name)["Description"] == "\u00e9" * 1024


# ----------------------------------------------------------------------------- tags
def tags(*pairs):
    return [{"TagKey": k, "TagValue": v} for k, v in pairs]


def test_tags_limits(tc):
    create(tc, tc_name("t"), Tags=tags(("k" * 127, "v" * 255)))
    create(tc, tc_name("t"), Tags=tags(*[("key%d" % i, "v%d" % i) for i in range(50)]))
    create(tc, tc_name("t"), Tags=tags(("k", "")))
    for bad in (tags(("k" * 128, "v")), tags(("", "v")), tags(("k", "v" * 256)),
                tags(*[("key%d" % i, "v") for i in range(51)])):
        n = tc_name("t")
        with expect_tc_error("InvalidParameterValue"):
            create(tc, n, Tags=bad)
        assert_absent(tc, n)


def test_duplicate_tag_keys(tc, name):
    with expect_tc_error("InvalidParameterValue.TagKeysDuplicated"):
        create(tc, name, Tags=tags(("env", "prod"), ("team", "a"), ("env", "dev")))
    assert_absent(tc, name)


# ----------------------------------------------------------------------------- type, key, config
@pytest.mark.parametrize("secret_type", [1, 2, 3, 4, 99])
def test_only_secret_type_zero(tc, name, secret_type):
    with expect_tc_error("InvalidParameterValue", "SecretType"):
        create(tc, name, SecretType=secret_type)
    assert_absent(tc, name)


def test_secret_type_zero_explicit(tc, name):
    create(tc, name, SecretType=0)
    assert tc.call("DescribeSecret", SecretName=name)["SecretType"] == 0


@pytest.mark.parametrize("key", ["00000000-0000-4000-8000-000000000000", "no-such-key", "alias/nope"])
def test_unknown_kms_key(tc, name, key):
    with expect_tc_error("InvalidParameterValue"):
        create(tc, name, KmsKeyId=key)
    assert_absent(tc, name)


# ----------------------------------------------------------------------------- names already taken
def test_name_taken_in_every_state(tc, name):
    create(tc, name)
    with expect_tc_error("ResourceInUse.SecretExists"):
        create(tc, name, VersionId="v2")
    tc.call("DisableSecret", SecretName=name)
    with expect_tc_error("ResourceInUse.SecretExists"):
        create(tc, name, VersionId="v2")
    tc.call("DeleteSecret", SecretName=name, RecoveryWindowInDays=7)
    with expect_tc_error("ResourceInUse.SecretExists"):
        create(tc, name, VersionId="v2")


def test_missing_secret_name(tc):
    with expect_tc_error("MissingParameter", "SecretName"):
        tc.call("CreateSecret", VersionId="v1", SecretString="x")
    with expect_tc_error("MissingParameter", "SecretName"):
        tc.call("DescribeSecret")
