"""One store behind both dialects: secrets written with the Alibaba SDKs read through Tencent SSM and the
other way round (same server, same admin key)."""
import time
from datetime import timedelta

from coffer_helpers import assert_time_near, binary_value, secret_value, stages, utc_now, wrapped_list
from tc_helpers import assert_near, expect_tc_error, tc_name


def test_alibaba_secret_read_through_tencent(ali, tc):
    name = tc_name("a2t")
    v1, v2 = secret_value("ali one"), secret_value("ali two")
    ali.call("CreateSecret", SecretName=name, VersionId="v1", SecretData=v1, Description="from alibaba")
    g = tc.call("GetSecretValue", SecretName=name, VersionId="v1")
    assert (g["SecretName"], g["VersionId"], g["SecretString"], g["SecretBinary"]) == (name, "v1", v1, "")
    ali.call("PutSecretValue", SecretName=name, VersionId="v2", SecretData=v2)
    assert tc.call("GetSecretValue", SecretName=name, VersionId="v2")["SecretString"] == v2
    assert tc.call("GetSecretValue", SecretName=name, VersionId="v1")["SecretString"] == v1
    # SSM_Current = Alibaba's ACSCurrent
    g = tc.call("GetSecretValue", SecretName=name, VersionId="SSM_Current")
    assert (g["VersionId"], g["SecretString"]) == ("v2", v2)
    d = tc.call("DescribeSecret", SecretName=name)
    assert (d["Description"], d["Status"], d["DeleteTime"]) == ("from alibaba", "Enabled", 0)
    assert sorted(v["VersionId"] for v in tc.call("ListSecretVersionIds", SecretName=name)["Versions"]) == \
        ["v1", "v2"]
    lst = tc.call("ListSecrets", SearchSecretName=name)
    assert [m["SecretName"] for m in lst["SecretMetadatas"]] == [name]


def test_alibaba_gen1_secret_read_through_tencent_v1(ali1, tc_v1):
    name = tc_name("a2t")
    value = secret_value("gen1")
    ali1.call("CreateSecret", SecretName=name, VersionId="g1", SecretData=value)
    assert tc_v1.call("GetSecretValue", SecretName=name, VersionId="g1")["SecretString"] == value


def test_alibaba_binary_secret_is_tencent_secret_binary(ali, tc):
    name = tc_name("a2tb")
    value = binary_value(100)
    ali.call("CreateSecret", SecretName=name, VersionId="b1", SecretData=value, SecretDataType="binary")
    g = tc.call("GetSecretValue", SecretName=name, VersionId="b1")
    assert (g["SecretBinary"], g["SecretString"]) == (value, "")
    tvalue = binary_value(20)
    tc.call("PutSecretValue", SecretName=name, VersionId="b2", SecretBinary=tvalue)
    got = ali.call("GetSecretValue", SecretName=name)
    assert (got["VersionId"], got["SecretData"], got["SecretDataType"]) == ("b2", tvalue, "binary")


def test_tencent_secret_read_through_alibaba(ali, tc):
    name = tc_name("t2a")
    v1, v2 = secret_value("tc one"), secret_value("tc two")
    tc.call("CreateSecret", SecretName=name, VersionId="v1", SecretString=v1, Description="from tencent")
    got = ali.call("GetSecretValue", SecretName=name)
    assert (got["VersionId"], got["SecretData"]) == ("v1", v1)
    assert "ACSCurrent" in stages(got)
    assert ali.call("GetSecretValue", SecretName=name, VersionId="v1")["SecretData"] == v1
    assert ali.call("DescribeSecret", SecretName=name)["Description"] == "from tencent"

    tc.call("PutSecretValue", SecretName=name, VersionId="v2", SecretString=v2)
    cur = ali.call("GetSecretValue", SecretName=name)
    assert (cur["VersionId"], cur["SecretData"]) == ("v2", v2)
    assert "ACSCurrent" in stages(cur)
    prev = ali.call("GetSecretValue", SecretName=name, VersionStage="ACSPrevious")
    assert (prev["VersionId"], prev["SecretData"]) == ("v1", v1)
    r = ali.call("ListSecretVersionIds", SecretName=name, IncludeDeprecated="true")
    by_id = {v["VersionId"]: sorted(wrapped_list(v, "VersionStages", "VersionStage"))
             for v in wrapped_list(r, "VersionIds", "VersionId")}
    assert by_id == {"v1": ["ACSPrevious"], "v2": ["ACSCurrent"]}


def test_tencent_default_version_read_through_alibaba(ali, tc):
    name = tc_name("t2a")
    tc.call("CreateSecret", SecretName=name, SecretString="defaulted")
    got = ali.call("GetSecretValue", SecretName=name)
    assert (got["VersionId"], got["SecretData"]) == ("SSM_Current", "defaulted")


def test_name_taken_by_alibaba(ali, tc):
    name = tc_name("taken")
    ali.call("CreateSecret", SecretName=name, VersionId="v1", SecretData="x")
    with expect_tc_error("ResourceInUse.SecretExists"):
        tc.call("CreateSecret", SecretName=name, VersionId="v1", SecretString="y")
    assert ali.call("GetSecretValue", SecretName=name)["SecretData"] == "x"


def test_alibaba_delete_with_window_is_pending_for_tencent(ali, tc):
    name = tc_name("adel")
    ali.call("CreateSecret", SecretName=name, VersionId="v1", SecretData="x")
    r = ali.call("DeleteSecret", SecretName=name, RecoveryWindowInDays="7")
    assert_time_near(r["PlannedDeleteTime"], utc_now() + timedelta(days=7))
    d = tc.call("DescribeSecret", SecretName=name)
    assert d["Status"] == "PendingDelete"
    assert_near(d["DeleteTime"], int(time.time()) + 7 * 86400)
    with expect_tc_error("ResourceUnavailable.ResourcePendingDeleted"):
        tc.call("GetSecretValue", SecretName=name, VersionId="v1")
    lst = tc.call("ListSecrets", SearchSecretName=name, State=3)
    assert [m["SecretName"] for m in lst["SecretMetadatas"]] == [name]


def test_alibaba_force_delete_is_gone_for_tencent(ali, tc):
    name = tc_name("adel")
    ali.call("CreateSecret", SecretName=name, VersionId="v1", SecretData="x")
    ali.call("DeleteSecret", SecretName=name, ForceDeleteWithoutRecovery="true")
    with expect_tc_error("ResourceNotFound"):
        tc.call("DescribeSecret", SecretName=name)
    tc.call("CreateSecret", SecretName=name, VersionId="v1", SecretString="reborn")
    assert ali.call("GetSecretValue", SecretName=name)["SecretData"] == "reborn"


def test_tencent_delete_is_gone_for_alibaba(ali, tc):
    from coffer_helpers import expect_error

    name = tc_name("tdel")
    tc.call("CreateSecret", SecretName=name, VersionId="v1", SecretString="x")
    tc.call("DisableSecret", SecretName=name)
    tc.call("DeleteSecret", SecretName=name)
    with expect_error(404, "Forbidden.ResourceNotFound"):
        ali.call("DescribeSecret", SecretName=name)


def test_same_account_in_both_dialects(ali, tc, account):
    name = tc_name("acct")
    created = ali.call("CreateSecret", SecretName=name, VersionId="v1", SecretData="x")
    assert created["Arn"].split(":")[3] == account
    d = tc.call("DescribeSecret", SecretName=name)
    assert d["CreateUin"] == int(account) and d["CreateUinString"] == account
