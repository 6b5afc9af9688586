"""One store behind every dialect: secrets written with the Alibaba SDKs are read through Huawei CSMS and the
other way round (same server, same admin key, the Huawei project of the default region). SYSCURRENT /
SYSPREVIOUS are Alibaba's ACSCurrent / ACSPrevious."""
import json
from datetime import timedelta

from coffer_helpers import assert_time_near, expect_error, stages, utc_now, wrapped_list
from hw_helpers import DAY_MS, assert_ms_near, expect_hw, hw_binary, hw_name, hw_value, now_ms, stages_by_version


def _ali_versions(ali, name):
    r = ali.call("ListSecretVersionIds", SecretName=name, IncludeDeprecated="true", PageSize=100)
    return {v["VersionId"]: stages(v) for v in wrapped_list(r, "VersionIds", "VersionId")}


def _hw_versions(hw, name):
    return stages_by_version(hw.call("list_secret_versions", secret_name=name)["version_metadatas"])


def test_alibaba_secret_read_through_huawei(ali, hw):
    name = hw_name("a2h")
    v1, v2 = hw_value("ali one"), hw_value("ali two")
    ali.call("CreateSecret", SecretName=name, VersionId="v1", SecretData=v1, Description="from alibaba")
    s = hw.call("show_secret", secret_name=name)["secret"]
    assert (s["name"], s["state"], s["description"]) == (name, "ENABLED", "from alibaba")
    assert_ms_near(s["create_time"], now_ms())
    v = hw.call("show_secret_version", secret_name=name, version_id="latest")["version"]
    assert (v["version_metadata"]["id"], v["secret_string"]) == ("v1", v1)
    assert v["version_metadata"]["version_stages"] == ["SYSCURRENT"]

    ali.call("PutSecretValue", SecretName=name, VersionId="v2", SecretData=v2)
    assert _hw_versions(hw, name) == {"v1": ["SYSPREVIOUS"], "v2": ["SYSCURRENT"]}
    assert hw.call("show_secret_version", secret_name=name, version_id="latest")["version"]["secret_string"] == v2
    assert hw.call("show_secret_version", secret_name=name, version_id="v1")["version"]["secret_string"] == v1
    assert hw.call("show_secret_stage", secret_name=name, stage_name="SYSPREVIOUS")["stage"]["version_id"] == "v1"

    # Huawei continues the history: the next version is v3 and takes SYSCURRENT
    md = hw.call("create_secret_version", secret_name=name, body={"secret_string": "from huawei"})["version_metadata"]
    assert md["id"] == "v3"
    got = ali.call("GetSecretValue", SecretName=name)
    assert (got["VersionId"], got["SecretData"]) == ("v3", "from huawei")
    assert _ali_versions(ali, name) == {"v1": [], "v2": ["ACSPrevious"], "v3": ["ACSCurrent"]}


def test_alibaba_gen1_binary_secret_read_through_huawei(ali1, hw):
    name = hw_name("a2hb")
    value = hw_binary(64)
    ali1.call("CreateSecret", SecretName=name, VersionId="v1", SecretData=value, SecretDataType="binary")
    v = hw.call("show_secret_version", secret_name=name, version_id="latest")["version"]
    assert v["secret_binary"] == value and v.get("secret_string") is None


def test_huawei_secret_read_through_alibaba(ali, hw):
    name = hw_name("h2a")
    v1, v2 = hw_value("hw one"), hw_value("hw two")
    hw.call("create_secret", body={"name": name, "secret_string": v1, "description": "from huawei"})
    got = ali.call("GetSecretValue", SecretName=name)
    assert (got["VersionId"], got["SecretData"], got["SecretDataType"]) == ("v1", v1, "text")
    assert stages(got) == ["ACSCurrent"]
    assert ali.call("DescribeSecret", SecretName=name)["Description"] == "from huawei"

    hw.call("create_secret_version", secret_name=name, body={"secret_string": v2})
    cur = ali.call("GetSecretValue", SecretName=name)
    assert (cur["VersionId"], cur["SecretData"]) == ("v2", v2)
    prev = ali.call("GetSecretValue", SecretName=name, VersionStage="ACSPrevious")
    assert (prev["VersionId"], prev["SecretData"]) == ("v1", v1)
    assert _ali_versions(ali, name) == {"v1": ["ACSPrevious"], "v2": ["ACSCurrent"]}


def test_huawei_binary_secret_read_through_alibaba(ali, hw):
    name = hw_name("h2ab")
    value = hw_binary(77)
    hw.call("create_secret", body={"name": name, "secret_binary": value})
    got = ali.call("GetSecretValue", SecretName=name)
    assert (got["SecretData"], got["SecretDataType"]) == (value, "binary")


