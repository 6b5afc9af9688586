"""The admin CLI, run as the real binary: accounts, access keys, policies, help and refusals."""
import json
import uuid

from coffer_helpers import expect_error


def test_help_is_complete(cli):
    out = cli.ok("--help")
    for sub in ("serve", "project", "account", "access-key", "policy", "audit"):
        assert sub in out
    for group, subs in {"account": ["create", "list", "show", "delete"],
                        "access-key": ["create", "list", "disable", "enable", "delete"],
                        "policy": ["put", "get", "list", "delete", "attach", "detach"],
                        "audit": ["tail", "verify"]}.items():
        out = cli.ok(group, "--help")
        for s in subs:
            assert s in out, (group, s)
            assert cli.ok(group, s, "--help")
    assert "COFFER_ENDPOINT" in cli.ok("account", "list", "--help")


def test_accounts(cli, cast):
    made = cli.json("account", "create", "scratch")
    aid = made["AccountId"]
    assert made["Name"] == "scratch" and len(made["Projects"][0]["ProjectId"]) == 32
    listed = cli.json("account", "list")["Accounts"]
    assert aid in [a["AccountId"] for a in listed]
    assert sum(a["Operator"] for a in listed) == 1
    table = cli.ok("account", "list")
    assert table.splitlines()[0].split()[:2] == ["ACCOUNT", "ID"] and aid in table
    shown = cli.json("account", "show", aid)
    assert shown["Projects"] == made["Projects"]
    assert "HUAWEI PROJECT ID" in cli.ok("account", "show", aid)

    # not empty: refused until its secret is gone
    admin = cast.key(aid, made["Projects"][0]["ProjectId"], admin=True)
    n = "held-" + uuid.uuid4().hex[:8]
    admin.ali().call("CreateSecret", SecretName=n, VersionId="v1", SecretData="x")
    err = cli.fails("account", "delete", aid)
    assert "Conflict" in err and "secrets" in err
    admin.ali().call("DeleteSecret", SecretName=n, ForceDeleteWithoutRecovery=True)
    cli.ok("account", "delete", aid)
    assert "NotFound" in cli.fails("account", "show", aid)
    # its keys went with it
    with expect_error(404, "InvalidAccessKeyId.NotFound"):
        admin.ali().call("ListSecrets")
    assert "NotFound" in cli.fails("account", "show", "123")
    assert "InvalidParameter" in cli.fails("account", "show", "not-a-number")


def test_access_keys(cli, cast):
    k = cast.key(cast.a_id, cast.a_project, admin=True)
    listed = cli.json("access-key", "list", "--account", cast.a_id)["AccessKeys"]
    row = [x for x in listed if x["AccessKeyId"] == k.id][0]
    assert row["Admin"] is True and row["Enabled"] is True
    assert "AccessKeySecret" not in json.dumps(listed) and k.secret not in json.dumps(listed)
    assert k.secret not in cli.ok("access-key", "list", "--account", cast.a_id)

    cli.ok("access-key", "disable", k.id)
    with expect_error(403, "Forbidden.AccessKey"):
        k.ali().call("ListSecrets")
    assert cli.json("access-key", "enable", k.id)["Enabled"] is True
    k.ali().call("ListSecrets")
    cli.ok("access-key", "delete", k.id)
    with expect_error(404, "InvalidAccessKeyId.NotFound"):
        k.ali().call("ListSecrets")
    assert "NotFound" in cli.fails("access-key", "disable", k.id)


def test_policies(cli, cast, tmp_path):
    pol = "cli-" + uuid.uuid4().hex[:6]
    bad = tmp_path / "bad.json"
    bad.write_text('{"Statement":{"Effect":"Maybe","Action":"*","Resource":"*"}}')
    err = cli.fails("policy", "put", pol, "--account", cast.a_id, "--document", str(bad))
    assert "Statement[0].Effect" in err
    assert "PolicyDocument" in cli.fails("policy", "put", pol, "--account", cast.a_id, "--document", "-",
                                         stdin="{not json")
    good = tmp_path / "good.json"
    doc = '{"Statement":[{"Effect":"Allow","Action":"secrets:List","Resource":"*"}]}'
    good.write_text(doc)
    cli.ok("policy", "put", pol, "--account", cast.a_id, "--document", str(good))
    assert cli.ok("policy", "get", pol, "--account", cast.a_id).strip() == doc
    assert pol in [p["PolicyName"] for p in cli.json("policy", "list", "--account", cast.a_id)["Policies"]]
    k = cast.key(cast.a_id, cast.a_project)
    cli.ok("policy", "attach", pol, "--access-key", k.id)
    k.ali().call("ListSecrets")
    keys = cli.json("access-key", "list", "--account", cast.a_id)["AccessKeys"]
    assert [x["Policies"] for x in keys if x["AccessKeyId"] == k.id] == [[pol]]
    assert "Conflict" in cli.fails("policy", "delete", pol, "--account", cast.a_id)
    cli.ok("policy", "detach", pol, "--access-key", k.id)
    cli.ok("policy", "delete", pol, "--account", cast.a_id)
    assert "NotFound" in cli.fails("policy", "get", pol, "--account", cast.a_id)
    assert "NotFound" in cli.fails("policy", "attach", "nope", "--access-key", k.id)


def test_refusals(cli, cast):
    # a non-admin key administers nothing
    err = cli.fails("account", "list", ak=cast.a_ro.id, sk=cast.a_ro.secret)
    assert "AccessDenied" in err
    # an account admin manages its own account only; another account's key reads as missing
    b = cast.b_admin
    assert cli.json("access-key", "list", "--account", cast.b_id, ak=b.id, sk=b.secret)["AccessKeys"]
    assert "AccessDenied" in cli.fails("access-key", "list", "--account", cast.a_id, ak=b.id, sk=b.secret)
    assert "AccessDenied" in cli.fails("account", "create", "x", ak=b.id, sk=b.secret)
    assert "NotFound" in cli.fails("access-key", "disable", cast.a_ro.id, ak=b.id, sk=b.secret)
    assert "AccessDenied" in cli.fails("audit", "tail", ak=b.id, sk=b.secret)
    # a wrong secret is an authentication failure
    assert "InvalidSignature" in cli.fails("account", "list", sk="wrong-secret")
    # the operator keeps its last admin key
    assert "Conflict" in cli.fails("access-key", "disable", cli.ak)
