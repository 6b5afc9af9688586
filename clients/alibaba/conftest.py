"""Session fixture that runs ONE real `coffer` server, plus client factories for every SDK flavour.

Environment:
  COFFER_BIN               path of the binary (default <repo>/target/release/coffer)
  COFFER_TEST_ENDPOINT     use an already running server at host:port instead of starting one
  COFFER_TEST_ACCESS_KEY_ID / COFFER_TEST_ACCESS_KEY_SECRET   its admin key (with COFFER_TEST_ENDPOINT)
"""
import os
import re
import secrets

import pytest

from coffer_helpers import (REGION, CofferServer, Gen1, Gen2, Raw, coffer_binary, make_api, session_server,
                            start_coffer, unique)


@pytest.fixture(scope="session")
def coffer(tmp_path_factory):
    """Start `coffer serve` once for the whole session; stop it with SIGTERM at the end and check
    its log for panics and leaked secret values."""
    external = os.environ.get("COFFER_TEST_ENDPOINT")
    if external:
        srv = CofferServer(external, os.environ["COFFER_TEST_ACCESS_KEY_ID"],
                           os.environ["COFFER_TEST_ACCESS_KEY_SECRET"])
        yield srv
        return

    binary = coffer_binary()
    tmp = tmp_path_factory.mktemp("coffer")
    ak, sk = "LTAI5t" + secrets.token_hex(9), secrets.token_urlsafe(22)
    yield from session_server("alibaba", lambda: start_coffer(binary, tmp / "data", tmp / "coffer.log", ak, sk))


# ----------------------------------------------------------------------------- client fixtures
@pytest.fixture
def gen1(coffer):
    """aliyun-python-sdk-core (generation 1, RPC v1 HMAC-SHA1)."""
    return Gen1(coffer.endpoint, coffer.ak, coffer.sk)


@pytest.fixture
def gen2(coffer):
    """alibabacloud-kms20160120 (generation 2, ACS3-HMAC-SHA256)."""
    return Gen2(coffer.endpoint, coffer.ak, coffer.sk)


@pytest.fixture
def gen2v2(coffer):
    """alibabacloud-kms20160120 with Config.signature_algorithm='v2' (RPC v1 HMAC-SHA1)."""
    return Gen2(coffer.endpoint, coffer.ak, coffer.sk, signature_algorithm="v2")


@pytest.fixture(params=["gen1", "gen2", "gen2v2"])
def api(request, coffer):
    """The same test through each SDK flavour (wire-named parameters and results)."""
    return make_api(request.param, coffer)


@pytest.fixture(params=["gen1", "gen2"])
def api12(request, coffer):
    """Generation 1 and generation 2 (ACS3) only."""
    return make_api(request.param, coffer)


@pytest.fixture
def raw(coffer):
    return Raw(coffer)


@pytest.fixture
def name():
    return unique("e2e")


@pytest.fixture(scope="session")
def account(coffer):
    """(account id, default key id) learnt from the server itself."""
    g = Gen2(coffer.endpoint, coffer.ak, coffer.sk)
    n = unique("acct")
    created = g.call("CreateSecret", SecretName=n, VersionId="v1", SecretData="account probe")
    m = re.match(r"^acs:kms:%s:([0-9]+):secret/%s$" % (re.escape(REGION), re.escape(n)), created.get("Arn", ""))
    assert m, "unexpected Arn %r" % created.get("Arn")
    described = g.call("DescribeSecret", SecretName=n)
    key_id = described.get("EncryptionKeyId")
    assert key_id, "DescribeSecret returned no EncryptionKeyId: %r" % described
    g.call("DeleteSecret", SecretName=n, ForceDeleteWithoutRecovery="true")
    return m.group(1), key_id
