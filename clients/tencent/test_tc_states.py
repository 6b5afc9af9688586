"""The secret state machine: Enabled <-> Disabled, DeleteSecret (immediate or with a recovery window),
RestoreSecret (SDK, TC3 POST)."""
import time

import pytest

from tc_helpers import assert_near, expect_tc_error, tc_name

DAY = 86400


def create(tc, name, value="value", version="v1"):
    tc.call("CreateSecret", SecretName=name, VersionId=version, SecretString=value)


def status(tc, name):
    return tc.call("DescribeSecret", SecretName=name)["Status"]


def test_disable_and_enable(tc, name):
    create(tc, name, "readable")
    r = tc.call("DisableSecret", SecretName=name)
    assert r["SecretName"] == name
    assert status(tc, name) == "Disabled"
    with expect_tc_error("ResourceUnavailable.ResourceDisabled"):
        tc.call("GetSecretValue", SecretName=name, VersionId="v1")
    with expect_tc_error("ResourceUnavailable.ResourceDisabled"):
        tc.call("GetSecretValue", SecretName=name, VersionId="SSM_Current")
    # disabling twice is harmless, metadata stays readable
    tc.call("DisableSecret", SecretName=name)
    assert tc.call("ListSecretVersionIds", SecretName=name)["Versions"][0]["VersionId"] == "v1"
    r = tc.call("EnableSecret", SecretName=name)
    assert r["SecretName"] == name
    assert status(tc, name) == "Enabled"
    assert tc.call("GetSecretValue", SecretName=name, VersionId="v1")["SecretString"] == "readable"
    tc.call("EnableSecret", SecretName=name)
    assert status(tc, name) == "Enabled"


def test_values_can_be_written_while_disabled(tc, name):
    create(tc, name, "one")
    tc.call("DisableSecret", SecretName=name)
    tc.call("PutSecretValue", SecretName=name, VersionId="v2", SecretString="two")
    tc.call("UpdateSecret", SecretName=name, VersionId="v1", SecretString="one again")
    tc.call("UpdateDescription", SecretName=name, Description="while disabled")
    tc.call("EnableSecret", SecretName=name)
    assert tc.call("GetSecretValue", SecretName=name, VersionId="SSM_Current")["SecretString"] == "two"
    assert tc.call("GetSecretValue", SecretName=name, VersionId="v1")["SecretString"] == "one again"
    assert tc.call("DescribeSecret", SecretName=name)["Description"] == "while disabled"


def test_enable_disable_unknown(tc):
    for action in ("EnableSecret", "DisableSecret", "DeleteSecret", "RestoreSecret", "ListSecretVersionIds"):
        with expect_tc_error("ResourceNotFound"):
            tc.call(action, SecretName=tc_name("nope"))


def test_delete_requires_disabled(tc, name):
    create(tc, name)
    with expect_tc_error("OperationDenied"):
        tc.call("DeleteSecret", SecretName=name)
    with expect_tc_error("OperationDenied"):
        tc.call("DeleteSecret", SecretName=name, RecoveryWindowInDays=7)
    assert status(tc, name) == "Enabled"
    assert tc.call("GetSecretValue", SecretName=name, VersionId="v1")["SecretString"] == "value"


@pytest.mark.parametrize("window", [None, 0])
def test_immediate_delete(tc, name, window):
    create(tc, name, "old value")
    tc.call("PutSecretValue", SecretName=name, VersionId="v2", SecretString="old two")
    tc.call("DisableSecret", SecretName=name)
    now = int(time.time())
    r = tc.call("DeleteSecret", SecretName=name, RecoveryWindowInDays=window)
    assert r["SecretName"] == name
    assert_near(r["DeleteTime"], now, 60)
    for action, extra in (("GetSecretValue", {"VersionId": "v1"}), ("DescribeSecret", {}),
                          ("ListSecretVersionIds", {}), ("EnableSecret", {}), ("DisableSecret", {}),
                          ("DeleteSecret", {}), ("RestoreSecret", {}),
                          ("PutSecretValue", {"VersionId": "v3", "SecretString": "x"}),
                          ("UpdateSecret", {"VersionId": "v1", "SecretString": "x"}),
                          ("UpdateDescription", {"Description": "x"}),
                          ("DeleteSecretVersion", {"VersionId": "v1"})):
        with expect_tc_error("ResourceNotFound"):
            tc.call(action, SecretName=name, **extra)
    # the name is free again, with nothing of the old secret left
    create(tc, name, "new value", version="v9")
    assert tc.call("GetSecretValue", SecretName=name, VersionId="v9")["SecretString"] == "new value"
    assert [v["VersionId"] for v in tc.call("ListSecretVersionIds", SecretName=name)["Versions"]] == ["v9"]
    with expect_tc_error("ResourceNotFound"):
        tc.call("GetSecretValue", SecretName=name, VersionId="v1")
    assert status(tc, name) == "Enabled"


