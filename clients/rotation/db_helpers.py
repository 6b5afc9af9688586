"""The machine's MariaDB and PostgreSQL, driven with their own command-line clients: accounts
for rotation tests, and logins that prove which password works."""
import os
import subprocess
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

MARIADB = {"engine": "mariadb", "host": "127.0.0.1", "port": 3306, "admin": "root", "password": ""}
POSTGRES = {"engine": "postgres", "host": "127.0.0.1", "port": 5432, "admin": "postgres", "password": ""}
ENGINES = {"mariadb": MARIADB, "postgres": POSTGRES}
# The passwords the tests give accounts and instances themselves (the machine's admin logins
# have none): the suite's server must never log them (see conftest.py).
PASSWORDS = ("Initial-pw-1", "Wrong-pw-1", "not-the-root-password", "not-the-password")


def unique_account(prefix="py"):
    return "%s_%s" % (prefix, uuid.uuid4().hex[:8])


def _run(args, env=None, check=True):
    r = subprocess.run(args, capture_output=True, text=True, timeout=30, env=env)
    if check and r.returncode != 0:
        raise AssertionError("%s failed: %s" % (" ".join(args[:3]), r.stderr))
    return r


def maria(sql):
    return _run(["mysql", "-h127.0.0.1", "-P3306", "-uroot", "--protocol=TCP", "-N", "-e", sql]).stdout


def pg(sql):
    return _run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1",
                 "-tAq", "-c", sql]).stdout


def ensure_pg_password_auth():
    """Members of coffer_rotated must log in with their password (see scripts/pg-test-auth)."""
    _run([str(REPO / "scripts" / "pg-test-auth")])


def create_account(engine, name, password):
    if engine == "postgres":
        pg("CREATE ROLE \"%s\" LOGIN PASSWORD '%s' IN ROLE coffer_rotated" % (name, password))
    else:
        maria("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'; GRANT SELECT ON test.* TO '%s'@'%%'"
              % (name, password, name))


def drop_account(engine, name):
    if engine == "postgres":
        pg("DROP ROLE IF EXISTS \"%s\"" % name)
    else:
        maria("DROP USER IF EXISTS '%s'@'%%'" % name)


def can_log_in(engine, name, password):
    """Whether the account logs in over TCP with the password, by the engine's own client."""
    if engine == "postgres":
        env = dict(os.environ, PGPASSWORD=password)
        r = _run(["psql", "-h", "127.0.0.1", "-U", name, "-d", "postgres", "-w", "-tAc", "SELECT 1"],
                 env=env, check=False)
    else:
        env = dict(os.environ, MYSQL_PWD=password)
        r = _run(["mysql", "-h127.0.0.1", "-P3306", "--protocol=TCP", "-u", name, "-N", "-e", "SELECT 1"],
                 env=env, check=False)
    return r.returncode == 0 and r.stdout.strip() == "1"


def register(cli, instance_id, db):
    """Registers a database with `coffer db-instance add` through the admin CLI `cli`."""
    return cli.json("db-instance", "add", instance_id, "--engine", db["engine"], "--host", db["host"],
                    "--port", str(db["port"]), "--admin-user", db["admin"], "--admin-password", db["password"])
