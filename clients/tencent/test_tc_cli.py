"""The real `tccli` against coffer: `tccli ssm <Action> --region ap-guangzhou --endpoint http://127.0.0.1:PORT`
with TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY in the environment and a private HOME."""
import time

from coffer_helpers import secret_value
from tc_helpers import Tccli, TcError, assert_near, expect_tc_error, tc_name


def test_cli_lifecycle(cli, tc):
    name = tc_name("cli")
    v1, v2 = secret_value("cli one"), secret_value("cli two")
    now = int(time.time())
    r = cli.run("CreateSecret", SecretName=name, VersionId="v1", SecretString=v1, Description="made by tccli",
                Tags=[{"TagKey": "tool", "TagValue": "tccli"}])
    assert (r["SecretName"], r["VersionId"], r["TagCode"], r["TagMsg"]) == (name, "v1", 0, "")
    assert r["RequestId"]

    g = cli.run("GetSecretValue", SecretName=name, VersionId="v1")
    assert (g["SecretName"], g["VersionId"], g["SecretString"], g["SecretBinary"]) == (name, "v1", v1, "")

    r = cli.run("PutSecretValue", SecretName=name, VersionId="v2", SecretString=v2)
    assert (r["SecretName"], r["VersionId"]) == (name, "v2")
    g = cli.run("GetSecretValue", SecretName=name, VersionId="SSM_Current")
    assert (g["VersionId"], g["SecretString"]) == ("v2", v2)
    # what tccli wrote, the SDK reads
    assert tc.call("GetSecretValue", SecretName=name, VersionId="v1")["SecretString"] == v1

    lst = cli.run("ListSecrets", SearchSecretName=name, TagFilters=[{"TagKey": "tool", "TagValue": ["tccli"]}])
    assert lst["TotalCount"] == 1
    (m,) = lst["SecretMetadatas"]
    assert (m["SecretName"], m["Status"], m["KmsKeyType"], m["RotationStatus"]) == (name, "Enabled", "DEFAULT", 0)

    vs = cli.run("ListSecretVersionIds", SecretName=name)
    assert sorted(v["VersionId"] for v in vs["Versions"]) == ["v1", "v2"]

    d = cli.run("DescribeSecret", SecretName=name)
    assert (d["SecretName"], d["Description"], d["Status"], d["DeleteTime"], d["SecretType"],
            d["RotationStatus"]) == (name, "made by tccli", "Enabled", 0, 0, False)
    assert_near(d["CreateTime"], now)

    assert cli.run("DisableSecret", SecretName=name)["SecretName"] == name
    assert cli.run("DescribeSecret", SecretName=name)["Status"] == "Disabled"
    with expect_tc_error("ResourceUnavailable.ResourceDisabled"):
        cli.run("GetSecretValue", SecretName=name, VersionId="v1")

    r = cli.run("DeleteSecret", SecretName=name, RecoveryWindowInDays=0)
    assert r["SecretName"] == name
    with expect_tc_error("ResourceNotFound") as e:
        cli.run("GetSecretValue", SecretName=name, VersionId="v1")
    assert e.error.via == "tccli"
    assert cli.last.returncode == 255 and cli.last.stdout.strip() == ""
    assert "code:ResourceNotFound" in cli.last.stderr


def test_cli_pending_delete_and_restore(cli):
    name = tc_name("cli")
    cli.run("CreateSecret", SecretName=name, SecretString="x")
    cli.run("DisableSecret", SecretName=name)
    r = cli.run("DeleteSecret", SecretName=name, RecoveryWindowInDays=10)
    assert_near(r["DeleteTime"], int(time.time()) + 10 * 86400)
    assert cli.run("DescribeSecret", SecretName=name)["Status"] == "PendingDelete"
    cli.run("RestoreSecret", SecretName=name)
    cli.run("EnableSecret", SecretName=name)
    assert cli.run("GetSecretValue", SecretName=name, VersionId="SSM_Current")["SecretString"] == "x"


def test_cli_errors(cli):
    with expect_tc_error("InvalidParameterValue", "SecretName"):
        cli.run("CreateSecret", SecretName="not valid!", VersionId="v1", SecretString="x")
    with expect_tc_error("ResourceNotFound"):
        cli.run("RotateProductSecret", SecretName=tc_name("nope"))
    assert cli.run("GetServiceStatus")["ServiceEnabled"] is True
    assert "ap-guangzhou" in cli.run("GetRegions")["Regions"]


def test_cli_wrong_credentials(coffer, cli_home):
    bad_key = Tccli(coffer, cli_home, secret_key=coffer.sk + "x")
    with expect_tc_error("AuthFailure.SignatureFailure"):
        bad_key.run("GetServiceStatus")
    bad_id = Tccli(coffer, cli_home, secret_id="AKID" + "9" * 32)
    with expect_tc_error("AuthFailure.SecretIdNotFound"):
        bad_id.run("GetServiceStatus")


def test_cli_reads_no_user_configuration(cli):
    """Guard for the runner: tccli ran with the private HOME (it keeps its log and a default profile
    there), so nothing from a real ~/.tccli was used."""
    cli.run("GetServiceStatus")
    assert (cli.home / ".tccli").is_dir()
    try:
        cli.run("DescribeSecret", SecretName=tc_name("nope"))
    except TcError as e:
        assert e.code == "ResourceNotFound"
    else:
        raise AssertionError("DescribeSecret of a missing secret succeeded")
