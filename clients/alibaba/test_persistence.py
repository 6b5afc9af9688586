"""Durability and encryption at rest, on a private server instance (its own data dir), restarted once."""
import secrets

from coffer_helpers import (Gen2, binary_value, coffer_binary, expect_error, files_containing, log_problems,
                            secret_value, start_coffer, stop_coffer, tail, unique, SENTINEL)


def test_restart_keeps_everything_and_nothing_is_stored_in_plaintext(tmp_path):
    binary = coffer_binary()
    ak, sk = "LTAI5t" + secrets.token_hex(9), secrets.token_urlsafe(22)
    data, log = tmp_path / "data", tmp_path / "coffer.log"
    text_name, bin_name, pending_name = unique("p-text"), unique("p-bin"), unique("p-pending")
    v1, v2, b1 = secret_value("persist-1"), secret_value("persist-2"), binary_value(100)

    srv = start_coffer(binary, data, log, ak, sk)
    try:
        g = Gen2(srv.endpoint, ak, sk)
        arn = g.call("CreateSecret", SecretName=text_name, VersionId="v1", SecretData=v1, Description="durable",
                     Tags='[{"TagKey":"k","TagValue":"v"}]')["Arn"]
        g.call("PutSecretValue", SecretName=text_name, VersionId="v2", SecretData=v2,
               VersionStages='["ACSCurrent","blue"]')
        g.call("CreateSecret", SecretName=bin_name, VersionId="b1", SecretData=b1, SecretDataType="binary")
        g.call("CreateSecret", SecretName=pending_name, VersionId="v1", SecretData=secret_value())
        planned = g.call("DeleteSecret", SecretName=pending_name, RecoveryWindowInDays="9")["PlannedDeleteTime"]
        key_id = g.call("DescribeSecret", SecretName=text_name)["EncryptionKeyId"]
    finally:
        problems = stop_coffer(srv)
    assert not problems, problems

    leaked = files_containing(data, SENTINEL.encode())
    assert not leaked, "secret values stored in plaintext in %s" % leaked
    leaked = files_containing(data, b1.encode())
    assert not leaked, "binary secret value stored in plaintext in %s" % leaked

    srv = start_coffer(binary, data, log, ak, sk)
    try:
        g = Gen2(srv.endpoint, ak, sk)
        cur = g.call("GetSecretValue", SecretName=text_name)
        assert (cur["VersionId"], cur["SecretData"]) == ("v2", v2)
        assert g.call("GetSecretValue", SecretName=text_name, VersionStage="blue")["VersionId"] == "v2"
        prev = g.call("GetSecretValue", SecretName=text_name, VersionStage="ACSPrevious")
        assert (prev["VersionId"], prev["SecretData"]) == ("v1", v1)
        d = g.call("DescribeSecret", SecretName=text_name, FetchTags="true")
        assert d["Arn"] == arn  # same account id after restart
        assert d["EncryptionKeyId"] == key_id  # same default key
        assert d["Description"] == "durable"
        assert d["Tags"]["Tag"] == [{"TagKey": "k", "TagValue": "v"}]
        b = g.call("GetSecretValue", SecretName=bin_name)
        assert (b["SecretData"], b["SecretDataType"]) == (b1, "binary")
        assert g.call("DescribeSecret", SecretName=pending_name)["PlannedDeleteTime"] == planned
        with expect_error(409, "Rejected.ResourceInDeleteWindow"):
            g.call("GetSecretValue", SecretName=pending_name)
    finally:
        problems = stop_coffer(srv)
    assert not problems, problems
    text = log.read_text(errors="replace")
    problems = log_problems(text, sk)
    assert not problems, "%s\n%s" % (problems, tail(text))
