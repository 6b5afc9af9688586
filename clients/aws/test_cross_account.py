"""Cross-account replicas through boto3, between two coffer accounts of one server: the replica
account makes the replica (CreateSecret with CrossAccountPrimaryARN, which names the primary and
is its consent), the primary's owner associates it (AssociateCrossAccountReplica) and every
write of the primary reaches it, read-only, until DisassociateCrossAccountReplica detaches it;
StopReplicationToReplica then makes it standalone. Refusals: a replica naming another primary,
a replica in another Region, writes to a replica, unknown replicas, callers without the rights."""
import json
import secrets
import uuid

import pytest

from aws_helpers import REGION, expect, make_sm, name
from coffer_helpers import AdminCli, Gen2, coffer_binary, session_server, start_coffer

# The Alibaba region id that the regional server maps onto its `west` region.
ALI_WEST = "cn-shanghai"


class Account:
    """A coffer account made with the admin CLI, and boto3 clients of its keys."""

    def __init__(self, cli, server, label):
        self.cli, self.server = cli, server
        self.id = cli.json("account", "create", label + "-" + uuid.uuid4().hex[:6])["AccountId"]
        self.admin_key = self.key(admin=True)
        self.admin = self.client(self.admin_key)
        self.keys = {}

    def cmk(self, ali_region=None):
        """A customer managed key of the account (made through the Alibaba KMS API), which a
        cross-account replica must name."""
        if ali_region not in self.keys:
            args = (self.server.endpoint, self.admin_key["AccessKeyId"], self.admin_key["AccessKeySecret"])
            query = {"Description": "replica key"}
            if ali_region:
                query["RegionId"] = ali_region
            self.keys[ali_region] = Gen2(*args).call_api("CreateKey", query)["body"]["KeyMetadata"]["KeyId"]
        return self.keys[ali_region]

    def key(self, admin=False, policy=None):
        args = ["access-key", "create", "--account", self.id] + (["--admin"] if admin else [])
        k = self.cli.json(*args)
        if policy:
            pname = "p-" + uuid.uuid4().hex[:8]
            self.cli.ok("policy", "put", pname, "--account", self.id, "--document", "-", stdin=json.dumps(policy))
            self.cli.ok("policy", "attach", pname, "--access-key", k["AccessKeyId"])
        return k

    def client(self, k, region=REGION):
        return make_sm(self.server, k["AccessKeyId"], k["AccessKeySecret"], region=region)


@pytest.fixture(scope="module")
def two(coffer):
    cli = AdminCli(coffer)
    return Account(cli, coffer, "primary"), Account(cli, coffer, "replica")


def replica_of(client, arn, account, ali_region=None, **extra):
    n = name("replica")
    args = dict(Name=n, CrossAccountPrimaryARN=arn, KmsKeyId=account.cmk(ali_region))
    args.update(extra)
    return client.create_secret(**args)


