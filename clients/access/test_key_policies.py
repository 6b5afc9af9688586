"""Policies on KMS keys, tag conditions on tag changes and put retries, through the official
SDKs with narrow keys (DESIGN.md "Keys are judged by their ids", "Tag changes", "Put retries"):
what the policy allows works, and the ways around it are refused."""
import base64
import json
import uuid

import pytest

from coffer_helpers import expect_error
from hw_helpers import HwKms, expect_hw
from tc_helpers import TcKms, expect_tc_error


def policy_doc(*statements):
    return json.dumps({"Version": "1", "Statement": list(statements)})


def b64(data):
    return base64.b64encode(data).decode()


def new_alias():
    return "alias/kp-" + uuid.uuid4().hex[:10]


@pytest.fixture(scope="module")
def keys(cast):
    """Keys A, A2 (allowed) and B (denied) of account A, each with an alias, made by A's admin;
    and a key of A whose policy allows every key but B."""
    ali = cast.a_admin.ali()
    made = {}
    for n in ("a", "a2", "b"):
        kid = ali.call("CreateKey", Description="kp " + n)["KeyMetadata"]["KeyId"]
        alias = new_alias()
        ali.call("CreateAlias", KeyId=kid, AliasName=alias)
        made[n] = (kid, alias)
    b = made["b"][0]
    user = cast.key(cast.a_id, cast.a_project, policy=policy_doc(
        {"Effect": "Allow", "Action": ["keys:*", "secrets:*"], "Resource": "*"},
        {"Effect": "Deny", "Action": "keys:*", "Resource": "crn:coffer:*:*:key/" + b}))
    return made, user


def blob(cast, kid, plain=b"hello"):
    return cast.a_admin.ali().call("Encrypt", KeyId=kid, Plaintext=b64(plain))["CiphertextBlob"]


def test_alibaba_keys_by_alias_blob_and_destination(cast, keys):
    made, user = keys
    (a, a_alias), (a2, _), (b, b_alias) = made["a"], made["a2"], made["b"]
    ali = user.ali()
    # Allowed: the key by its alias, a blob it made, a re-encryption to another allowed key.
    e = ali.call("Encrypt", KeyId=a_alias, Plaintext=b64(b"hi"))
    assert e["KeyId"] == a
    assert base64.b64decode(ali.call("Decrypt", CiphertextBlob=e["CiphertextBlob"])["Plaintext"]) == b"hi"
    r = ali.call("ReEncrypt", CiphertextBlob=e["CiphertextBlob"], DestinationKeyId=a2)
    assert r["KeyId"] == a2
    assert base64.b64decode(ali.call("Decrypt", CiphertextBlob=r["CiphertextBlob"])["Plaintext"]) == b"hi"
    # Denied: B by its alias, a blob B made, B as a destination; the denial names B's id.
    with expect_error(403, "Forbidden.NoPermission", "keys:Encrypt", "key/" + b):
        ali.call("Encrypt", KeyId=b_alias, Plaintext=b64(b"hi"))
    with expect_error(403, "Forbidden.NoPermission", "keys:Decrypt", "key/" + b):
        ali.call("Decrypt", CiphertextBlob=blob(cast, b))
    with expect_error(403, "Forbidden.NoPermission", "keys:Encrypt", "key/" + b):
        ali.call("ReEncrypt", CiphertextBlob=e["CiphertextBlob"], DestinationKeyId=b_alias)
    # A secret under a key uses the key.
    n = "kp-" + uuid.uuid4().hex[:8]
    with expect_error(403, "Forbidden.NoPermission", "keys:Encrypt", "key/" + b):
        ali.call("CreateSecret", SecretName=n, VersionId="v1", SecretData="x", EncryptionKeyId=b_alias)
    ali.call("CreateSecret", SecretName=n, VersionId="v1", SecretData="x", EncryptionKeyId=a_alias)
    assert cast.a_admin.ali().call("DescribeSecret", SecretName=n)["EncryptionKeyId"] == a
    # Aliases: B's cannot be taken, one cannot be given to B; A's own alias moves freely.
    with expect_error(403, "Forbidden.NoPermission", "keys:Update", "key/" + b):
        ali.call("UpdateAlias", AliasName=b_alias, KeyId=a)
    with expect_error(403, "Forbidden.NoPermission", "keys:Update", "key/" + b):
        ali.call("DeleteAlias", AliasName=b_alias)
    c = new_alias()
    ali.call("CreateAlias", AliasName=c, KeyId=a)
    ali.call("UpdateAlias", AliasName=c, KeyId=a2)
    assert cast.a_admin.ali().call("DescribeKey", KeyId=c)["KeyMetadata"]["KeyId"] == a2
    ali.call("DeleteAlias", AliasName=c)
    assert cast.a_admin.ali().call("DescribeKey", KeyId=b_alias)["KeyMetadata"]["KeyId"] == b


