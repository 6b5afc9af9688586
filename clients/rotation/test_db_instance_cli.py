"""`coffer db-instance` against the real server and databases: add (with the admin login
checked), list, show, remove, and the errors an operator meets."""
import json
import uuid

import db_helpers
from db_helpers import register


def test_add_list_show_remove(cli, coffer):
    iid = "cli-" + uuid.uuid4().hex[:6]
    added = register(cli, iid, db_helpers.MARIADB)
    assert (added["DBInstanceId"], added["Engine"], added["Port"], added["AdminUser"]) == (iid, "mariadb", 3306, "root")
    assert "AdminPassword" not in added
    listed = cli.json("db-instance", "list")["DBInstances"]
    assert iid in [i["DBInstanceId"] for i in listed]
    table = cli.ok("db-instance", "list")
    assert iid in table and "ENGINE" in table
    shown = cli.json("db-instance", "show", iid)
    assert shown["Host"] == "127.0.0.1"
    assert "removed" in cli.ok("db-instance", "remove", iid)
    err = cli.fails("db-instance", "show", iid)
    assert "does not exist" in err


def test_bad_registrations_are_refused_with_the_reason(cli):
    err = cli.fails("db-instance", "add", "cli-closed", "--engine", "mariadb", "--host", "127.0.0.1",
                    "--port", "1", "--admin-user", "root", "--admin-password", "")
    assert "cannot be reached" in err
    err = cli.fails("db-instance", "add", "cli-wrong", "--engine", "postgres", "--host", "127.0.0.1",
                    "--port", "5432", "--admin-user", "no_such_admin_role", "--admin-password", "x")
    assert "no_such_admin_role" in err
    err = cli.fails("db-instance", "add", "bad id!", "--engine", "mariadb", "--host", "127.0.0.1",
                    "--port", "3306", "--admin-user", "root", "--admin-password", "")
    assert "DBInstanceId" in err
    # --no-check registers without logging in; the password may come from the environment.
    added = cli.json("db-instance", "add", "cli-later", "--engine", "mysql", "--host", "db.invalid",
                     "--port", "3306", "--admin-user", "admin", "--no-check",
                     env_extra={"COFFER_DB_ADMIN_PASSWORD": "from-env"})
    assert added["Engine"] == "mysql"
    assert "already exists" in cli.fails("db-instance", "add", "cli-later", "--engine", "mysql", "--host",
                                         "db.invalid", "--port", "3306", "--admin-user", "admin",
                                         "--admin-password", "x", "--no-check")
    cli.ok("db-instance", "remove", "cli-later")


def test_an_instance_in_use_cannot_be_removed(cli, gen2, instances, account):
    db_helpers.create_account("mariadb", account, "Initial-pw-1")
    iid = "cli-used-" + uuid.uuid4().hex[:6]
    register(cli, iid, db_helpers.MARIADB)
    gen2.call("CreateSecret", SecretName="uses-" + iid, VersionId="v1", SecretType="Rds",
              SecretData=json.dumps({"Accounts": [{"AccountName": account, "AccountPassword": "Initial-pw-1"}]}),
              ExtendedConfig={"SecretSubType": "SingleUser", "DBInstanceId": iid})
    err = cli.fails("db-instance", "remove", iid)
    assert "uses-" + iid in err
    gen2.call("DeleteSecret", SecretName="uses-" + iid, ForceDeleteWithoutRecovery="true")
    cli.ok("db-instance", "remove", iid)


def test_instances_belong_to_one_account(cli, coffer, instances, account):
    """Another account neither sees nor uses this account's instances, and cannot register
    one for it."""
    from coffer_helpers import AdminCli, Gen2, expect_error

    other = cli.json("account", "create", "team-other")
    key = cli.json("access-key", "create", "--account", other["AccountId"], "--admin")
    theirs = AdminCli(coffer, key["AccessKeyId"], key["AccessKeySecret"])
    assert theirs.json("db-instance", "list")["DBInstances"] == []
    assert "does not exist" in theirs.fails("db-instance", "show", instances["mariadb"])
    mine = cli.json("account", "list")
    own_id = next(a["AccountId"] for a in mine["Accounts"] if a["Operator"])
    assert "denied" in theirs.fails("db-instance", "list", "--account", own_id).lower()
    db_helpers.create_account("mariadb", account, "Initial-pw-1")
    api = Gen2(coffer.endpoint, key["AccessKeyId"], key["AccessKeySecret"])
    with expect_error(404, "Forbidden.ResourceNotFound", instances["mariadb"]):
        api.call("CreateSecret", SecretName="stolen", VersionId="v1", SecretType="Rds",
                 SecretData=json.dumps({"Accounts": [{"AccountName": account, "AccountPassword": "Initial-pw-1"}]}),
                 ExtendedConfig={"SecretSubType": "SingleUser", "DBInstanceId": instances["mariadb"]})
    # The operator may list them for the other account (there are none).
    assert cli.json("db-instance", "list", "--account", other["AccountId"])["DBInstances"] == []
