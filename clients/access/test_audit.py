"""The audit log: entries for reads, writes and denials with who, what and how it ended; never a
value or a key secret; a chain keyed by the root key that `coffer audit verify` checks offline."""
import json
import shutil
import subprocess
import uuid

from coffer_helpers import coffer_binary, expect_error


def entries(cli, n=200):
    return cli.json("audit", "tail", "-n", str(n))["Entries"]


def verify(data_dir):
    return subprocess.run([str(coffer_binary()), "audit", "verify", "--data-dir", str(data_dir)],
                          capture_output=True, text=True, timeout=60)


def test_entries_name_who_what_and_result(cli, cast, coffer):
    n = "aud-" + uuid.uuid4().hex[:10]
    value = "audit-value-" + uuid.uuid4().hex
    a = cast.a_admin.ali()
    a.call("CreateSecret", SecretName=n, VersionId="v1", SecretData=value)
    a.call("GetSecretValue", SecretName=n)
    with expect_error(403, "Forbidden.NoPermission"):
        cast.a_none.ali().call("GetSecretValue", SecretName=n)
    cast.a_admin.hw().call("show_secret_version", secret_name=n, version_id="latest")

    got = entries(cli)
    resource = "crn:coffer:default:%s:secret/%s" % (cast.a_id, n)
    mine = [e for e in got if e.get("resource") == resource]
    by = {(e["access_key_id"], e["operation"], e["result"]) for e in mine}
    assert (cast.a_admin.id, "CreateSecret", "OK") in by
    assert (cast.a_admin.id, "GetSecretValue", "OK") in by
    assert (cast.a_none.id, "GetSecretValue", "Forbidden.NoPermission") in by
    denied = [e for e in mine if e["result"] == "Forbidden.NoPermission"][0]
    assert (denied["status"], denied["action"], denied["dialect"], denied["account"]) == \
        (403, "secrets:GetValue", "alibaba", int(cast.a_id))
    hw = [e for e in mine if e["dialect"] == "huawei"]
    assert hw and hw[0]["action"] == "secrets:GetValue" and hw[0]["status"] == 200
    for e in mine:
        assert e["source"].startswith("127.0.0.1:") and e["latency_us"] >= 0 and e["request_id"]
    seqs = [e["seq"] for e in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)

    text = (coffer.data_dir / "audit.log").read_text()
    assert value not in text
    for k in (cast.a_admin, cast.a_none, cast.a_ro):
        assert k.secret not in text
    assert coffer.sk not in text


def test_verify_detects_tampering(cli, cast, coffer, tmp_path):
    cast.a_admin.ali().call("ListSecrets")
    live = coffer.data_dir / "audit.log"
    r = verify(coffer.data_dir)
    assert r.returncode == 0, r.stderr
    assert "intact" in r.stdout

    copy = tmp_path / "copy"
    copy.mkdir()
    # The log is keyed by the root key: verify reads it from the data dir, like the server.
    shutil.copy(coffer.data_dir / "root.key", copy / "root.key")
    lines = live.read_text().splitlines(keepends=True)
    assert len(lines) >= 5

    # one byte inside line 3
    edited = list(lines)
    i = edited[2].index('"operation":"') + len('"operation":"')
    edited[2] = edited[2][:i] + ("X" if edited[2][i] != "X" else "Y") + edited[2][i + 1:]
    (copy / "audit.log").write_text("".join(edited))
    r = verify(copy)
    assert r.returncode == 1 and "line 3" in r.stderr, (r.stdout, r.stderr)

    # a removed line
    (copy / "audit.log").write_text("".join(lines[:3] + lines[4:]))
    r = verify(copy)
    assert r.returncode == 1 and "line 4" in r.stderr, (r.stdout, r.stderr)

    # two lines swapped
    swapped = list(lines)
    swapped[1], swapped[2] = swapped[2], swapped[1]
    (copy / "audit.log").write_text("".join(swapped))
    r = verify(copy)
    assert r.returncode == 1 and "line 2" in r.stderr, (r.stdout, r.stderr)

    # JSON output says the same
    r = subprocess.run([str(coffer_binary()), "audit", "verify", "--data-dir", str(copy), "--json"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and json.loads(r.stdout)["Intact"] is False

    # an intact copy verifies, and the live log is untouched
    shutil.copy(live, copy / "audit.log")
    assert verify(copy).returncode == 0
    assert verify(coffer.data_dir).returncode == 0
