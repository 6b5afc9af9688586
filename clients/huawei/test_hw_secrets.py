"""Secrets through the official SDK: create, show, update, delete, list (reference 4.1-4.5, section 3)."""
import pytest

from hw_helpers import (UUID_RE, assert_ms_near, expect_hw, hw_binary, hw_name, hw_value, make_hw, now_ms,
                        stages_by_version)


def check_secret(s, name, *, state="ENABLED", description=None):
    """The Secret object as Huawei documents it: types on the wire, epoch-millisecond times."""
    assert s["name"] == name
    assert isinstance(s["id"], str) and UUID_RE.match(s["id"]), s
    assert s["state"] == state, s
    assert isinstance(s["kms_key_id"], str) and s["kms_key_id"], s
    if description is not None:
        assert s.get("description") == description, s
    assert_ms_near(s["create_time"], now_ms(), 10 * 60_000)
    assert_ms_near(s["update_time"], now_ms(), 10 * 60_000)
    assert s["update_time"] >= s["create_time"]
    assert s.get("secret_type", "COMMON") == "COMMON", s
    assert s.get("auto_rotation", False) is False, s
    if state != "PENDING_DELETE":
        assert s.get("scheduled_delete_time") is None, s
    for k in ("secret_string", "secret_binary", "version_stages"):
        assert k not in s, "secret metadata carries %s: %r" % (k, s)
    return s


def test_create_text_secret(hw, name):
    value = hw_value("create")
    before = now_ms()
    r = hw.call("create_secret", body={"name": name, "secret_string": value, "description": "first one"})
    assert set(r) - {"request_id"} == {"secret"}, r
    s = check_secret(r["secret"], name, description="first one")
    assert_ms_near(s["create_time"], before)
    # the SDK parsed the same thing
    m = hw.last_model.secret
    assert (m.id, m.name, m.state, m.create_time) == (s["id"], name, "ENABLED", s["create_time"])

    v = hw.call("show_secret_version", secret_name=name, version_id="v1")["version"]
    assert v["secret_string"] == value
    assert v.get("secret_binary") is None
    md = v["version_metadata"]
    assert md["id"] == "v1" and md["secret_name"] == name
    assert md["version_stages"] == ["SYSCURRENT"]
    assert md["kms_key_id"] == s["kms_key_id"]
    assert_ms_near(md["create_time"], before)
    assert md.get("expire_time") is None
    assert hw.last_model.version.secret_string == value


def test_create_binary_secret(hw, name):
    value = hw_binary(200)
    s = hw.call("create_secret", body={"name": name, "secret_binary": value})["secret"]
    check_secret(s, name)
    v = hw.call("show_secret_version", secret_name=name, version_id="latest")["version"]
    assert v["secret_binary"] == value
    assert v.get("secret_string") is None
    assert v["version_metadata"]["id"] == "v1"


def test_create_with_unicode_and_empty_description(hw):
    n = hw_name("uni")
    value = "\u00e9\u00e8\u4e2d\u6587 \U0001F511 caf\u00e9"
    hw.call("create_secret", body={"name": n, "secret_string": value, "description": "\u5bc6\u94a5 \u00e9"})
    assert hw.call("show_secret", secret_name=n)["secret"]["description"] == "\u5bc6\u94a5 \u00e9"
    assert hw.call("show_secret_version", secret_name=n, version_id="v1")["version"]["secret_string"] == value


def test_name_charset_and_length_edges(hw):
    for n in ("a_b-C_%s" % hw_name("x").replace("-", "_"), (hw_name("L") + "x" * 64)[:64], "0-" + hw_name("")):
        hw.call("create_secret", body={"name": n, "secret_string": "edge"})
        assert hw.call("show_secret", secret_name=n)["secret"]["name"] == n


def test_show_secret(hw, secret):
    s = hw.call("show_secret", secret_name=secret["name"])["secret"]
    check_secret(s, secret["name"])
    assert s["id"] == secret["id"] and s["create_time"] == secret["create_time"]


def test_show_missing_secret_is_404(hw):
    with expect_hw(404, "CSMS.0106"):
        hw.call("show_secret", secret_name=hw_name("missing"))


def test_update_description(hw, secret):
    name = secret["name"]
    r = hw.call("update_secret", secret_name=name, body={"description": "changed \u00e9"})
    s = check_secret(r["secret"], name, description="changed \u00e9")
    assert s["id"] == secret["id"] and s["create_time"] == secret["create_time"]
    assert s["update_time"] >= secret["update_time"]
    assert hw.call("show_secret", secret_name=name)["secret"]["description"] == "changed \u00e9"
    # metadata only: the value is untouched
    v = hw.call("show_secret_version", secret_name=name, version_id="latest")["version"]
    assert v["version_metadata"]["id"] == "v1"


def test_update_kms_key_to_the_same_key(hw, secret):
    r = hw.call("update_secret", secret_name=secret["name"], body={"kms_key_id": secret["kms_key_id"]})
    assert r["secret"]["kms_key_id"] == secret["kms_key_id"]


def test_update_missing_secret_is_404(hw):
    with expect_hw(404, "CSMS.0106"):
        hw.call("update_secret", secret_name=hw_name("missing"), body={"description": "x"})


