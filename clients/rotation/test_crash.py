"""SIGKILL of the real `coffer` binary between each pair of rotation steps. The server is told
to stop rotating after a step (COFFER_TEST_HALT_AFTER_STEP), killed there, and started again:
the restarted server resumes the rotation, and at every point the database's password is one
that a version of the secret holds."""
import json
import secrets
import signal
import threading
import time

import pytest

from coffer_helpers import ApiError, Gen2, coffer_binary, spawn_coffer, stop_coffer, wait_ready, wait_until
from coffer_helpers import AdminCli
import db_helpers
from db_helpers import register


def held_passwords(api, name):
    ids = api.call("ListSecretVersionIds", SecretName=name, IncludeDeprecated="true")["VersionIds"]["VersionId"]
    out = []
    for v in ids:
        r = api.call("GetSecretValue", SecretName=name, VersionId=v["VersionId"])
        out.append(json.loads(r["SecretData"])["AccountPassword"])
    return out


def assert_invariant(engine, api, name, account):
    held = held_passwords(api, name)
    assert any(db_helpers.can_log_in(engine, account, p) for p in held), \
        "the database password of %s is none of the versions coffer holds" % account


@pytest.mark.parametrize("engine", ["mariadb", "postgres"])
@pytest.mark.parametrize("step", ["create", "set", "test"])
def test_sigkill_after_each_step_resumes_on_restart(tmp_path, engine, step):
    db_helpers.ensure_pg_password_auth()
    account = db_helpers.unique_account("crash")
    db_helpers.create_account(engine, account, "Initial-pw-1")
    binary = coffer_binary()
    data = tmp_path / "data"
    ak, sk = "LTAI5t" + secrets.token_hex(9), secrets.token_urlsafe(22)
    srv = wait_ready(spawn_coffer(binary, data, tmp_path / "first.log", ak, sk,
                                  extra_args=["--rotation-check-secs", "1"],
                                  env=dict(__import__("os").environ, COFFER_TEST_HALT_AFTER_STEP=step)))
    second = None
    try:
        instance = "crash-" + engine
        register(AdminCli(srv), instance, db_helpers.ENGINES[engine])
        api = Gen2(srv.endpoint, ak, sk)
        name = "crash-" + step
        api.call("CreateSecret", SecretName=name, VersionId="v1", SecretType="Rds",
                 SecretData=json.dumps({"Accounts": [{"AccountName": account, "AccountPassword": "Initial-pw-1"}]}),
                 ExtendedConfig={"SecretSubType": "SingleUser", "DBInstanceId": instance, "CustomData": {}})
        # The rotation stops after the step; its request never returns.
        t = threading.Thread(target=lambda: _swallow(lambda: api.call("RotateSecret", SecretName=name,
                                                                         VersionId="v2")), daemon=True)
        t.start()
        assert wait_until(lambda: "rotation halted for a crash test" in srv.log_text(), timeout=20), \
            srv.log_text()[-3000:]
        assert_invariant(engine, api, name, account)
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait()
        srv.log_file.close()

        second = wait_ready(spawn_coffer(binary, data, tmp_path / "second.log", ak, sk,
                                         extra_args=["--rotation-check-secs", "1"]))
        api = Gen2(second.endpoint, ak, sk)
        assert_invariant(engine, api, name, account)

        def finished():
            r = api.call("GetSecretValue", SecretName=name)
            return r["VersionId"] == "v2"

        assert wait_until(finished, timeout=30, interval=0.3), second.log_text()[-3000:]
        creds = json.loads(api.call("GetSecretValue", SecretName=name)["SecretData"])
        assert db_helpers.can_log_in(engine, account, creds["AccountPassword"])
        assert not db_helpers.can_log_in(engine, account, "Initial-pw-1")
        assert_invariant(engine, api, name, account)
    finally:
        for s in (srv, second):
            if s is not None and s.proc.poll() is None:
                stop_coffer(s)
        db_helpers.drop_account(engine, account)


def _swallow(call):
    try:
        call()
    except Exception:  # the halted request is cut off by the kill
        pass