def test_tencent_keys_by_alias_and_blob(cast, keys):
    made, user = keys
    (a, a_alias), (a2, _), (b, b_alias) = made["a"], made["a2"], made["b"]
    kms = TcKms(cast.server.endpoint, user.id, user.secret)
    e = kms.call("Encrypt", KeyId=a_alias, Plaintext=b64(b"tc"))
    assert base64.b64decode(kms.call("Decrypt", CiphertextBlob=e["CiphertextBlob"])["Plaintext"]) == b"tc"
    r = kms.call("ReEncrypt", CiphertextBlob=e["CiphertextBlob"], DestinationKeyId=a2)
    assert (r["KeyId"], r["SourceKeyId"]) == (a2, a)
    with expect_tc_error("UnauthorizedOperation", "keys:Encrypt", "key/" + b):
        kms.call("Encrypt", KeyId=b_alias, Plaintext=b64(b"tc"))
    with expect_tc_error("UnauthorizedOperation", "keys:Decrypt", "key/" + b):
        kms.call("Decrypt", CiphertextBlob=blob(cast, b))
    with expect_tc_error("UnauthorizedOperation", "keys:Encrypt", "key/" + b):
        kms.call("ReEncrypt", CiphertextBlob=e["CiphertextBlob"], DestinationKeyId=b)
    # A batch describes each key it names.
    with expect_tc_error("UnauthorizedOperation", "keys:Describe", "key/" + b):
        kms.call("DescribeKeys", KeyIds=[a, b_alias])
    assert [m["KeyId"] for m in kms.call("DescribeKeys", KeyIds=[a_alias, a2])["KeyMetadatas"]] == [a, a2]
    with expect_tc_error("UnauthorizedOperation", "keys:Encrypt", "key/" + b):
        user.tc().call("CreateSecret", SecretName="kp-" + uuid.uuid4().hex[:8], VersionId="v1",
                       SecretString="x", KmsKeyId=b_alias)


def test_huawei_keys_by_alias_blob_and_secret_key(cast, keys):
    made, user = keys
    (a, a_alias), (a2, a2_alias), (b, b_alias) = made["a"], made["a2"], made["b"]
    kms = HwKms(cast.server.endpoint, user.id, user.secret, user.project, via="kms")
    e = kms.call("encrypt_data", body={"key_id": a_alias, "plain_text": "hw"})
    assert e["key_id"] == a
    assert kms.call("decrypt_data", body={"cipher_text": e["cipher_text"]})["plain_text"] == "hw"
    r = kms.call("re_encrypt", body={"cipher_text": e["cipher_text"], "destination_key_id": a2})
    assert (r["key_id"], r["source_key_id"]) == (a2, a)
    with expect_hw(403, "CSMS.0403", "keys:Encrypt"):
        kms.call("encrypt_data", body={"key_id": b_alias, "plain_text": "hw"})
    with expect_hw(403, "CSMS.0403", "keys:Decrypt"):
        kms.call("decrypt_data", body={"cipher_text": blob(cast, b)})
    with expect_hw(403, "CSMS.0403", "keys:Update"):
        kms.call("associate_alias", body={"alias": b_alias, "target_key_id": a})
    with expect_hw(403, "CSMS.0403", "keys:Update"):
        kms.call("associate_alias", body={"alias": a2_alias, "target_key_id": b})
    # A secret under A moves to A2, not to B.
    hw = user.hw()
    n = "kp-" + uuid.uuid4().hex[:8]
    hw.call("create_secret", body={"name": n, "secret_string": "x", "kms_key_id": a})
    with expect_hw(403, "CSMS.0403", "keys:Encrypt"):
        hw.call("update_secret", secret_name=n, body={"kms_key_id": b})
    assert hw.call("update_secret", secret_name=n, body={"kms_key_id": a2})["secret"]["kms_key_id"] == a2


