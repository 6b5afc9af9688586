"""Replication through boto3: a replica Region that maps onto the primary's coffer region
(every region, with the default single region) is refused with a clear error and changes
nothing, as are requests about replicas a secret does not have. On a server with two coffer
regions (`--region west=us-west-2`) a replica is the secret in the other region, kept in step
with every write of the primary, read-only, removable and promotable."""
import secrets

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from coffer_helpers import coffer_binary, session_server, start_coffer


def client(server, region):
    return boto3.client(
        "secretsmanager", endpoint_url="http://" + server.endpoint, region_name=region,
        aws_access_key_id=server.ak, aws_secret_access_key=server.sk,
        config=Config(retries={"max_attempts": 1}))


def refused(call, code, *fragments):
    with pytest.raises(ClientError) as e:
        call()
    err = e.value.response["Error"]
    assert err["Code"] == code, err
    for f in fragments:
        assert f in err["Message"], err


@pytest.fixture(scope="module")
def regional(tmp_path_factory):
    """A server whose us-west-2 is a coffer region of its own; every other id is `default`."""
    tmp = tmp_path_factory.mktemp("coffer-regions")
    ak, sk = "AKRG" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30)[:40]
    yield from session_server("regions", lambda: start_coffer(
        coffer_binary(), tmp / "data", tmp / "coffer.log", ak, sk, extra_args=("--region", "west=us-west-2,us-west-1")))


def make_secret(server, name):
    # Made through the Alibaba API, whose region ids all map to the default region.
    from coffer_helpers import Gen2
    Gen2(server.endpoint, server.ak, server.sk).call("CreateSecret", SecretName=name, VersionId="v1",
                                                       SecretData="x")


def test_single_region_refuses_every_replica(coffer, name):
    make_secret(coffer, name)
    aws = client(coffer, "us-east-1")
    refused(lambda: aws.replicate_secret_to_regions(SecretId=name, AddReplicaRegions=[{"Region": "eu-west-1"}]),
            "InvalidParameterException", "eu-west-1", "same", "--region")
    refused(lambda: aws.replicate_secret_to_regions(
        SecretId=name, AddReplicaRegions=[{"Region": "eu-west-1"}, {"Region": "eu-west-1"}]),
        "InvalidParameterException", "more than once")
    refused(lambda: aws.replicate_secret_to_regions(SecretId=name + "-missing",
                                                    AddReplicaRegions=[{"Region": "eu-west-1"}]),
            "ResourceNotFoundException")
    refused(lambda: aws.replicate_secret_to_regions(SecretId=name, AddReplicaRegions=[{"Region": "EU"}]),
            "ValidationException")


def test_a_secret_without_replicas(coffer, name):
    make_secret(coffer, name)
    aws = client(coffer, "us-east-1")
    refused(lambda: aws.remove_regions_from_replication(SecretId=name, RemoveReplicaRegions=["eu-west-1"]),
            "InvalidParameterException", "no replica", "eu-west-1")
    refused(lambda: aws.stop_replication_to_replica(SecretId=name), "InvalidRequestException", "not a replica")


def test_a_region_of_its_own_is_told_apart(regional):
    name = "rep-" + secrets.token_hex(4)
    make_secret(regional, name)
    aws = client(regional, "us-east-1")
    # eu-west-1 is unmapped: the default region, the primary's own.
    refused(lambda: aws.replicate_secret_to_regions(SecretId=name, AddReplicaRegions=[{"Region": "eu-west-1"}]),
            "InvalidParameterException", "same")
    # Two ids of one coffer region are one replica at most.
    refused(lambda: aws.replicate_secret_to_regions(
        SecretId=name, AddReplicaRegions=[{"Region": "us-west-2"}, {"Region": "us-west-1"}]),
        "InvalidParameterException", "same coffer region")


