"""KMS keys through the official Alibaba SDKs (reference alibaba.md section 5): key lifecycle,
aliases, Encrypt / Decrypt / data keys, and a secret under a customer key that follows the
key's state."""
import base64
import uuid

import pytest

from coffer_helpers import expect_error, secret_value


def b64(data):
    return base64.b64encode(data).decode()


def new_key(api, **kw):
    return api.call("CreateKey", Description=kw.pop("Description", "test key"), **kw)["KeyMetadata"]


def alias():
    return "alias/t-" + uuid.uuid4().hex[:12]


def key_ids(d):
    keys = d["Keys"]["Key"] if isinstance(d.get("Keys"), dict) else d["Keys"]
    return [k["KeyId"] for k in keys]


def test_key_lifecycle(api12, account):
    account_id, default_key = account
    m = new_key(api12, Description="payments")
    kid = m["KeyId"]
    assert m["KeyState"] == "Enabled" and m["KeySpec"] == "Aliyun_AES_256"
    assert m["KeyUsage"] == "ENCRYPT/DECRYPT" and m["Description"] == "payments"
    assert m["Arn"].endswith(":%s:key/%s" % (account_id, kid))
    d = api12.call("DescribeKey", KeyId=kid)["KeyMetadata"]
    assert (d["KeyId"], d["PrimaryKeyVersion"]) == (kid, m["PrimaryKeyVersion"])
    # by ARN, too
    assert api12.call("DescribeKey", KeyId=m["Arn"])["KeyMetadata"]["KeyId"] == kid

    seen, page = [], 1
    while True:
        r = api12.call("ListKeys", PageNumber=page, PageSize=100)
        seen += key_ids(r)
        if len(seen) >= r["TotalCount"]:
            break
        page += 1
    assert kid in seen and default_key in seen and len(seen) == len(set(seen))

    api12.call("UpdateKeyDescription", KeyId=kid, Description="renamed")
    assert api12.call("DescribeKey", KeyId=kid)["KeyMetadata"]["Description"] == "renamed"
    api12.call("DisableKey", KeyId=kid)
    assert api12.call("DescribeKey", KeyId=kid)["KeyMetadata"]["KeyState"] == "Disabled"
    api12.call("EnableKey", KeyId=kid)
    api12.call("ScheduleKeyDeletion", KeyId=kid, PendingWindowInDays=7)
    d = api12.call("DescribeKey", KeyId=kid)["KeyMetadata"]
    assert d["KeyState"] == "PendingDeletion" and d["DeleteDate"]
    with expect_error(409, "Rejected.PendingDeletion"):
        api12.call("EnableKey", KeyId=kid)
    api12.call("CancelKeyDeletion", KeyId=kid)
    assert api12.call("DescribeKey", KeyId=kid)["KeyMetadata"]["KeyState"] == "Enabled"


def test_aliases(api12):
    k1, k2 = new_key(api12)["KeyId"], new_key(api12)["KeyId"]
    a = alias()
    api12.call("CreateAlias", AliasName=a, KeyId=k1)
    assert api12.call("DescribeKey", KeyId=a)["KeyMetadata"]["KeyId"] == k1
    with expect_error(400, "AliasAlreadyExists"):
        api12.call("CreateAlias", AliasName=a, KeyId=k2)
    api12.call("UpdateAlias", AliasName=a, KeyId=k2)
    assert api12.call("DescribeKey", KeyId=a)["KeyMetadata"]["KeyId"] == k2
    by_key = api12.call("ListAliasesByKeyId", KeyId=k2)
    names = [x["AliasName"] for x in by_key["Aliases"]["Alias"]]
    assert names == [a] and by_key["TotalCount"] == 1
    assert api12.call("ListAliasesByKeyId", KeyId=k1)["TotalCount"] == 0
    everything = api12.call("ListAliases", PageSize=100)
    assert a in [x["AliasName"] for x in everything["Aliases"]["Alias"]]
    api12.call("DeleteAlias", AliasName=a)
    with expect_error(404, "Forbidden.AliasNotFound"):
        api12.call("DescribeKey", KeyId=a)
    with expect_error(404, "Forbidden.AliasNotFound"):
        api12.call("DeleteAlias", AliasName=a)
    with expect_error(400, "InvalidParameter", "AliasName"):
        api12.call("CreateAlias", AliasName="no-prefix", KeyId=k1)
    with expect_error(400, "Unsupported.Alias"):
        api12.call("CreateAlias", AliasName="alias/acs/mine", KeyId=k1)