def test_round_trip(two):
    a, b = two[0].admin, two[1].admin
    n = name("primary")
    primary = a.create_secret(Name=n, SecretString="first value")["ARN"]
    made = replica_of(b, primary, two[1])
    rn, replica = made["Name"], made["ARN"]
    assert replica.split(":")[4] != primary.split(":")[4]

    # Before association: the replica names its primary, is Pending and has no value.
    d = b.describe_secret(SecretId=rn)
    assert d["CrossAccountPrimary"]["PrimarySecretARN"] == primary
    assert d["CrossAccountPrimary"]["ReplicationStatus"] == "Pending"
    assert "VersionIdsToStages" not in d or d["VersionIdsToStages"] == {}
    with expect("ResourceNotFoundException"):
        b.get_secret_value(SecretId=rn)
    assert "CrossAccountReplicas" not in a.describe_secret(SecretId=n)

    r = a.associate_cross_account_replica(SecretId=n, CrossAccountReplicaARN=replica)
    assert (r["ARN"], r["CrossAccountReplicaARN"], r["ReplicationStatus"]) == (primary, replica, "InSync")
    got = b.get_secret_value(SecretId=rn)
    assert got["SecretString"] == "first value"
    assert got["VersionId"] == a.get_secret_value(SecretId=n)["VersionId"]
    [entry] = a.describe_secret(SecretId=n)["CrossAccountReplicas"]
    assert (entry["ReplicaSecretARN"], entry["ReplicationStatus"]) == (replica, "InSync")
    assert b.describe_secret(SecretId=rn)["CrossAccountPrimary"]["ReplicationStatus"] == "InSync"
    # Associating again changes nothing.
    again = a.associate_cross_account_replica(SecretId=n, CrossAccountReplicaARN=replica)
    assert again["ReplicationStatus"] == "InSync"

    # Every later write of the primary reaches the replica; its own metadata stays its own.
    v2 = a.put_secret_value(SecretId=n, SecretString="second value")["VersionId"]
    got = b.get_secret_value(SecretId=rn)
    assert (got["SecretString"], got["VersionId"]) == ("second value", v2)
    assert b.get_secret_value(SecretId=rn, VersionStage="AWSPREVIOUS")["SecretString"] == "first value"
    a.update_secret(SecretId=n, Description="the primary's description")
    assert "Description" not in b.describe_secret(SecretId=rn) or \
        b.describe_secret(SecretId=rn)["Description"] == ""
    a.update_secret_version_stage(SecretId=n, VersionStage="LABEL", MoveToVersionId=v2)
    assert b.get_secret_value(SecretId=rn, VersionStage="LABEL")["VersionId"] == v2

    # The replica takes no write of its own while associated.
    with expect("InvalidRequestException", 400, "cross-account replica"):
        b.put_secret_value(SecretId=rn, SecretString="mine")
    with expect("InvalidRequestException", 400, "cross-account replica"):
        b.update_secret(SecretId=rn, Description="mine")
    with expect("InvalidRequestException", 400, "cross-account replica"):
        b.delete_secret(SecretId=rn, ForceDeleteWithoutRecovery=True)
    with expect("InvalidRequestException", 400, "disassociate"):
        b.stop_replication_to_replica(SecretId=rn)
    # Nor is the primary deleted while it has one.
    with expect("InvalidRequestException", 400, "disassociate"):
        a.delete_secret(SecretId=n)
    with expect("InvalidRequestException", 400, "disassociate"):
        a.delete_secret(SecretId=n, ForceDeleteWithoutRecovery=True)
    # At most one cross-account replica per primary.
    other = replica_of(b, primary, two[1])["ARN"]
    with expect("LimitExceededException", 400, "at most one"):
        a.associate_cross_account_replica(SecretId=n, CrossAccountReplicaARN=other)

    # Disassociating: the replica stays, Detached, with what it had; updates stop.
    r = a.disassociate_cross_account_replica(SecretId=n, CrossAccountReplicaARN=replica)
    assert (r["ARN"], r["CrossAccountReplicaARN"]) == (primary, replica)
    assert "CrossAccountReplicas" not in a.describe_secret(SecretId=n)
    assert b.describe_secret(SecretId=rn)["CrossAccountPrimary"]["ReplicationStatus"] == "Detached"
    a.put_secret_value(SecretId=n, SecretString="third value")
    assert b.get_secret_value(SecretId=rn)["SecretString"] == "second value"
    # Detached is not standalone...
    with expect("InvalidRequestException", 400, "cross-account replica"):
        b.put_secret_value(SecretId=rn, SecretString="mine")
    # ...until StopReplicationToReplica makes it so.
    b.stop_replication_to_replica(SecretId=rn)
    assert "CrossAccountPrimary" not in b.describe_secret(SecretId=rn)
    b.put_secret_value(SecretId=rn, SecretString="mine now")
    assert b.get_secret_value(SecretId=rn)["SecretString"] == "mine now"
    assert a.get_secret_value(SecretId=n)["SecretString"] == "third value"
    # The other replica, Pending, can be deleted by its account; the primary now too.
    b.delete_secret(SecretId=other, ForceDeleteWithoutRecovery=True)
    a.delete_secret(SecretId=n, ForceDeleteWithoutRecovery=True)


