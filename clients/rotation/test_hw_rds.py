"""Huawei RDS secrets through the official CSMS SDK: rotation_config names the registered
instance, the rotate operation changes the password on the real database, and tasks report
each rotation."""
import json

import pytest

from hw_helpers import Hw, expect_hw
import db_helpers


@pytest.fixture
def hw(coffer):
    project = (coffer.data_dir / "huawei-project-id").read_text().strip()
    return Hw(coffer.endpoint, coffer.ak, coffer.sk, project)


def create_rds(hw, name, instance, account, password, sub="SingleUser", **extra):
    body = {"name": name, "secret_type": "RDS-FG",
            "secret_string": json.dumps({"username": account, "password": password}),
            "rotation_config": json.dumps({"InstanceId": instance, "SecretSubType": sub})}
    body.update(extra)
    return hw.call("create_secret", body=body)["secret"]


def latest(hw, name):
    v = hw.call("show_secret_version", secret_name=name, version_id="latest")["version"]
    return json.loads(v["secret_string"]), v


@pytest.mark.parametrize("engine", ["mariadb", "postgres"])
def test_rds_secret_rotates_on_the_database(hw, instances, account, engine):
    db_helpers.create_account(engine, account, "Initial-pw-1")
    name = "hw-rds-" + account[-8:]
    s = create_rds(hw, name, instances[engine], account, "Initial-pw-1", auto_rotation=True,
                   rotation_period="4h")
    assert (s["secret_type"], s["auto_rotation"], s["rotation_period"]) == ("RDS-FG", True, "4h")
    assert json.loads(s["rotation_config"]) == {"InstanceId": instances[engine], "SecretSubType": "SingleUser"}
    assert s["next_rotation_time"] > s["create_time"]

    r = hw.call("rotate_secret", secret_name=name)
    assert (r["secret_name"], r["version_id"]) == (name, "v2")
    creds, v = latest(hw, name)
    assert v["version_metadata"]["id"] == "v2"
    assert creds["username"] == account and creds["password"] != "Initial-pw-1"
    assert db_helpers.can_log_in(engine, account, creds["password"])
    assert not db_helpers.can_log_in(engine, account, "Initial-pw-1")
    shown = hw.call("show_secret", secret_name=name)["secret"]
    assert shown["rotation_time"] >= shown["create_time"]

    tasks = hw.call("list_secret_task", secret_name=name)
    assert tasks["total"] == 1
    t = tasks["tasks"][0]
    assert (t["task_id"], t["task_status"], t["secret_name"]) == (r["rotation_task_id"], "SUCCESS", name)
    # Without a secret name the scope's tasks are listed; the status and id filters narrow them.
    everyone = hw.call("list_secret_task")["tasks"]
    assert r["rotation_task_id"] in [x["task_id"] for x in everyone]
    assert all(x["task_status"] == "FAILED" for x in hw.call("list_secret_task", status="FAILED")["tasks"])
    assert r["rotation_task_id"] not in [x["task_id"] for x in hw.call("list_secret_task", status="FAILED")["tasks"]]
    one = hw.call("list_secret_task", task_id=r["rotation_task_id"])
    assert one["total"] == 1 and one["tasks"][0]["secret_name"] == name


def test_multi_user_keeps_the_previous_account(hw, instances, account):
    db_helpers.create_account("mariadb", account, "Initial-pw-1")
    name = "hw-multi-" + account[-8:]
    create_rds(hw, name, instances["mariadb"], account, "Initial-pw-1", sub="MultiUser")
    hw.call("rotate_secret", secret_name=name)
    creds, _ = latest(hw, name)
    assert creds["username"] == account + "_clone"
    assert db_helpers.can_log_in("mariadb", creds["username"], creds["password"])
    assert db_helpers.can_log_in("mariadb", account, "Initial-pw-1")


def test_rotation_settings_are_checked_and_can_change(hw, instances, account):
    db_helpers.create_account("mariadb", account, "Initial-pw-1")
    name = "hw-set-" + account[-8:]
    # rotation_period is 6 h .. 8760 h: a value out of range is CSMS.0002, naming the field.
    with expect_hw(400, "CSMS.0002", "rotation_period"):
        create_rds(hw, name, instances["mariadb"], account, "Initial-pw-1", auto_rotation=True,
                   rotation_period="3h")
    # An instance nobody registered: not found, 404 CSMS.0005 (as every other resource a
    # request names that does not exist).
    with expect_hw(404, "CSMS.0005", "no-such-instance"):
        create_rds(hw, name, "no-such-instance", account, "Initial-pw-1")
    # The database answered and refused the login: the request cannot be carried out with
    # what it gave, 400 CSMS.0003 "The request is invalid" (coffer's mapping of a database's
    # refusal; 503 CSMS.0503 is kept for a database that cannot be reached).
    with expect_hw(400, "CSMS.0003", "does not log in"):
        create_rds(hw, name, instances["mariadb"], account, "Wrong-pw-1")
    create_rds(hw, name, instances["mariadb"], account, "Initial-pw-1")
    s = hw.call("update_secret", secret_name=name, body={"auto_rotation": True, "rotation_period": "30d"})["secret"]
    assert (s["auto_rotation"], s["rotation_period"]) == (True, "30d")
    # A managed secret's versions come only from rotation: an operation it does not support,
    # 400 CSMS.0002 as for rotating a COMMON secret (below).
    with expect_hw(400, "CSMS.0002", "only by rotation"):
        hw.call("create_secret_version", secret_name=name, body={"secret_string": "hand made"})
    # COMMON secrets still do not rotate: 400 CSMS.0002 (Huawei: not supported for COMMON).
    hw.call("create_secret", body={"name": name + "-c", "secret_string": "x"})
    with expect_hw(400, "CSMS.0002", "COMMON"):
        hw.call("rotate_secret", secret_name=name + "-c")
