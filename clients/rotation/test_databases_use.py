"""`databases:Use` through the official SDKs: a key allowed every secret action but not
`databases:Use` on the instance cannot create a managed secret (Alibaba Rds, Tencent product
secret, Huawei RDS-FG) or rotate one, and the same key with `databases:Use` on the instance
can; a privilege outside the instance's allow-list is refused with the field, the privilege
and the instance named."""
import json
import uuid

import pytest

from coffer_helpers import Gen2, expect_error
from hw_helpers import Hw, expect_hw
from tc_helpers import Tc, expect_tc_error
import db_helpers


def operator_account(cli):
    return next(a["AccountId"] for a in cli.json("account", "list")["Accounts"] if a["Operator"])


def key_with(cli, tmp_path, statement):
    """A key of the operator's account that is not an admin, with one policy."""
    account = operator_account(cli)
    key = cli.json("access-key", "create", "--account", account)
    name = "p-" + uuid.uuid4().hex[:8]
    doc = tmp_path / (name + ".json")
    doc.write_text(json.dumps({"Version": "1", "Statement": [statement]}))
    cli.ok("policy", "put", name, "--account", account, "--document", str(doc))
    cli.ok("policy", "attach", name, "--access-key", key["AccessKeyId"])
    return key["AccessKeyId"], key["AccessKeySecret"]


@pytest.fixture
def clients(coffer):
    project = (coffer.data_dir / "huawei-project-id").read_text().strip()

    def make(key):
        ak, sk = key
        return Gen2(coffer.endpoint, ak, sk), Tc(coffer.endpoint, ak, sk), Hw(coffer.endpoint, ak, sk, project)
    return make


def test_managed_secrets_need_databases_use(cli, coffer, instances, clients, tmp_path):
    maria = instances["mariadb"]
    ali_acc, hw_acc = db_helpers.unique_account("dbu"), db_helpers.unique_account("dbu")
    for a in (ali_acc, hw_acc):
        db_helpers.create_account("mariadb", a, "Initial-pw-1")
    secrets_only = clients(key_with(cli, tmp_path, {"Effect": "Allow", "Action": "secrets:*", "Resource": "*"}))
    with_db = clients(key_with(cli, tmp_path, {"Effect": "Allow", "Action": ["secrets:*", "databases:Use"],
                                               "Resource": ["crn:coffer:*:*:secret/*",
                                                            "crn:coffer:*:*:instance/" + maria]}))
    suffix = uuid.uuid4().hex[:6]
    ali_args = lambda name: dict(  # noqa: E731
        SecretName=name, VersionId="v1", SecretType="Rds",
        SecretData=json.dumps({"Accounts": [{"AccountName": ali_acc, "AccountPassword": "Initial-pw-1"}]}),
        ExtendedConfig={"SecretSubType": "SingleUser", "DBInstanceId": maria})
    tc_args = lambda name: dict(  # noqa: E731
        SecretName=name, UserNamePrefix="dbu", ProductName="MariaDB", InstanceID=maria, Domains=["127.0.0.1"],
        PrivilegesList=[{"PrivilegeName": "DatabasePrivileges", "Database": "test", "Privileges": ["SELECT"]}],
        RotationBeginTime="2030-01-01 00:00:00")
    hw_body = lambda name: {  # noqa: E731
        "name": name, "secret_type": "RDS-FG",
        "secret_string": json.dumps({"username": hw_acc, "password": "Initial-pw-1"}),
        "rotation_config": json.dumps({"InstanceId": maria, "SecretSubType": "SingleUser"})}

    ali, tc, hw = secrets_only
    with expect_error(403, "Forbidden.NoPermission", "databases:Use", "instance/" + maria):
        ali.call("CreateSecret", **ali_args("dbu-ali-" + suffix))
    with expect_tc_error("UnauthorizedOperation", "databases:Use"):
        tc.call("CreateProductSecret", **tc_args("dbu-tc-" + suffix))
    with expect_hw(403, "CSMS.0403", "databases:Use"):
        hw.call("create_secret", body=hw_body("dbu-hw-" + suffix))

    ali_ok, tc_ok, hw_ok = with_db
    ali_ok.call("CreateSecret", **ali_args("dbu-ali-" + suffix))
    tc_ok.call("CreateProductSecret", **tc_args("dbu-tc-" + suffix))
    hw_ok.call("create_secret", body=hw_body("dbu-hw-" + suffix))

    with expect_error(403, "Forbidden.NoPermission", "databases:Use"):
        ali.call("RotateSecret", SecretName="dbu-ali-" + suffix, VersionId="v2")
    with expect_hw(403, "CSMS.0403", "databases:Use"):
        hw.call("rotate_secret", secret_name="dbu-hw-" + suffix)
    r = ali_ok.call("RotateSecret", SecretName="dbu-ali-" + suffix, VersionId="v2")
    assert r["VersionId"] == "v2"

    admin = Gen2(coffer.endpoint, coffer.ak, coffer.sk)
    for name in ("dbu-ali-", "dbu-tc-", "dbu-hw-"):
        admin.call("DeleteSecret", SecretName=name + suffix, ForceDeleteWithoutRecovery="true")
    for a in (ali_acc, hw_acc):
        db_helpers.drop_account("mariadb", a)


def test_privileges_outside_the_allow_list_are_refused(coffer, instances):
    tc = Tc(coffer.endpoint, coffer.ak, coffer.sk)
    for privileges, named in [(["ALL"], "ALL PRIVILEGES"), (["SELECT", "PROCESS"], "PROCESS"),
                              (["SELECT", "SHOW DATABASES"], "SHOW DATABASES")]:
        with expect_tc_error("InvalidParameterValue", "PrivilegesList", named, instances["mariadb"]):
            tc.call("CreateProductSecret", SecretName="dbu-wide-" + uuid.uuid4().hex[:6], UserNamePrefix="dbw",
                    ProductName="MariaDB", InstanceID=instances["mariadb"], Domains=["%"],
                    PrivilegesList=[{"PrivilegeName": "DatabasePrivileges", "Database": "test",
                                     "Privileges": privileges}],
                    RotationBeginTime="2030-01-01 00:00:00")
    with expect_tc_error("InvalidParameterValue", "PrivilegesList", "server level"):
        tc.call("CreateProductSecret", SecretName="dbu-global", UserNamePrefix="dbw", ProductName="MariaDB",
                InstanceID=instances["mariadb"], Domains=["%"],
                PrivilegesList=[{"PrivilegeName": "GlobalPrivileges", "Privileges": ["SELECT"]}],
                RotationBeginTime="2030-01-01 00:00:00")
    assert db_helpers.maria("SELECT COUNT(*) FROM mysql.user WHERE User LIKE 'dbw\\_%'").strip() == "0"
