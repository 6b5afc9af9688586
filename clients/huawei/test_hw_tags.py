"""Tags by secret id (reference 4.13): create_secret_tag, list_secret_tags, delete_secret_tag,
batch_create_or_delete_tags, list_project_secrets_tags, list_resource_instances (filter / count)."""
import uuid

import pytest

from hw_helpers import expect_hw, hw_name


def _tags(hw, sid):
    r = hw.call("list_secret_tags", secret_id=sid)
    assert r.get("sys_tags", []) == [], r
    return {t["key"]: t["value"] for t in r["tags"]}


def _tag(hw, sid, key, value):
    return hw.call("create_secret_tag", secret_id=sid, body={"tag": {"key": key, "value": value}})


def _batch(hw, sid, action, tags, **kw):
    return hw.call("batch_create_or_delete_tags", secret_id=sid,
                   body=dict({"action": action, "tags": [{"key": k, "value": v} for k, v in tags]}, **kw))


def test_create_list_overwrite_delete_tag(hw, secret):
    sid = secret["id"]
    assert _tags(hw, sid) == {}
    assert _tag(hw, sid, "env", "prod") is None  # 204
    assert _tags(hw, sid) == {"env": "prod"}
    assert hw.last_model.tags[0].key == "env"
    _tag(hw, sid, "env", "staging")  # one value per key: overwritten
    _tag(hw, sid, "team", "")
    assert _tags(hw, sid) == {"env": "staging", "team": ""}
    assert hw.call("delete_secret_tag", secret_id=sid, key="env") is None  # 204
    assert _tags(hw, sid) == {"team": ""}
    with expect_hw(404, "CSMS.0005"):
        hw.call("delete_secret_tag", secret_id=sid, key="env")


def test_awkward_tag_keys_travel_percent_encoded(hw, secret):
    sid = secret["id"]
    keys = ["a b:c=d+e@f", "caf\u00e9.\u4e2d\u6587", "k_-.:=+@x", "x" * 128]
    for i, k in enumerate(keys):
        _tag(hw, sid, k, "v/%d:=+-@ \u00e9" % i)
    assert _tags(hw, sid) == {k: "v/%d:=+-@ \u00e9" % i for i, k in enumerate(keys)}
    for k in keys:
        hw.call("delete_secret_tag", secret_id=sid, key=k)
    assert _tags(hw, sid) == {}


@pytest.mark.parametrize("key", ["", " lead", "trail ", "_sys_key", "x" * 129, "bad/slash", "star*", "a,b"])
def test_bad_tag_key_is_400(hw, secret, key):
    with expect_hw(400, "CSMS.0002"):
        _tag(hw, secret["id"], key, "v")
    assert _tags(hw, secret["id"]) == {}


@pytest.mark.parametrize("value", ["x" * 256, "star*", "semi;colon", "a,b"])
def test_bad_tag_value_is_400(hw, secret, value):
    with expect_hw(400, "CSMS.0002"):
        _tag(hw, secret["id"], "k", value)
    assert _tags(hw, secret["id"]) == {}


def test_tag_value_of_255_chars_is_fine(hw, secret):
    _tag(hw, secret["id"], "long", "v" * 255)
    assert _tags(hw, secret["id"]) == {"long": "v" * 255}


def test_tags_on_unknown_secret_id_are_404(hw):
    sid = str(uuid.uuid4())
    with expect_hw(404, "CSMS.0005"):
        _tag(hw, sid, "k", "v")
    with expect_hw(404, "CSMS.0005"):
        hw.call("list_secret_tags", secret_id=sid)
    with expect_hw(404, "CSMS.0005"):
        hw.call("delete_secret_tag", secret_id=sid, key="k")
    with expect_hw(404, "CSMS.0005"):
        _batch(hw, sid, "create", [("k", "v")])


