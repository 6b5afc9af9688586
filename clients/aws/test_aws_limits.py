"""AWS's published rates (`--limits cloud`, or `--limit aws.rate.GROUP=N/s`) answer ThrottlingException,
which boto3 retries; the versions a secret keeps are pruned as AWS prunes them (the oldest
without a stage go first); and region ids map onto coffer regions through `--region`."""
import os
import secrets

import pytest
from botocore.exceptions import ClientError

from coffer_helpers import coffer_binary, spawn_coffer, stop_coffer, wait_ready
from aws_helpers import make_sm, name


@pytest.fixture(scope="module")
def throttled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("coffer-aws-limits")
    ak, sk = "AKIA" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30)
    srv = wait_ready(spawn_coffer(coffer_binary(), tmp / "data", tmp / "coffer.log", ak, sk,
                                  extra_args=("--limit", "aws.rate.GetSecretValue=2/min",
                                              "--limit", "aws.rate.SecretWrites=1/min"),
                                  env=dict(os.environ)))
    yield srv
    assert stop_coffer(srv) == []


def test_over_the_rate_is_throttling_exception(throttled):
    sm = make_sm(throttled)
    n = name()
    sm.create_secret(Name=n, SecretString="x")
    codes = []
    for _ in range(4):
        try:
            sm.get_secret_value(SecretId=n)
            codes.append("ok")
        except ClientError as e:
            codes.append(e.response["Error"]["Code"])
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert codes[:2] == ["ok", "ok"] and codes[2:] == ["ThrottlingException"] * 2
    # Writes share one group: the first put passes, an update right after is throttled.
    sm.put_secret_value(SecretId=n, SecretString="y")
    with pytest.raises(ClientError) as e:
        sm.update_secret(SecretId=n, SecretString="z")
    assert e.value.response["Error"]["Code"] == "ThrottlingException"
    # Other groups are not affected.
    sm.describe_secret(SecretId=n)


def test_unstaged_versions_are_pruned_oldest_first(sm):
    n = name()
    first = sm.create_secret(Name=n, SecretString="0")["VersionId"]
    ids = [first]
    for i in range(1, 30):
        ids.append(sm.put_secret_value(SecretId=n, SecretString=str(i))["VersionId"])
    kept = [v["VersionId"] for v in sm.list_secret_version_ids(SecretId=n, IncludeDeprecated=True)["Versions"]]
    assert first not in kept, "the oldest version without a stage is removed"
    assert ids[-1] in kept and ids[-2] in kept
    assert sm.get_secret_value(SecretId=n)["SecretString"] == "29"
    assert sm.get_secret_value(SecretId=n, VersionStage="AWSPREVIOUS")["SecretString"] == "28"


@pytest.fixture(scope="module")
def two_regions(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("coffer-aws-regions")
    ak, sk = "AKIA" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30)
    srv = wait_ready(spawn_coffer(coffer_binary(), tmp / "data", tmp / "coffer.log", ak, sk,
                                  extra_args=("--region", "east=us-east-1,us-east-2", "--region", "west=eu-west-1"),
                                  env=dict(os.environ)))
    yield srv
    assert stop_coffer(srv) == []


def test_region_ids_map_through_the_region_flag(two_regions):
    east, east2, west = (make_sm(two_regions, region=r) for r in ("us-east-1", "us-east-2", "eu-west-1"))
    n = name()
    arn = east.create_secret(Name=n, SecretString="east value")["ARN"]
    assert arn.startswith("arn:aws:secretsmanager:us-east-1:")
    # Another id of the same coffer region sees it (its ARN names the id it was asked with).
    g = east2.get_secret_value(SecretId=n)
    assert g["SecretString"] == "east value" and g["ARN"].startswith("arn:aws:secretsmanager:us-east-2:")
    assert east2.get_secret_value(SecretId=arn)["SecretString"] == "east value"
    # Another coffer region does not, by name or by the east ARN.
    for sid in (n, arn):
        with pytest.raises(ClientError) as e:
            west.get_secret_value(SecretId=sid)
        assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    west.create_secret(Name=n, SecretString="west value")
    assert west.get_secret_value(SecretId=n)["SecretString"] == "west value"
    assert east.get_secret_value(SecretId=n)["SecretString"] == "east value"
