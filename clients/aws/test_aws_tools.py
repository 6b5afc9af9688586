"""The AWS CLI (`aws secretsmanager ... --endpoint-url`), the aws-secretsmanager-caching client, and
secrets shared with the other dialects (written through Tencent's or Alibaba's SDK, read through
boto3, and back)."""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aws_secretsmanager_caching import SecretCache, SecretCacheConfig

from coffer_helpers import Gen2, secret_value
from aws_helpers import ACCOUNT, REGION, expect, make_sm, name
from tc_helpers import make_tc

AWS = str(Path(sys.executable).parent / "aws")


@pytest.fixture
def cli(coffer, tmp_path):
    if not os.path.exists(AWS) and not shutil.which("aws"):
        pytest.fail("the AWS CLI (awscli) is not installed")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "AWS_ACCESS_KEY_ID": coffer.ak,
        "AWS_SECRET_ACCESS_KEY": coffer.sk,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
    }

    def run(*args, ok=True):
        cmd = [AWS if os.path.exists(AWS) else "aws", "secretsmanager", *args,
               "--endpoint-url", "http://%s" % coffer.endpoint, "--output", "json"]
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        if ok:
            assert p.returncode == 0, p.stderr
            return json.loads(p.stdout) if p.stdout.strip() else {}
        assert p.returncode != 0, p.stdout
        return p.stderr

    return run


def test_cli_lifecycle(cli, sm):
    n = name("cli")
    v1, v2 = secret_value("cli one"), secret_value("cli two")
    r = cli("create-secret", "--name", n, "--secret-string", v1, "--description", "made by the CLI",
            "--tags", "Key=tool,Value=awscli")
    assert r["ARN"].startswith("arn:aws:secretsmanager:%s:%s:secret:%s-" % (REGION, ACCOUNT, n))
    assert cli("get-secret-value", "--secret-id", n)["SecretString"] == v1
    r2 = cli("put-secret-value", "--secret-id", r["ARN"], "--secret-string", v2)
    assert r2["VersionStages"] == ["AWSCURRENT"]
    assert sm.get_secret_value(SecretId=n)["SecretString"] == v2
    d = cli("describe-secret", "--secret-id", n)
    assert d["Description"] == "made by the CLI" and d["Tags"] == [{"Key": "tool", "Value": "awscli"}]
    listed = cli("list-secrets", "--filters", "Key=name,Values=%s" % n)
    assert [s["Name"] for s in listed["SecretList"]] == [n]
    vs = cli("list-secret-version-ids", "--secret-id", n)
    assert len(vs["Versions"]) == 2
    cli("tag-resource", "--secret-id", n, "--tags", "Key=env,Value=test")
    cli("untag-resource", "--secret-id", n, "--tag-keys", "tool")
    assert cli("describe-secret", "--secret-id", n)["Tags"] == [{"Key": "env", "Value": "test"}]
    cli("update-secret", "--secret-id", n, "--description", "changed")
    pw = cli("get-random-password", "--password-length", "20", "--exclude-punctuation")["RandomPassword"]
    assert len(pw) == 20 and pw.isalnum()
    cli("delete-secret", "--secret-id", n, "--recovery-window-in-days", "7")
    err = cli("get-secret-value", "--secret-id", n, ok=False)
    assert "InvalidRequestException" in err
    cli("restore-secret", "--secret-id", n)
    cli("delete-secret", "--secret-id", n, "--force-delete-without-recovery")
    err = cli("describe-secret", "--secret-id", n, ok=False)
    assert "ResourceNotFoundException" in err


def test_caching_client_reads_and_refreshes(coffer, sm):
    n = name("cache")
    sm.create_secret(Name=n, SecretString="first")
    cache = SecretCache(config=SecretCacheConfig(secret_refresh_interval=4), client=make_sm(coffer))
    assert cache.get_secret_string(n) == "first"
    sm.put_secret_value(SecretId=n, SecretString="second")
    # Served from the cache until the refresh interval passes, then read again.
    assert cache.get_secret_string(n) == "first"
    deadline = time.time() + 20
    while cache.get_secret_string(n) != "second":
        assert time.time() < deadline, "the cache never refreshed"
        time.sleep(0.3)
    assert cache.get_secret_string(n, version_stage="AWSPREVIOUS") == "first"
    m = name("cache-bin")
    sm.create_secret(Name=m, SecretBinary=b"\x01\x02")
    assert cache.get_secret_binary(m) == b"\x01\x02"


def test_written_through_tencent_read_through_aws_and_back(coffer, sm):
    tc = make_tc("tc3", coffer)
    n = name("tc")
    v1, v2 = secret_value("from tencent"), secret_value("from aws")
    tc.call("CreateSecret", SecretName=n, VersionId="v1", SecretString=v1, Description="tencent made it")
    g = sm.get_secret_value(SecretId=n)
    assert (g["SecretString"], g["VersionId"], g["VersionStages"]) == (v1, "v1", ["AWSCURRENT"])
    assert sm.describe_secret(SecretId=n)["Description"] == "tencent made it"
    t = "0" * 8 + "-aaaa-bbbb-cccc-" + "1" * 12
    sm.put_secret_value(SecretId=n, SecretString=v2, ClientRequestToken=t)
    assert tc.call("GetSecretValue", SecretName=n, VersionId=t)["SecretString"] == v2
    assert tc.call("GetSecretValue", SecretName=n, VersionId="SSM_Current")["SecretString"] == v2
    sm.delete_secret(SecretId=n, RecoveryWindowInDays=7)
    assert tc.call("DescribeSecret", SecretName=n)["Status"] == "PendingDelete"


def test_written_through_alibaba_read_through_aws(coffer, sm):
    ali = Gen2(coffer.endpoint, coffer.ak, coffer.sk)
    n = name("ali")
    v = secret_value("from alibaba")
    ali.call("CreateSecret", SecretName=n, VersionId="v1", SecretData=v)
    g = sm.get_secret_value(SecretId=n)
    assert (g["SecretString"], g["VersionStages"]) == (v, ["AWSCURRENT"])
    sm.put_secret_value(SecretId=n, SecretString="aws wrote this", VersionStages=["AWSCURRENT"])
    assert ali.call("GetSecretValue", SecretName=n)["SecretData"] == "aws wrote this"
    with expect("ResourceNotFoundException"):
        sm.describe_secret(SecretId=name("absent"))
