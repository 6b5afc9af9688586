"""`coffer admin rewrap` on a running server (DESIGN.md section 4): a new root key file replaces the
old one, key material and every secret's data key move under the newest keys, values stay as they
were, and the old root key opens nothing afterwards. Secrets are made through all three dialects;
a rewrap left unfinished by a crash is resumed."""
import base64
import json
import os
import secrets
import subprocess

import pytest

from coffer_helpers import Gen2, coffer_binary, log_problems, stop_coffer
from hw_helpers import Hw, random_project_id, start_coffer_hw
from tc_helpers import Tc

REGION_HW = "hw-keys"


class Node:
    """One data dir; servers come and go on it."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.data = tmp / "data"
        self.ak, self.sk = "AKRW" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30)[:40]
        self.project = random_project_id()
        self.srv = None
        self.starts = 0

    def start(self, extra_args=(), expect_ready=True):
        self.starts += 1
        srv = start_coffer_hw(coffer_binary(), self.data, self.tmp / ("coffer-%d.log" % self.starts), self.ak,
                              self.sk, project_id=self.project, default_region=REGION_HW,
                              extra_args=list(extra_args), expect_ready=expect_ready)
        if expect_ready:
            self.srv = srv
        return srv

    def stop(self):
        problems = stop_coffer(self.srv)
        problems += log_problems(self.srv.log_text(), self.sk)
        assert not problems, problems
        self.srv = None

    def cli(self, *args):
        env = {k: v for k, v in os.environ.items() if not k.startswith("COFFER_")}
        env.update(COFFER_ENDPOINT="http://" + self.srv.endpoint, COFFER_ACCESS_KEY_ID=self.ak,
                   COFFER_ACCESS_KEY_SECRET=self.sk)
        r = subprocess.run([str(coffer_binary()), *args, "--json"], capture_output=True, text=True, env=env,
                           timeout=120)
        assert r.returncode == 0, "coffer %s failed: %s" % (" ".join(args), r.stderr)
        return json.loads(r.stdout)

    def ali(self):
        return Gen2(self.srv.endpoint, self.ak, self.sk)

    def tc(self):
        return Tc(self.srv.endpoint, self.ak, self.sk)

    def hw(self):
        return Hw(self.srv.endpoint, self.ak, self.sk, self.project)


def seed(node):
    """Secrets through each dialect, on the default key and on a customer key, and a KMS blob.
    Returns what reading them back must give."""
    ali = node.ali()
    key = ali.call("CreateKey", Description="rewrap test")["KeyMetadata"]["KeyId"]
    ali.call("CreateSecret", SecretName="ali-default", VersionId="v1", SecretData="alibaba one")
    ali.call("CreateSecret", SecretName="ali-custom", VersionId="v1", SecretData="alibaba two",
             EncryptionKeyId=key)
    ali.call("PutSecretValue", SecretName="ali-custom", VersionId="v2", SecretData="alibaba three")
    node.tc().call("CreateSecret", SecretName="tc-custom", VersionId="v1", SecretString="tencent one",
                   KmsKeyId=key)
    node.hw().call("create_secret", body={"name": "hw-default", "secret_string": "huawei one"})
    blob = ali.call("Encrypt", KeyId=key, Plaintext=base64.b64encode(b"kms blob").decode())["CiphertextBlob"]
    return key, blob


def check_all(node, key, blob):
    ali = node.ali()
    assert ali.call("GetSecretValue", SecretName="ali-default")["SecretData"] == "alibaba one"
    assert ali.call("GetSecretValue", SecretName="ali-custom")["SecretData"] == "alibaba three"
    assert ali.call("GetSecretValue", SecretName="ali-custom", VersionId="v1")["SecretData"] == "alibaba two"
    assert node.tc().call("GetSecretValue", SecretName="tc-custom", VersionId="v1")["SecretString"] == "tencent one"
    got = node.hw().call("show_secret_version", secret_name="hw-default", version_id="latest")
    assert got["version"]["secret_string"] == "huawei one"
    opened = ali.call("Decrypt", CiphertextBlob=blob)
    assert (opened["KeyId"], base64.b64decode(opened["Plaintext"])) == (key, b"kms blob")


def test_rewrap_renews_every_key_and_the_old_root_key_opens_nothing(tmp_path):
    node = Node(tmp_path)
    node.start()
    key, blob = seed(node)
    ali = node.ali()
    # Material rotated by hand, so that some data keys sit under an older version.
    first = ali.call("DescribeKey", KeyId=key)["KeyMetadata"]["PrimaryKeyVersion"]
    second = ali.call("CreateKeyVersion", KeyId=key)["KeyVersion"]["KeyVersionId"]
    assert second != first
    old_root = (node.data / "root.key").read_bytes()

    status = node.cli("admin", "rewrap", "--new-key-material")
    assert status["State"] == "done", status
    assert status["NewRootKey"] and not status["RootRotationPending"] and status["Error"] is None
    assert status["KeysRotated"] >= 2, status  # the default key and the customer key
    assert status["RootWrappedMoved"] >= 4, status  # key versions and the admin access key
    assert status["DataKeysMoved"] >= 5, status  # every version of every secret
    assert (node.data / "root.key").read_bytes() != old_root
    assert not (node.data / "root.key.next").exists()
    # The server kept serving and reads everything, old blobs included.
    check_all(node, key, blob)
    versions = ali.call("ListKeyVersions", KeyId=key)["KeyVersions"]["KeyVersion"]
    assert len(versions) == 3 and versions[0]["KeyVersionId"] == first
    primary = ali.call("DescribeKey", KeyId=key)["KeyMetadata"]["PrimaryKeyVersion"]
    assert primary == versions[2]["KeyVersionId"]
    # Data keys of secrets sit under the newest material now: the audit shows no failure, and
    # a second rewrap finds nothing left to move.
    again = node.cli("admin", "rewrap", "--keep-root-key")
    assert (again["State"], again["DataKeysMoved"], again["RootWrappedMoved"]) == ("done", 0, 0), again
    node.stop()

    # The old root key opens nothing: a server given it refuses to start and says why.
    old_file = tmp_path / "old-root.key"
    old_file.write_bytes(old_root)
    old_file.chmod(0o600)
    code, log = node.start(extra_args=["--root-key-file", str(old_file)], expect_ready=False)
    assert code != 0 and "root key does not" in log, log[-2000:]
    # The installed key serves everything after a restart.
    node.start()
    check_all(node, key, blob)
    node.stop()


def test_a_rotation_left_unfinished_is_resumed(tmp_path):
    node = Node(tmp_path)
    node.start()
    key, blob = seed(node)
    node.stop()
    # A rotation that died right after writing its new key file, before moving anything. The
    # server writes it 0600 like root.key, and trusts it only with root.key's owner and mode.
    nxt = base64.b64encode(os.urandom(32))
    (node.data / "root.key.next").write_bytes(nxt)
    os.chmod(node.data / "root.key.next", 0o600)
    node.start()
    assert "left unfinished" in node.srv.log_text()
    assert node.cli("admin", "rewrap-status")["RootRotationPending"] is True
    check_all(node, key, blob)
    # Written now, under the new key already.
    node.ali().call("CreateSecret", SecretName="during", VersionId="v1", SecretData="while pending")

    status = node.cli("admin", "rewrap", "--keep-root-key")
    assert status["State"] == "done" and status["NewRootKey"] is True, status
    assert status["RootWrappedMoved"] >= 2, status
    assert not (node.data / "root.key.next").exists()
    assert (node.data / "root.key").read_bytes() == nxt
    node.stop()
    node.start()
    check_all(node, key, blob)
    assert node.ali().call("GetSecretValue", SecretName="during")["SecretData"] == "while pending"
    node.stop()


def test_root_key_from_the_environment_cannot_be_rotated(tmp_path):
    node = Node(tmp_path)
    env_key = base64.b64encode(os.urandom(32)).decode()
    node.srv = start_coffer_hw(coffer_binary(), node.data, tmp_path / "env.log", node.ak, node.sk,
                               project_id=node.project, default_region=REGION_HW,
                               extra_env={"COFFER_ROOT_KEY": env_key})
    env = {k: v for k, v in os.environ.items() if not k.startswith("COFFER_")}
    env.update(COFFER_ENDPOINT="http://" + node.srv.endpoint, COFFER_ACCESS_KEY_ID=node.ak,
               COFFER_ACCESS_KEY_SECRET=node.sk)
    r = subprocess.run([str(coffer_binary()), "admin", "rewrap"], capture_output=True, text=True, env=env,
                       timeout=60)
    assert r.returncode != 0 and "COFFER_ROOT_KEY" in r.stderr, r.stderr
    # Moving data keys under the newest material needs no new root key.
    status = node.cli("admin", "rewrap", "--keep-root-key")
    assert status["State"] == "done" and status["NewRootKey"] is False, status
    node.stop()
