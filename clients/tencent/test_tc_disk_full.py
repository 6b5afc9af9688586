"""A full disk under the server's data dir, through tencentcloud-sdk-python: writes fail with
FailedOperation (HTTP 200, as every SSM error) naming the full disk, reads keep working, and writes
come back once there is space, without a restart."""
import secrets

import pytest

from coffer_helpers import (SmallDisk, coffer_binary, pg_server, start_coffer, stop_coffer, until_accepted,
                            until_refused)
from tc_helpers import Tc, TcError, expect_tc_error, tc_name


def test_a_full_disk_refuses_writes_as_failed_operation_and_they_come_back(tmp_path):
    if pg_server():
        pytest.skip("the store is PostgreSQL: a full data dir holds only the audit log, which keeps space ahead")
    binary = coffer_binary()
    ak, sk = "AKID" + secrets.token_hex(16), secrets.token_urlsafe(24)
    disk = SmallDisk(tmp_path / "disk")
    try:
        srv = start_coffer(binary, disk.path / "data", tmp_path / "coffer.log", ak, sk)
        try:
            tc = Tc(srv.endpoint, ak, sk)
            kept = tc_name("kept")
            tc.call("CreateSecret", SecretName=kept, VersionId="v1", SecretString="kept value")

            disk.fill()
            # Writes until refused (SQLite may still commit some into the part of its log it
            # reuses): the refusal is SSM's FailedOperation, and the refused secret does not exist.
            names = []

            def write(i):
                names.append(tc_name("full"))
                tc.call("CreateSecret", SecretName=names[-1], VersionId="v1", SecretString="x")

            e = until_refused(write)
            assert isinstance(e, TcError) and e.code == "FailedOperation", e
            assert "disk is full" in e.message, e
            with expect_tc_error("ResourceNotFound"):
                tc.call("DescribeSecret", SecretName=names[-1])
            got = tc.call("GetSecretValue", SecretName=kept, VersionId="v1")
            assert got["SecretString"] == "kept value"

            disk.free()
            after = tc_name("after")
            until_accepted(lambda: tc.call("CreateSecret", SecretName=after, VersionId="v1", SecretString="y"))
            assert tc.call("GetSecretValue", SecretName=after, VersionId="v1")["SecretString"] == "y"
        finally:
            problems = stop_coffer(srv)
        assert not problems, problems
    finally:
        disk.close()
