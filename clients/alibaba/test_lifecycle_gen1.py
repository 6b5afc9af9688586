"""Secret lifecycle through the generation-1 SDK (aliyun-python-sdk-core + aliyun-python-sdk-kms),
written the way an application using that SDK would: request classes and their setters."""
import json
import re
from datetime import timedelta

import pytest

from aliyunsdkkms.request.v20160120.CreateSecretRequest import CreateSecretRequest
from aliyunsdkkms.request.v20160120.DeleteSecretRequest import DeleteSecretRequest
from aliyunsdkkms.request.v20160120.DescribeSecretRequest import DescribeSecretRequest
from aliyunsdkkms.request.v20160120.GetRandomPasswordRequest import GetRandomPasswordRequest
from aliyunsdkkms.request.v20160120.GetSecretValueRequest import GetSecretValueRequest
from aliyunsdkkms.request.v20160120.ListSecretVersionIdsRequest import ListSecretVersionIdsRequest
from aliyunsdkkms.request.v20160120.ListSecretsRequest import ListSecretsRequest
from aliyunsdkkms.request.v20160120.PutSecretValueRequest import PutSecretValueRequest
from aliyunsdkkms.request.v20160120.RestoreSecretRequest import RestoreSecretRequest
from aliyunsdkkms.request.v20160120.TagResourceRequest import TagResourceRequest
from aliyunsdkkms.request.v20160120.UntagResourceRequest import UntagResourceRequest
from aliyunsdkkms.request.v20160120.UpdateSecretRequest import UpdateSecretRequest
from aliyunsdkkms.request.v20160120.UpdateSecretVersionStageRequest import UpdateSecretVersionStageRequest

from coffer_helpers import (REGION, Gen1, assert_time_near, binary_value, expect_error, parse_time,
                            secret_value, stages, tags_of, unique, utc_now, wrapped_list)


def create(g, name, data, version="v1", **extra):
    req = CreateSecretRequest()
    req.set_SecretName(name)
    req.set_VersionId(version)
    req.set_SecretData(data)
    for k, v in extra.items():
        getattr(req, "set_" + k)(v)
    return g.do(req)


def get_value(g, name, version_id=None, stage=None, method=None):
    req = GetSecretValueRequest()
    req.set_SecretName(name)
    if version_id:
        req.set_VersionId(version_id)
    if stage:
        req.set_VersionStage(stage)
    if method:
        req.set_method(method)
    return g.do(req)


def put(g, name, version, data, version_stages=None):
    req = PutSecretValueRequest()
    req.set_SecretName(name)
    req.set_VersionId(version)
    req.set_SecretData(data)
    if version_stages is not None:
        req.set_VersionStages(version_stages)
    return g.do(req)


def describe(g, name, fetch_tags=None):
    req = DescribeSecretRequest()
    req.set_SecretName(name)
    if fetch_tags is not None:
        req.set_FetchTags(fetch_tags)
    return g.do(req)


def test_create_and_get_text_secret(gen1, name):
    value = secret_value("gen1")
    tags = [{"TagKey": "env", "TagValue": "dev"}, {"TagKey": "team", "TagValue": "a/b:c@d"}]
    created = create(gen1, name, value, SecretDataType="text", Description="first one",
                     Tags=json.dumps(tags))
    assert created["SecretName"] == name
    assert created["VersionId"] == "v1"
    assert re.fullmatch(r"acs:kms:%s:[0-9]+:secret/%s" % (REGION, re.escape(name)), created["Arn"]), created
    assert created.get("SecretType", "Generic") == "Generic"
    assert created["RequestId"]

    got = get_value(gen1, name)
    assert got["SecretName"] == name
    assert got["SecretData"] == value  # byte-exact, including non-ASCII, '+', '%2B', newline
    assert got["SecretDataType"] == "text"
    assert got["VersionId"] == "v1"
    assert stages(got) == ["ACSCurrent"]
    assert_time_near(got["CreateTime"], utc_now())
    assert got.get("SecretType", "Generic") == "Generic"

    d = describe(gen1, name, fetch_tags="true")
    assert d["Description"] == "first one"
    assert tags_of(d) == {"env": "dev", "team": "a/b:c@d"}
    assert "PlannedDeleteTime" not in d or not d["PlannedDeleteTime"]


