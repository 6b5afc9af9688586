"""Session fixture that runs ONE real `coffer` server for the AWS Secrets Manager suite, and client
factories: boto3's secretsmanager client (signature checks and all, as an application uses it),
one with botocore's own parameter validation off (so that the server's validation is what
answers), the AWS CLI, and the Tencent SDK on the same server for the cross-dialect tests.

The bootstrap account gets the AWS account id 123456789012 (COFFER_BOOTSTRAP_AWS_ACCOUNT_ID), as
test suites written for moto expect.

Environment (as for the other suites):
  COFFER_BIN               path of the binary (default <repo>/target/release/coffer)
"""
import os
import secrets
import sys
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
for _p in (str(_HERE), str(_HERE.parent / "alibaba"), str(_HERE.parent / "tencent")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from aws_helpers import ACCOUNT, make_sm  # noqa: E402
from coffer_helpers import coffer_binary, session_server, spawn_coffer, wait_ready  # noqa: E402


@pytest.fixture(scope="session")
def coffer(tmp_path_factory):
    binary = coffer_binary()
    tmp = tmp_path_factory.mktemp("coffer-aws")
    ak, sk = "AKIA" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30)
    env = dict(os.environ, COFFER_BOOTSTRAP_AWS_ACCOUNT_ID=ACCOUNT)

    def start():
        return wait_ready(spawn_coffer(binary, tmp / "data", tmp / "coffer.log", ak, sk, env=env))

    yield from session_server("aws", start)


@pytest.fixture
def sm(coffer):
    return make_sm(coffer)


@pytest.fixture
def sm_raw(coffer):
    """boto3 without its own parameter validation: the server's checks answer."""
    return make_sm(coffer, validate=False)
