"""Version stages: update_secret_stage (create/move), show_secret_stage, delete_secret_stage (reference 4.12,
section 5.2 and the Coffer decision that moving SYSCURRENT moves SYSPREVIOUS too)."""
import pytest

from hw_helpers import assert_ms_near, expect_hw, hw_name, now_ms, stages_by_version


def _stages(hw, name):
    return stages_by_version(hw.call("list_secret_versions", secret_name=name, limit=1000)["version_metadatas"])


def _add_versions(hw, name, n):
    for _ in range(n):
        hw.call("create_secret_version", secret_name=name, body={"secret_string": "more", "version_stages": ["tmp"]})
    # clear the helper stage again
    hw.call("delete_secret_stage", secret_name=name, stage_name="tmp")


def test_put_show_delete_custom_stage(hw, secret):
    name = secret["name"]
    _add_versions(hw, name, 1)
    before = now_ms()
    st = hw.call("update_secret_stage", secret_name=name, stage_name="blue", body={"version_id": "v2"})["stage"]
    assert (st["name"], st["version_id"], st["secret_name"]) == ("blue", "v2", name)
    assert_ms_near(st["update_time"], before)
    assert hw.last_model.stage.version_id == "v2"
    shown = hw.call("show_secret_stage", secret_name=name, stage_name="blue")["stage"]
    assert (shown["name"], shown["version_id"], shown["secret_name"]) == ("blue", "v2", name)
    assert _stages(hw, name) == {"v1": ["SYSCURRENT"], "v2": ["blue"]}

    # move it: one stage labels one version
    st = hw.call("update_secret_stage", secret_name=name, stage_name="blue", body={"version_id": "v1"})["stage"]
    assert st["version_id"] == "v1"
    assert _stages(hw, name) == {"v1": ["SYSCURRENT", "blue"], "v2": []}

    assert hw.call("delete_secret_stage", secret_name=name, stage_name="blue") is None  # 204
    assert _stages(hw, name) == {"v1": ["SYSCURRENT"], "v2": []}
    with expect_hw(404, "CSMS.0005"):
        hw.call("show_secret_stage", secret_name=name, stage_name="blue")
    with expect_hw(404, "CSMS.0005"):
        hw.call("delete_secret_stage", secret_name=name, stage_name="blue")


def test_show_builtin_stages(hw, secret):
    name = secret["name"]
    st = hw.call("show_secret_stage", secret_name=name, stage_name="SYSCURRENT")["stage"]
    assert (st["name"], st["version_id"]) == ("SYSCURRENT", "v1")
    with expect_hw(404, "CSMS.0005"):
        hw.call("show_secret_stage", secret_name=name, stage_name="SYSPREVIOUS")
    hw.call("create_secret_version", secret_name=name, body={"secret_string": "two"})
    assert hw.call("show_secret_stage", secret_name=name, stage_name="SYSPREVIOUS")["stage"]["version_id"] == "v1"
    assert hw.call("show_secret_stage", secret_name=name, stage_name="SYSCURRENT")["stage"]["version_id"] == "v2"


@pytest.mark.parametrize("stage", ["SYSCURRENT", "SYSPREVIOUS"])
def test_builtin_stages_cannot_be_deleted(hw, secret, stage):
    name = secret["name"]
    hw.call("create_secret_version", secret_name=name, body={"secret_string": "two"})
    with expect_hw(400, "CSMS.0105"):
        hw.call("delete_secret_stage", secret_name=name, stage_name=stage)
    assert _stages(hw, name) == {"v1": ["SYSPREVIOUS"], "v2": ["SYSCURRENT"]}


def test_moving_syscurrent_moves_sysprevious(hw, secret):
    name = secret["name"]
    hw.call("create_secret_version", secret_name=name, body={"secret_string": "two"})
    hw.call("create_secret_version", secret_name=name, body={"secret_string": "three"})
    assert _stages(hw, name) == {"v1": [], "v2": ["SYSPREVIOUS"], "v3": ["SYSCURRENT"]}
    st = hw.call("update_secret_stage", secret_name=name, stage_name="SYSCURRENT", body={"version_id": "v1"})["stage"]
    assert (st["name"], st["version_id"]) == ("SYSCURRENT", "v1")
    assert _stages(hw, name) == {"v1": ["SYSCURRENT"], "v2": [], "v3": ["SYSPREVIOUS"]}
    latest = hw.call("show_secret_version", secret_name=name, version_id="latest")["version"]
    assert latest["version_metadata"]["id"] == "v1" and latest["secret_string"] == secret_value_of(hw, name, "v1")
    # putting SYSCURRENT where it already is changes nothing
    hw.call("update_secret_stage", secret_name=name, stage_name="SYSCURRENT", body={"version_id": "v1"})
    assert _stages(hw, name) == {"v1": ["SYSCURRENT"], "v2": [], "v3": ["SYSPREVIOUS"]}


