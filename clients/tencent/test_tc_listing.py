"""ListSecrets: paging, ordering, state filter, name search, tag filters, item fields (SDK, TC3 POST).

Every test confines itself with SearchSecretName on a fresh token so other tests' secrets don't count."""
import time
import uuid

from tc_helpers import assert_near, expect_tc_error


def token():
    return "L" + uuid.uuid4().hex[:10]


def mk(tc, name, tags=None, **kw):
    kw.setdefault("VersionId", "v1")
    kw.setdefault("SecretString", "x")
    if tags:
        kw["Tags"] = [{"TagKey": k, "TagValue": v} for k, v in tags.items()]
    tc.call("CreateSecret", SecretName=name, **kw)
    return name


def names(r):
    return [m["SecretName"] for m in r["SecretMetadatas"]]


def ls(tc, tok, **kw):
    r = tc.call("ListSecrets", SearchSecretName=tok, **kw)
    assert type(r["TotalCount"]) is int
    assert isinstance(r["SecretMetadatas"], list)
    return r


def test_item_fields(tc, account):
    tok = token()
    now = int(time.time())
    n = mk(tc, tok + "-a", Description="listed")
    r = ls(tc, tok)
    assert r["TotalCount"] == 1 and names(r) == [n]
    m = r["SecretMetadatas"][0]
    assert m["Description"] == "listed"
    assert m["Status"] == "Enabled"
    assert m["KmsKeyType"] == "DEFAULT"
    assert isinstance(m["KmsKeyId"], str) and m["KmsKeyId"]
    assert m["KmsKeyId"] == tc.call("DescribeSecret", SecretName=n)["KmsKeyId"]
    assert type(m["RotationStatus"]) is int and m["RotationStatus"] == 0, \
        "ListSecrets items carry RotationStatus as the integer 0: %r" % m
    assert_near(m["CreateTime"], now)
    assert m["DeleteTime"] == 0
    assert m["SecretType"] == 0
    assert type(m["CreateUin"]) is int and m["CreateUin"] == int(account)
    assert m.get("CreateUinString") == account


def test_order_newest_first_by_default_and_oldest_first(tc):
    tok = token()
    created = []
    for i, suffix in enumerate((5, 9, 1)):
        # creation order is neither ascending nor descending by name, so a name ordering would show
        created.append(mk(tc, "%s-%d" % (tok, suffix)))
        if i < 2:
            time.sleep(1.1)
    assert names(ls(tc, tok)) == created[::-1]
    assert names(ls(tc, tok, OrderType=0)) == created[::-1]
    assert names(ls(tc, tok, OrderType=1)) == created


def test_paging_and_total_count(tc):
    tok = token()
    for i in range(7):
        mk(tc, "%s-%02d" % (tok, i))
    full = names(ls(tc, tok, OrderType=1))
    assert len(full) == 7 and set(full) == {"%s-%02d" % (tok, i) for i in range(7)}
    r = ls(tc, tok, OrderType=1, Offset=0, Limit=3)
    assert r["TotalCount"] == 7 and names(r) == full[:3]
    r = ls(tc, tok, OrderType=1, Offset=3, Limit=3)
    assert r["TotalCount"] == 7 and names(r) == full[3:6]
    r = ls(tc, tok, OrderType=1, Offset=6, Limit=3)
    assert r["TotalCount"] == 7 and names(r) == full[6:]
    r = ls(tc, tok, OrderType=1, Offset=10, Limit=3)
    assert r["TotalCount"] == 7 and names(r) == []


def test_default_limit_is_20_and_limit_caps_at_1000(tc):
    tok = token()
    for i in range(23):
        mk(tc, "%s-%02d" % (tok, i))
    r = ls(tc, tok)
    assert r["TotalCount"] == 23 and len(r["SecretMetadatas"]) == 20
    r = ls(tc, tok, Limit=0)
    assert r["TotalCount"] == 23 and len(r["SecretMetadatas"]) == 20
    r = ls(tc, tok, Limit=1000)
    assert len(r["SecretMetadatas"]) == 23
    r = ls(tc, tok, Limit=5000)  # clamped, not an error
    assert r["TotalCount"] == 23 and len(r["SecretMetadatas"]) == 23


