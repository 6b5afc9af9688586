"""Session fixture that runs ONE real `coffer` server for the Tencent SSM suite, plus client factories
(the official tencentcloud-sdk-python-ssm in each signing flavour, hand-signed raw requests, tccli, and
the Alibaba SDK on the same server for the cross-dialect tests).

The server helpers (start/stop, log checks) are shared with clients/alibaba/coffer_helpers.py.

Environment (as for the Alibaba suite):
  COFFER_BIN               path of the binary (default <repo>/target/release/coffer)
  COFFER_TEST_ENDPOINT     use an already running server at host:port instead of starting one
  COFFER_TEST_ACCESS_KEY_ID / COFFER_TEST_ACCESS_KEY_SECRET   its admin key (with COFFER_TEST_ENDPOINT)
"""
import os
import re
import secrets
import sys
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
for _p in (str(_HERE), str(_HERE.parent / "alibaba")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from coffer_helpers import (REGION as ALI_REGION, CofferServer, Gen1, Gen2,  # noqa: E402
                            coffer_binary, session_server, start_coffer)
from tc_helpers import Tc, Tccli, TcRaw, make_tc, tc_name  # noqa: E402


@pytest.fixture(scope="session")
def coffer(tmp_path_factory):
    """`coffer serve` for the whole Tencent session; SIGTERM at the end, then the log is checked for
    panics and leaked secret values and the data dir for plaintext values."""
    external = os.environ.get("COFFER_TEST_ENDPOINT")
    if external:
        srv = CofferServer(external, os.environ["COFFER_TEST_ACCESS_KEY_ID"],
                           os.environ["COFFER_TEST_ACCESS_KEY_SECRET"])
        yield srv
        return

    binary = coffer_binary()
    tmp = tmp_path_factory.mktemp("coffer-tc")
    # the bootstrap admin key is the Alibaba AccessKey and the Tencent SecretId/SecretKey alike
    ak, sk = "AKID" + secrets.token_hex(16), secrets.token_urlsafe(24)
    yield from session_server("tencent", lambda: start_coffer(binary, tmp / "data", tmp / "coffer.log", ak, sk))


# ----------------------------------------------------------------------------- Tencent clients
@pytest.fixture
def tc(coffer):
    """SsmClient, TC3-HMAC-SHA256, POST JSON (the SDK's default)."""
    return make_tc("tc3", coffer)


@pytest.fixture
def tc_get(coffer):
    """SsmClient with HttpProfile(reqMethod="GET"): TC3 over GET with flattened query parameters."""
    return make_tc("tc3get", coffer)


@pytest.fixture
def tc_v1(coffer):
    """SsmClient with ClientProfile(signMethod="HmacSHA256"): legacy v1 form signature."""
    return make_tc("v1sha256", coffer)


@pytest.fixture
def tc_v1sha1(coffer):
    """SsmClient with ClientProfile(signMethod="HmacSHA1")."""
    return make_tc("v1sha1", coffer)


@pytest.fixture(params=Tc.KINDS)
def tc_any(request, coffer):
    """The same test through every request shape the SDK can produce."""
    return make_tc(request.param, coffer)


@pytest.fixture
def raw(coffer):
    return TcRaw(coffer)


@pytest.fixture(scope="session")
def cli_home(tmp_path_factory):
    return tmp_path_factory.mktemp("tccli-home")


@pytest.fixture
def cli(coffer, cli_home):
    return Tccli(coffer, cli_home)


@pytest.fixture
def name():
    return tc_name("tc")


# ----------------------------------------------------------------------------- Alibaba on the same server
@pytest.fixture
def ali(coffer):
    """alibabacloud-kms20160120 (ACS3) on the same server and the same admin key."""
    return Gen2(coffer.endpoint, coffer.ak, coffer.sk)


@pytest.fixture
def ali1(coffer):
    """aliyun-python-sdk-core (RPC v1) on the same server."""
    return Gen1(coffer.endpoint, coffer.ak, coffer.sk)


@pytest.fixture(scope="session")
def account(coffer):
    """The admin key's account id, learnt through the Alibaba dialect (the ARN of a probe secret)."""
    g = Gen2(coffer.endpoint, coffer.ak, coffer.sk)
    n = tc_name("acct")
    created = g.call("CreateSecret", SecretName=n, VersionId="v1", SecretData="account probe")
    m = re.match(r"^acs:kms:%s:([0-9]+):secret/%s$" % (re.escape(ALI_REGION), re.escape(n)), created.get("Arn", ""))
    assert m, "unexpected Arn %r" % created.get("Arn")
    g.call("DeleteSecret", SecretName=n, ForceDeleteWithoutRecovery="true")
    return m.group(1)
