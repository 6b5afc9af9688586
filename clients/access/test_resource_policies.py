"""A secret's resource policy through boto3 (Put/Get/List/Delete/ValidateResourcePolicy) and
its enforcement for every API (DESIGN.md "Resource policies"): a Deny written through AWS
refuses the same read through Alibaba, Tencent and AWS; an Allow lets a key without policies
in; BlockPublicPolicy and malformed documents are refused as AWS refuses them."""
import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from coffer_helpers import expect_error
from hw_helpers import expect_hw
from tc_helpers import expect_tc_error


def sm(key, region="us-east-1"):
    return boto3.client(
        "secretsmanager", endpoint_url="http://" + key.server.endpoint, region_name=region,
        aws_access_key_id=key.id, aws_secret_access_key=key.secret,
        config=Config(retries={"max_attempts": 1}))


def aws_error(code, *fragments):
    class Ctx:
        def __enter__(self):
            return self

        def __exit__(self, typ, exc, tb):
            assert typ is not None, "expected %s, the call succeeded" % code
            assert issubclass(typ, ClientError), exc
            err = exc.response["Error"]
            assert err["Code"] == code, err
            for f in fragments:
                assert f in err["Message"], err
            return True
    return Ctx()


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def user(account, key):
    return {"AWS": "arn:aws:iam::%s:user/%s" % (account, key.id)}


def account_number(client, name):
    """The 12-digit account number of the caller's account, as ARNs show it."""
    return client.describe_secret(SecretId=name)["ARN"].split(":")[4]


@pytest.fixture
def secret(cast, name):
    cast.a_admin.ali().call("CreateSecret", SecretName=name, VersionId="v1", SecretData="hunter2")
    yield name
    cast.a_admin.ali().call("DeleteSecret", SecretName=name, ForceDeleteWithoutRecovery=True)


def test_put_get_list_delete(cast, secret):
    aws = sm(cast.a_admin)
    got = aws.get_resource_policy(SecretId=secret)
    assert got["Name"] == secret and "ResourcePolicy" not in got
    assert aws.list_resource_policies(SecretId=secret)["ResourcePolicies"] == []
    policy = doc({"Effect": "Deny", "Principal": user(cast.a_id, cast.a_ro),
                  "Action": "secretsmanager:GetSecretValue", "Resource": "*"})
    put = aws.put_resource_policy(SecretId=secret, ResourcePolicy=policy, BlockPublicPolicy=True)
    assert put["Name"] == secret and put["ARN"].startswith("arn:aws:secretsmanager:us-east-1:")
    got = aws.get_resource_policy(SecretId=put["ARN"])
    assert json.loads(got["ResourcePolicy"]) == json.loads(policy)
    assert got["PolicyName"] == "default"
    assert aws.list_resource_policies(SecretId=secret)["ResourcePolicies"] == [{"PolicyName": "default"}]
    # The same document is the secret's Alibaba secret policy.
    ali = cast.a_admin.ali().call("GetSecretPolicy", SecretName=secret, PolicyName="default")
    assert json.loads(ali["Policy"]) == json.loads(policy)
    aws.delete_resource_policy(SecretId=secret)
    assert "ResourcePolicy" not in aws.get_resource_policy(SecretId=secret)
    assert aws.list_resource_policies(SecretId=secret)["ResourcePolicies"] == []


def test_only_the_default_policy_name(cast, secret):
    aws = sm(cast.a_admin)
    with aws_error("InvalidParameterException", "default"):
        aws.put_resource_policy(SecretId=secret, PolicyName="other",
                                ResourcePolicy=doc({"Effect": "Deny", "Principal": "*", "Action": "*"}))


def test_block_public_policy(cast, secret):
    aws = sm(cast.a_admin)
    public = doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "secretsmanager:GetSecretValue",
                  "Resource": "*"})
    with aws_error("PublicPolicyException", "BlockPublicPolicy"):
        aws.put_resource_policy(SecretId=secret, ResourcePolicy=public, BlockPublicPolicy=True)
    assert "ResourcePolicy" not in aws.get_resource_policy(SecretId=secret)
    # AWS does not block public policies unless asked to.
    aws.put_resource_policy(SecretId=secret, ResourcePolicy=public)
    assert json.loads(aws.get_resource_policy(SecretId=secret)["ResourcePolicy"]) == json.loads(public)


def test_malformed_documents(cast, secret):
    aws = sm(cast.a_admin)
    for bad in ["{not json", "[]", json.dumps({"Statement": [{"Effect": "Allow", "Action": "*"}]}),
                json.dumps({"Statement": [{"Effect": "Perhaps", "Principal": "*", "Action": "*"}]})]:
        with aws_error("MalformedPolicyDocumentException"):
            aws.put_resource_policy(SecretId=secret, ResourcePolicy=bad)
        with aws_error("MalformedPolicyDocumentException"):
            aws.validate_resource_policy(ResourcePolicy=bad)
    assert "ResourcePolicy" not in aws.get_resource_policy(SecretId=secret)


