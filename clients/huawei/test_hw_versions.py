"""Versions: create, list, show (vN and latest), update expire_time (reference 4.8-4.11 and the Coffer
decisions there)."""
import pytest

from hw_helpers import (VERSION_RE, assert_ms_near, expect_hw, hw_binary, hw_name, hw_value, now_ms,
                        stages_by_version)


def _versions(hw, name, **kw):
    return hw.call("list_secret_versions", secret_name=name, **kw)["version_metadatas"]


def _value(hw, name, vid="latest"):
    v = hw.call("show_secret_version", secret_name=name, version_id=vid)["version"]
    return v.get("secret_string") if v.get("secret_string") is not None else v.get("secret_binary")


def test_new_versions_rotate_syscurrent_and_sysprevious(hw, name):
    values = [hw_value("v%d" % i) for i in range(1, 5)]
    hw.call("create_secret", body={"name": name, "secret_string": values[0]})
    for i, value in enumerate(values[1:], start=2):
        before = now_ms()
        md = hw.call("create_secret_version", secret_name=name, body={"secret_string": value})["version_metadata"]
        assert md["id"] == "v%d" % i
        assert md["secret_name"] == name
        assert md["version_stages"] == ["SYSCURRENT"]
        assert_ms_near(md["create_time"], before)
        assert hw.last_model.version_metadata.id == "v%d" % i
    assert stages_by_version(_versions(hw, name)) == {
        "v1": [], "v2": [], "v3": ["SYSPREVIOUS"], "v4": ["SYSCURRENT"]}
    assert _value(hw, name) == values[3]
    for i, value in enumerate(values, start=1):
        assert _value(hw, name, "v%d" % i) == value
    latest = hw.call("show_secret_version", secret_name=name, version_id="latest")["version"]
    assert latest["version_metadata"]["id"] == "v4"
    assert latest["version_metadata"]["version_stages"] == ["SYSCURRENT"]


def test_binary_versions(hw, name):
    b1, b2 = hw_binary(10), hw_binary(300)
    hw.call("create_secret", body={"name": name, "secret_binary": b1})
    hw.call("create_secret_version", secret_name=name, body={"secret_binary": b2})
    v = hw.call("show_secret_version", secret_name=name, version_id="latest")["version"]
    assert v["secret_binary"] == b2 and v.get("secret_string") is None
    hw.call("create_secret_version", secret_name=name, body={"secret_string": "text now"})
    v = hw.call("show_secret_version", secret_name=name, version_id="v3")["version"]
    assert v["secret_string"] == "text now" and v.get("secret_binary") is None
    assert hw.call("show_secret_version", secret_name=name, version_id="v1")["version"]["secret_binary"] == b1


def test_version_with_custom_stage_only_leaves_syscurrent(hw, secret):
    name = secret["name"]
    md = hw.call("create_secret_version", secret_name=name,
                 body={"secret_string": "staged", "version_stages": ["pending-1"]})["version_metadata"]
    assert md["id"] == "v2" and md["version_stages"] == ["pending-1"]
    assert stages_by_version(_versions(hw, name)) == {"v1": ["SYSCURRENT"], "v2": ["pending-1"]}
    assert hw.call("show_secret_version", secret_name=name, version_id="latest")["version"]["version_metadata"][
        "id"] == "v1"
    # a later version taking the same custom stage moves it
    hw.call("create_secret_version", secret_name=name, body={"secret_string": "s3", "version_stages": ["pending-1"]})
    assert stages_by_version(_versions(hw, name)) == {"v1": ["SYSCURRENT"], "v2": [], "v3": ["pending-1"]}


def test_version_with_syscurrent_and_custom_stage_rotates(hw, secret):
    name = secret["name"]
    md = hw.call("create_secret_version", secret_name=name,
                 body={"secret_string": "caf\u00e9 v2", "version_stages": ["SYSCURRENT", "my-stage"]})[
        "version_metadata"]
    assert sorted(md["version_stages"]) == ["SYSCURRENT", "my-stage"]
    assert stages_by_version(_versions(hw, name)) == {"v1": ["SYSPREVIOUS"], "v2": ["SYSCURRENT", "my-stage"]}
    assert _value(hw, name) == "caf\u00e9 v2"


def test_version_expire_time_and_update_version(hw, secret):
    name = secret["name"]
    exp = now_ms() + 3 * 86_400_000
    md = hw.call("create_secret_version", secret_name=name,
                 body={"secret_string": "expiring", "expire_time": exp})["version_metadata"]
    assert md["expire_time"] == exp
    v = hw.call("show_secret_version", secret_name=name, version_id="v2")["version"]
    assert v["version_metadata"]["expire_time"] == exp
    exp2 = exp + 86_400_000
    md = hw.call("update_version", secret_name=name, version_id="v2", body={"expire_time": exp2})["version_metadata"]
    assert md["id"] == "v2" and md["expire_time"] == exp2 and md["version_stages"] == ["SYSCURRENT"]
    assert hw.last_model.version_metadata.expire_time == exp2
    assert {m["id"]: m.get("expire_time") for m in _versions(hw, name)} == {"v1": None, "v2": exp2}
    # latest works for update too? only vN is documented for update; v1 by id
    md = hw.call("update_version", secret_name=name, version_id="v1", body={"expire_time": exp})["version_metadata"]
    assert md["expire_time"] == exp


