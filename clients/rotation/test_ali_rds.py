"""Alibaba Rds secrets through the official Alibaba SDKs (generation 2, ACS3; generation 1 for
RotateSecret too): created over real MariaDB/PostgreSQL accounts, rotated on the database,
read back, and refused with clear errors when the database says no."""
import json

import pytest

from coffer_helpers import ApiError, TIME_RE, expect_error, unique
import db_helpers

ENGINES = ["mariadb", "postgres"]


def rds_config(instance, sub="SingleUser", custom=None):
    return {"SecretSubType": sub, "DBInstanceId": instance, "CustomData": custom or {}}


def create_rds(api, name, instance, accounts, sub="SingleUser", interval=None, version="v1"):
    params = dict(SecretName=name, VersionId=version, SecretType="Rds", SecretDataType="text",
                  SecretData=json.dumps({"Accounts": [{"AccountName": a, "AccountPassword": p} for a, p in accounts]}),
                  ExtendedConfig=rds_config(instance, sub))
    if interval:
        params.update(EnableAutomaticRotation=True, RotationInterval=interval)
    return api.call("CreateSecret", **params)


def current(api, name, stage=None):
    r = api.call("GetSecretValue", SecretName=name, **({"VersionStage": stage} if stage else {}))
    return json.loads(r["SecretData"]), r


@pytest.mark.parametrize("engine", ENGINES)
def test_single_user_rotation_through_the_sdk(gen2, instances, account, engine):
    db_helpers.create_account(engine, account, "Initial-pw-1")
    name = unique("rds-su")
    r = create_rds(gen2, name, instances[engine], [(account, "Initial-pw-1")], interval="30d")
    assert r["SecretType"] == "Rds"
    assert r["AutomaticRotation"] == "Enabled"
    assert r["RotationInterval"] == "2592000s"
    assert TIME_RE.match(r["NextRotationDate"])
    assert json.loads(r["ExtendedConfig"])["DBInstanceId"] == instances[engine]

    creds, _ = current(gen2, name)
    assert creds == {"AccountName": account, "AccountPassword": "Initial-pw-1"}

    rot = gen2.call("RotateSecret", SecretName=name, VersionId="v2")
    assert rot["VersionId"] == "v2" and rot["SecretName"] == name
    creds, got = current(gen2, name)
    assert got["VersionId"] == "v2"
    assert got["VersionStages"]["VersionStage"] == ["ACSCurrent"]
    assert creds["AccountName"] == account and creds["AccountPassword"] != "Initial-pw-1"
    assert db_helpers.can_log_in(engine, account, creds["AccountPassword"])
    assert not db_helpers.can_log_in(engine, account, "Initial-pw-1")
    prev, _ = current(gen2, name, "ACSPrevious")
    assert prev["AccountPassword"] == "Initial-pw-1"

    d = gen2.call("DescribeSecret", SecretName=name)
    assert d["AutomaticRotation"] == "Enabled"
    assert TIME_RE.match(d["LastRotationDate"]) and TIME_RE.match(d["NextRotationDate"])
    assert d["RotationInterval"] == "2592000s"
    assert d["SecretType"] == "Rds"

    # A repeated RotateSecret with the same VersionId is the same rotation.
    gen2.call("RotateSecret", SecretName=name, VersionId="v2")
    again, _ = current(gen2, name)
    assert again == creds


@pytest.mark.parametrize("engine", ENGINES)
def test_double_users_keep_the_previous_account_working(gen2, gen1, instances, account, engine):
    db_helpers.create_account(engine, account, "Initial-pw-1")
    name = unique("rds-du")
    create_rds(gen2, name, instances[engine], [(account, "Initial-pw-1")], sub="DoubleUsers")
    gen1.call("RotateSecret", SecretName=name, VersionId="r1")
    first, _ = current(gen2, name)
    assert first["AccountName"] == account + "_clone"
    assert db_helpers.can_log_in(engine, first["AccountName"], first["AccountPassword"])
    assert db_helpers.can_log_in(engine, account, "Initial-pw-1"), "the previous account still works"

    gen1.call("RotateSecret", SecretName=name, VersionId="r2")
    second, _ = current(gen2, name)
    assert second["AccountName"] == account
    assert db_helpers.can_log_in(engine, account, second["AccountPassword"])
    assert not db_helpers.can_log_in(engine, account, "Initial-pw-1")
    assert db_helpers.can_log_in(engine, first["AccountName"], first["AccountPassword"])