def test_a_detached_replica_can_be_associated_again(two):
    a, b = two[0].admin, two[1].admin
    n = name("primary")
    primary = a.create_secret(Name=n, SecretString="one")["ARN"]
    replica = replica_of(b, primary, two[1])["ARN"]
    a.associate_cross_account_replica(SecretId=n, CrossAccountReplicaARN=replica)
    a.disassociate_cross_account_replica(SecretId=n, CrossAccountReplicaARN=replica)
    a.put_secret_value(SecretId=n, SecretString="two")
    # Detached, its account may schedule its deletion and cancel it (and nothing else).
    b.delete_secret(SecretId=replica, RecoveryWindowInDays=7)
    b.restore_secret(SecretId=replica)
    with expect("InvalidRequestException", 400, "cross-account replica"):
        b.tag_resource(SecretId=replica, Tags=[{"Key": "k", "Value": "v"}])
    a.associate_cross_account_replica(SecretId=n, CrossAccountReplicaARN=replica)
    assert b.get_secret_value(SecretId=replica)["SecretString"] == "two"
    assert b.get_secret_value(SecretId=replica, VersionStage="AWSPREVIOUS")["SecretString"] == "one"
    # Associated, not even that.
    with expect("InvalidRequestException", 400, "cross-account replica"):
        b.delete_secret(SecretId=replica, RecoveryWindowInDays=7)


def test_create_refusals(two):
    a, b = two[0].admin, two[1].admin
    primary = a.create_secret(Name=name("primary"), SecretString="x")["ARN"]
    with expect("InvalidParameterException", 400, "KmsKeyId"):
        b.create_secret(Name=name(), CrossAccountPrimaryARN=primary)
    # The AWS managed key is no customer managed key.
    with expect("InvalidParameterException", 400, "KmsKeyId"):
        b.create_secret(Name=name(), CrossAccountPrimaryARN=primary, KmsKeyId="alias/aws/secretsmanager")
    for extra in ({"SecretString": "v"}, {"SecretBinary": b"v"}, {"Description": "d"},
                  {"Type": "t"}, {"AddReplicaRegions": [{"Region": "eu-west-1"}]}):
        field = next(iter(extra))
        with expect("InvalidParameterException", 400, field):
            replica_of(b, primary, two[1], **extra)
    with expect("InvalidParameterException", 400, "another account"):
        replica_of(a, primary, two[0])
    with expect("InvalidParameterException", 400, "ARN"):
        replica_of(b, "arn:aws:kms:us-east-1:123456789012:key/abcd", two[1])


