"""Secret policies (stored verbatim) and rotation APIs on Generic secrets (Coffer decisions)."""
import json

from coffer_helpers import expect_error, raw_error, secret_value

POLICY = json.dumps({"Version": "1", "Statement": [{"Sid": "s1", "Effect": "Allow",
                                                    "Principal": {"RAM": ["acs:ram::1234:role/app"]},
                                                    "Action": ["kms:GetSecretValue"], "Resource": ["*"]}]})


def test_rotate_generic_secret_unsupported(api, name):
    api.call("CreateSecret", SecretName=name, VersionId="v1", SecretData=secret_value())
    with expect_error(400, "UnsupportedOperation"):
        api.call("RotateSecret", SecretName=name, VersionId="r1")


def test_rotation_policy_on_generic(api, name):
    api.call("CreateSecret", SecretName=name, VersionId="v1", SecretData=secret_value())
    with expect_error(400, "UnsupportedOperation"):
        api.call("UpdateSecretRotationPolicy", SecretName=name, EnableAutomaticRotation=True,
                 RotationInterval="7d")
    r = api.call("UpdateSecretRotationPolicy", SecretName=name, EnableAutomaticRotation=False)
    assert r["SecretName"] == name
    d = api.call("DescribeSecret", SecretName=name)
    assert d.get("AutomaticRotation", "Disabled") == "Disabled"


def test_secret_policy_roundtrip(api, name):
    api.call("CreateSecret", SecretName=name, VersionId="v1", SecretData=secret_value(), Policy=POLICY)
    got = api.call("GetSecretPolicy", SecretName=name, PolicyName="default")
    assert json.loads(got["Policy"]) == json.loads(POLICY)
    new = json.dumps({"Version": "1", "Statement": []})
    api.call("SetSecretPolicy", SecretName=name, PolicyName="default", Policy=new)
    assert json.loads(api.call("GetSecretPolicy", SecretName=name)["Policy"]) == {"Version": "1", "Statement": []}


def test_secret_policy_must_be_json(api, name):
    api.call("CreateSecret", SecretName=name, VersionId="v1", SecretData=secret_value())
    with expect_error(400, "InvalidParameter", "Policy"):
        api.call("SetSecretPolicy", SecretName=name, PolicyName="default", Policy="{not json")


def test_update_secret_extended_config_json_on_generic(raw, name):
    assert raw.rpc("CreateSecret", {"SecretName": name, "VersionId": "v1", "SecretData": "x"}).status_code == 200
    resp = raw.rpc("UpdateSecret", {"SecretName": name, "ExtendedConfig": '{"CustomData": {"a": "b"}}'})
    raw_error(resp, 400, "InvalidParameter")
    resp = raw.rpc("UpdateSecret", {"SecretName": name, "ExtendedConfig.CustomData.a": "b"})
    raw_error(resp, 400, "InvalidParameter")
