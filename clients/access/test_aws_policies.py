"""coffer's policies decide for AWS requests as for every other API: a policy on a secret's name
holds whether boto3 names the secret by its name, its ARN or a partial ARN, and another account
cannot reach a secret by its ARN unless the secret's resource policy shares it."""
import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError


def sm(key):
    return boto3.client("secretsmanager", endpoint_url="http://%s" % key.server.endpoint, region_name="us-east-1",
                        aws_access_key_id=key.id, aws_secret_access_key=key.secret,
                        config=Config(retries={"max_attempts": 1}))


def code(fn):
    with pytest.raises(ClientError) as e:
        fn()
    return e.value.response["Error"]["Code"]


def test_policies_hold_by_name_arn_and_partial_arn(cast, name):
    admin = sm(cast.a_admin)
    allowed = admin.create_secret(Name="app-" + name, SecretString="ok")["ARN"]
    other = admin.create_secret(Name="db-" + name, SecretString="no")["ARN"]
    assert allowed.split(":")[4] == "%012d" % (int(cast.a_id) % 10**12)
    path = sm(cast.a_path)
    for sid in ("app-" + name, allowed, allowed[:-7]):
        assert path.get_secret_value(SecretId=sid)["SecretString"] == "ok"
    for sid in ("db-" + name, other, other[:-7]):
        assert code(lambda: path.get_secret_value(SecretId=sid)) == "AccessDeniedException"
    assert code(lambda: path.describe_secret(SecretId=allowed)) == "AccessDeniedException"
    assert code(lambda: sm(cast.a_none).list_secrets()) == "AccessDeniedException"
    ro = sm(cast.a_ro)
    assert ro.describe_secret(SecretId=other)["Name"] == "db-" + name
    assert code(lambda: ro.put_secret_value(SecretId=other, SecretString="x")) == "AccessDeniedException"


def test_tag_conditions_and_other_accounts(cast, name):
    admin = sm(cast.a_admin)
    arn = admin.create_secret(Name=name, SecretString="prod value", Tags=[{"Key": "env", "Value": "prod"}])["ARN"]
    noprod = sm(cast.a_noprod)
    assert code(lambda: noprod.get_secret_value(SecretId=arn)) == "AccessDeniedException"
    assert noprod.describe_secret(SecretId=arn)["Name"] == name
    # Another account's admin: without a resource policy that shares it, the owner's ARN is
    # refused, and alike for a secret of that account that exists nowhere (as AWS answers).
    b = sm(cast.b_admin)
    assert code(lambda: b.get_secret_value(SecretId=arn)) == "AccessDeniedException"
    assert code(lambda: b.get_secret_value(SecretId=arn[:-6] + "zzzzzz")) == "AccessDeniedException"
    assert name not in [s["Name"] for s in b.list_secrets()["SecretList"]]
