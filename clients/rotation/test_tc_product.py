"""Tencent product (database) secrets through the official Tencent SDK: the account is created
on the real database as an asynchronous task, read back with GetSecretValue, rotated, and every
step is visible through the task and rotation operations."""
import json
import time
import uuid

import pytest

from tc_helpers import Tc, TcError, expect_tc_error
import db_helpers


@pytest.fixture
def tc(coffer):
    return Tc(coffer.endpoint, coffer.ak, coffer.sk)


def wait_flow(tc, flow, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = tc.call("DescribeAsyncRequestInfo", FlowID=flow)
        if r["TaskStatus"] != 0:
            return r
        time.sleep(0.2)
    raise AssertionError("task %s still running after %ss" % (flow, timeout))


def value(tc, name, version="SSM_Current"):
    r = tc.call("GetSecretValue", SecretName=name, VersionId=version)
    return json.loads(r["SecretString"]), r


def grants(db="test"):
    return [{"PrivilegeName": "DatabasePrivileges", "Database": db, "Privileges": ["SELECT", "INSERT"]}]


def drop_created(engine, account, hosts=("%",)):
    for n in (account + "_clone", account):
        if engine == "postgres":
            db_helpers.pg("DROP ROLE IF EXISTS \"%s\"" % n)
        else:
            for h in hosts:
                db_helpers.maria("DROP USER IF EXISTS '%s'@'%s'" % (n, h))


def test_product_secret_is_created_on_mariadb_and_rotated(tc, instances):
    name = "tc-prod-" + uuid.uuid4().hex[:8]
    r = tc.call("CreateProductSecret", SecretName=name, UserNamePrefix="app", ProductName="Mysql",
                InstanceID=instances["mariadb"], Domains=["%", "127.0.0.1"], PrivilegesList=grants(),
                RotationBeginTime="2030-01-01 00:00:00", EnableRotation=True, RotationFrequency=30)
    assert r["SecretName"] == name and isinstance(r["FlowID"], int)
    done = wait_flow(tc, r["FlowID"])
    assert done["TaskStatus"] == 1, done
    creds, got = value(tc, name)
    account = creds["UserName"]
    try:
        assert account.startswith("app_")
        assert db_helpers.can_log_in("mariadb", account, creds["Password"])
        shown = db_helpers.maria("SHOW GRANTS FOR '%s'@'%%'" % account)
        assert "SELECT, INSERT ON `test`.*" in shown

        d = tc.call("DescribeSecret", SecretName=name)
        assert (d["SecretType"], d["Status"], d["ResourceID"]) == (1, "Enabled", instances["mariadb"])
        assert d["ProductName"] == "Mysql" and d["RotationStatus"] is True and d["RotationFrequency"] == 30
        assert d["NextRotationTime"] == "2030-01-01 00:00:00"
        assert [a["AccountName"] for a in d["AccountInfoList"]] == [account]

        rot = tc.call("RotateProductSecret", SecretName=name)
        assert wait_flow(tc, rot["FlowID"])["TaskStatus"] == 1
        after, _ = value(tc, name)
        assert after["UserName"] == account + "_clone"
        assert db_helpers.can_log_in("mariadb", after["UserName"], after["Password"])
        assert db_helpers.can_log_in("mariadb", account, creds["Password"]), "the previous account still works"
        # The clone has the same grants as the account it was made from.
        assert "SELECT, INSERT ON `test`.*" in db_helpers.maria("SHOW GRANTS FOR '%s'@'%%'" % after["UserName"])

        hist = tc.call("DescribeRotationHistory", SecretName=name)
        assert hist["TotalCount"] == 2 and len(hist["VersionIDs"]) == 2
        # Each version id of the history reads back its credentials.
        old, _ = value(tc, name, hist["VersionIDs"][1])
        assert old == creds
        detail = tc.call("DescribeRotationDetail", SecretName=name)
        assert detail["EnableRotation"] is True and detail["Frequency"] == 30
        assert detail["LatestRotateTime"] and detail["NextRotateBeginTime"]

        tc.call("UpdateRotationStatus", SecretName=name, EnableRotation=True, Frequency=60,
                RotationBeginTime="2031-02-03 04:05:06")
        detail = tc.call("DescribeRotationDetail", SecretName=name)
        assert (detail["Frequency"], detail["NextRotateBeginTime"]) == (60, "2031-02-03 04:05:06")
        with expect_tc_error("InvalidParameterValue", "RotationBeginTime"):
            tc.call("UpdateRotationStatus", SecretName=name, EnableRotation=True, RotationBeginTime="tomorrow")
        tc.call("UpdateRotationStatus", SecretName=name, EnableRotation=False)
        assert tc.call("DescribeRotationDetail", SecretName=name)["EnableRotation"] is False
        with expect_tc_error("InvalidParameterValue", "Frequency"):
            tc.call("UpdateRotationStatus", SecretName=name, EnableRotation=True, Frequency=7)
        listed = tc.call("ListSecrets", SecretType=1, Limit=100)
        assert name in [m["SecretName"] for m in listed["SecretMetadatas"]]
        assert name not in [m["SecretName"] for m in tc.call("ListSecrets", Limit=1000)["SecretMetadatas"]]
    finally:
        drop_created("mariadb", account, hosts=("%", "127.0.0.1"))


def test_product_secret_on_postgres(tc, instances):
    db_helpers.ensure_pg_password_auth()
    name = "tc-pg-" + uuid.uuid4().hex[:8]
    r = tc.call("CreateProductSecret", SecretName=name, UserNamePrefix="pgapp", ProductName="PostgreSQL",
                InstanceID=instances["postgres"], Domains=[],
                PrivilegesList=[{"PrivilegeName": "DatabasePrivileges", "Database": "test",
                                 "Privileges": ["CONNECT"]}], RotationBeginTime="2030-01-01 00:00:00")
    assert wait_flow(tc, r["FlowID"])["TaskStatus"] == 1
    creds, _ = value(tc, name)
    try:
        db_helpers.pg("GRANT coffer_rotated TO \"%s\"" % creds["UserName"])
        assert db_helpers.can_log_in("postgres", creds["UserName"], creds["Password"])
        assert not db_helpers.can_log_in("postgres", creds["UserName"], "not-the-password")
    finally:
        db_helpers.pg("REVOKE ALL ON DATABASE test FROM \"%s\"; DROP ROLE IF EXISTS \"%s\""
                      % (creds["UserName"], creds["UserName"]))


def test_product_secret_errors(tc, instances):
    base = dict(UserNamePrefix="app", ProductName="Mysql", Domains=["%"], PrivilegesList=grants(),
                RotationBeginTime="2030-01-01 00:00:00")
    with expect_tc_error("ResourceNotFound", "no-such-db"):
        tc.call("CreateProductSecret", SecretName="tc-x1", InstanceID="no-such-db", **base)
    with expect_tc_error("InvalidParameterValue", "ProductName"):
        tc.call("CreateProductSecret", SecretName="tc-x2", InstanceID=instances["postgres"], **base)
    with expect_tc_error("InvalidParameterValue", "UserNamePrefix"):
        tc.call("CreateProductSecret", SecretName="tc-x3", InstanceID=instances["mariadb"],
                **dict(base, UserNamePrefix="toolongprefix"))
    with expect_tc_error("InvalidParameterValue", "PrivilegesList"):
        tc.call("CreateProductSecret", SecretName="tc-x4", InstanceID=instances["mariadb"],
                **dict(base, PrivilegesList=[{"PrivilegeName": "GlobalPrivileges", "Privileges": ["SELECT; DROP"]}]))
    with expect_tc_error("ResourceNotFound"):
        tc.call("DescribeAsyncRequestInfo", FlowID=12345)
    tc.call("CreateSecret", SecretName="tc-user-secret", SecretString="x")
    with expect_tc_error("OperationDenied", "cloud-product"):
        tc.call("RotateProductSecret", SecretName="tc-user-secret")


def test_a_failed_creation_is_reported_by_the_task_and_the_secret(tc, coffer, cli, instances):
    """A grant the database refuses (no such table) fails the task; nothing is left half made."""
    name = "tc-fail-" + uuid.uuid4().hex[:8]
    r = tc.call("CreateProductSecret", SecretName=name, UserNamePrefix="bad", ProductName="Mysql",
                InstanceID=instances["mariadb"], Domains=["%"],
                PrivilegesList=[{"PrivilegeName": "TablePrivileges", "Database": "no_such_db_here",
                                 "TableName": "t", "Privileges": ["SELECT"]}],
                RotationBeginTime="2030-01-01 00:00:00")
    done = wait_flow(tc, r["FlowID"])
    assert done["TaskStatus"] == 2, done
    assert "rolled back" in done["Description"] and name in done["Description"], done
    assert tc.call("DescribeSecret", SecretName=name)["Status"] == "Failed"
    failed = tc.call("ListSecrets", SecretType=1, State=5, Limit=1000)
    assert name in [m["SecretName"] for m in failed["SecretMetadatas"]]
    assert {m["Status"] for m in failed["SecretMetadatas"]} == {"Failed"}
    assert failed["TotalCount"] == len(failed["SecretMetadatas"])
    creating = tc.call("ListSecrets", SecretType=1, State=4, Limit=1000)
    assert name not in [m["SecretName"] for m in creating["SecretMetadatas"]]
    assert tc.call("ListSecrets", State=5)["TotalCount"] == 0, "user secrets are never Failed"
    # The account made before the grant failed was removed again.
    assert db_helpers.maria("SELECT User FROM mysql.user WHERE User LIKE 'bad\\_%'").strip() == ""
