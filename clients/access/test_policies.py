"""Keys with narrow policies, driven through all three SDKs: every allowed call succeeds, every
other is refused with the dialect's own permission error naming the action (DESIGN.md)."""
import uuid

import pytest

from coffer_helpers import expect_error
from hw_helpers import expect_hw
from tc_helpers import expect_tc_error


def app_name():
    return "app-" + uuid.uuid4().hex[:10]


@pytest.fixture(scope="module")
def secrets_of_a(cast):
    """Made by A's admin key: an app-* secret tagged env=prod, and an untagged one elsewhere."""
    ali = cast.a_admin.ali()
    prod, other = app_name(), "other-" + uuid.uuid4().hex[:10]
    ali.call("CreateSecret", SecretName=prod, VersionId="v1", SecretData="prod-value",
             Tags='[{"TagKey":"env","TagValue":"prod"}]')
    ali.call("CreateSecret", SecretName=other, VersionId="v1", SecretData="other-value")
    return prod, other


def test_admin_without_policy_may_do_everything(cast, name):
    ali = cast.a_admin.ali()
    ali.call("CreateSecret", SecretName=name, VersionId="v1", SecretData="x")
    ali.call("PutSecretValue", SecretName=name, VersionId="v2", SecretData="y")
    assert ali.call("GetSecretValue", SecretName=name)["SecretData"] == "y"
    cast.a_admin.tc().call("DescribeSecret", SecretName=name)
    cast.a_admin.hw().call("show_secret", secret_name=name)
    ali.call("DeleteSecret", SecretName=name, ForceDeleteWithoutRecovery=True)


def test_key_without_policy_is_denied_everything(cast, secrets_of_a):
    prod, _ = secrets_of_a
    with expect_error(403, "Forbidden.NoPermission", "secrets:GetValue"):
        cast.a_none.ali().call("GetSecretValue", SecretName=prod)
    with expect_error(403, "Forbidden.NoPermission", "secrets:List"):
        cast.a_none.ali().call("ListSecrets")
    with expect_tc_error("UnauthorizedOperation", "secrets:Describe"):
        cast.a_none.tc().call("DescribeSecret", SecretName=prod)
    with expect_hw(403, "CSMS.0403", "secrets:Create"):
        cast.a_none.hw().call("create_secret", body={"name": app_name(), "secret_string": "x"})


def test_read_only_key(cast, secrets_of_a):
    prod, other = secrets_of_a
    k = cast.a_ro
    assert k.ali().call("GetSecretValue", SecretName=prod)["SecretData"] == "prod-value"
    names = [s["SecretName"] for s in k.ali().call("ListSecrets", PageSize=100)["SecretList"]["Secret"]]
    assert {prod, other} <= set(names)
    assert k.tc().call("GetSecretValue", SecretName=other, VersionId="v1")["SecretString"] == "other-value"
    assert k.hw().call("show_secret_version", secret_name=other, version_id="latest")["version"]["secret_string"] == \
        "other-value"
    # every write is refused, through every API, and names the action
    with expect_error(403, "Forbidden.NoPermission", "secrets:PutValue", "secret/" + prod):
        k.ali().call("PutSecretValue", SecretName=prod, VersionId="v9", SecretData="no")
    with expect_error(403, "Forbidden.NoPermission", "secrets:Create"):
        k.ali().call("CreateSecret", SecretName=app_name(), VersionId="v1", SecretData="no")
    with expect_error(403, "Forbidden.NoPermission", "secrets:Delete"):
        k.ali().call("DeleteSecret", SecretName=prod)
    with expect_error(403, "Forbidden.NoPermission", "secrets:Tag"):
        k.ali().call("TagResource", SecretName=prod, Tags='[{"TagKey":"a","TagValue":"b"}]')
    with expect_tc_error("UnauthorizedOperation", "secrets:PutValue"):
        k.tc().call("PutSecretValue", SecretName=other, VersionId="v9", SecretString="no")
    with expect_tc_error("UnauthorizedOperation", "secrets:Update"):
        k.tc().call("UpdateDescription", SecretName=other, Description="no")
    with expect_hw(403, "CSMS.0403", "secrets:PutValue"):
        k.hw().call("create_secret_version", secret_name=other, body={"secret_string": "no"})
    with expect_hw(403, "CSMS.0403", "secrets:Delete"):
        k.hw().call("delete_secret", secret_name=other)
    # nothing changed
    assert cast.a_admin.ali().call("GetSecretValue", SecretName=prod)["SecretData"] == "prod-value"