def test_rotation_policy_can_be_changed_and_is_checked(gen2, instances, account):
    db_helpers.create_account("mariadb", account, "Initial-pw-1")
    name = unique("rds-pol")
    r = create_rds(gen2, name, instances["mariadb"], [(account, "Initial-pw-1")])
    assert r["AutomaticRotation"] == "Disabled"
    assert "NextRotationDate" not in r
    gen2.call("UpdateSecretRotationPolicy", SecretName=name, EnableAutomaticRotation=True, RotationInterval="12h")
    d = gen2.call("DescribeSecret", SecretName=name)
    assert (d["AutomaticRotation"], d["RotationInterval"]) == ("Enabled", "43200s")
    for bad in ("5h", "8761h", "7w", "x"):
        with expect_error(400, "InvalidParameter", "RotationInterval"):
            gen2.call("UpdateSecretRotationPolicy", SecretName=name, EnableAutomaticRotation=True,
                      RotationInterval=bad)
    with expect_error(400, "MissingParameter", "RotationInterval"):
        gen2.call("UpdateSecretRotationPolicy", SecretName=name, EnableAutomaticRotation=True)
    gen2.call("UpdateSecretRotationPolicy", SecretName=name, EnableAutomaticRotation=False)
    d = gen2.call("DescribeSecret", SecretName=name)
    assert d["AutomaticRotation"] == "Disabled" and "NextRotationDate" not in d
    # Custom data of the extended configuration can be updated.
    gen2.call("UpdateSecret", SecretName=name, ExtendedConfig={"CustomData": {"team": "payments"}})
    d = gen2.call("DescribeSecret", SecretName=name)
    assert json.loads(d["ExtendedConfig"])["CustomData"] == {"team": "payments"}


def test_creation_errors_name_the_problem(gen2, instances, account):
    db_helpers.create_account("mariadb", account, "Initial-pw-1")
    with expect_error(404, "Forbidden.ResourceNotFound", "no-such-instance"):
        create_rds(gen2, unique("rds-x"), "no-such-instance", [(account, "Initial-pw-1")])
    with expect_error(400, "InvalidParameter", "does not exist"):
        create_rds(gen2, unique("rds-x"), instances["mariadb"], [("py_nobody_here", "Initial-pw-1")])
    with expect_error(400, "InvalidParameter", "does not log in"):
        create_rds(gen2, unique("rds-x"), instances["mariadb"], [(account, "Wrong-pw-1")])
    with expect_error(400, "InvalidParameter", "ExtendedConfig"):
        gen2.call("CreateSecret", SecretName=unique("rds-x"), VersionId="v1", SecretType="Rds",
                  SecretData=json.dumps({"Accounts": [{"AccountName": account, "AccountPassword": "x"}]}),
                  ExtendedConfig={"SecretSubType": "Triple", "DBInstanceId": instances["mariadb"]})
    with expect_error(400, "InvalidParameter", "SecretData"):
        gen2.call("CreateSecret", SecretName=unique("rds-x"), VersionId="v1", SecretType="Rds",
                  SecretData="not json", ExtendedConfig=rds_config(instances["mariadb"]))
    with expect_error(400, "InvalidParameter", "Accounts"):
        create_rds(gen2, unique("rds-x"), instances["mariadb"], [(account, "a"), (account + "2", "b")])
    with expect_error(400, "InvalidParameter", "RotationInterval"):
        create_rds(gen2, unique("rds-x"), instances["mariadb"], [(account, "Initial-pw-1")], interval="1h")
    # Refusals create nothing, and the account's password is untouched.
    assert db_helpers.can_log_in("mariadb", account, "Initial-pw-1")


