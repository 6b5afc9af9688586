"""Scheduled deletion and its cancellation (SDK: delete_secret_for_schedule / restore_secret; reference 4.6,
4.7, section 5.1 and the 6.3 mapping): ENABLED -> PENDING_DELETE -> ENABLED, window 7..30 days."""
import pytest

from hw_helpers import DAY_MS, HwRaw, assert_ms_near, expect_hw, hw_name, now_ms, raw_ok


def _schedule(hw, name, days=7):
    return hw.call("delete_secret_for_schedule", secret_name=name, body={"recovery_window_in_days": days})


@pytest.mark.parametrize("days", [7, 30])
def test_schedule_deletion_and_cancel(hw, secret, days):
    name = secret["name"]
    s = _schedule(hw, name, days)["secret"]
    assert s["name"] == name and s["id"] == secret["id"]
    assert s["state"] == "PENDING_DELETE"
    assert_ms_near(s["scheduled_delete_time"], now_ms() + days * DAY_MS)
    assert hw.last_model.secret.state == "PENDING_DELETE"
    # show still works while pending and says the same
    shown = hw.call("show_secret", secret_name=name)["secret"]
    assert (shown["state"], shown["scheduled_delete_time"]) == ("PENDING_DELETE", s["scheduled_delete_time"])

    r = hw.call("restore_secret", secret_name=name)["secret"]
    assert r["state"] == "ENABLED" and r["id"] == secret["id"]
    assert r.get("scheduled_delete_time") is None
    shown = hw.call("show_secret", secret_name=name)["secret"]
    assert shown["state"] == "ENABLED" and shown.get("scheduled_delete_time") is None
    # usable again, value intact
    v = hw.call("show_secret_version", secret_name=name, version_id="latest")["version"]
    assert v["version_metadata"]["id"] == "v1"
    hw.call("create_secret_version", secret_name=name, body={"secret_string": "after restore"})
    assert hw.call("show_secret_version", secret_name=name, version_id="latest")["version"]["secret_string"] == \
        "after restore"


def test_pending_secret_is_read_only(hw, secret):
    name = secret["name"]
    _schedule(hw, name)
    with expect_hw(400, "CSMS.0103"):
        hw.call("show_secret_version", secret_name=name, version_id="latest")
    with expect_hw(400, "CSMS.0103"):
        hw.call("show_secret_version", secret_name=name, version_id="v1")
    with expect_hw(400, "CSMS.0103"):
        hw.call("update_secret", secret_name=name, body={"description": "nope"})
    with expect_hw(400, "CSMS.0103"):
        hw.call("create_secret_version", secret_name=name, body={"secret_string": "nope"})
    with expect_hw(400, "CSMS.0103"):
        hw.call("update_version", secret_name=name, version_id="v1", body={"expire_time": now_ms() + DAY_MS})
    # nothing changed
    shown = hw.call("show_secret", secret_name=name)["secret"]
    assert shown["state"] == "PENDING_DELETE" and shown.get("description", "") == secret.get("description", "")
    hw.call("restore_secret", secret_name=name)
    vs = hw.call("list_secret_versions", secret_name=name)["version_metadatas"]
    assert [v["id"] for v in vs] == ["v1"]
    assert vs[0].get("expire_time") is None


def test_pending_name_stays_taken(hw, secret):
    _schedule(hw, secret["name"])
    with expect_hw(400, "CSMS.0103"):
        hw.call("create_secret", body={"name": secret["name"], "secret_string": "again"})
    assert hw.call("show_secret", secret_name=secret["name"])["secret"]["id"] == secret["id"]


def test_schedule_twice_is_400_csms_0107(hw, secret):
    first = _schedule(hw, secret["name"], 7)["secret"]
    with expect_hw(400, "CSMS.0107"):
        _schedule(hw, secret["name"], 20)
    shown = hw.call("show_secret", secret_name=secret["name"])["secret"]
    assert shown["scheduled_delete_time"] == first["scheduled_delete_time"]


def test_cancel_when_not_pending_is_400_csms_0108(hw, secret):
    with expect_hw(400, "CSMS.0108"):
        hw.call("restore_secret", secret_name=secret["name"])
    assert hw.call("show_secret", secret_name=secret["name"])["secret"]["state"] == "ENABLED"


@pytest.mark.parametrize("days", [0, 6, 31, -1, 365])
def test_recovery_window_out_of_range_is_400(hw, secret, days):
    with expect_hw(400, "CSMS.0002"):
        _schedule(hw, secret["name"], days)
    assert hw.call("show_secret", secret_name=secret["name"])["secret"]["state"] == "ENABLED"


def test_recovery_window_defaults_to_30_days(coffer, hw, secret):
    """The SDK model marks the window required but does not check; an empty body means 30 days."""
    raw = HwRaw(coffer)
    path = raw.path("secrets", secret["name"], "scheduled-deleted-tasks", "create")
    s = raw_ok(raw.send("POST", path, body={}))["secret"]
    assert s["state"] == "PENDING_DELETE"
    assert_ms_near(s["scheduled_delete_time"], now_ms() + 30 * DAY_MS)


def test_delete_now_while_pending(hw, secret):
    _schedule(hw, secret["name"])
    assert hw.call("delete_secret", secret_name=secret["name"]) is None
    with expect_hw(404, "CSMS.0106"):
        hw.call("show_secret", secret_name=secret["name"])
    with expect_hw(404, "CSMS.0106"):
        hw.call("restore_secret", secret_name=secret["name"])
    hw.call("create_secret", body={"name": secret["name"], "secret_string": "new"})


def test_schedule_and_cancel_missing_secret_is_404(hw):
    n = hw_name("missing")
    with expect_hw(404, "CSMS.0106"):
        _schedule(hw, n)
    with expect_hw(404, "CSMS.0106"):
        hw.call("restore_secret", secret_name=n)


def test_pending_secret_is_listed_with_its_state(hw, secret):
    _schedule(hw, secret["name"])
    r = hw.call("list_secrets", limit="1000")
    marker = None
    found = []
    while True:
        r = hw.call("list_secrets", limit="1000", marker=marker)
        found += [s for s in r["secrets"] if s["name"] == secret["name"]]
        marker = r["page_info"].get("next_marker")
        if not marker:
            break
    assert len(found) == 1 and found[0]["state"] == "PENDING_DELETE"
    assert isinstance(found[0]["scheduled_delete_time"], int)
