"""One coffer server for the access-control suite, the `coffer` admin CLI against it, and a
shared cast: accounts A and B (made with the CLI) and keys of A with narrow policies."""
import json
import secrets
import sys
import uuid
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
for _p in (str(_HERE), str(_HERE.parent / "alibaba"), str(_HERE.parent / "tencent"), str(_HERE.parent / "huawei")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from coffer_helpers import AdminCli as Cli, Gen2, coffer_binary, session_server, start_coffer  # noqa: E402
from hw_helpers import Hw  # noqa: E402
from tc_helpers import Tc  # noqa: E402


@pytest.fixture(scope="session")
def coffer(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("coffer-access")
    ak, sk = "ACOP" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30)[:40]
    yield from session_server("access", lambda: start_coffer(coffer_binary(), tmp / "data", tmp / "coffer.log", ak, sk))


@pytest.fixture(scope="session")
def cli(coffer):
    return Cli(coffer, coffer.ak, coffer.sk)


def policy_doc(*statements):
    return json.dumps({"Version": "1", "Statement": list(statements)})


class Key:
    def __init__(self, server, account, project, key_id, secret):
        self.server, self.account, self.project, self.id, self.secret = server, account, project, key_id, secret

    def ali(self):
        return Gen2(self.server.endpoint, self.id, self.secret)

    def tc(self):
        return Tc(self.server.endpoint, self.id, self.secret)

    def hw(self, project=None):
        return Hw(self.server.endpoint, self.id, self.secret, project or self.project)


class Cast:
    """Accounts A and B and keys of A with policies, made once through the CLI."""

    def __init__(self, cli, server):
        self.cli, self.server = cli, server
        self.a = cli.json("account", "create", "team-a")
        self.b = cli.json("account", "create", "team-b")
        self.a_id, self.b_id = self.a["AccountId"], self.b["AccountId"]
        self.a_project = self.a["Projects"][0]["ProjectId"]
        self.b_project = self.b["Projects"][0]["ProjectId"]
        self.a_admin = self.key(self.a_id, self.a_project, admin=True)
        self.b_admin = self.key(self.b_id, self.b_project, admin=True)
        self.a_none = self.key(self.a_id, self.a_project)
        self.a_ro = self.key(self.a_id, self.a_project, policy=policy_doc(
            {"Effect": "Allow", "Action": ["secrets:GetValue", "secrets:Describe", "secrets:List"], "Resource": "*"}))
        self.a_path = self.key(self.a_id, self.a_project, policy=policy_doc(
            {"Effect": "Allow", "Action": "secrets:GetValue", "Resource": "crn:coffer:*:*:secret/app-*"}))
        self.a_noprod = self.key(self.a_id, self.a_project, policy=policy_doc(
            {"Effect": "Allow", "Action": "secrets:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "secrets:GetValue", "Resource": "*",
             "Condition": {"StringEquals": {"coffer:ResourceTag/env": "prod"}}}))

    def key(self, account, project, admin=False, policy=None):
        args = ["access-key", "create", "--account", account] + (["--admin"] if admin else [])
        k = self.cli.json(*args)
        if policy:
            name = "p-" + uuid.uuid4().hex[:8]
            self.cli.ok("policy", "put", name, "--account", account, "--document", "-", stdin=policy)
            self.cli.ok("policy", "attach", name, "--access-key", k["AccessKeyId"])
        return Key(self.server, account, project, k["AccessKeyId"], k["AccessKeySecret"])


@pytest.fixture(scope="session")
def cast(cli, coffer):
    return Cast(cli, coffer)


@pytest.fixture
def name():
    return "n-" + uuid.uuid4().hex[:12]
