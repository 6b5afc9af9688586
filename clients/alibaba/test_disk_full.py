"""A full disk under the server's data dir, through both Alibaba SDK generations: writes fail with
HTTP 503 ServiceUnavailable (the SDKs' server-side failure, to retry later) naming the full disk,
reads keep working, and writes come back once there is space, without a restart."""
import secrets

import pytest

from coffer_helpers import (ApiError, Gen1, Gen2, SmallDisk, coffer_binary, expect_error, log_problems, pg_server,
                            secret_value, start_coffer, stop_coffer, tail, unique, until_accepted, until_refused)


def test_a_full_disk_refuses_writes_as_service_unavailable_and_they_come_back(tmp_path):
    if pg_server():
        pytest.skip("the store is PostgreSQL: a full data dir holds only the audit log, which keeps space ahead")
    binary = coffer_binary()
    ak, sk = "LTAI5t" + secrets.token_hex(9), secrets.token_urlsafe(22)
    disk = SmallDisk(tmp_path / "disk")
    log = tmp_path / "coffer.log"
    try:
        srv = start_coffer(binary, disk.path / "data", log, ak, sk)
        try:
            g1, g2 = Gen1(srv.endpoint, ak, sk), Gen2(srv.endpoint, ak, sk)
            kept, value = unique("kept"), secret_value("kept")
            g2.call("CreateSecret", SecretName=kept, VersionId="v1", SecretData=value)

            disk.fill()
            # Each generation writes until refused (SQLite may still commit some writes into the
            # part of its log it reuses): the refusal is the SDK's server-side failure, and the
            # refused secret does not exist.
            for g in (g1, g2):
                names = []

                def write(i, g=g, names=names):
                    names.append(unique("full"))
                    g.call("CreateSecret", SecretName=names[-1], VersionId="v1", SecretData=secret_value())

                e = until_refused(write)
                assert isinstance(e, ApiError), e
                assert (e.status, e.code) == (503, "ServiceUnavailable"), e
                assert "disk is full" in e.message, e
                assert e.request_id and e.request_id != "None", e
                with expect_error(404, "Forbidden.ResourceNotFound"):
                    g.call("DescribeSecret", SecretName=names[-1])
                assert g.call("GetSecretValue", SecretName=kept)["SecretData"] == value

            disk.free()
            after = unique("after")
            until_accepted(lambda: g2.call("CreateSecret", SecretName=after, VersionId="v1", SecretData=value))
            g1.call("PutSecretValue", SecretName=after, VersionId="v2", SecretData=value)
            assert g1.call("GetSecretValue", SecretName=after)["VersionId"] == "v2"
        finally:
            problems = stop_coffer(srv)
        assert not problems, problems
    finally:
        disk.close()
    text = log.read_text(errors="replace")
    problems = log_problems(text, sk)
    assert not problems, "%s\n%s" % (problems, tail(text))