def test_get_with_http_get_method(gen1, name):
    value = secret_value("get-method")
    create(gen1, name, value)
    got = get_value(gen1, name, stage="ACSCurrent", method="GET")
    assert got["SecretData"] == value


def test_region_is_echoed_in_arn(coffer, name):
    g = Gen1(coffer.endpoint, coffer.ak, coffer.sk, region="cn-shanghai")
    created = create(g, name, secret_value("region"))
    assert re.fullmatch(r"acs:kms:cn-shanghai:[0-9]+:secret/%s" % re.escape(name), created["Arn"]), created
    assert get_value(g, name)["SecretName"] == name


def test_binary_secret_roundtrip(gen1, name):
    value = binary_value()
    create(gen1, name, value, SecretDataType="binary")
    got = get_value(gen1, name)
    assert got["SecretDataType"] == "binary"
    assert got["SecretData"] == value


def test_binary_secret_rejects_non_base64(gen1, name):
    with expect_error(400, "InvalidParameter"):
        create(gen1, name, "this is *not* base64!", SecretDataType="binary")


def test_put_secret_value_moves_current_and_previous(gen1, name):
    v1, v2, v3 = secret_value("1"), secret_value("2"), secret_value("3")
    create(gen1, name, v1)
    r = put(gen1, name, "v2", v2)
    assert r["SecretName"] == name and r["VersionId"] == "v2"
    assert stages(r) == ["ACSCurrent"]
    assert get_value(gen1, name)["SecretData"] == v2
    prev = get_value(gen1, name, stage="ACSPrevious")
    assert (prev["VersionId"], prev["SecretData"]) == ("v1", v1)
    assert stages(prev) == ["ACSPrevious"]

    put(gen1, name, "v3", v3)
    assert get_value(gen1, name, stage="ACSPrevious")["VersionId"] == "v2"
    old = get_value(gen1, name, version_id="v1")
    assert old["SecretData"] == v1
    assert stages(old) == []


def test_put_custom_stages_as_json_list(gen1, name):
    create(gen1, name, secret_value("1"))
    v2 = secret_value("2")
    r = put(gen1, name, "v2", v2, version_stages=json.dumps(["ACSCurrent", "blue"]))
    assert stages(r) == ["ACSCurrent", "blue"]
    assert get_value(gen1, name, stage="blue")["SecretData"] == v2
    assert get_value(gen1, name)["VersionId"] == "v2"


def test_put_custom_stage_object_shape_keeps_current(gen1, name):
    v1 = secret_value("1")
    create(gen1, name, v1)
    v2 = secret_value("2")
    r = put(gen1, name, "v2", v2, version_stages=json.dumps({"VersionStage": ["green"]}))
    assert stages(r) == ["green"]
    assert get_value(gen1, name, stage="green")["SecretData"] == v2
    cur = get_value(gen1, name)
    assert (cur["VersionId"], cur["SecretData"]) == ("v1", v1)


def test_put_is_idempotent_and_conflicts_on_different_data(gen1, name):
    create(gen1, name, secret_value("1"))
    v2 = secret_value("2")
    put(gen1, name, "v2", v2)
    again = put(gen1, name, "v2", v2)
    assert again["VersionId"] == "v2"
    with expect_error(409, "Rejected.ResourceExist"):
        put(gen1, name, "v2", secret_value("other"))
    assert get_value(gen1, name)["SecretData"] == v2
    req = ListSecretVersionIdsRequest()
    req.set_SecretName(name)
    req.set_IncludeDeprecated("true")
    versions = [v["VersionId"] for v in wrapped_list(gen1.do(req), "VersionIds", "VersionId")]
    assert sorted(versions) == ["v1", "v2"]


