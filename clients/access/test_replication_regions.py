"""Replication requests through boto3 against coffer's region map: a replica Region that maps
onto the primary's coffer region (every region, with the default single region) is refused
with a clear error and changes nothing, as are requests about replicas a secret does not have.
A server with two coffer regions (`--region`) tells a replica region of its own apart."""
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
        coffer_binary(), tmp / "data", tmp / "coffer.log", ak, sk, extra_args=("--region", "west=us-west-2")))


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
    # us-west-2 is coffer region "west": past the region check, and refused as not available.
    refused(lambda: aws.replicate_secret_to_regions(SecretId=name, AddReplicaRegions=[{"Region": "us-west-2"}]),
            "InvalidRequestException", "another coffer region")