def test_tags_are_addressed_by_id_not_name(hw, secret):
    # A name is no secret id: no secret has it, 404 CSMS.0005 as for any unknown id.
    with expect_hw(404, "CSMS.0005"):
        hw.call("list_secret_tags", secret_id=secret["name"])


def test_batch_create_and_delete(hw, secret):
    sid = secret["id"]
    assert _batch(hw, sid, "create", [("a", "1"), ("b", "2"), ("c", "3")], sequence="seq-1") is None  # 204
    assert _tags(hw, sid) == {"a": "1", "b": "2", "c": "3"}
    _batch(hw, sid, "create", [("a", "10"), ("d", "4")])
    assert _tags(hw, sid) == {"a": "10", "b": "2", "c": "3", "d": "4"}
    _batch(hw, sid, "delete", [("a", "10"), ("c", "3")])
    assert _tags(hw, sid) == {"b": "2", "d": "4"}


def test_batch_bad_action_or_size_is_400_and_writes_nothing(hw, secret):
    sid = secret["id"]
    with expect_hw(400, "CSMS.0002"):
        _batch(hw, sid, "upsert", [("a", "1")])
    with expect_hw(400, "CSMS.0002"):
        _batch(hw, sid, "create", [])
    with expect_hw(400, "CSMS.0002"):
        _batch(hw, sid, "create", [("k%02d" % i, "v") for i in range(21)])
    with expect_hw(400, "CSMS.0002"):
        _batch(hw, sid, "create", [("good", "1"), ("_sys_bad", "2")])
    with expect_hw(400, "CSMS.0002"):
        _batch(hw, sid, "create", [("a", "1")], sequence="s" * 37)
    assert _tags(hw, sid) == {}


def test_at_most_20_tags_per_secret(hw, secret):
    sid = secret["id"]
    _batch(hw, sid, "create", [("k%02d" % i, "v") for i in range(20)])
    assert len(_tags(hw, sid)) == 20
    with expect_hw(400, "CSMS.0002"):
        _tag(hw, sid, "k20", "v")
    with expect_hw(400, "CSMS.0002"):
        _batch(hw, sid, "create", [("k00", "new"), ("k21", "v")])
    _tag(hw, sid, "k00", "overwritten")  # overwriting an existing key is not a new tag
    tags = _tags(hw, sid)
    assert len(tags) == 20 and tags["k00"] == "overwritten" and "k21" not in tags


def test_project_tags_aggregate_values(hw):
    key = "agg-" + uuid.uuid4().hex[:8]
    sids = []
    for v in ("one", "two", "two"):
        s = hw.call("create_secret", body={"name": hw_name("ptag"), "secret_string": "x"})["secret"]
        _tag(hw, s["id"], key, v)
        sids.append(s["id"])
    r = hw.call("list_project_secrets_tags")
    by_key = {t["key"]: t["values"] for t in r["tags"]}
    assert sorted(by_key[key]) == ["one", "two"]
    for sid in sids:
        hw.call("delete_secret_tag", secret_id=sid, key=key)
    by_key = {t["key"]: t["values"] for t in hw.call("list_project_secrets_tags")["tags"]}
    assert key not in by_key


# ----------------------------------------------------------------------------- resource instances
def _filter(hw, **body):
    body.setdefault("action", "filter")
    return hw.call("list_resource_instances", resource_instances="resource_instances", body=body)


@pytest.fixture
def tagged(hw):
    """Three secrets tagged with a fresh key: colour=red / colour=blue / colour=red + size=xl."""
    key = "colour-" + uuid.uuid4().hex[:6]
    size = "size-" + uuid.uuid4().hex[:6]
    prefix = "ri" + uuid.uuid4().hex[:8]
    out = {}
    for label, tags in (("a", {key: "red"}), ("b", {key: "blue"}), ("c", {key: "red", size: "xl"})):
        s = hw.call("create_secret", body={"name": "%s-%s" % (prefix, label), "secret_string": "x"})["secret"]
        _batch(hw, s["id"], "create", list(tags.items()))
        out[label] = s
    return key, size, prefix, out