def test_delete_with_recovery_window_and_restore(tc, name):
    create(tc, name, "keep me")
    tc.call("DisableSecret", SecretName=name)
    now = int(time.time())
    r = tc.call("DeleteSecret", SecretName=name, RecoveryWindowInDays=7)
    assert r["SecretName"] == name
    assert_near(r["DeleteTime"], now + 7 * DAY)
    d = tc.call("DescribeSecret", SecretName=name)
    assert d["Status"] == "PendingDelete"
    assert_near(d["DeleteTime"], now + 7 * DAY)
    assert d["DeleteTime"] == r["DeleteTime"]

    with expect_tc_error("ResourceUnavailable.ResourcePendingDeleted"):
        tc.call("GetSecretValue", SecretName=name, VersionId="v1")
    with expect_tc_error("ResourceUnavailable.ResourcePendingDeleted"):
        tc.call("EnableSecret", SecretName=name)
    with expect_tc_error("ResourceUnavailable.ResourcePendingDeleted"):
        tc.call("DisableSecret", SecretName=name)
    with expect_tc_error("ResourceUnavailable.ResourcePendingDeleted"):
        tc.call("PutSecretValue", SecretName=name, VersionId="v2", SecretString="x")
    with expect_tc_error("OperationDenied"):
        tc.call("DeleteSecret", SecretName=name, RecoveryWindowInDays=7)
    with expect_tc_error("OperationDenied"):
        tc.call("DeleteSecret", SecretName=name)
    with expect_tc_error("ResourceInUse.SecretExists"):
        create(tc, name)
    # metadata stays readable
    assert [v["VersionId"] for v in tc.call("ListSecretVersionIds", SecretName=name)["Versions"]] == ["v1"]

    r = tc.call("RestoreSecret", SecretName=name)
    assert r["SecretName"] == name
    d = tc.call("DescribeSecret", SecretName=name)
    assert (d["Status"], d["DeleteTime"]) == ("Disabled", 0)
    with expect_tc_error("ResourceUnavailable.ResourceDisabled"):
        tc.call("GetSecretValue", SecretName=name, VersionId="v1")
    with expect_tc_error("OperationDenied"):
        tc.call("RestoreSecret", SecretName=name)
    tc.call("EnableSecret", SecretName=name)
    assert tc.call("GetSecretValue", SecretName=name, VersionId="v1")["SecretString"] == "keep me"
    with expect_tc_error("OperationDenied"):
        tc.call("RestoreSecret", SecretName=name)


@pytest.mark.parametrize("days", [1, 30])
def test_window_bounds_accepted(tc, name, days):
    create(tc, name)
    tc.call("DisableSecret", SecretName=name)
    now = int(time.time())
    r = tc.call("DeleteSecret", SecretName=name, RecoveryWindowInDays=days)
    assert_near(r["DeleteTime"], now + days * DAY)
    assert status(tc, name) == "PendingDelete"


@pytest.mark.parametrize("days", [31, -1, 365])
def test_window_out_of_range(tc, name, days):
    create(tc, name)
    tc.call("DisableSecret", SecretName=name)
    with expect_tc_error("InvalidParameterValue", "RecoveryWindowInDays"):
        tc.call("DeleteSecret", SecretName=name, RecoveryWindowInDays=days)
    assert status(tc, name) == "Disabled"


def test_delete_version_of_disabled_secret(tc, name):
    create(tc, name)
    tc.call("PutSecretValue", SecretName=name, VersionId="v2", SecretString="2")
    tc.call("DisableSecret", SecretName=name)
    tc.call("DeleteSecretVersion", SecretName=name, VersionId="v2")
    assert [v["VersionId"] for v in tc.call("ListSecretVersionIds", SecretName=name)["Versions"]] == ["v1"]