def test_delete_secret_immediately(hw, secret):
    name = secret["name"]
    assert hw.call("delete_secret", secret_name=name) is None  # 200, empty body
    with expect_hw(404, "CSMS.0106"):
        hw.call("show_secret", secret_name=name)
    with expect_hw(404, "CSMS.0106"):
        hw.call("show_secret_version", secret_name=name, version_id="latest")
    with expect_hw(404, "CSMS.0106"):
        hw.call("list_secret_versions", secret_name=name)
    with expect_hw(404, "CSMS.0106"):
        hw.call("delete_secret", secret_name=name)
    # the name is free again: a new secret, new id, history starts over
    s = hw.call("create_secret", body={"name": name, "secret_string": "reborn"})["secret"]
    assert s["id"] != secret["id"]
    vs = hw.call("list_secret_versions", secret_name=name)["version_metadatas"]
    assert stages_by_version(vs) == {"v1": ["SYSCURRENT"]}


def test_delete_missing_secret_is_404(hw):
    with expect_hw(404, "CSMS.0106"):
        hw.call("delete_secret", secret_name=hw_name("missing"))


def test_duplicate_name_is_400_csms_0002_and_keeps_the_original(hw, secret):
    with expect_hw(400, "CSMS.0002"):
        hw.call("create_secret", body={"name": secret["name"], "secret_string": "second"})
    vs = hw.call("list_secret_versions", secret_name=secret["name"])["version_metadatas"]
    assert [v["id"] for v in vs] == ["v1"]
    assert hw.call("show_secret", secret_name=secret["name"])["secret"]["id"] == secret["id"]


# ----------------------------------------------------------------------------- listing
def _all_pages(hw, limit):
    pages, marker = [], None
    for _ in range(10_000):
        r = hw.call("list_secrets", limit=str(limit), marker=marker)
        items, pi = r["secrets"], r["page_info"]
        pages.append(r)
        assert len(items) <= limit
        assert pi["current_count"] == len(items), pi
        if items:
            assert pi.get("previous_marker") == items[0]["name"], pi
        # Huawei documents next_marker as a string and says nothing of the last page; coffer
        # sends null there (the SDK reads None), and the marker of the last item otherwise.
        if pi["next_marker"] is None:
            return pages
        assert items and pi["next_marker"] == items[-1]["name"], pi
        marker = pi["next_marker"]
    raise AssertionError("listing never ended")


def test_list_secrets_pages_in_creation_order(hw):
    names = [hw_name("lst") for _ in range(5)]
    for n in names:
        hw.call("create_secret", body={"name": n, "secret_string": hw_value("list")})
    pages = _all_pages(hw, 2)
    seen = [s["name"] for p in pages for s in p["secrets"]]
    assert len(seen) == len(set(seen)), "a secret listed twice"
    pos = [seen.index(n) for n in names]
    assert pos == sorted(pos), "not in creation order: %s" % pos
    # the names created in a row are adjacent
    assert pos == list(range(pos[0], pos[0] + 5))
    for p in pages:
        for s in p["secrets"]:
            assert "secret_string" not in s and "secret_binary" not in s
    # the last page has no next_marker; a page after a marker starts right after it
    assert pages[-1]["page_info"]["next_marker"] is None
    r = hw.call("list_secrets", limit="2", marker=names[0])
    assert [s["name"] for s in r["secrets"]] == names[1:3]
    assert r["page_info"]["current_count"] == 2
    assert r["page_info"]["next_marker"] == names[2]
    last = hw.call("list_secrets", limit="1000", marker=names[4])
    assert names[4] not in [s["name"] for s in last["secrets"]]


def test_list_secrets_items_are_full_secret_objects(hw, secret):
    pages = _all_pages(hw, 1000)
    found = [s for p in pages for s in p["secrets"] if s["name"] == secret["name"]]
    assert len(found) == 1
    check_secret(found[0], secret["name"])
    assert found[0]["id"] == secret["id"]


def test_list_secrets_default_limit_is_50(hw):
    for _ in range(3):
        hw.call("create_secret", body={"name": hw_name("fill"), "secret_string": "x"})
    r = hw.call("list_secrets")
    total = sum(len(p["secrets"]) for p in _all_pages(hw, 1000))
    assert len(r["secrets"]) == min(50, total)
    assert r["page_info"]["current_count"] == len(r["secrets"])


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "10000"])
def test_list_secrets_bad_limit_is_400(hw, limit):
    with expect_hw(400, "CSMS.0002"):
        hw.call("list_secrets", limit=limit)


def test_secret_lookups_are_case_sensitive(hw):
    n = hw_name("Case")
    hw.call("create_secret", body={"name": n, "secret_string": "x"})
    with expect_hw(404, "CSMS.0106"):
        hw.call("show_secret", secret_name=n.lower())
    hw.call("create_secret", body={"name": n.lower(), "secret_string": "y"})
    assert hw.call("show_secret_version", secret_name=n.lower(), version_id="v1")["version"]["secret_string"] == "y"
    assert hw.call("show_secret_version", secret_name=n, version_id="v1")["version"]["secret_string"] == "x"


def test_two_clients_same_project_see_the_same_store(coffer, hw, secret):
    other = make_hw(coffer)
    assert other.call("show_secret", secret_name=secret["name"])["secret"]["id"] == secret["id"]