def test_update_secret_description(gen1, name):
    create(gen1, name, secret_value(), Description="before")
    before = describe(gen1, name)
    req = UpdateSecretRequest()
    req.set_SecretName(name)
    req.set_Description("after update")
    r = gen1.do(req)
    assert r["SecretName"] == name
    after = describe(gen1, name)
    assert after["Description"] == "after update"
    assert parse_time(after["UpdateTime"]) >= parse_time(before["UpdateTime"])
    assert after["CreateTime"] == before["CreateTime"]


def test_update_secret_custom_data_rejected_for_generic(gen1, name):
    create(gen1, name, secret_value())
    req = UpdateSecretRequest()
    req.set_SecretName(name)
    req.set_ExtendedConfigCustomData(json.dumps({"k": "v"}))
    with expect_error(400, "InvalidParameter"):
        gen1.do(req)


def test_update_secret_version_stage_moves_custom_label(gen1, name):
    create(gen1, name, secret_value("1"))
    put(gen1, name, "v2", secret_value("2"), version_stages=json.dumps(["ACSCurrent", "canary"]))
    req = UpdateSecretVersionStageRequest()
    req.set_SecretName(name)
    req.set_VersionStage("canary")
    req.set_RemoveFromVersion("v2")
    req.set_MoveToVersion("v1")
    assert gen1.do(req)["SecretName"] == name
    assert get_value(gen1, name, stage="canary")["VersionId"] == "v1"
    assert stages(get_value(gen1, name, version_id="v2")) == ["ACSCurrent"]


def test_list_secrets_and_versions(gen1, name):
    tag_key = "k" + unique("g1")[-12:]
    create(gen1, name, secret_value(), Tags=json.dumps([{"TagKey": tag_key, "TagValue": "x"}]))
    put(gen1, name, "v2", secret_value())
    put(gen1, name, "v3", secret_value())

    req = ListSecretsRequest()
    req.set_Filters(json.dumps([{"Key": "TagKey", "Values": [tag_key]}]))
    req.set_FetchTags("true")
    req.set_PageSize(10)
    req.set_PageNumber(1)
    r = gen1.do(req)
    assert r["TotalCount"] == 1
    assert r["PageNumber"] == 1 and r["PageSize"] == 10
    [s] = wrapped_list(r, "SecretList", "Secret")
    assert s["SecretName"] == name
    assert tags_of(s) == {tag_key: "x"}

    req = ListSecretVersionIdsRequest()
    req.set_SecretName(name)
    r = gen1.do(req)
    listed = {v["VersionId"]: stages(v) for v in wrapped_list(r, "VersionIds", "VersionId")}
    assert listed == {"v2": ["ACSPrevious"], "v3": ["ACSCurrent"]}
    req.set_IncludeDeprecated("true")
    r = gen1.do(req)
    listed = {v["VersionId"]: stages(v) for v in wrapped_list(r, "VersionIds", "VersionId")}
    assert listed == {"v1": [], "v2": ["ACSPrevious"], "v3": ["ACSCurrent"]}
    assert r["TotalCount"] == 3


def test_delete_then_restore(gen1, name):
    value = secret_value()
    create(gen1, name, value)
    req = DeleteSecretRequest()
    req.set_SecretName(name)
    r = gen1.do(req)
    assert r["SecretName"] == name
    assert_time_near(r["PlannedDeleteTime"], utc_now() + timedelta(days=30))
    d = describe(gen1, name)
    assert_time_near(d["PlannedDeleteTime"], utc_now() + timedelta(days=30))
    with expect_error(409, "Rejected.ResourceInDeleteWindow"):
        get_value(gen1, name)

    req = RestoreSecretRequest()
    req.set_SecretName(name)
    assert gen1.do(req)["SecretName"] == name
    assert not describe(gen1, name).get("PlannedDeleteTime")
    assert get_value(gen1, name)["SecretData"] == value


