"""The bootstrap account's Huawei project (issue): taken from COFFER_BOOTSTRAP_HUAWEI_PROJECT_ID when set, else
generated (32 lower-case hex) and written to <data-dir>/huawei-project-id; it belongs to the server's
--default-region and survives restarts. These tests run their own short-lived servers."""
import os
import secrets
import stat

import pytest

from coffer_helpers import coffer_binary, log_problems
from hw_helpers import (PROJECT_RE, Hw, expect_hw, hw_name, project_list, random_project_id, start_coffer_hw,
                        stop_quietly)


@pytest.fixture
def binary(coffer):
    if getattr(coffer, "binary", None) is None:
        pytest.skip("external server")
    return coffer_binary()


def _keys():
    return "HWBOOT" + secrets.token_hex(7).upper(), secrets.token_urlsafe(30)[:40]


def test_generated_project_id_persists_across_restart(binary, tmp_path):
    ak, sk = _keys()
    data, log = tmp_path / "data", tmp_path / "coffer.log"
    srv = start_coffer_hw(binary, data, log, ak, sk, project_id=None, default_region=None)
    try:
        pid_file = data / "huawei-project-id"
        assert pid_file.is_file(), os.listdir(data)
        pid = pid_file.read_text().strip()
        assert PROJECT_RE.match(pid), pid
        assert stat.S_IMODE(pid_file.stat().st_mode) & 0o077 == 0, oct(pid_file.stat().st_mode)
        c = Hw(srv.endpoint, ak, sk, pid)
        n = hw_name("boot")
        c.call("create_secret", body={"name": n, "secret_string": "survives"})
        rows = project_list(binary, data)
        assert [(r["Region"], r["ProjectId"]) for r in rows] == [("default", pid)]
    finally:
        stop_quietly(srv)
    # restart: a project id in the environment does not replace the existing project
    srv = start_coffer_hw(binary, data, log, ak, sk, project_id=random_project_id(), default_region=None)
    try:
        c = Hw(srv.endpoint, ak, sk, pid)
        assert c.call("show_secret_version", secret_name=n, version_id="latest")["version"]["secret_string"] == \
            "survives"
        assert [r["ProjectId"] for r in project_list(binary, data)] == [pid]
    finally:
        stop_quietly(srv)
    text = log.read_text(errors="replace")
    assert not log_problems(text, sk), log_problems(text, sk)
    assert "survives" not in text


def test_env_project_id_and_default_region(binary, tmp_path):
    ak, sk = _keys()
    pid = random_project_id()
    data = tmp_path / "data"
    srv = start_coffer_hw(binary, data, tmp_path / "coffer.log", ak, sk, project_id=pid,
                          default_region="eu-custom")
    try:
        rows = project_list(binary, data)
        assert [(r["Region"], r["ProjectId"]) for r in rows] == [("eu-custom", pid)]
        assert not (data / "huawei-project-id").exists()
        c = Hw(srv.endpoint, ak, sk, pid)
        c.call("list_secrets")
        with expect_hw(403, "CSMS.0003"):
            Hw(srv.endpoint, ak, sk, random_project_id()).call("list_secrets")
    finally:
        stop_quietly(srv)


@pytest.mark.parametrize("bad", ["XYZ", "0123456789ABCDEF0123456789ABCDEF", "0" * 31])
def test_malformed_env_project_id_refuses_to_start(binary, tmp_path, bad):
    ak, sk = _keys()
    rc, text = start_coffer_hw(binary, tmp_path / "data", tmp_path / "coffer.log", ak, sk, project_id=bad,
                               expect_ready=False, timeout=30)
    assert rc != 0
    assert "COFFER_BOOTSTRAP_HUAWEI_PROJECT_ID" in text, text[-2000:]
    assert "panicked" not in text


def test_secret_quota_is_csms_0202(binary, tmp_path):
    """`--max-secrets-per-region` caps the secrets of an account's region; Huawei answers the
    create over quota with 400 CSMS.0202 (reference 6) and writes nothing."""
    ak, sk = _keys()
    pid = random_project_id()
    srv = start_coffer_hw(binary, tmp_path / "data", tmp_path / "coffer.log", ak, sk, project_id=pid,
                          default_region=None, extra_args=("--max-secrets-per-region", "2"))
    try:
        c = Hw(srv.endpoint, ak, sk, pid)
        kept = [hw_name("quota") for _ in range(2)]
        for n in kept:
            c.call("create_secret", body={"name": n, "secret_string": "x"})
        over = hw_name("quota")
        with expect_hw(400, "CSMS.0202"):
            c.call("create_secret", body={"name": over, "secret_string": "x"})
        with expect_hw(404, "CSMS.0106"):
            c.call("show_secret", secret_name=over)
        # deleting one makes room again
        c.call("delete_secret", secret_name=kept[0])
        c.call("create_secret", body={"name": over, "secret_string": "x"})
    finally:
        stop_quietly(srv)