def test_custom_stages_are_shared(ali, hw):
    name = hw_name("stg")
    ali.call("CreateSecret", SecretName=name, VersionId="v1", SecretData="one")
    ali.call("PutSecretValue", SecretName=name, VersionId="v2", SecretData="two")
    hw.call("update_secret_stage", secret_name=name, stage_name="canary", body={"version_id": "v1"})
    assert ali.call("GetSecretValue", SecretName=name, VersionStage="canary")["SecretData"] == "one"
    ali.call("UpdateSecretVersionStage", SecretName=name, VersionStage="canary", RemoveFromVersion="v1",
             MoveToVersion="v2")
    assert hw.call("show_secret_stage", secret_name=name, stage_name="canary")["stage"]["version_id"] == "v2"
    # moving SYSCURRENT through Huawei is moving ACSCurrent (and ACSPrevious follows)
    hw.call("update_secret_stage", secret_name=name, stage_name="SYSCURRENT", body={"version_id": "v1"})
    assert _ali_versions(ali, name) == {"v1": ["ACSCurrent"], "v2": ["ACSPrevious", "canary"]}
    # ACSCurrent moved through Alibaba is SYSCURRENT
    ali.call("UpdateSecretVersionStage", SecretName=name, VersionStage="ACSCurrent", RemoveFromVersion="v1",
             MoveToVersion="v2")
    assert hw.call("show_secret_version", secret_name=name, version_id="latest")["version"]["secret_string"] == "two"
    with expect_hw(400, "CSMS.0105"):
        hw.call("delete_secret_stage", secret_name=name, stage_name="SYSPREVIOUS")


def test_name_taken_across_dialects(ali, hw):
    name = hw_name("taken")
    ali.call("CreateSecret", SecretName=name, VersionId="v1", SecretData="x")
    with expect_hw(400, "CSMS.0002"):
        hw.call("create_secret", body={"name": name, "secret_string": "y"})
    n2 = hw_name("taken")
    hw.call("create_secret", body={"name": n2, "secret_string": "y"})
    with _ali_exists():
        ali.call("CreateSecret", SecretName=n2, VersionId="v1", SecretData="x")
    assert ali.call("GetSecretValue", SecretName=name)["SecretData"] == "x"
    assert hw.call("show_secret_version", secret_name=n2, version_id="v1")["version"]["secret_string"] == "y"