def secret_value_of(hw, name, vid):
    return hw.call("show_secret_version", secret_name=name, version_id=vid)["version"]["secret_string"]


def test_stage_to_unknown_version_is_404(hw, secret):
    with expect_hw(404, "CSMS.0005"):
        hw.call("update_secret_stage", secret_name=secret["name"], stage_name="green", body={"version_id": "v9"})
    with expect_hw(404, "CSMS.0005"):
        hw.call("show_secret_stage", secret_name=secret["name"], stage_name="green")


def test_stage_on_missing_secret_is_404_csms_0106(hw):
    n = hw_name("missing")
    with expect_hw(404, "CSMS.0106"):
        hw.call("update_secret_stage", secret_name=n, stage_name="green", body={"version_id": "v1"})
    with expect_hw(404, "CSMS.0106"):
        hw.call("show_secret_stage", secret_name=n, stage_name="SYSCURRENT")
    with expect_hw(404, "CSMS.0106"):
        hw.call("delete_secret_stage", secret_name=n, stage_name="green")


@pytest.mark.parametrize("stage", ["bad.name", "sp ace", "x" * 65, "\u00e9t\u00e9"])
def test_bad_stage_name_is_400(hw, secret, stage):
    with expect_hw(400, "CSMS.0002"):
        hw.call("update_secret_stage", secret_name=secret["name"], stage_name=stage, body={"version_id": "v1"})
    assert _stages(hw, secret["name"]) == {"v1": ["SYSCURRENT"]}


def test_stage_put_without_version_id_is_400(hw, secret):
    with expect_hw(400, "CSMS.0002"):
        hw.call("update_secret_stage", secret_name=secret["name"], stage_name="green", body={})


def test_stage_name_of_64_chars_is_fine(hw, secret):
    stage = ("S" * 64)
    hw.call("update_secret_stage", secret_name=secret["name"], stage_name=stage, body={"version_id": "v1"})
    assert _stages(hw, secret["name"]) == {"v1": sorted(["SYSCURRENT", stage])}


def test_at_most_12_stages_per_secret(hw, secret):
    name = secret["name"]
    hw.call("create_secret_version", secret_name=name, body={"secret_string": "two"})  # SYSCURRENT + SYSPREVIOUS
    custom = ["s%02d" % i for i in range(10)]
    for s in custom:
        hw.call("update_secret_stage", secret_name=name, stage_name=s, body={"version_id": "v1"})
    assert sum(len(v) for v in _stages(hw, name).values()) == 12
    with expect_hw(400, "CSMS.0203"):
        hw.call("update_secret_stage", secret_name=name, stage_name="one-too-many", body={"version_id": "v2"})
    with expect_hw(404, "CSMS.0005"):
        hw.call("show_secret_stage", secret_name=name, stage_name="one-too-many")
    # moving an existing stage is still fine at the limit
    hw.call("update_secret_stage", secret_name=name, stage_name="s00", body={"version_id": "v2"})
    # a new version bringing a 13th stage is refused too, and not written
    # More than 12 stages on the secret: CSMS.0203 "The number of stage has reached the upper
    # limit", whichever operation brings the 13th.
    with expect_hw(400, "CSMS.0203"):
        hw.call("create_secret_version", secret_name=name, body={"secret_string": "x", "version_stages": ["new-one"]})
    assert [v for v in _stages(hw, name)] == ["v1", "v2"]


def test_version_stages_list_limits(hw, secret):
    name = secret["name"]
    thirteen = ["st%02d" % i for i in range(13)]
    # The field itself takes 1..12 names: a value out of its range is CSMS.0002, naming it.
    with expect_hw(400, "CSMS.0002", "version_stages"):
        hw.call("create_secret_version", secret_name=name, body={"secret_string": "x", "version_stages": thirteen})
    with expect_hw(400, "CSMS.0002"):
        hw.call("create_secret_version", secret_name=name, body={"secret_string": "x", "version_stages": []})
    with expect_hw(400, "CSMS.0002"):
        hw.call("create_secret_version", secret_name=name,
                body={"secret_string": "x", "version_stages": ["ok", "bad.stage"]})
    with expect_hw(400, "CSMS.0002"):
        hw.call("create_secret_version", secret_name=name, body={"secret_string": "x", "version_stages": ["x" * 65]})
    assert _stages(hw, name) == {"v1": ["SYSCURRENT"]}
