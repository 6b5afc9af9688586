"""Tencent KMS 2019-01-18 on the SSM endpoint (reference tencent.md section 9), through the
official KmsClient in each signing flavour: keys with their alias and states, Encrypt / Decrypt /
data keys, and SSM secrets under a KMS key."""
import base64
import json
import uuid

import pytest

from tc_helpers import TcKms, expect_tc_error


def b64(data):
    return base64.b64encode(data).decode()


@pytest.fixture(params=["tc3", "tc3get", "v1sha256"])
def kms(request, coffer):
    return TcKms(coffer.endpoint, coffer.ak, coffer.sk, kind=request.param)


def alias():
    return "k-" + uuid.uuid4().hex[:12]


def test_key_lifecycle(kms):
    a = alias()
    r = kms.call("CreateKey", Alias=a, Description="payments")
    kid = r["KeyId"]
    assert (r["Alias"], r["KeyState"], r["KeyUsage"], r["Description"]) == (a, "Enabled", "ENCRYPT_DECRYPT", "payments")
    m = kms.call("DescribeKey", KeyId=kid)["KeyMetadata"]
    assert (m["KeyId"], m["Alias"], m["Origin"], m["DeletionDate"]) == (kid, a, "TENCENT_KMS", 0)
    assert m["ResourceId"].endswith("/" + kid) and isinstance(m["CreateTime"], int)
    assert kid in [k["KeyId"] for k in kms.call("ListKeys", Limit=200)["Keys"]]
    metas = kms.call("DescribeKeys", KeyIds=[kid, str(uuid.uuid4())])["KeyMetadatas"]
    assert [x["KeyId"] for x in metas] == [kid]

    kms.call("UpdateKeyDescription", KeyId=kid, Description="renamed")
    b = alias()
    kms.call("UpdateAlias", KeyId=kid, Alias=b)
    m = kms.call("DescribeKey", KeyId=kid)["KeyMetadata"]
    assert (m["Description"], m["Alias"]) == ("renamed", b)

    kms.call("DisableKey", KeyId=kid)
    assert kms.call("DescribeKey", KeyId=kid)["KeyMetadata"]["KeyState"] == "Disabled"
    kms.call("EnableKey", KeyId=kid)
    kms.call("ScheduleKeyDeletion", KeyId=kid, PendingWindowInDays=7)
    m = kms.call("DescribeKey", KeyId=kid)["KeyMetadata"]
    assert m["KeyState"] == "PendingDelete" and m["DeletionDate"] > 0
    with expect_tc_error("ResourceUnavailable.CmkStateNotSupport"):
        kms.call("EnableKey", KeyId=kid)
    kms.call("CancelKeyDeletion", KeyId=kid)
    # Tencent brings a cancelled key back disabled
    assert kms.call("DescribeKey", KeyId=kid)["KeyMetadata"]["KeyState"] == "Disabled"


def test_key_rotation_settings(kms):
    kid = kms.call("CreateKey", Alias=alias())["KeyId"]
    m = kms.call("DescribeKey", KeyId=kid)["KeyMetadata"]
    assert (m["KeyRotationEnabled"], m["NextRotateTime"]) == (False, 0)
    assert kms.call("GetKeyRotationStatus", KeyId=kid)["KeyRotationEnabled"] is False
    kms.call("EnableKeyRotation", KeyId=kid, RotateDays=30)
    assert kms.call("GetKeyRotationStatus", KeyId=kid)["KeyRotationEnabled"] is True
    m = kms.call("DescribeKey", KeyId=kid)["KeyMetadata"]
    assert m["KeyRotationEnabled"] is True and m["RotateDays"] == 30
    # Due 30 days after it was turned on.
    assert 29 * 86400 < m["NextRotateTime"] - m["CreateTime"] <= 30 * 86400 + 60
    kms.call("EnableKeyRotation", KeyId=kid)
    assert kms.call("DescribeKey", KeyId=kid)["KeyMetadata"]["RotateDays"] == 365
    kms.call("DisableKeyRotation", KeyId=kid)
    m = kms.call("DescribeKey", KeyId=kid)["KeyMetadata"]
    assert (m["KeyRotationEnabled"], m["NextRotateTime"]) == (False, 0)
    for days in (6, 366):
        with expect_tc_error("InvalidParameterValue", "RotateDays"):
            kms.call("EnableKeyRotation", KeyId=kid, RotateDays=days)
    with expect_tc_error("ResourceUnavailable.CmkNotFound"):
        kms.call("GetKeyRotationStatus", KeyId=str(uuid.uuid4()))
    kms.call("ScheduleKeyDeletion", KeyId=kid, PendingWindowInDays=7)
    with expect_tc_error("ResourceUnavailable.CmkStateNotSupport"):
        kms.call("EnableKeyRotation", KeyId=kid)