class _ali_exists:
    """Alibaba's answer to a taken name (whatever its exact code): an ApiError, not a success."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        from coffer_helpers import ApiError

        assert exc_type is not None and issubclass(exc_type, ApiError), "Alibaba created a taken name"
        assert 400 <= exc.status < 500, exc
        return True


def test_alibaba_scheduled_delete_is_pending_for_huawei(ali, hw):
    name = hw_name("adel")
    ali.call("CreateSecret", SecretName=name, VersionId="v1", SecretData="x")
    r = ali.call("DeleteSecret", SecretName=name, RecoveryWindowInDays="7")
    assert_time_near(r["PlannedDeleteTime"], utc_now() + timedelta(days=7))
    s = hw.call("show_secret", secret_name=name)["secret"]
    assert s["state"] == "PENDING_DELETE"
    assert_ms_near(s["scheduled_delete_time"], now_ms() + 7 * DAY_MS)
    with expect_hw(400, "CSMS.0103"):
        hw.call("show_secret_version", secret_name=name, version_id="latest")
    # Huawei's cancel restores it for Alibaba too
    hw.call("restore_secret", secret_name=name)
    assert ali.call("GetSecretValue", SecretName=name)["SecretData"] == "x"


def test_huawei_scheduled_delete_is_pending_for_alibaba(ali, hw):
    name = hw_name("hdel")
    hw.call("create_secret", body={"name": name, "secret_string": "x"})
    hw.call("delete_secret_for_schedule", secret_name=name, body={"recovery_window_in_days": 10})
    d = ali.call("DescribeSecret", SecretName=name)
    assert_time_near(d["PlannedDeleteTime"], utc_now() + timedelta(days=10))
    ali.call("RestoreSecret", SecretName=name)
    assert hw.call("show_secret", secret_name=name)["secret"]["state"] == "ENABLED"


def test_deletes_are_seen_across_dialects(ali, hw):
    a, h = hw_name("gone"), hw_name("gone")
    ali.call("CreateSecret", SecretName=a, VersionId="v1", SecretData="x")
    ali.call("DeleteSecret", SecretName=a, ForceDeleteWithoutRecovery="true")
    with expect_hw(404, "CSMS.0106"):
        hw.call("show_secret", secret_name=a)
    hw.call("create_secret", body={"name": h, "secret_string": "x"})
    hw.call("delete_secret", secret_name=h)
    with expect_error(404, "Forbidden.ResourceNotFound"):
        ali.call("DescribeSecret", SecretName=h)


def test_tags_are_shared(ali, hw):
    name = hw_name("tags")
    ali.call("CreateSecret", SecretName=name, VersionId="v1", SecretData="x",
             Tags=json.dumps([{"TagKey": "from-ali", "TagValue": "1"}]))
    sid = hw.call("show_secret", secret_name=name)["secret"]["id"]
    tags = {t["key"]: t["value"] for t in hw.call("list_secret_tags", secret_id=sid)["tags"]}
    assert tags == {"from-ali": "1"}
    hw.call("create_secret_tag", secret_id=sid, body={"tag": {"key": "from-hw", "value": "2"}})
    d = ali.call("DescribeSecret", SecretName=name, FetchTags="true")
    got = {t["TagKey"]: t["TagValue"] for t in wrapped_list(d, "Tags", "Tag")}
    assert got == {"from-ali": "1", "from-hw": "2"}


def test_huawei_listing_includes_alibaba_secrets(ali, hw):
    name = hw_name("alist")
    ali.call("CreateSecret", SecretName=name, VersionId="v1", SecretData="x")
    marker, found = None, []
    while True:
        r = hw.call("list_secrets", limit="1000", marker=marker)
        found += [s for s in r["secrets"] if s["name"] == name]
        marker = r["page_info"].get("next_marker")
        if not marker:
            break
    assert len(found) == 1 and found[0]["state"] == "ENABLED"


# ----------------------------------------------------------------------------- Tencent: the DISABLED state
def _tc(coffer):
    import sys
    from pathlib import Path

    p = str(Path(__file__).resolve().parent.parent / "tencent")
    if p not in sys.path:
        sys.path.insert(0, p)
    from tc_helpers import make_tc

    return make_tc("tc3", coffer)


def test_disabled_through_tencent_is_disabled_for_huawei(coffer, hw):
    """No Huawei v1 API disables a secret, but the store can hold DISABLED (Tencent's DisableSecret): Huawei
    shows it and refuses values and new versions with 403 CSMS.0109."""
    tc = _tc(coffer)
    name = hw_name("dis")
    hw.call("create_secret", body={"name": name, "secret_string": "sleepy"})
    tc.call("DisableSecret", SecretName=name)
    s = hw.call("show_secret", secret_name=name)["secret"]
    assert s["state"] == "DISABLED" and s.get("scheduled_delete_time") is None
    with expect_hw(403, "CSMS.0109"):
        hw.call("show_secret_version", secret_name=name, version_id="latest")
    with expect_hw(403, "CSMS.0109"):
        hw.call("show_secret_version", secret_name=name, version_id="v1")
    with expect_hw(403, "CSMS.0109"):
        hw.call("create_secret_version", secret_name=name, body={"secret_string": "nope"})
    # metadata is still readable and listed with its state
    vs = hw.call("list_secret_versions", secret_name=name)["version_metadatas"]
    assert [v["id"] for v in vs] == ["v1"]
    tc.call("EnableSecret", SecretName=name)
    assert hw.call("show_secret", secret_name=name)["secret"]["state"] == "ENABLED"
    assert hw.call("show_secret_version", secret_name=name, version_id="latest")["version"]["secret_string"] == \
        "sleepy"


def test_tencent_secret_read_through_huawei(coffer, hw):
    tc = _tc(coffer)
    name = hw_name("t2h")
    tc.call("CreateSecret", SecretName=name, VersionId="v1", SecretString="from tencent")
    tc.call("PutSecretValue", SecretName=name, VersionId="v2", SecretString="tencent two")
    v = hw.call("show_secret_version", secret_name=name, version_id="latest")["version"]
    assert (v["version_metadata"]["id"], v["secret_string"]) == ("v2", "tencent two")
    assert stages_by_version(hw.call("list_secret_versions", secret_name=name)["version_metadatas"]) == {
        "v1": ["SYSPREVIOUS"], "v2": ["SYSCURRENT"]}
    hw.call("create_secret_version", secret_name=name, body={"secret_string": "huawei three"})
    g = tc.call("GetSecretValue", SecretName=name, VersionId="v3")
    assert g["SecretString"] == "huawei three"


def test_update_secret_kms_key_id_moves_every_version(ali, hw):
    """update_secret with another kms_key_id rewraps every version under that key (a key made
    through the Alibaba KMS API): the values read back the same, and the new key's state now
    governs the secret."""
    name = hw_name("rekey")
    hw.call("create_secret", body={"name": name, "secret_string": "one"})
    hw.call("create_secret_version", secret_name=name, body={"secret_string": "two"})
    key = ali.call("CreateKey", Description="for huawei")["KeyMetadata"]["KeyId"]
    s = hw.call("update_secret", secret_name=name, body={"kms_key_id": key, "description": "moved"})["secret"]
    assert (s["kms_key_id"], s["description"]) == (key, "moved")
    assert hw.call("show_secret", secret_name=name)["secret"]["kms_key_id"] == key
    assert hw.call("show_secret_version", secret_name=name, version_id="v1")["version"]["secret_string"] == "one"
    assert hw.call("show_secret_version", secret_name=name, version_id="latest")["version"]["secret_string"] == "two"
    ali.call("DisableKey", KeyId=key)
    with expect_hw(400, "CSMS.0401"):
        hw.call("show_secret_version", secret_name=name, version_id="latest")
    ali.call("EnableKey", KeyId=key)
    # an unknown key is refused and changes nothing
    with expect_hw(400, "CSMS.0002", "kms_key_id"):
        hw.call("update_secret", secret_name=name, body={"kms_key_id": "00000000-0000-4000-8000-000000000000",
                                                          "description": "not this"})
    s = hw.call("show_secret", secret_name=name)["secret"]
    assert (s["kms_key_id"], s["description"]) == (key, "moved")