def test_validate(cast, secret):
    aws = sm(cast.a_admin)
    ok = doc({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::%s:root" % cast.b_id},
              "Action": "secretsmanager:GetSecretValue", "Resource": "*"})
    r = aws.validate_resource_policy(SecretId=secret, ResourcePolicy=ok)
    assert r["PolicyValidationPassed"] is True and r["ValidationErrors"] == []
    public = doc({"Effect": "Allow", "Principal": "*", "Action": "secretsmanager:*", "Resource": "*"})
    r = aws.validate_resource_policy(ResourcePolicy=public)
    assert r["PolicyValidationPassed"] is False
    assert [e["CheckName"] for e in r["ValidationErrors"]] == ["BLOCK_PUBLIC_POLICY"]
    with aws_error("ResourceNotFoundException"):
        aws.validate_resource_policy(SecretId=secret + "-missing", ResourcePolicy=ok)


def test_a_deny_holds_for_every_api(cast, secret):
    admin = sm(cast.a_admin)
    # The read-only key reads the secret through every API before the policy...
    assert cast.a_ro.ali().call("GetSecretValue", SecretName=secret)["SecretData"] == "hunter2"
    number = account_number(admin, secret)
    admin.put_resource_policy(SecretId=secret, ResourcePolicy=doc(
        {"Effect": "Deny", "Principal": user(number, cast.a_ro), "Action": "secretsmanager:GetSecretValue",
         "Resource": "*"}))
    # ...and through none after it.
    with expect_error(403, "Forbidden.NoPermission", "secrets:GetValue"):
        cast.a_ro.ali().call("GetSecretValue", SecretName=secret)
    with expect_tc_error("UnauthorizedOperation", "secrets:GetValue"):
        cast.a_ro.tc().call("GetSecretValue", SecretName=secret, VersionId="v1")
    with expect_hw(403, "CSMS.0403", "secrets:GetValue"):
        cast.a_ro.hw().call("show_secret_version", secret_name=secret, version_id="latest")
    with aws_error("AccessDeniedException", "secrets:GetValue"):
        sm(cast.a_ro).get_secret_value(SecretId=secret)
    # Only that action: describing is still allowed by the key's own policy.
    assert sm(cast.a_ro).describe_secret(SecretId=secret)["Name"] == secret
    # Other keys are not named.
    assert cast.a_admin.ali().call("GetSecretValue", SecretName=secret)["SecretData"] == "hunter2"