def test_one_path_only(cast, secrets_of_a):
    prod, other = secrets_of_a
    k = cast.a_path
    assert k.ali().call("GetSecretValue", SecretName=prod)["SecretData"] == "prod-value"
    assert k.tc().call("GetSecretValue", SecretName=prod, VersionId="v1")["SecretString"] == "prod-value"
    with expect_error(403, "Forbidden.NoPermission", "secrets:GetValue", "secret/" + other):
        k.ali().call("GetSecretValue", SecretName=other)
    with expect_hw(403, "CSMS.0403", "secrets:GetValue"):
        k.hw().call("show_secret_version", secret_name=other, version_id="latest")
    # GetValue only: no describe, no list
    with expect_error(403, "Forbidden.NoPermission", "secrets:Describe"):
        k.ali().call("DescribeSecret", SecretName=prod)
    with expect_tc_error("UnauthorizedOperation", "secrets:List"):
        k.tc().call("ListSecrets")
    # the ARN form is the same resource as the name
    arn = cast.a_admin.ali().call("DescribeSecret", SecretName=prod)["Arn"]
    assert k.ali().call("GetSecretValue", SecretName=arn)["SecretData"] == "prod-value"


def test_deny_by_tag_beats_allow(cast, secrets_of_a):
    prod, other = secrets_of_a
    k = cast.a_noprod
    with expect_error(403, "Forbidden.NoPermission", "secrets:GetValue"):
        k.ali().call("GetSecretValue", SecretName=prod)
    with expect_tc_error("UnauthorizedOperation", "secrets:GetValue"):
        k.tc().call("GetSecretValue", SecretName=prod, VersionId="v1")
    with expect_hw(403, "CSMS.0403", "secrets:GetValue"):
        k.hw().call("show_secret_version", secret_name=prod, version_id="latest")
    # allowed elsewhere: other actions on the prod secret, reads of untagged ones
    assert k.ali().call("DescribeSecret", SecretName=prod)["SecretName"] == prod
    assert k.ali().call("GetSecretValue", SecretName=other)["SecretData"] == "other-value"
    # a create asking for the tag is fine (the deny is on reads), and then unreadable
    n = app_name()
    k.ali().call("CreateSecret", SecretName=n, VersionId="v1", SecretData="z",
                 Tags='[{"TagKey":"env","TagValue":"prod"}]')
    with expect_error(403, "Forbidden.NoPermission"):
        k.ali().call("GetSecretValue", SecretName=n)
    # untagging it makes it readable: the condition is judged on the current tags
    k.ali().call("UntagResource", SecretName=n, TagKeys='["env"]')
    assert k.ali().call("GetSecretValue", SecretName=n)["SecretData"] == "z"


def test_policy_changes_apply_at_once(cli, cast, name):
    cast.a_admin.ali().call("CreateSecret", SecretName=name, VersionId="v1", SecretData="x")
    k = cast.key(cast.a_id, cast.a_project)
    with expect_error(403, "Forbidden.NoPermission"):
        k.ali().call("GetSecretValue", SecretName=name)
    pol = "late-" + uuid.uuid4().hex[:6]
    cli.ok("policy", "put", pol, "--account", cast.a_id, "--document", "-",
           stdin='{"Statement":{"Effect":"Allow","Action":"secrets:GetValue","Resource":"*"}}')
    cli.ok("policy", "attach", pol, "--access-key", k.id)
    assert k.ali().call("GetSecretValue", SecretName=name)["SecretData"] == "x"
    cli.ok("policy", "detach", pol, "--access-key", k.id)
    with expect_error(403, "Forbidden.NoPermission"):
        k.ali().call("GetSecretValue", SecretName=name)