def test_delete_with_recovery_window_and_force(gen1, name):
    create(gen1, name, secret_value())
    req = DeleteSecretRequest()
    req.set_SecretName(name)
    req.set_RecoveryWindowInDays("7")
    r = gen1.do(req)
    assert_time_near(r["PlannedDeleteTime"], utc_now() + timedelta(days=7))
    req = DeleteSecretRequest()
    req.set_SecretName(name)
    req.set_ForceDeleteWithoutRecovery("true")
    gen1.do(req)
    with expect_error(404, "Forbidden.ResourceNotFound"):
        describe(gen1, name)
    # the name is free again at once
    create(gen1, name, secret_value("reborn"))
    assert get_value(gen1, name)["VersionId"] == "v1"


def test_get_random_password(gen1):
    req = GetRandomPasswordRequest()
    pw = gen1.do(req)["RandomPassword"]
    assert len(pw) == 32
    req = GetRandomPasswordRequest()
    req.set_PasswordLength("20")
    req.set_ExcludePunctuation("true")
    req.set_ExcludeCharacters("abcABC012")
    pw = gen1.do(req)["RandomPassword"]
    assert len(pw) == 20
    assert pw.isalnum(), pw
    assert not set(pw) & set("abcABC012"), pw


def test_tag_and_untag_resource_by_secret_name(gen1, name):
    create(gen1, name, secret_value())
    req = TagResourceRequest()
    req.set_SecretName(name)
    req.set_Tags(json.dumps([{"TagKey": "a", "TagValue": "1"}, {"TagKey": "b", "TagValue": "2"}]))
    assert gen1.do(req)["RequestId"]
    assert tags_of(describe(gen1, name, "true")) == {"a": "1", "b": "2"}
    req = UntagResourceRequest()
    req.set_SecretName(name)
    req.set_TagKeys(json.dumps(["a", "does-not-exist"]))
    gen1.do(req)
    assert tags_of(describe(gen1, name, "true")) == {"b": "2"}


def test_unknown_secret_is_not_found(gen1):
    with expect_error(404, "Forbidden.ResourceNotFound"):
        get_value(gen1, unique("missing"))


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_secret_name_with_special_characters(gen1, method):
    n = "a/b+c=d.e@f_-" + unique("x")
    value = secret_value("special-name")
    create(gen1, n, value)
    got = get_value(gen1, n, method=method)
    assert (got["SecretName"], got["SecretData"]) == (n, value)


def test_get_secret_value_selectors(gen1, name):
    v1, v2 = secret_value("1"), secret_value("2")
    create(gen1, name, v1)
    put(gen1, name, "v2", v2)
    assert get_value(gen1, name, version_id="v1")["SecretData"] == v1
    assert get_value(gen1, name, stage="ACSPrevious")["SecretData"] == v1
    assert get_value(gen1, name, version_id="v2", stage="ACSCurrent")["SecretData"] == v2
    req = GetSecretValueRequest()
    req.set_SecretName(name)
    req.set_FetchExtendedConfig(True)
    got = gen1.do(req)
    assert (got["VersionId"], got["SecretData"]) == ("v2", v2)
    with expect_error(404, "Forbidden.ResourceNotFound"):
        get_value(gen1, name, version_id="v1", stage="ACSCurrent")


def test_encryption_key_references(gen1, account):
    account_id, key_id = account
    for ref in (key_id, "acs:kms:%s:%s:key/%s" % (REGION, account_id, key_id), "alias/acs/secrets-manager"):
        n = unique("k1")
        value = secret_value("key")
        create(gen1, n, value, EncryptionKeyId=ref)
        assert describe(gen1, n)["EncryptionKeyId"] == key_id
        assert get_value(gen1, n)["SecretData"] == value
    with expect_error(404, "Forbidden.KeyNotFound"):
        create(gen1, unique("k1"), "x", EncryptionKeyId="00000000-0000-4000-8000-000000000000")