def test_a_deny_of_the_whole_account_binds_its_admin_but_not_its_policy_rights(cast, secret):
    admin = sm(cast.a_admin)
    admin.put_resource_policy(SecretId=secret, ResourcePolicy=doc(
        {"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::%s:root" % cast.a_id},
         "Action": ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"], "Resource": "*"}))
    with aws_error("AccessDeniedException"):
        admin.get_secret_value(SecretId=secret)
    with expect_error(403, "Forbidden.NoPermission", "secrets:PutValue"):
        cast.a_admin.ali().call("PutSecretValue", SecretName=secret, VersionId="v2", SecretData="x")
    # The owner can always take the policy back.
    admin.delete_resource_policy(SecretId=secret)
    assert admin.get_secret_value(SecretId=secret)["SecretString"] == "hunter2"


def test_an_allow_lets_a_key_without_policies_in(cast, secret):
    admin = sm(cast.a_admin)
    with aws_error("AccessDeniedException"):
        sm(cast.a_none).get_secret_value(SecretId=secret)
    admin.put_resource_policy(SecretId=secret, BlockPublicPolicy=True, ResourcePolicy=doc(
        {"Effect": "Allow", "Principal": user(cast.a_id, cast.a_none),
         "Action": "secretsmanager:GetSecretValue", "Resource": "*"}))
    assert sm(cast.a_none).get_secret_value(SecretId=secret)["SecretString"] == "hunter2"
    assert cast.a_none.ali().call("GetSecretValue", SecretName=secret)["SecretData"] == "hunter2"
    # Nothing else.
    with aws_error("AccessDeniedException"):
        sm(cast.a_none).put_secret_value(SecretId=secret, SecretString="nope")
    with aws_error("AccessDeniedException"):
        sm(cast.a_none).get_secret_value(SecretId=secret + "-other")


def test_alibaba_secret_policies_are_held_to_the_same_grammar(cast, secret):
    with expect_error(400, "InvalidParameter", "Policy"):
        cast.a_admin.ali().call("SetSecretPolicy", SecretName=secret, PolicyName="default",
                                Policy=json.dumps({"anything": "goes"}))


def test_a_deny_holds_for_batch_reads(cast, secret):
    admin = sm(cast.a_admin)
    both = [secret, secret + "-twin"]
    cast.a_admin.ali().call("CreateSecret", SecretName=both[1], VersionId="v1", SecretData="twin")
    try:
        admin.put_resource_policy(SecretId=secret, ResourcePolicy=doc(
            {"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::%s:root" % account_number(admin, secret)},
             "Action": "secretsmanager:GetSecretValue", "Resource": "*"}))
        r = admin.batch_get_secret_value(Filters=[{"Key": "name", "Values": [secret]}])
        assert [v["Name"] for v in r["SecretValues"]] == [both[1]]
        assert [e["ErrorCode"] for e in r["Errors"]] == ["AccessDeniedException"]
        assert r["Errors"][0]["SecretId"].split(":secret:")[1].startswith(secret + "-")
        # By id, as AWS answers: the secrets it may read, and each refused one in Errors
        # under the id the caller sent (its value nowhere in the answer).
        arn = admin.describe_secret(SecretId=secret)["ARN"]
        for denied in (secret, arn):
            r = admin.batch_get_secret_value(SecretIdList=[denied, both[1]])
            assert [(v["Name"], v["SecretString"]) for v in r["SecretValues"]] == [(both[1], "twin")]
            assert [(e["SecretId"], e["ErrorCode"]) for e in r["Errors"]] == [(denied, "AccessDeniedException")]
            assert "hunter2" not in json.dumps(r, default=str)
        # A caller who may read none of the ids is refused as a whole, as for a single read.
        with aws_error("AccessDeniedException"):
            admin.batch_get_secret_value(SecretIdList=[secret])
    finally:
        cast.a_admin.ali().call("DeleteSecret", SecretName=both[1], ForceDeleteWithoutRecovery=True)


def test_batch_reads_by_id_answer_what_the_caller_may_read(cast, name):
    """A key whose policy reads only `app-*` gets those values and an AccessDeniedException
    entry for each other id (missing ones too, as a refused read says nothing about
    existence); a key without any right is refused as a whole."""
    admin = sm(cast.a_admin)
    mine, other = "app-" + name, "db-" + name
    for n, v in ((mine, "mine"), (other, "other")):
        admin.create_secret(Name=n, SecretString=v)
    try:
        r = sm(cast.a_path).batch_get_secret_value(SecretIdList=[other, mine, "nothing-" + name, "app-nothing-" + name])
        assert [(v["Name"], v["SecretString"]) for v in r["SecretValues"]] == [(mine, "mine")]
        assert [(e["SecretId"], e["ErrorCode"]) for e in r["Errors"]] == [
            (other, "AccessDeniedException"), ("nothing-" + name, "AccessDeniedException"),
            ("app-nothing-" + name, "ResourceNotFoundException")]
        assert "other" not in json.dumps(r["Errors"])
        with aws_error("AccessDeniedException"):
            sm(cast.a_none).batch_get_secret_value(SecretIdList=[mine, other])
        with aws_error("AccessDeniedException"):
            sm(cast.a_path).batch_get_secret_value(SecretIdList=[other])
        # The ids an unrestricted reader sends are all answered.
        r = sm(cast.a_ro).batch_get_secret_value(SecretIdList=[mine, other])
        assert sorted(v["SecretString"] for v in r["SecretValues"]) == ["mine", "other"] and r["Errors"] == []
    finally:
        for n in (mine, other):
            admin.delete_secret(SecretId=n, ForceDeleteWithoutRecovery=True)


def test_another_account_reads_by_arn_only_what_the_policy_shares(cast, secret):
    owner = sm(cast.a_admin)
    arn = owner.describe_secret(SecretId=secret)["ARN"]
    other = sm(cast.b_admin)
    ghost = arn.rsplit(":", 1)[0] + ":" + secret + "-nowhere-AbCdEf"
    # Without a policy, another account's ARN is refused, whether the secret exists or not.
    for target in (arn, ghost):
        with aws_error("AccessDeniedException"):
            other.get_secret_value(SecretId=target)
    b_number = account_number(other, _own_secret(cast))
    owner.put_resource_policy(SecretId=secret, BlockPublicPolicy=True, ResourcePolicy=doc(
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::%s:root" % b_number},
         "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"], "Resource": "*"}))
    got = other.get_secret_value(SecretId=arn)
    assert got["SecretString"] == "hunter2" and got["ARN"] == arn
    assert other.describe_secret(SecretId=arn)["Name"] == secret
    # Only what it shares...
    with aws_error("AccessDeniedException"):
        other.put_secret_value(SecretId=arn, SecretString="mine now")
    # ...only by ARN (a name is always the caller's own)...
    with aws_error("ResourceNotFoundException"):
        other.get_secret_value(SecretId=secret)
    # ...and only to keys whose own policies allow it too.
    b_plain = cast.key(cast.b_id, cast.b_project)
    with aws_error("AccessDeniedException"):
        sm(b_plain).get_secret_value(SecretId=arn)
    # A Deny added later wins over the Allow.
    owner.put_resource_policy(SecretId=secret, ResourcePolicy=doc(
        {"Effect": "Allow", "Principal": {"AWS": b_number}, "Action": "secretsmanager:*", "Resource": "*"},
        {"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::%s:user/%s" % (b_number, cast.b_admin.id)},
         "Action": "secretsmanager:GetSecretValue", "Resource": "*"}))
    with aws_error("AccessDeniedException"):
        other.get_secret_value(SecretId=arn)


def _own_secret(cast):
    """A secret of account B, for its ARN (made once)."""
    name = "b-own-secret"
    try:
        cast.b_admin.ali().call("CreateSecret", SecretName=name, VersionId="v1", SecretData="b")
    except Exception:  # noqa: BLE001 - made by an earlier test
        pass
    return name