def test_encrypt_decrypt_and_data_keys(api12):
    kid = new_key(api12)["KeyId"]
    ctx = {"app": "web", "env": "prod"}  # both SDK generations send a dict as JSON text
    plain = b"attack at dawn \x00\xff"
    e = api12.call("Encrypt", KeyId=kid, Plaintext=b64(plain), EncryptionContext=ctx)
    assert e["KeyId"] == kid and e["KeyVersionId"]
    d = api12.call("Decrypt", CiphertextBlob=e["CiphertextBlob"],
                   EncryptionContext={"env": "prod", "app": "web"})
    assert base64.b64decode(d["Plaintext"]) == plain and d["KeyId"] == kid
    # another context, a changed byte, garbage: one answer
    with expect_error(400, "InvalidParameter", "CiphertextBlob"):
        api12.call("Decrypt", CiphertextBlob=e["CiphertextBlob"])
    raw = bytearray(base64.b64decode(e["CiphertextBlob"]))
    raw[-3] ^= 1
    with expect_error(400, "InvalidParameter", "CiphertextBlob"):
        api12.call("Decrypt", CiphertextBlob=b64(bytes(raw)), EncryptionContext=ctx)
    with expect_error(400, "InvalidParameter", "CiphertextBlob"):
        api12.call("Decrypt", CiphertextBlob=b64(b"not a ciphertext at all"))

    g = api12.call("GenerateDataKey", KeyId=kid, NumberOfBytes=24)
    assert len(base64.b64decode(g["Plaintext"])) == 24
    back = api12.call("Decrypt", CiphertextBlob=g["CiphertextBlob"])
    assert back["Plaintext"] == g["Plaintext"]
    g = api12.call("GenerateDataKey", KeyId=kid, KeySpec="AES_128")
    assert len(base64.b64decode(g["Plaintext"])) == 16
    w = api12.call("GenerateDataKeyWithoutPlaintext", KeyId=kid)
    assert "Plaintext" not in w
    assert len(base64.b64decode(api12.call("Decrypt", CiphertextBlob=w["CiphertextBlob"])["Plaintext"])) == 32

    other = new_key(api12)["KeyId"]
    r = api12.call("ReEncrypt", CiphertextBlob=e["CiphertextBlob"], DestinationKeyId=other,
                   SourceEncryptionContext=ctx)
    assert r["KeyId"] == other  # gen2's model keeps no SourceKeyId; gen1 passes it through
    assert r.get("SourceKeyId", kid) == kid
    assert base64.b64decode(api12.call("Decrypt", CiphertextBlob=r["CiphertextBlob"])["Plaintext"]) == plain

    api12.call("DisableKey", KeyId=kid)
    with expect_error(409, "Rejected.Disabled"):
        api12.call("Decrypt", CiphertextBlob=e["CiphertextBlob"], EncryptionContext=ctx)
    with expect_error(409, "Rejected.Disabled"):
        api12.call("Encrypt", KeyId=kid, Plaintext=b64(b"x"))
    api12.call("EnableKey", KeyId=kid)
    api12.call("Decrypt", CiphertextBlob=e["CiphertextBlob"], EncryptionContext=ctx)


def test_a_secret_follows_its_keys_state(api12, name):
    m = new_key(api12)
    kid = m["KeyId"]
    value = secret_value()
    api12.call("CreateSecret", SecretName=name, VersionId="v1", SecretData=value, EncryptionKeyId=kid)
    assert api12.call("DescribeSecret", SecretName=name)["EncryptionKeyId"] == kid
    api12.call("DisableKey", KeyId=kid)
    with expect_error(409, "Rejected.Disabled"):
        api12.call("GetSecretValue", SecretName=name)
    with expect_error(409, "Rejected.Disabled"):
        api12.call("PutSecretValue", SecretName=name, VersionId="v2", SecretData="x")
    api12.call("EnableKey", KeyId=kid)
    assert api12.call("GetSecretValue", SecretName=name)["SecretData"] == value
    # a key that protects a secret cannot be scheduled for deletion
    with expect_error(409, "Rejected.UnexpectedState"):
        api12.call("ScheduleKeyDeletion", KeyId=kid, PendingWindowInDays=7)
    api12.call("DeleteSecret", SecretName=name, ForceDeleteWithoutRecovery=True)
    api12.call("ScheduleKeyDeletion", KeyId=kid, PendingWindowInDays=30)