@pytest.mark.parametrize("exp", [-1, 10_000_000_000_000])
def test_expire_time_out_of_range_is_400(hw, secret, exp):
    with expect_hw(400, "CSMS.0002"):
        hw.call("create_secret_version", secret_name=secret["name"], body={"secret_string": "x", "expire_time": exp})
    with expect_hw(400, "CSMS.0002"):
        hw.call("update_version", secret_name=secret["name"], version_id="v1", body={"expire_time": exp})
    assert [m["id"] for m in _versions(hw, secret["name"])] == ["v1"]


def test_update_version_without_expire_time_is_400(hw, secret):
    with expect_hw(400, "CSMS.0002"):
        hw.call("update_version", secret_name=secret["name"], version_id="v1", body={})


def test_list_versions_pages(hw, secret):
    name = secret["name"]
    for i in range(2, 6):
        hw.call("create_secret_version", secret_name=name, body={"secret_string": "value %d" % i})
    all_md = _versions(hw, name)
    assert [m["id"] for m in all_md] == ["v1", "v2", "v3", "v4", "v5"]
    for m in all_md:
        assert VERSION_RE.match(m["id"]) and m["secret_name"] == name
        assert isinstance(m["create_time"], int) and m["kms_key_id"] == secret["kms_key_id"]
        assert "secret_string" not in m and "secret_binary" not in m
    r = hw.call("list_secret_versions", secret_name=name, limit=2)
    assert [m["id"] for m in r["version_metadatas"]] == ["v1", "v2"]
    assert r["page_info"]["current_count"] == 2
    assert r["page_info"]["next_marker"] == "v2" and r["page_info"]["previous_marker"] == "v1"
    r = hw.call("list_secret_versions", secret_name=name, limit=2, marker="v2")
    assert [m["id"] for m in r["version_metadatas"]] == ["v3", "v4"]
    r = hw.call("list_secret_versions", secret_name=name, limit=2, marker="v4")
    assert [m["id"] for m in r["version_metadatas"]] == ["v5"]
    assert r["page_info"]["current_count"] == 1
    assert r["page_info"]["next_marker"] is None  # the last page (see test_hw_secrets)


@pytest.mark.parametrize("limit", [0, -1, 1001])
def test_list_versions_bad_limit_is_400(hw, secret, limit):
    with expect_hw(400, "CSMS.0002"):
        hw.call("list_secret_versions", secret_name=secret["name"], limit=limit)


def test_unknown_version_is_404_csms_0005(hw, secret):
    with expect_hw(404, "CSMS.0005"):
        hw.call("show_secret_version", secret_name=secret["name"], version_id="v2")
    with expect_hw(404, "CSMS.0005"):
        hw.call("show_secret_version", secret_name=secret["name"], version_id="v999999")
    with expect_hw(404, "CSMS.0005"):
        hw.call("update_version", secret_name=secret["name"], version_id="v7", body={"expire_time": now_ms()})


def test_version_of_missing_secret_is_404_csms_0106(hw):
    n = hw_name("missing")
    with expect_hw(404, "CSMS.0106"):
        hw.call("show_secret_version", secret_name=n, version_id="latest")
    with expect_hw(404, "CSMS.0106"):
        hw.call("create_secret_version", secret_name=n, body={"secret_string": "x"})
    with expect_hw(404, "CSMS.0106"):
        hw.call("show_secret", secret_name=n)


@pytest.mark.parametrize("vid", ["SYSCURRENT", "SYSPREVIOUS", "current", "V1"])
def test_only_vn_and_latest_address_a_version(hw, secret, vid):
    """Coffer decision (4.10): stage names are not accepted where a version id goes."""
    # They fit the API's version id pattern, so they are not invalid, only no version's id:
    # 404 CSMS.0005.
    with expect_hw(404, "CSMS.0005"):
        hw.call("show_secret_version", secret_name=secret["name"], version_id=vid)


def test_at_most_20_versions(hw, secret):
    """20 versions per secret. Huawei's over-limit code is not among the published rows; coffer's decision
    is 400 CSMS.0002 (it drops no version to make room), and nothing is half-written."""
    name = secret["name"]
    for i in range(2, 21):
        hw.call("create_secret_version", secret_name=name, body={"secret_string": "value %d" % i})
    assert len(_versions(hw, name, limit=1000)) == 20
    with expect_hw(400, "CSMS.0002"):
        hw.call("create_secret_version", secret_name=name, body={"secret_string": "value 21"})
    ids = [m["id"] for m in _versions(hw, name, limit=1000)]
    assert ids == ["v%d" % i for i in range(1, 21)]
    assert _value(hw, name) == "value 20"


def test_version_value_limits(hw, secret):
    name = secret["name"]
    big = "x" * 32768
    hw.call("create_secret_version", secret_name=name, body={"secret_string": big})
    assert _value(hw, name) == big
    with expect_hw(400, "CSMS.0002"):
        hw.call("create_secret_version", secret_name=name, body={"secret_string": big + "y"})
    with expect_hw(400, "CSMS.0002"):
        hw.call("create_secret_version", secret_name=name, body={"secret_string": "a", "secret_binary": "YQ=="})
    with expect_hw(400, "CSMS.0002"):
        hw.call("create_secret_version", secret_name=name, body={})
    with expect_hw(400, "CSMS.0002"):
        hw.call("create_secret_version", secret_name=name, body={"secret_binary": "not base64!!"})
    assert [m["id"] for m in _versions(hw, name)] == ["v1", "v2"]