def test_association_refusals(two, coffer):
    (pa, pb), (a, b) = two, (two[0].admin, two[1].admin)
    n = name("primary")
    primary = a.create_secret(Name=n, SecretString="x")["ARN"]
    elsewhere = a.create_secret(Name=name("other"), SecretString="y")["ARN"]
    # A replica naming another primary, a plain secret, a secret that does not exist: refused
    # alike, and nothing changes.
    wrong = replica_of(b, elsewhere, two[1])["ARN"]
    plain = b.create_secret(Name=name("plain"), SecretString="z")["ARN"]
    for arn in (wrong, plain, plain[:-6] + "zzzzzz", plain.replace(plain.split(":")[4], "999999999999")):
        with expect("InvalidParameterException", 400, "CrossAccountReplicaARN") as e:
            a.associate_cross_account_replica(SecretId=n, CrossAccountReplicaARN=arn)
        # One message whatever the reason, so nothing is learnt about the other account.
        assert e.error["Message"].replace(arn, "ARN") == \
            "Invalid CrossAccountReplicaARN: ARN is not a secret made as a cross-account replica of %s " \
            "(CreateSecret with CrossAccountPrimaryARN naming this secret)" % n, e.error
    assert "CrossAccountReplicas" not in a.describe_secret(SecretId=n)
    assert b.describe_secret(SecretId=wrong)["CrossAccountPrimary"]["ReplicationStatus"] == "Pending"
    # A secret of the caller's own account is no cross-account replica.
    with expect("InvalidParameterException", 400, "another account"):
        a.associate_cross_account_replica(SecretId=n, CrossAccountReplicaARN=elsewhere)
    # Disassociating a replica the primary does not have.
    with expect("InvalidParameterException", 400, "no cross-account replica"):
        a.disassociate_cross_account_replica(SecretId=n, CrossAccountReplicaARN=wrong)
    with expect("ResourceNotFoundException"):
        a.disassociate_cross_account_replica(SecretId=name("missing"), CrossAccountReplicaARN=wrong)
    with expect("ResourceNotFoundException"):
        a.associate_cross_account_replica(SecretId=name("missing"), CrossAccountReplicaARN=wrong)

    # Authorization: the primary's values leave for another account, so reading them is part
    # of associating; the replica's account cannot associate on the primary's behalf.
    right = replica_of(b, primary, two[1])["ARN"]
    no_read = pa.client(pa.key(policy={"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "secrets:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "secrets:GetValue", "Resource": "*"}]}))
    with expect("AccessDeniedException"):
        no_read.associate_cross_account_replica(SecretId=n, CrossAccountReplicaARN=right)
    with expect("AccessDeniedException"):
        pa.client(pa.key()).associate_cross_account_replica(SecretId=n, CrossAccountReplicaARN=right)
    with expect("AccessDeniedException"):
        b.associate_cross_account_replica(SecretId=primary, CrossAccountReplicaARN=right)
    assert b.describe_secret(SecretId=right)["CrossAccountPrimary"]["ReplicationStatus"] == "Pending"
    a.associate_cross_account_replica(SecretId=n, CrossAccountReplicaARN=right)
    with expect("AccessDeniedException"):
        b.disassociate_cross_account_replica(SecretId=primary, CrossAccountReplicaARN=right)
    a.disassociate_cross_account_replica(SecretId=n, CrossAccountReplicaARN=right)


@pytest.fixture(scope="module")
def regional(tmp_path_factory):
    """A server whose us-west-2 is a coffer region of its own."""
    tmp = tmp_path_factory.mktemp("coffer-xacct-regions")
    ak, sk = "AKXR" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30)[:40]
    yield from session_server("xacct-regions", lambda: start_coffer(
        coffer_binary(), tmp / "data", tmp / "coffer.log", ak, sk, extra_args=("--region", "west=us-west-2," + ALI_WEST)))


def test_a_replica_in_another_region(regional):
    cli = AdminCli(regional)
    pa, pb = Account(cli, regional, "primary"), Account(cli, regional, "replica")
    east = pa.admin
    b_east, b_west = pb.admin, pb.client(pb.admin_key, region="us-west-2")
    n = name("primary")
    primary = east.create_secret(Name=n, SecretString="x")["ARN"]
    # The replica must be in the primary's Region.
    with expect("InvalidParameterException", 400, "Region"):
        replica_of(b_west, primary, pb, ALI_WEST)
    # A west replica of a west primary exists, but is not in this primary's Region.
    west_primary = pa.client(pa.key(admin=True), region="us-west-2").create_secret(
        Name=n, SecretString="w")["ARN"]
    west_replica = replica_of(b_west, west_primary, pb, ALI_WEST)["ARN"]
    with expect("InvalidParameterException", 400, "Region"):
        east.associate_cross_account_replica(SecretId=n, CrossAccountReplicaARN=west_replica)
    # In the same Region it works.
    ok = replica_of(b_east, primary, pb)["ARN"]
    assert east.associate_cross_account_replica(SecretId=n, CrossAccountReplicaARN=ok)["ReplicationStatus"] == "InSync"
    assert b_east.get_secret_value(SecretId=ok)["SecretString"] == "x"
