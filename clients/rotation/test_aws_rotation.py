"""RotateSecret and CancelRotateSecret through boto3 on coffer-managed database secrets made
through another API (Alibaba Rds secrets over the machine's MariaDB and PostgreSQL): the
password changes on the database, the schedule follows RotationRules, and what coffer cannot
do (Lambda functions, cron schedules, generic secrets) is refused with a clear error.
CancelRotateSecret during a running rotation (a server told to halt after a step) turns the
schedule off and lets the rotation already running finish, over the real MariaDB."""
import json
import os
import secrets
import threading
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from coffer_helpers import AdminCli, Gen2, coffer_binary, spawn_coffer, stop_coffer, unique, wait_ready, wait_until
import db_helpers
from db_helpers import register
from test_ali_rds import create_rds

ENGINES = ["mariadb", "postgres"]
TOKEN = "r" * 40
# A version id boto3 accepts (32 to 64 characters) for a secret made through Alibaba.
INITIAL = "i" * 36


@pytest.fixture
def aws(coffer):
    return boto3.client(
        "secretsmanager", endpoint_url="http://" + coffer.endpoint, region_name="us-east-1",
        aws_access_key_id=coffer.ak, aws_secret_access_key=coffer.sk,
        config=Config(retries={"max_attempts": 1}))


def refused(call, code, *fragments):
    with pytest.raises(ClientError) as e:
        call()
    err = e.value.response["Error"]
    assert err["Code"] == code, err
    for f in fragments:
        assert f in err["Message"], err
    return err


