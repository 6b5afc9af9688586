"""Session fixture that runs ONE real `coffer` server for the Huawei Cloud CSMS suite, plus client
factories (the official huaweicloudsdkcsms CsmsClient, hand-signed raw requests, and the Alibaba SDKs on
the same server for the cross-dialect tests).

The server helpers (ports, log checks) are shared with clients/alibaba/coffer_helpers.py.

The server is started with
  COFFER_BOOTSTRAP_ACCESS_KEY_ID / _SECRET   the admin key (also the Huawei AK/SK)
  COFFER_BOOTSTRAP_HUAWEI_PROJECT_ID         a random 32-hex project id for the admin account
  --default-region hw-e2e                    the region that project belongs to

Environment:
  COFFER_BIN               path of the binary (default <repo>/target/release/coffer)
  COFFER_TEST_ENDPOINT     use an already running server at host:port instead of starting one
  COFFER_TEST_ACCESS_KEY_ID / COFFER_TEST_ACCESS_KEY_SECRET / COFFER_TEST_HUAWEI_PROJECT_ID
                           its admin key and project id (with COFFER_TEST_ENDPOINT)
"""
import os
import secrets
import sys
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
for _p in (str(_HERE), str(_HERE.parent / "alibaba")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from coffer_helpers import CofferServer, Gen1, Gen2, coffer_binary, session_server  # noqa: E402
from hw_helpers import DEFAULT_REGION, HwRaw, hw_name, make_hw, random_project_id, start_coffer_hw  # noqa: E402


@pytest.fixture(scope="session")
def coffer(tmp_path_factory):
    """`coffer serve` for the whole Huawei session; SIGTERM at the end, then the log is checked for
    panics and leaked secret values and the data dir for plaintext values."""
    external = os.environ.get("COFFER_TEST_ENDPOINT")
    if external:
        srv = CofferServer(external, os.environ["COFFER_TEST_ACCESS_KEY_ID"],
                           os.environ["COFFER_TEST_ACCESS_KEY_SECRET"])
        srv.project_id = os.environ["COFFER_TEST_HUAWEI_PROJECT_ID"]
        srv.default_region = os.environ.get("COFFER_TEST_DEFAULT_REGION", "default")
        yield srv
        return

    binary = coffer_binary()
    tmp = tmp_path_factory.mktemp("coffer-hw")
    # Huawei AKs are 20 upper-case letters/digits, SKs 40 characters
    ak = "HWE2E" + secrets.token_hex(8).upper()[:15]
    sk = secrets.token_urlsafe(30)[:40]

    def start():
        srv = start_coffer_hw(binary, tmp / "data", tmp / "coffer.log", ak, sk, project_id=random_project_id(),
                              default_region=DEFAULT_REGION)
        srv.binary = binary
        return srv

    yield from session_server("huawei", start)


# ----------------------------------------------------------------------------- Huawei clients
@pytest.fixture
def hw(coffer):
    """CsmsClient (huaweicloudsdkcsms), BasicCredentials(ak, sk, project_id), with_endpoint(http://...)."""
    return make_hw(coffer)


@pytest.fixture
def raw(coffer):
    """Hand-signed SDK-HMAC-SHA256 requests."""
    return HwRaw(coffer)


@pytest.fixture
def name():
    return hw_name("hw")


@pytest.fixture
def secret(hw, name):
    """A fresh ENABLED secret (value in version v1); returns the create_secret JSON's "secret"."""
    from hw_helpers import hw_value

    return hw.call("create_secret", body={"name": name, "secret_string": hw_value("fixture")})["secret"]


# ----------------------------------------------------------------------------- Alibaba on the same server
@pytest.fixture
def ali(coffer):
    """alibabacloud-kms20160120 (ACS3) on the same server and the same admin key."""
    return Gen2(coffer.endpoint, coffer.ak, coffer.sk)


@pytest.fixture
def ali1(coffer):
    """aliyun-python-sdk-core (RPC v1) on the same server."""
    return Gen1(coffer.endpoint, coffer.ak, coffer.sk)