def test_tag_changes_stay_within_a_tag_condition(cast):
    admin = cast.a_admin.ali()
    mine, theirs = "kp-a-" + uuid.uuid4().hex[:8], "kp-b-" + uuid.uuid4().hex[:8]
    admin.call("CreateSecret", SecretName=mine, VersionId="v1", SecretData="x",
               Tags='[{"TagKey":"team","TagValue":"a"}]')
    admin.call("CreateSecret", SecretName=theirs, VersionId="v1", SecretData="x",
               Tags='[{"TagKey":"team","TagValue":"b"}]')
    k = cast.key(cast.a_id, cast.a_project, policy=policy_doc(
        {"Effect": "Allow", "Action": "secrets:Tag", "Resource": "*",
         "Condition": {"StringEquals": {"coffer:ResourceTag/team": "a"}}}))
    ali = k.ali()
    # Allowed: other tags of a team-a secret.
    ali.call("TagResource", SecretName=mine, Tags='[{"TagKey":"env","TagValue":"dev"}]')
    ali.call("UntagResource", SecretName=mine, TagKeys='["env"]')
    # Refused: tagging it out of team a, or another secret into it.
    with expect_error(403, "Forbidden.NoPermission", "secrets:Tag"):
        ali.call("TagResource", SecretName=mine, Tags='[{"TagKey":"team","TagValue":"b"}]')
    with expect_error(403, "Forbidden.NoPermission", "secrets:Tag"):
        ali.call("UntagResource", SecretName=mine, TagKeys='["team"]')
    with expect_error(403, "Forbidden.NoPermission", "secrets:Tag"):
        ali.call("TagResource", SecretName=theirs, Tags='[{"TagKey":"team","TagValue":"a"}]')
    # Huawei's tag routes, by id.
    hw = k.hw()
    sid = cast.a_admin.hw().call("show_secret", secret_name=mine)["secret"]["id"]
    hw.call("create_secret_tag", secret_id=sid, body={"tag": {"key": "env", "value": "x"}})
    with expect_hw(403, "CSMS.0403", "secrets:Tag"):
        hw.call("create_secret_tag", secret_id=sid, body={"tag": {"key": "team", "value": "c"}})
    with expect_hw(403, "CSMS.0403", "secrets:Tag"):
        hw.call("delete_secret_tag", secret_id=sid, key="team")
    tags = {t["TagKey"]: t["TagValue"] for t in
            admin.call("DescribeSecret", SecretName=mine, FetchTags=True)["Tags"]["Tag"]}
    assert tags == {"team": "a", "env": "x"}


def test_a_put_retry_needs_the_right_to_read(cast):
    admin = cast.a_admin.ali()
    n = "kp-put-" + uuid.uuid4().hex[:8]
    admin.call("CreateSecret", SecretName=n, VersionId="v1", SecretData="the-secret")
    writer = cast.key(cast.a_id, cast.a_project, policy=policy_doc(
        {"Effect": "Allow", "Action": "secrets:PutValue", "Resource": "*"})).ali()
    both = cast.key(cast.a_id, cast.a_project, policy=policy_doc(
        {"Effect": "Allow", "Action": ["secrets:PutValue", "secrets:GetValue"], "Resource": "*"})).ali()
    # Without GetValue: the same refusal for the right value and a wrong one.
    for guess in ("the-secret", "a-guess"):
        with expect_error(403, "Forbidden.NoPermission", "secrets:GetValue", "secret/" + n):
            writer.call("PutSecretValue", SecretName=n, VersionId="v1", SecretData=guess)
    writer.call("PutSecretValue", SecretName=n, VersionId="v2", SecretData="second")
    # With it: Alibaba's idempotent retry, and a different value refused.
    assert both.call("PutSecretValue", SecretName=n, VersionId="v2", SecretData="second")["VersionId"] == "v2"
    with expect_error(409, "Rejected.ResourceExist", "v2"):
        both.call("PutSecretValue", SecretName=n, VersionId="v2", SecretData="other")
    assert admin.call("GetSecretValue", SecretName=n, VersionId="v1")["SecretData"] == "the-secret"