def test_resource_instances_filter_by_tags(hw, tagged):
    key, size, prefix, s = tagged
    r = _filter(hw, tags=[{"key": key, "values": ["red"]}], limit="100")
    assert r["total_count"] == 2
    got = {x["resource_name"]: x for x in r["resources"]}
    assert sorted(got) == sorted([s["a"]["name"], s["c"]["name"]])
    a = got[s["a"]["name"]]
    assert a["resource_id"] == s["a"]["id"]
    assert a["resource_detail"]["id"] == s["a"]["id"] and a["resource_detail"]["name"] == s["a"]["name"]
    assert a["resource_detail"]["state"] == "ENABLED"
    assert a["tags"] == [{"key": key, "value": "red"}]
    assert a.get("sys_tags", []) == []
    # OR across one key's values, AND across keys, empty values = any value
    r = _filter(hw, tags=[{"key": key, "values": ["red", "blue"]}], limit="100")
    assert r["total_count"] == 3
    r = _filter(hw, tags=[{"key": key, "values": ["red"]}, {"key": size, "values": []}], limit="100")
    assert [x["resource_name"] for x in r["resources"]] == [s["c"]["name"]]
    r = _filter(hw, tags=[{"key": key, "values": []}], limit="100")
    assert r["total_count"] == 3
    r = _filter(hw, tags=[{"key": key, "values": ["green"]}], limit="100")
    assert (r["total_count"], r.get("resources") or []) == (0, [])


def test_resource_instances_count(hw, tagged):
    key, size, prefix, s = tagged
    r = _filter(hw, action="count", tags=[{"key": key, "values": ["red"]}])
    assert r["total_count"] == 2
    assert not r.get("resources")


def test_resource_instances_match_name_and_page(hw, tagged):
    key, size, prefix, s = tagged
    r = _filter(hw, tags=[{"key": key, "values": []}], matches=[{"key": "resource_name", "value": prefix + "-b"}],
                limit="100")
    assert [x["resource_name"] for x in r["resources"]] == [s["b"]["name"]]
    r = _filter(hw, matches=[{"key": "resource_name", "value": prefix}], limit="100")
    assert r["total_count"] == 3
    # paging: limit/offset over the same result set, total_count stays the full count
    names = []
    for off in ("0", "1", "2", "3"):
        r = _filter(hw, tags=[{"key": key, "values": []}], limit="1", offset=off)
        assert r["total_count"] == 3
        names += [x["resource_name"] for x in r["resources"]]
    assert sorted(names) == sorted(x["name"] for x in s.values())


@pytest.mark.parametrize("body", [
    {"action": "list"},
    {"action": "filter", "limit": "0"},
    {"action": "filter", "limit": "1001"},
    {"action": "filter", "offset": "-1"},
    {"action": "filter", "tags": [{"key": "k%d" % i, "values": []} for i in range(11)]},
    {"action": "filter", "tags": [{"key": "k", "values": ["v%d" % i for i in range(11)]}]},
    {"action": "filter", "matches": [{"key": "resource_id", "value": "x"}]},
])
def test_resource_instances_bad_input_is_400(hw, body):
    with expect_hw(400, "CSMS.0002"):
        hw.call("list_resource_instances", resource_instances="resource_instances", body=body)


def test_tags_of_a_deleted_secret_are_gone(hw, secret):
    key = "gone-" + uuid.uuid4().hex[:6]
    _tag(hw, secret["id"], key, "v")
    hw.call("delete_secret", secret_name=secret["name"])
    with expect_hw(404, "CSMS.0005"):
        hw.call("list_secret_tags", secret_id=secret["id"])
    assert key not in {t["key"] for t in hw.call("list_project_secrets_tags")["tags"]}
    r = _filter(hw, tags=[{"key": key, "values": []}], limit="10")
    assert r["total_count"] == 0
