"""RotateSecret and CancelRotateSecret through boto3 on coffer-managed database secrets made
through another API (Alibaba Rds secrets over the machine's MariaDB and PostgreSQL): the
password changes on the database, the schedule follows RotationRules, and what coffer cannot
do (Lambda functions, cron schedules, generic secrets) is refused with a clear error."""
import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from coffer_helpers import unique
import db_helpers
from test_ali_rds import create_rds

ENGINES = ["mariadb", "postgres"]
TOKEN = "r" * 40


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
