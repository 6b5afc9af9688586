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

from coffer_helpers import (AdminCli as Cli, Gen1, Gen2, coffer_binary, remember_secret, session_server,  # noqa: E402
                            start_coffer, stored_secrets)
import db_helpers  # noqa: E402
from db_helpers import register  # noqa: E402

MARIA_ID = "rm-local-maria"
PG_ID = "pg-local"


@pytest.fixture(scope="session")
def coffer(tmp_path_factory):
    """The suite that moves the most secret material (values, access key secrets, database
    passwords, set and rotated) runs its server at the debug log level, every crate's debug
    lines included (database drivers, HTTP): at the end its log must hold none of them, nor the
    root key (`session_server`), so a secret logged only at debug level is caught too."""
    db_helpers.ensure_pg_password_auth()
    tmp = tmp_path_factory.mktemp("coffer-rotation")
    ak, sk = "LTAI5t" + secrets.token_hex(9), secrets.token_urlsafe(22)
    for password in db_helpers.PASSWORDS:
        remember_secret(password, "a database password the tests set")
    yield from session_server("rotation", lambda: start_coffer(coffer_binary(), tmp / "data", tmp / "coffer.log",
                                                               ak, sk, extra_args=("--log", "debug")),
                              collect_secrets=stored_secrets)


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
