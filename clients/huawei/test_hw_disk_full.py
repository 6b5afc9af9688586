"""A full disk under the server's data dir, through huaweicloudsdkcsms: writes fail with HTTP 503
CSMS.0503 naming the full disk, reads keep working, and writes come back once there is space,
without a restart."""
import secrets

import pytest

from coffer_helpers import SmallDisk, coffer_binary, pg_server, stop_coffer, until_accepted, until_refused
from hw_helpers import HwError, expect_hw, hw_name, make_hw, random_project_id, start_coffer_hw


def test_a_full_disk_refuses_writes_as_csms_0503_and_they_come_back(tmp_path):
    if pg_server():
        pytest.skip("the store is PostgreSQL: a full data dir holds only the audit log, which keeps space ahead")
    binary = coffer_binary()
    ak, sk = "HPUA" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30)
    disk = SmallDisk(tmp_path / "disk")
    try:
        srv = start_coffer_hw(binary, disk.path / "data", tmp_path / "coffer.log", ak, sk,
                              project_id=random_project_id())
        try:
            hw = make_hw(srv)
            kept = hw_name("kept")
            hw.call("create_secret", body={"name": kept, "secret_string": "kept value"})

            disk.fill()
            # Writes until refused (SQLite may still commit some into the part of its log it
            # reuses): the refusal is CSMS's 503, and the refused secret does not exist.
            names = []

            def write(i):
                names.append(hw_name("full"))
                hw.call("create_secret", body={"name": names[-1], "secret_string": "x"})

            e = until_refused(write)
            assert isinstance(e, HwError) and (e.status, e.code) == (503, "CSMS.0503"), e
            assert "disk is full" in e.message, e
            with expect_hw(404, "CSMS.0106"):
                hw.call("show_secret", secret_name=names[-1])
            got = hw.call("show_secret_version", secret_name=kept, version_id="latest")
            assert got["version"]["secret_string"] == "kept value"

            disk.free()
            after = hw_name("after")
            until_accepted(lambda: hw.call("create_secret", body={"name": after, "secret_string": "y"}))
            got = hw.call("show_secret_version", secret_name=after, version_id="latest")
            assert got["version"]["secret_string"] == "y"
        finally:
            problems = stop_coffer(srv)
        assert not problems, problems
    finally:
        disk.close()