def test_automatic_rotation_settings(api12):
    m = new_key(api12, EnableAutomaticRotation=True, RotationInterval="30d")
    kid = m["KeyId"]
    assert (m["AutomaticRotation"], m["RotationInterval"]) == ("Enabled", "2592000s")
    assert m["NextRotationDate"] > m["CreationDate"] and "LastRotationDate" not in m
    api12.call("UpdateRotationPolicy", KeyId=kid, EnableAutomaticRotation=False)
    d = api12.call("DescribeKey", KeyId=kid)["KeyMetadata"]
    assert d["AutomaticRotation"] == "Disabled" and "NextRotationDate" not in d
    api12.call("UpdateRotationPolicy", KeyId=kid, EnableAutomaticRotation=True, RotationInterval="8760h")
    d = api12.call("DescribeKey", KeyId=kid)["KeyMetadata"]
    assert (d["AutomaticRotation"], d["RotationInterval"]) == ("Enabled", "31536000s")
    # A disabled key's rotation waits until it is enabled again.
    api12.call("DisableKey", KeyId=kid)
    assert api12.call("DescribeKey", KeyId=kid)["KeyMetadata"]["AutomaticRotation"] == "Suspended"
    api12.call("EnableKey", KeyId=kid)
    for interval in ("6d", "731d", "30x", "d", "-7d"):
        with expect_error(400, "InvalidParameter", "RotationInterval"):
            api12.call("UpdateRotationPolicy", KeyId=kid, EnableAutomaticRotation=True, RotationInterval=interval)
    with expect_error(400, "MissingParameter", "RotationInterval"):
        api12.call("UpdateRotationPolicy", KeyId=kid, EnableAutomaticRotation=True)
    with expect_error(400, "InvalidParameter", "RotationInterval"):
        api12.call("UpdateRotationPolicy", KeyId=kid, EnableAutomaticRotation=False, RotationInterval="30d")
    with expect_error(400, "MissingParameter", "RotationInterval"):
        api12.call("CreateKey", EnableAutomaticRotation=True)
    with expect_error(404, "Forbidden.KeyNotFound"):
        api12.call("UpdateRotationPolicy", KeyId=str(uuid.uuid4()), EnableAutomaticRotation=False)


def test_key_versions(api12):
    kid = new_key(api12)["KeyId"]
    first = api12.call("DescribeKey", KeyId=kid)["KeyMetadata"]["PrimaryKeyVersion"]
    early = api12.call("Encrypt", KeyId=kid, Plaintext=b64(b"before"))
    assert early["KeyVersionId"] == first
    v = api12.call("CreateKeyVersion", KeyId=kid)["KeyVersion"]
    assert v["KeyId"] == kid and v["KeyVersionId"] != first and v["CreationDate"]
    d = api12.call("DescribeKey", KeyId=kid)["KeyMetadata"]
    assert d["PrimaryKeyVersion"] == v["KeyVersionId"] and d["LastRotationDate"] == v["CreationDate"]
    listed = api12.call("ListKeyVersions", KeyId=kid, PageSize=1, PageNumber=2)
    assert listed["TotalCount"] == 2
    assert [x["KeyVersionId"] for x in listed["KeyVersions"]["KeyVersion"]] == [v["KeyVersionId"]]
    shown = api12.call("DescribeKeyVersion", KeyId=kid, KeyVersionId=first)["KeyVersion"]
    assert (shown["KeyId"], shown["KeyVersionId"]) == (kid, first)
    with expect_error(404, "Forbidden.KeyVersionNotFound"):
        api12.call("DescribeKeyVersion", KeyId=kid, KeyVersionId=str(uuid.uuid4()))
    # Old blobs open with the version that made them; new ones use the new version.
    opened = api12.call("Decrypt", CiphertextBlob=early["CiphertextBlob"])
    assert (opened["KeyVersionId"], base64.b64decode(opened["Plaintext"])) == (first, b"before")
    assert api12.call("Encrypt", KeyId=kid, Plaintext=b64(b"after"))["KeyVersionId"] == v["KeyVersionId"]
    api12.call("DisableKey", KeyId=kid)
    with expect_error(409, "Rejected.Disabled"):
        api12.call("CreateKeyVersion", KeyId=kid)


@pytest.mark.parametrize("params,status,code", [
    ({"KeySpec": "RSA_2048"}, 400, "UnsupportedOperation"),
    ({"KeyUsage": "SIGN/VERIFY"}, 400, "UnsupportedOperation"),
    ({"Origin": "EXTERNAL"}, 400, "UnsupportedOperation"),
    ({"Description": "x" * 8193}, 400, "InvalidParameter"),
])
def test_bad_create_key(gen2, params, status, code):
    with expect_error(status, code):
        gen2.call("CreateKey", **params)


def test_bad_key_inputs(gen2):
    with expect_error(404, "Forbidden.KeyNotFound"):
        gen2.call("DescribeKey", KeyId=str(uuid.uuid4()))
    kid = new_key(gen2)["KeyId"]
    with expect_error(400, "InvalidParameter", "Plaintext"):
        gen2.call("Encrypt", KeyId=kid, Plaintext=b64(b"x" * 6145))
    with expect_error(400, "InvalidParameter", "Plaintext"):
        gen2.call("Encrypt", KeyId=kid, Plaintext="***not base64***")
    with expect_error(400, "InvalidParameter", "EncryptionContext"):
        gen2.call("Encrypt", KeyId=kid, Plaintext=b64(b"x"), EncryptionContext={"n": 1})
    with expect_error(400, "InvalidParameter", "PendingWindowInDays"):
        gen2.call("ScheduleKeyDeletion", KeyId=kid, PendingWindowInDays=3)
    with expect_error(400, "InvalidParameter", "NumberOfBytes"):
        gen2.call("GenerateDataKey", KeyId=kid, NumberOfBytes=2000)
