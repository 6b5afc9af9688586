"""DeleteSecret / RestoreSecret and what a secret pending deletion allows, through every SDK flavour."""
import json
from datetime import timedelta

import pytest

from coffer_helpers import assert_time_near, expect_error, parse_time, secret_value, tags_of, utc_now, wrapped_list


def test_default_recovery_window_is_30_days(api, name):
    api.call("CreateSecret", SecretName=name, VersionId="v1", SecretData=secret_value())
    r = api.call("DeleteSecret", SecretName=name)
    assert r["SecretName"] == name
    assert_time_near(r["PlannedDeleteTime"], utc_now() + timedelta(days=30))
    d = api.call("DescribeSecret", SecretName=name)
    assert d["PlannedDeleteTime"] == r["PlannedDeleteTime"]


@pytest.mark.parametrize("days", ["7", "30"])
def test_recovery_window_bounds_accepted(api, name, days):
    api.call("CreateSecret", SecretName=name, VersionId="v1", SecretData=secret_value())
    r = api.call("DeleteSecret", SecretName=name, RecoveryWindowInDays=days)
    assert_time_near(r["PlannedDeleteTime"], utc_now() + timedelta(days=int(days)))


@pytest.mark.parametrize("days", ["6", "31", "0", "-1", "abc"])
def test_recovery_window_out_of_range(api, name, days):
    api.call("CreateSecret", SecretName=name, VersionId="v1", SecretData=secret_value())
    with expect_error(400, "InvalidParameter", "RecoveryWindowInDays"):
        api.call("DeleteSecret", SecretName=name, RecoveryWindowInDays=days)
    assert not api.call("DescribeSecret", SecretName=name).get("PlannedDeleteTime")


def test_force_delete_frees_the_name_immediately(api, name):
    api.call("CreateSecret", SecretName=name, VersionId="v1", SecretData=secret_value("old"))
    r = api.call("DeleteSecret", SecretName=name, ForceDeleteWithoutRecovery="true")
    assert r["SecretName"] == name
    with expect_error(404, "Forbidden.ResourceNotFound"):
        api.call("DescribeSecret", SecretName=name)
    new = secret_value("new")
    api.call("CreateSecret", SecretName=name, VersionId="fresh", SecretData=new)
    got = api.call("GetSecretValue", SecretName=name)
    assert (got["VersionId"], got["SecretData"]) == ("fresh", new)
    r = api.call("ListSecretVersionIds", SecretName=name, IncludeDeprecated="true")
    assert [v["VersionId"] for v in wrapped_list(r, "VersionIds", "VersionId")] == ["fresh"]


def test_force_delete_of_pending_secret(api, name):
    api.call("CreateSecret", SecretName=name, VersionId="v1", SecretData=secret_value())
    api.call("DeleteSecret", SecretName=name)
    api.call("DeleteSecret", SecretName=name, ForceDeleteWithoutRecovery="true")
    with expect_error(404, "Forbidden.ResourceNotFound"):
        api.call("DescribeSecret", SecretName=name)


def test_pending_secret_rejects_value_operations(api, name):
    api.call("CreateSecret", SecretName=name, VersionId="v1", SecretData=secret_value())
    api.call("DeleteSecret", SecretName=name, RecoveryWindowInDays="7")
    calls = [
        ("GetSecretValue", dict(SecretName=name)),
        ("PutSecretValue", dict(SecretName=name, VersionId="v2", SecretData=secret_value())),
        ("UpdateSecret", dict(SecretName=name, Description="nope")),
        ("UpdateSecretVersionStage", dict(SecretName=name, VersionStage="x", MoveToVersion="v1")),
    ]
    for action, params in calls:
        with expect_error(409, "Rejected.ResourceInDeleteWindow"):
            api.call(action, **params)
    # creating a secret with the pending name is rejected too
    with expect_error(409, "Rejected.ResourceInDeleteWindow"):
        api.call("CreateSecret", SecretName=name, VersionId="v9", SecretData=secret_value())


def test_pending_secret_allows_metadata_operations(api, name):
    api.call("CreateSecret", SecretName=name, VersionId="v1", SecretData=secret_value())
    first = api.call("DeleteSecret", SecretName=name, RecoveryWindowInDays="7")
    d = api.call("DescribeSecret", SecretName=name)
    assert d["SecretName"] == name
    parse_time(d["PlannedDeleteTime"])
    r = api.call("ListSecretVersionIds", SecretName=name)
    assert [v["VersionId"] for v in wrapped_list(r, "VersionIds", "VersionId")] == ["v1"]
    api.call("TagResource", SecretName=name, Tags=json.dumps([{"TagKey": "pending", "TagValue": "yes"}]))
    assert tags_of(api.call("DescribeSecret", SecretName=name, FetchTags="true")) == {"pending": "yes"}
    # deleting again reschedules with the new window
    again = api.call("DeleteSecret", SecretName=name, RecoveryWindowInDays="20")
    assert_time_near(again["PlannedDeleteTime"], utc_now() + timedelta(days=20))
    assert parse_time(again["PlannedDeleteTime"]) > parse_time(first["PlannedDeleteTime"])


def test_restore(api, name):
    value = secret_value()
    api.call("CreateSecret", SecretName=name, VersionId="v1", SecretData=value)
    with expect_error(400, "InvalidParameter"):
        api.call("RestoreSecret", SecretName=name)  # not pending
    api.call("DeleteSecret", SecretName=name)
    r = api.call("RestoreSecret", SecretName=name)
    assert r["SecretName"] == name and r["RequestId"]
    assert not api.call("DescribeSecret", SecretName=name).get("PlannedDeleteTime")
    assert api.call("GetSecretValue", SecretName=name)["SecretData"] == value
    api.call("PutSecretValue", SecretName=name, VersionId="v2", SecretData=secret_value("2"))


def test_restore_unknown_secret(api, name):
    with expect_error(404, "Forbidden.ResourceNotFound"):
        api.call("RestoreSecret", SecretName=name)


def test_delete_unknown_secret(api, name):
    with expect_error(404, "Forbidden.ResourceNotFound"):
        api.call("DeleteSecret", SecretName=name)