def test_encrypt_decrypt(kms):
    kid = kms.call("CreateKey", Alias=alias())["KeyId"]
    ctx = json.dumps({"team": "a", "env": "prod"})
    e = kms.call("Encrypt", KeyId=kid, Plaintext=b64(b"hello \x00 kms"), EncryptionContext=ctx)
    assert e["KeyId"] == kid
    d = kms.call("Decrypt", CiphertextBlob=e["CiphertextBlob"], EncryptionContext=json.dumps({"env": "prod", "team": "a"}))
    assert base64.b64decode(d["Plaintext"]) == b"hello \x00 kms" and d["KeyId"] == kid
    with expect_tc_error("InvalidParameterValue", "CiphertextBlob"):
        kms.call("Decrypt", CiphertextBlob=e["CiphertextBlob"])
    raw = bytearray(base64.b64decode(e["CiphertextBlob"]))
    raw[-1] ^= 0x80
    with expect_tc_error("InvalidParameterValue", "CiphertextBlob"):
        kms.call("Decrypt", CiphertextBlob=b64(bytes(raw)), EncryptionContext=ctx)

    g = kms.call("GenerateDataKey", KeyId=kid, KeySpec="AES_128")
    assert len(base64.b64decode(g["Plaintext"])) == 16
    assert kms.call("Decrypt", CiphertextBlob=g["CiphertextBlob"])["Plaintext"] == g["Plaintext"]
    other = kms.call("CreateKey", Alias=alias())["KeyId"]
    r = kms.call("ReEncrypt", CiphertextBlob=e["CiphertextBlob"], DestinationKeyId=other,
                 SourceEncryptionContext=ctx)
    assert (r["KeyId"], r["SourceKeyId"]) == (other, kid)
    assert base64.b64decode(kms.call("Decrypt", CiphertextBlob=r["CiphertextBlob"])["Plaintext"]) == b"hello \x00 kms"

    kms.call("DisableKey", KeyId=kid)
    with expect_tc_error("ResourceUnavailable.CmkDisabled"):
        kms.call("Decrypt", CiphertextBlob=e["CiphertextBlob"], EncryptionContext=ctx)
    with expect_tc_error("ResourceUnavailable.CmkDisabled"):
        kms.call("Encrypt", KeyId=kid, Plaintext=b64(b"x"))


def test_ssm_secret_under_a_kms_key(kms, tc, name):
    kid = kms.call("CreateKey", Alias=alias())["KeyId"]
    tc.call("CreateSecret", SecretName=name, VersionId="v1", SecretString="s3cret", KmsKeyId=kid)
    assert tc.call("DescribeSecret", SecretName=name)["KmsKeyId"] == kid
    kms.call("DisableKey", KeyId=kid)
    with expect_tc_error("FailedOperation.AccessKmsError"):
        tc.call("GetSecretValue", SecretName=name, VersionId="v1")
    kms.call("EnableKey", KeyId=kid)
    assert tc.call("GetSecretValue", SecretName=name, VersionId="v1")["SecretString"] == "s3cret"
    with expect_tc_error("UnsupportedOperation"):
        kms.call("ScheduleKeyDeletion", KeyId=kid, PendingWindowInDays=7)


def test_bad_inputs(coffer):
    kms = TcKms(coffer.endpoint, coffer.ak, coffer.sk)
    with expect_tc_error("ResourceUnavailable.CmkNotFound"):
        kms.call("DescribeKey", KeyId=str(uuid.uuid4()))
    with expect_tc_error("InvalidParameterValue", "Alias"):
        kms.call("CreateKey", Alias="bad alias!")
    with expect_tc_error("InvalidParameterValue", "Alias"):
        kms.call("CreateKey", Alias="kms-reserved")
    a = alias()
    kid = kms.call("CreateKey", Alias=a)["KeyId"]
    with expect_tc_error("FailedOperation.AliasExists"):
        kms.call("CreateKey", Alias=a)
    with expect_tc_error("InvalidParameterValue", "Plaintext"):
        kms.call("Encrypt", KeyId=kid, Plaintext=b64(b"x" * 4097))
    with expect_tc_error("InvalidParameterValue", "PendingWindowInDays"):
        kms.call("ScheduleKeyDeletion", KeyId=kid, PendingWindowInDays=31)
    with expect_tc_error("InvalidParameterValue", "NumberOfBytes"):
        kms.call("GenerateDataKey", KeyId=kid, NumberOfBytes=0)
    with expect_tc_error("UnsupportedOperation"):
        kms.call("CreateKey", Alias=alias(), KeyUsage="ASYMMETRIC_DECRYPT_RSA_2048")


def test_the_same_key_through_alibaba(kms, ali):
    a = alias()
    kid = kms.call("CreateKey", Alias=a)["KeyId"]
    assert ali.call("DescribeKey", KeyId="alias/" + a)["KeyMetadata"]["KeyId"] == kid
    e = ali.call("Encrypt", KeyId=kid, Plaintext=b64(b"shared"))
    assert base64.b64decode(kms.call("Decrypt", CiphertextBlob=e["CiphertextBlob"])["Plaintext"]) == b"shared"
