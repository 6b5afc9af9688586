"""The limits suite: ONE coffer server started with `--limits cloud` (each cloud's published
quotas and request rates) and a few `--limit` overrides low enough to meet in a test, driven by
the official Alibaba, Tencent and Huawei SDKs. Each test works in an account of its own (made
with the `coffer` CLI), so its rate buckets and its quota of secrets start fresh."""
import secrets
import sys
import uuid
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
for _p in (str(_HERE), str(_HERE.parent / "alibaba"), str(_HERE.parent / "tencent"), str(_HERE.parent / "huawei")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from coffer_helpers import AdminCli, coffer_binary, session_server, spawn_coffer, wait_ready  # noqa: E402
from lim_helpers import RATES, SECRETS_PER_REGION, Account  # noqa: E402



@pytest.fixture(scope="session")
def coffer(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("coffer-limits")
    ak, sk = "LIMITS" + secrets.token_hex(7).upper(), secrets.token_urlsafe(30)[:40]
    limits = ["%s=%s" % kv for kv in RATES.items()] + ["secrets-per-region=%d" % SECRETS_PER_REGION]
    args = ["--limits", "cloud"]
    for spec in limits:
        args += ["--limit", spec]

    def start():
        return wait_ready(spawn_coffer(coffer_binary(), tmp / "data", tmp / "coffer.log", ak, sk, extra_args=args))

    yield from session_server("limits", start)


@pytest.fixture
def account(coffer):
    return Account(coffer, AdminCli(coffer))


@pytest.fixture
def name():
    return "lim-" + uuid.uuid4().hex[:12]
