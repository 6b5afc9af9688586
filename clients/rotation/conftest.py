"""One coffer server for the managed-credentials suite, with the machine's MariaDB and
PostgreSQL registered as database instances through the `coffer db-instance` CLI, and clients
of all three clouds."""
import secrets
import sys
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
for _p in (str(_HERE), str(_HERE.parent / "alibaba"), str(_HERE.parent / "tencent"), str(_HERE.parent / "huawei")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from coffer_helpers import AdminCli as Cli, Gen1, Gen2, coffer_binary, session_server, start_coffer  # noqa: E402
import db_helpers  # noqa: E402
from db_helpers import register  # noqa: E402

MARIA_ID = "rm-local-maria"
PG_ID = "pg-local"


@pytest.fixture(scope="session")
def coffer(tmp_path_factory):
    db_helpers.ensure_pg_password_auth()
    tmp = tmp_path_factory.mktemp("coffer-rotation")
    ak, sk = "LTAI5t" + secrets.token_hex(9), secrets.token_urlsafe(22)
    yield from session_server("rotation", lambda: start_coffer(coffer_binary(), tmp / "data", tmp / "coffer.log",
                                                               ak, sk))


@pytest.fixture(scope="session")
def cli(coffer):
    return Cli(coffer)


@pytest.fixture(scope="session")
def instances(cli):
    """The machine's MariaDB and PostgreSQL, registered once."""
    register(cli, MARIA_ID, db_helpers.MARIADB)
    register(cli, PG_ID, db_helpers.POSTGRES)
    return {"mariadb": MARIA_ID, "postgres": PG_ID}


@pytest.fixture
def gen2(coffer):
    return Gen2(coffer.endpoint, coffer.ak, coffer.sk)


@pytest.fixture
def gen1(coffer):
    return Gen1(coffer.endpoint, coffer.ak, coffer.sk)


@pytest.fixture
def account():
    """A fresh database account name; dropped on both engines afterwards (with its clone)."""
    name = db_helpers.unique_account()
    yield name
    for engine in ("mariadb", "postgres"):
        for n in (name + "_clone", name):
            try:
                db_helpers.drop_account(engine, n)
            except AssertionError:
                pass