def test_state_filter(tc):
    tok = token()
    enabled = mk(tc, tok + "-enabled")
    disabled = mk(tc, tok + "-disabled")
    pending = mk(tc, tok + "-pending")
    tc.call("DisableSecret", SecretName=disabled)
    tc.call("DisableSecret", SecretName=pending)
    tc.call("DeleteSecret", SecretName=pending, RecoveryWindowInDays=5)
    assert sorted(names(ls(tc, tok))) == sorted([enabled, disabled, pending])
    assert sorted(names(ls(tc, tok, State=0))) == sorted([enabled, disabled, pending])
    assert names(ls(tc, tok, State=1)) == [enabled]
    assert names(ls(tc, tok, State=2)) == [disabled]
    r = ls(tc, tok, State=3)
    assert names(r) == [pending] and r["TotalCount"] == 1
    m = r["SecretMetadatas"][0]
    assert m["Status"] == "PendingDelete"
    assert_near(m["DeleteTime"], int(time.time()) + 5 * 86400)
    statuses = {m["SecretName"]: m["Status"] for m in ls(tc, tok)["SecretMetadatas"]}
    assert statuses == {enabled: "Enabled", disabled: "Disabled", pending: "PendingDelete"}


def test_search_is_a_case_sensitive_substring(tc):
    tok = token()
    a = mk(tc, "pre-%s-MixedCase" % tok)
    b = mk(tc, "%s-mixedcase-post" % tok)
    assert sorted(names(ls(tc, tok))) == sorted([a, b])
    assert names(ls(tc, tok + "-Mixed")) == [a]
    assert names(ls(tc, tok + "-mixed")) == [b]
    assert names(ls(tc, tok + "-MIXED")) == []
    assert ls(tc, "pre-" + tok)["TotalCount"] == 1


def test_tag_filters(tc):
    tok = token()
    s1 = mk(tc, tok + "-1", {"env": "prod", "team": "a"})
    s2 = mk(tc, tok + "-2", {"env": "dev", "team": "a"})
    s3 = mk(tc, tok + "-3", {"env": "prod"})
    s4 = mk(tc, tok + "-4", {"owner": "x"})
    mk(tc, tok + "-5")

    def tf(*filters):
        r = ls(tc, tok, TagFilters=[{"TagKey": k, "TagValue": v} for k, v in filters])
        assert r["TotalCount"] == len(r["SecretMetadatas"])
        return sorted(names(r))

    assert tf(("env", ["prod"])) == sorted([s1, s3])
    assert tf(("env", ["prod", "dev"])) == sorted([s1, s2, s3])  # OR within one entry
    assert tf(("env", ["prod"]), ("team", ["a"])) == [s1]  # AND across entries
    assert tf(("team", [])) == sorted([s1, s2])  # empty list: the key is present
    assert tf(("env", ["staging"])) == []
    assert tf(("owner", ["x"]), ("env", [])) == []
    assert tf(("owner", ["X"])) == []  # values match exactly
    assert tf(("Env", ["prod"])) == []  # keys match exactly


def test_secret_type_defaults_to_user_secrets(tc):
    tok = token()
    n = mk(tc, tok + "-u")
    assert names(ls(tc, tok, SecretType=0)) == [n]
    r = ls(tc, tok, SecretType=1)
    assert r["TotalCount"] == 0 and names(r) == []


def test_deleted_secret_is_not_listed(tc):
    tok = token()
    n = mk(tc, tok + "-gone")
    tc.call("DisableSecret", SecretName=n)
    tc.call("DeleteSecret", SecretName=n)
    r = ls(tc, tok)
    assert r["TotalCount"] == 0 and names(r) == []


def test_bad_list_parameters(tc):
    with expect_tc_error("InvalidParameterValue", "OrderType"):
        tc.call("ListSecrets", OrderType=2)
    with expect_tc_error("InvalidParameterValue", "State"):
        tc.call("ListSecrets", State=9)
    with expect_tc_error("InvalidParameterValue", "Offset"):
        tc.call("ListSecrets", Offset=-1)