@pytest.mark.parametrize("engine", ENGINES)
def test_rotate_now_and_on_a_schedule(aws, gen2, instances, account, engine):
    db_helpers.create_account(engine, account, "Initial-pw-1")
    name = unique("aws-rot")
    create_rds(gen2, name, instances[engine], [(account, "Initial-pw-1")])
    r = aws.rotate_secret(SecretId=name, ClientRequestToken=TOKEN,
                          RotationRules={"AutomaticallyAfterDays": 7})
    assert r["Name"] == name and r["VersionId"] == TOKEN
    assert r["ARN"].startswith("arn:aws:secretsmanager:us-east-1:")
    # Read back through the API that made the secret, and through AWS.
    ali = gen2.call("GetSecretValue", SecretName=name)
    assert ali["VersionId"] == TOKEN
    creds = json.loads(ali["SecretData"])
    assert creds["AccountName"] == account and creds["AccountPassword"] != "Initial-pw-1"
    got = aws.get_secret_value(SecretId=name)
    assert got["VersionId"] == TOKEN and got["VersionStages"] == ["AWSCURRENT"]
    assert json.loads(got["SecretString"]) == creds
    assert db_helpers.can_log_in(engine, account, creds["AccountPassword"])
    assert not db_helpers.can_log_in(engine, account, "Initial-pw-1")
    prev = json.loads(aws.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")["SecretString"])
    assert prev["AccountPassword"] == "Initial-pw-1"

    d = aws.describe_secret(SecretId=name)
    assert d["RotationEnabled"] is True
    assert d["RotationRules"]["AutomaticallyAfterDays"] == 7
    assert "NextRotationDate" in d and "LastRotatedDate" in d

    # The same token again is the same rotation.
    again = aws.rotate_secret(SecretId=name, ClientRequestToken=TOKEN)
    assert again["VersionId"] == TOKEN
    assert json.loads(gen2.call("GetSecretValue", SecretName=name)["SecretData"]) == creds

    # Cancelling turns the schedule off; the credentials stay.
    c = aws.cancel_rotate_secret(SecretId=name)
    assert c["Name"] == name
    assert gen2.call("DescribeSecret", SecretName=name).get("AutomaticRotation") == "Disabled"
    assert aws.describe_secret(SecretId=name).get("RotationEnabled", False) is False
    assert json.loads(gen2.call("GetSecretValue", SecretName=name)["SecretData"]) == creds


def test_schedule_without_rotating_now(aws, gen2, instances, account):
    db_helpers.create_account("mariadb", account, "Initial-pw-1")
    name = unique("aws-rot")
    create_rds(gen2, name, instances["mariadb"], [(account, "Initial-pw-1")])
    r = aws.rotate_secret(SecretId=name, RotateImmediately=False,
                          RotationRules={"ScheduleExpression": "rate(10 days)"})
    assert "VersionId" not in r
    ali = gen2.call("DescribeSecret", SecretName=name)
    assert ali["AutomaticRotation"] == "Enabled" and ali["RotationInterval"] == "864000s"
    d = aws.describe_secret(SecretId=name)
    assert d["RotationEnabled"] is True and d["RotationRules"]["AutomaticallyAfterDays"] == 10
    # Nothing rotated: the password is the one the secret was made with.
    creds = json.loads(gen2.call("GetSecretValue", SecretName=name)["SecretData"])
    assert creds["AccountPassword"] == "Initial-pw-1"
    assert db_helpers.can_log_in("mariadb", account, "Initial-pw-1")


def test_what_coffer_cannot_rotate(aws, gen2, instances, account):
    db_helpers.create_account("postgres", account, "Initial-pw-1")
    name = unique("aws-rot")
    create_rds(gen2, name, instances["postgres"], [(account, "Initial-pw-1")])
    refused(lambda: aws.rotate_secret(
        SecretId=name, RotationLambdaARN="arn:aws:lambda:us-east-1:123456789012:function:rotate"),
        "InvalidRequestException", "Lambda", "coffer-managed database secret")
    refused(lambda: aws.rotate_secret(SecretId=name, RotationRules={"ScheduleExpression": "cron(0 12 * * ? *)"}),
            "InvalidParameterException", "cron()")
    refused(lambda: aws.rotate_secret(SecretId=name, RotationRules={"ScheduleExpression": "rate(2 weeks)"}),
            "InvalidParameterException", "ScheduleExpression")
    refused(lambda: aws.rotate_secret(SecretId=name, RotationRules={
        "ScheduleExpression": "rate(3 days)", "AutomaticallyAfterDays": 3}),
        "InvalidParameterException", "both")
    # None of the refusals changed anything.
    assert gen2.call("DescribeSecret", SecretName=name).get("AutomaticRotation") == "Disabled"
    assert db_helpers.can_log_in("postgres", account, "Initial-pw-1")

    # A secret waiting for deletion rotates no more, and keeps its schedule as it was.
    aws.delete_secret(SecretId=name, RecoveryWindowInDays=7)
    refused(lambda: aws.rotate_secret(SecretId=name, RotationRules={"AutomaticallyAfterDays": 5}),
            "InvalidRequestException", "deletion")
    aws.restore_secret(SecretId=name)
    assert gen2.call("DescribeSecret", SecretName=name).get("AutomaticRotation") == "Disabled"
    assert db_helpers.can_log_in("postgres", account, "Initial-pw-1")

    generic = unique("aws-generic")
    gen2.call("CreateSecret", SecretName=generic, VersionId="v1", SecretData="plain")
    refused(lambda: aws.rotate_secret(SecretId=generic), "InvalidRequestException",
            "not a coffer-managed database secret")
    refused(lambda: aws.rotate_secret(SecretId=unique("missing")), "ResourceNotFoundException")


def _held_passwords(aws, name):
    """The password of every version the secret keeps (the invariant: the database's password
    is always one of them)."""
    out = []
    for v in aws.list_secret_version_ids(SecretId=name, IncludeDeprecated=True)["Versions"]:
        got = aws.get_secret_value(SecretId=name, VersionId=v["VersionId"])
        out.append(json.loads(got["SecretString"])["AccountPassword"])
    return out


def _client(srv, ak, sk):
    return boto3.client(
        "secretsmanager", endpoint_url="http://" + srv.endpoint, region_name="us-east-1",
        aws_access_key_id=ak, aws_secret_access_key=sk, config=Config(retries={"max_attempts": 1}))


def test_cancel_during_a_running_rotation(tmp_path):
    """The rotation is halted after `set` (the database already has the new password, the new
    version is AWSPENDING). CancelRotateSecret then turns the schedule off and names that
    version; the rotation already running is not rolled back: once the server runs rotations
    again it finishes, so the secret's AWSCURRENT and the database agree and no AWSPENDING is
    left, and the scheduler starts no rotation afterwards."""
    engine = "mariadb"
    db_helpers.ensure_pg_password_auth()
    account = db_helpers.unique_account("cancel")
    db_helpers.create_account(engine, account, "Initial-pw-1")
    binary = coffer_binary()
    data = tmp_path / "data"
    ak, sk = "LTAI5t" + secrets.token_hex(9), secrets.token_urlsafe(22)
    srv = wait_ready(spawn_coffer(binary, data, tmp_path / "first.log", ak, sk,
                                  extra_args=["--rotation-check-secs", "1"],
                                  env=dict(os.environ, COFFER_TEST_HALT_AFTER_STEP="set")))
    second = None
    try:
        instance = "cancel-" + engine
        register(AdminCli(srv), instance, db_helpers.ENGINES[engine])
        name = unique("aws-cancel")
        Gen2(srv.endpoint, ak, sk).call(
            "CreateSecret", SecretName=name, VersionId=INITIAL, SecretType="Rds",
            SecretData=json.dumps({"Accounts": [{"AccountName": account, "AccountPassword": "Initial-pw-1"}]}),
            ExtendedConfig={"SecretSubType": "SingleUser", "DBInstanceId": instance, "CustomData": {}})
        aws = _client(srv, ak, sk)

        def rotate():
            try:
                aws.rotate_secret(SecretId=name, ClientRequestToken=TOKEN,
                                  RotationRules={"AutomaticallyAfterDays": 1})
            except Exception:  # the halted request is cut off when the server stops
                pass

        threading.Thread(target=rotate, daemon=True).start()
        assert wait_until(lambda: "rotation halted for a crash test" in srv.log_text(), timeout=20), \
            srv.log_text()[-3000:]
        # Halted after `set`: the database has the pending password.
        pending = aws.get_secret_value(SecretId=name, VersionStage="AWSPENDING")
        assert pending["VersionId"] == TOKEN
        new_password = json.loads(pending["SecretString"])["AccountPassword"]
        assert db_helpers.can_log_in(engine, account, new_password)

        c = aws.cancel_rotate_secret(SecretId=name)
        assert c["Name"] == name and c["VersionId"] == TOKEN
        d = aws.describe_secret(SecretId=name)
        assert d["RotationEnabled"] is False and "NextRotationDate" not in d
        assert any(db_helpers.can_log_in(engine, account, p) for p in _held_passwords(aws, name))

        srv.proc.kill()
        srv.proc.wait()
        srv.log_file.close()
        second = wait_ready(spawn_coffer(binary, data, tmp_path / "second.log", ak, sk,
                                         extra_args=["--rotation-check-secs", "1"]))
        aws = _client(second, ak, sk)

        # The rotation that was running finishes: AWSCURRENT is its version and the database's
        # password, the old password is AWSPREVIOUS and no longer opens the database.
        assert wait_until(lambda: aws.get_secret_value(SecretId=name)["VersionId"] == TOKEN,
                          timeout=30, interval=0.3), second.log_text()[-3000:]
        current = json.loads(aws.get_secret_value(SecretId=name)["SecretString"])
        assert current["AccountPassword"] == new_password
        assert db_helpers.can_log_in(engine, account, new_password)
        assert not db_helpers.can_log_in(engine, account, "Initial-pw-1")
        stages = {v["VersionId"]: v["VersionStages"]
                  for v in aws.list_secret_version_ids(SecretId=name)["Versions"]}
        assert stages == {TOKEN: ["AWSCURRENT"], INITIAL: ["AWSPREVIOUS"]}, stages

        # Rotation stays off, and the scheduler (checking every second) starts none.
        time.sleep(3)
        d = aws.describe_secret(SecretId=name)
        assert d["RotationEnabled"] is False and "NextRotationDate" not in d
        assert set(d["VersionIdsToStages"]) == {TOKEN, INITIAL}, d["VersionIdsToStages"]
        assert aws.get_secret_value(SecretId=name)["VersionId"] == TOKEN
        assert db_helpers.can_log_in(engine, account, new_password)
    finally:
        for s in (srv, second):
            if s is not None and s.proc.poll() is None:
                stop_coffer(s)
        db_helpers.drop_account(engine, account)