def test_a_replica_is_kept_in_step_and_read_only(regional):
    name = "rep-" + secrets.token_hex(4)
    east, west = client(regional, "us-east-1"), client(regional, "us-west-2")
    arn = east.create_secret(Name=name, SecretString="v1", Description="first",
                             Tags=[{"Key": "team", "Value": "a"}])["ARN"]
    r = east.replicate_secret_to_regions(SecretId=name, AddReplicaRegions=[{"Region": "us-west-2"}])
    assert r["ARN"] == arn
    [status] = r["ReplicationStatus"]
    assert status["Region"] == "us-west-2" and status["Status"] == "InSync" and status["KmsKeyId"]
    # The replica reads the same in its own region, and names its primary's region.
    assert west.get_secret_value(SecretId=name)["SecretString"] == "v1"
    d = west.describe_secret(SecretId=name)
    assert d["PrimaryRegion"] == "us-east-1" and d["Description"] == "first"
    assert d["ARN"].split(":")[3] == "us-west-2"
    assert east.describe_secret(SecretId=name)["ReplicationStatus"][0]["Region"] == "us-west-2"
    # ListSecrets entries carry no ReplicationStatus in the model; a replica's names its primary.
    listed = [s for s in west.list_secrets()["SecretList"] if s["Name"] == name]
    assert listed[0]["PrimaryRegion"] == "us-east-1"

    # Every write of the primary reaches it: values, stages, description, tags.
    v2 = east.put_secret_value(SecretId=name, SecretString="v2")["VersionId"]
    east.update_secret(SecretId=name, Description="second")
    east.tag_resource(SecretId=name, Tags=[{"Key": "env", "Value": "prod"}])
    got = west.get_secret_value(SecretId=name)
    assert got["SecretString"] == "v2" and got["VersionId"] == v2
    assert west.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")["SecretString"] == "v1"
    d = west.describe_secret(SecretId=name)
    assert d["Description"] == "second"
    assert {t["Key"]: t["Value"] for t in d["Tags"]} == {"team": "a", "env": "prod"}
    assert d["VersionIdsToStages"] == east.describe_secret(SecretId=name)["VersionIdsToStages"]

    # Writes to the replica are refused, and change nothing.
    refused(lambda: west.put_secret_value(SecretId=name, SecretString="sneaky"),
            "InvalidRequestException", "read-only replica", "us-east-1")
    refused(lambda: west.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True),
            "InvalidRequestException", "read-only replica")
    assert west.get_secret_value(SecretId=name)["SecretString"] == "v2"

    # A deletion window on the primary is the replica's too; a restore restores both.
    east.delete_secret(SecretId=name, RecoveryWindowInDays=7)
    assert "DeletedDate" in west.describe_secret(SecretId=name)
    east.restore_secret(SecretId=name)
    assert "DeletedDate" not in west.describe_secret(SecretId=name)

    # Removing the region deletes the replica.
    r = east.remove_regions_from_replication(SecretId=name, RemoveReplicaRegions=["us-west-2"])
    assert r["ReplicationStatus"] == []
    refused(lambda: west.get_secret_value(SecretId=name), "ResourceNotFoundException")
    assert "ReplicationStatus" not in east.describe_secret(SecretId=name)

    # Replicated again and promoted: the former replica is a secret of its own.
    east.replicate_secret_to_regions(SecretId=name, AddReplicaRegions=[{"Region": "us-west-2"}])
    refused(lambda: east.stop_replication_to_replica(SecretId=name), "InvalidRequestException", "not a replica")
    west.stop_replication_to_replica(SecretId=name)
    west.put_secret_value(SecretId=name, SecretString="west only")
    assert east.get_secret_value(SecretId=name)["SecretString"] == "v2"
    assert "ReplicationStatus" not in east.describe_secret(SecretId=name)

    # Deleting a primary deletes its replicas with it.
    other = name + "-b"
    east.create_secret(Name=other, SecretString="b")
    east.replicate_secret_to_regions(SecretId=other, AddReplicaRegions=[{"Region": "us-west-2"}])
    east.delete_secret(SecretId=other, ForceDeleteWithoutRecovery=True)
    refused(lambda: west.get_secret_value(SecretId=other), "ResourceNotFoundException")


def test_a_name_taken_in_the_replica_region(regional):
    name = "rep-" + secrets.token_hex(4)
    east, west = client(regional, "us-east-1"), client(regional, "us-west-2")
    east.create_secret(Name=name, SecretString="primary")
    west.create_secret(Name=name, SecretString="already here")
    [status] = east.replicate_secret_to_regions(
        SecretId=name, AddReplicaRegions=[{"Region": "us-west-2"}])["ReplicationStatus"]
    assert status["Status"] == "Failed" and "already exists" in status["StatusMessage"]
    assert west.get_secret_value(SecretId=name)["SecretString"] == "already here"
    [status] = east.replicate_secret_to_regions(
        SecretId=name, AddReplicaRegions=[{"Region": "us-west-2"}],
        ForceOverwriteReplicaSecret=True)["ReplicationStatus"]
    assert status["Status"] == "InSync"
    assert west.get_secret_value(SecretId=name)["SecretString"] == "primary"
    refused(lambda: east.replicate_secret_to_regions(SecretId=name, AddReplicaRegions=[{"Region": "us-west-2"}]),
            "InvalidParameterException", "already has a replica")
