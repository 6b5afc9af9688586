"""Account B sees nothing of account A, through any API, by name, id or ARN; not-found answers
are the same as for names that exist nowhere."""
import uuid

from coffer_helpers import expect_error
from hw_helpers import expect_hw
from tc_helpers import expect_tc_error


def test_b_cannot_see_a(cast):
    a, b = cast.a_admin, cast.b_admin
    n = "iso-" + uuid.uuid4().hex[:10]
    nowhere = "iso-" + uuid.uuid4().hex[:10]
    created = a.ali().call("CreateSecret", SecretName=n, VersionId="v1", SecretData="a-only",
                           Tags='[{"TagKey":"owner","TagValue":"a"}]')
    arn = created["Arn"]
    hw_id = a.hw().call("show_secret", secret_name=n)["secret"]["id"]

    # lists
    listed = [s["SecretName"] for s in b.ali().call("ListSecrets", PageSize=100)["SecretList"]["Secret"]]
    assert n not in listed
    assert n not in [s["SecretName"] for s in b.tc().call("ListSecrets", Limit=100)["SecretMetadatas"]]
    assert n not in [s["name"] for s in b.hw().call("list_secrets", limit="1000")["secrets"]]
    assert "owner" not in str(b.hw().call("list_project_secrets_tags"))
    with expect_error(404, "Forbidden.ResourceNotFound"):
        b.ali().call("ListTagResources", ResourceType="secret", ResourceId=[arn])

    # by name: the same answer as for a name that exists nowhere
    for target in (n, nowhere):
        with expect_error(404, "Forbidden.ResourceNotFound") as e:
            b.ali().call("GetSecretValue", SecretName=target)
        assert target in e.error.message
        with expect_tc_error("ResourceNotFound"):
            b.tc().call("DescribeSecret", SecretName=target)
        with expect_hw(404, "CSMS.0106"):
            b.hw().call("show_secret", secret_name=target)
    # by ARN of A's account
    with expect_error(404, "Forbidden.ResourceNotFound"):
        b.ali().call("DescribeSecret", SecretName=arn)
    with expect_error(404, "Forbidden.ResourceNotFound"):
        b.ali().call("RestoreSecret", SecretName=arn)
    # Huawei: A's secret id in B's project, and A's project in B's request
    with expect_hw(404, "CSMS.0005"):
        b.hw().call("list_secret_tags", secret_id=hw_id)
    with expect_hw(404, "CSMS.0005"):
        b.hw().call("batch_create_or_delete_tags", secret_id=hw_id,
                    body={"action": "create", "tags": [{"key": "x", "value": "y"}]})
    with expect_hw(403, "CSMS.0003"):
        b.hw(project=cast.a_project).call("show_secret", secret_name=n)

    # the same name in B is another secret
    b.ali().call("CreateSecret", SecretName=n, VersionId="v1", SecretData="b-only")
    assert b.ali().call("GetSecretValue", SecretName=n)["SecretData"] == "b-only"
    assert a.ali().call("GetSecretValue", SecretName=n)["SecretData"] == "a-only"
    assert a.tc().call("GetSecretValue", SecretName=n, VersionId="v1")["SecretString"] == "a-only"


def test_b_cannot_use_a_key(cast):
    kid = cast.a_admin.ali().call("CreateKey")["KeyMetadata"]["KeyId"]
    with expect_error(404, "Forbidden.KeyNotFound"):
        cast.b_admin.ali().call("DescribeKey", KeyId=kid)
    import base64
    blob = cast.a_admin.ali().call("Encrypt", KeyId=kid, Plaintext=base64.b64encode(b"a").decode())["CiphertextBlob"]
    with expect_error(400, "InvalidParameter", "CiphertextBlob"):
        cast.b_admin.ali().call("Decrypt", CiphertextBlob=blob)