def test_managed_values_change_only_by_rotation_and_generic_secrets_do_not_rotate(gen2, instances, account):
    db_helpers.create_account("mariadb", account, "Initial-pw-1")
    name = unique("rds-ro")
    create_rds(gen2, name, instances["mariadb"], [(account, "Initial-pw-1")])
    with expect_error(400, "UnsupportedOperation", "rotation"):
        gen2.call("PutSecretValue", SecretName=name, VersionId="hand", SecretData="x")
    with expect_error(400, "UnsupportedOperation", "rotation"):
        gen2.call("UpdateSecretVersionStage", SecretName=name, VersionStage="ACSCurrent", MoveToVersion="v1",
                  RemoveFromVersion="v1")
    generic = unique("gen")
    gen2.call("CreateSecret", SecretName=generic, VersionId="v1", SecretData="x")
    with expect_error(400, "UnsupportedOperation", "managed"):
        gen2.call("RotateSecret", SecretName=generic, VersionId="v2")
    with expect_error(400, "UnsupportedOperation"):
        gen2.call("UpdateSecretRotationPolicy", SecretName=generic, EnableAutomaticRotation=True,
                  RotationInterval="7d")
    gen2.call("UpdateSecretRotationPolicy", SecretName=generic, EnableAutomaticRotation=False)
    listed = gen2.call("ListSecrets", Filters=json.dumps([{"Key": "SecretType", "Values": ["Rds"]}]), PageSize=100)
    types = {s["SecretType"] for s in listed["SecretList"]["Secret"]}
    assert types == {"Rds"}


def test_a_refused_rotation_is_rolled_back_and_reported(gen2, instances, account):
    db_helpers.create_account("mariadb", account, "Initial-pw-1")
    name = unique("rds-gone")
    create_rds(gen2, name, instances["mariadb"], [(account, "Initial-pw-1")], interval="7d")
    db_helpers.drop_account("mariadb", account)
    with expect_error(400, "InvalidParameter", "rolled back", account):
        gen2.call("RotateSecret", SecretName=name, VersionId="v2")
    d = gen2.call("DescribeSecret", SecretName=name)
    assert d["AutomaticRotation"] == "Invalid"
    ids = gen2.call("ListSecretVersionIds", SecretName=name)["VersionIds"]["VersionId"]
    assert [v["VersionId"] for v in ids] == ["v1"], "the pending version was removed"
    creds, _ = current(gen2, name)
    assert creds["AccountPassword"] == "Initial-pw-1"


def test_unreachable_database_and_wrong_admin_credentials_at_create_time(gen2, cli, account):
    """Instances registered without a check fail at the first secret with the reason."""
    db_helpers.create_account("mariadb", account, "Initial-pw-1")
    closed, wrong = unique("closed"), unique("wrongadmin")
    cli.ok("db-instance", "add", closed, "--engine", "mariadb", "--host", "127.0.0.1", "--port", "1",
           "--admin-user", "root", "--admin-password", "", "--no-check")
    cli.ok("db-instance", "add", wrong, "--engine", "mariadb", "--host", "127.0.0.1", "--port", "3306",
           "--admin-user", "root", "--admin-password", "not-the-root-password", "--no-check")
    with expect_error(503, "ServiceUnavailableTemporary", closed, "cannot be reached"):
        create_rds(gen2, unique("rds-x"), closed, [(account, "Initial-pw-1")])
    with expect_error(400, "InvalidParameter", wrong, "Access denied"):
        create_rds(gen2, unique("rds-x"), wrong, [(account, "Initial-pw-1")])
    for iid in (closed, wrong):
        cli.ok("db-instance", "remove", iid)
