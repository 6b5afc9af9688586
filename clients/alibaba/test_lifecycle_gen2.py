"""Secret lifecycle through the generation-2 SDK (alibabacloud-kms20160120 + tea-openapi), using its
typed request models and typed response bodies (so a response shape the SDK cannot parse fails here).
Most tests run twice: ACS3-HMAC-SHA256 (default) and Config.signature_algorithm='v2' (RPC v1)."""
import json
import re
import uuid
from datetime import timedelta

import pytest

from coffer_helpers import (DEFAULT_KEY_ALIAS, REGION, Gen2, assert_time_near, binary_value, expect_error,
                            parse_time, secret_value, unique, utc_now)


@pytest.fixture(params=["acs3", "v2"])
def g(request, coffer):
    return Gen2(coffer.endpoint, coffer.ak, coffer.sk, signature_algorithm="v2" if request.param == "v2" else None)


def body_stages(body):
    return sorted(body.version_stages.version_stage) if body.version_stages and body.version_stages.version_stage \
        else []


def test_create_and_get_text_secret(g, name):
    value = secret_value("gen2")
    c = g.do("create_secret", secret_name=name, version_id="v1", secret_data=value, secret_data_type="text",
             description="desc with spaces & symbols +=", tags=json.dumps([{"TagKey": "env", "TagValue": "prod"}]))
    assert c.secret_name == name
    assert c.version_id == "v1"
    assert re.fullmatch(r"acs:kms:%s:[0-9]+:secret/%s" % (REGION, re.escape(name)), c.arn), c.arn
    assert c.request_id
    assert c.secret_type == "Generic"

    got = g.do("get_secret_value", secret_name=name)
    assert got.secret_name == name
    assert got.secret_data == value
    assert got.secret_data_type == "text"
    assert got.version_id == "v1"
    assert body_stages(got) == ["ACSCurrent"]
    assert_time_near(got.create_time, utc_now())

    d = g.do("describe_secret", secret_name=name, fetch_tags="true")
    assert d.arn == c.arn
    assert d.description == "desc with spaces & symbols +="
    assert d.secret_type == "Generic"
    assert d.encryption_key_id
    assert [(t.tag_key, t.tag_value) for t in d.tags.tag] == [("env", "prod")]
    parse_time(d.create_time)
    parse_time(d.update_time)
    assert not d.planned_delete_time


def test_binary_secret_roundtrip(g, name):
    value = binary_value(200)
    g.do("create_secret", secret_name=name, version_id="b1", secret_data=value, secret_data_type="binary")
    got = g.do("get_secret_value", secret_name=name)
    assert got.secret_data_type == "binary"
    assert got.secret_data == value
    v2 = binary_value(10)
    g.do("put_secret_value", secret_name=name, version_id="b2", secret_data=v2, secret_data_type="binary")
    got = g.do("get_secret_value", secret_name=name)
    assert (got.version_id, got.secret_data, got.secret_data_type) == ("b2", v2, "binary")


def test_binary_secret_rejects_non_base64(g, name):
    with expect_error(400, "InvalidParameter"):
        g.do("create_secret", secret_name=name, version_id="v1", secret_data="%%% not base64 %%%",
             secret_data_type="binary")


def test_get_secret_value_selectors(g, name):
    v1, v2 = secret_value("1"), secret_value("2")
    g.do("create_secret", secret_name=name, version_id="v1", secret_data=v1)
    g.do("put_secret_value", secret_name=name, version_id="v2", secret_data=v2)
    assert g.do("get_secret_value", secret_name=name, version_id="v1").secret_data == v1
    assert g.do("get_secret_value", secret_name=name, version_stage="ACSPrevious").secret_data == v1
    assert g.do("get_secret_value", secret_name=name, version_stage="ACSCurrent").secret_data == v2
    both = g.do("get_secret_value", secret_name=name, version_id="v2", version_stage="ACSCurrent")
    assert both.secret_data == v2
    ext = g.do("get_secret_value", secret_name=name, fetch_extended_config=True)
    assert ext.secret_data == v2 and ext.version_id == "v2"
    with expect_error(404, "Forbidden.ResourceNotFound"):
        g.do("get_secret_value", secret_name=name, version_id="v1", version_stage="ACSCurrent")
    with expect_error(404, "Forbidden.ResourceNotFound"):
        g.do("get_secret_value", secret_name=name, version_id="nope")
    with expect_error(404, "Forbidden.ResourceNotFound"):
        g.do("get_secret_value", secret_name=name, version_stage="no-such-stage")


def test_secret_arn_accepted_as_secret_name(g, name):
    value = secret_value()
    arn = g.do("create_secret", secret_name=name, version_id="v1", secret_data=value).arn
    assert g.do("get_secret_value", secret_name=arn).secret_data == value
    g.do("put_secret_value", secret_name=arn, version_id="v2", secret_data=secret_value("2"))
    ids = g.do("list_secret_version_ids", secret_name=arn)
    assert sorted(v.version_id for v in ids.version_ids.version_id) == ["v1", "v2"]


def test_encryption_key_by_id_arn_and_alias(g, account):
    account_id, key_id = account
    refs = [key_id, "acs:kms:%s:%s:key/%s" % (REGION, account_id, key_id), DEFAULT_KEY_ALIAS]
    for ref in refs:
        n = unique("key")
        value = secret_value("key-ref")
        g.do("create_secret", secret_name=n, version_id="v1", secret_data=value, encryption_key_id=ref)
        assert g.do("describe_secret", secret_name=n).encryption_key_id == key_id, ref
        assert g.do("get_secret_value", secret_name=n).secret_data == value


def test_unknown_encryption_key(g, name):
    with expect_error(404, "Forbidden.KeyNotFound"):
        g.do("create_secret", secret_name=name, version_id="v1", secret_data="x",
             encryption_key_id=str(uuid.uuid4()))
    with expect_error(404, "Forbidden.ResourceNotFound"):
        g.do("describe_secret", secret_name=name)


def test_put_secret_value_stage_movement(g, name):
    g.do("create_secret", secret_name=name, version_id="v1", secret_data=secret_value("1"))
    r = g.do("put_secret_value", secret_name=name, version_id="v2", secret_data=secret_value("2"))
    assert (r.secret_name, r.version_id, body_stages(r)) == (name, "v2", ["ACSCurrent"])
    r = g.do("put_secret_value", secret_name=name, version_id="v3", secret_data=secret_value("3"),
             version_stages=json.dumps(["ACSCurrent", "stable"]))
    assert body_stages(r) == ["ACSCurrent", "stable"]
    ids = g.do("list_secret_version_ids", secret_name=name, include_deprecated="true")
    listed = {v.version_id: sorted(v.version_stages.version_stage or []) if v.version_stages else []
              for v in ids.version_ids.version_id}
    assert listed == {"v1": [], "v2": ["ACSPrevious"], "v3": ["ACSCurrent", "stable"]}
    for v in ids.version_ids.version_id:
        parse_time(v.create_time)


def test_put_idempotence_and_conflict(g, name):
    g.do("create_secret", secret_name=name, version_id="v1", secret_data=secret_value("1"))
    data = secret_value("2")
    g.do("put_secret_value", secret_name=name, version_id="v2", secret_data=data)
    again = g.do("put_secret_value", secret_name=name, version_id="v2", secret_data=data)
    assert again.version_id == "v2"
    with expect_error(409, "Rejected.ResourceExist"):
        g.do("put_secret_value", secret_name=name, version_id="v2", secret_data=secret_value("different"))
    # the idempotent replay did not move ACSPrevious onto v2 itself
    assert g.do("get_secret_value", secret_name=name, version_stage="ACSPrevious").version_id == "v1"
    # the initial version id conflicts too
    with expect_error(409, "Rejected.ResourceExist"):
        g.do("put_secret_value", secret_name=name, version_id="v1", secret_data=secret_value("x"))


def test_update_secret(g, name):
    g.do("create_secret", secret_name=name, version_id="v1", secret_data=secret_value(), description="old")
    r = g.do("update_secret", secret_name=name, description="new description")
    assert r.secret_name == name and r.request_id
    assert g.do("describe_secret", secret_name=name).description == "new description"


def test_update_secret_custom_data_rejected_for_generic(g, name):
    models = Gen2.models()
    g.do("create_secret", secret_name=name, version_id="v1", secret_data=secret_value())
    with expect_error(400, "InvalidParameter"):
        g.do("update_secret", secret_name=name,
             extended_config=models.UpdateSecretRequestExtendedConfig(custom_data={"k": "v"}))


def test_delete_restore_and_force(g, name):
    value = secret_value()
    g.do("create_secret", secret_name=name, version_id="v1", secret_data=value)
    r = g.do("delete_secret", secret_name=name, recovery_window_in_days="10")
    assert r.secret_name == name
    assert_time_near(r.planned_delete_time, utc_now() + timedelta(days=10))
    assert_time_near(g.do("describe_secret", secret_name=name).planned_delete_time,
                     utc_now() + timedelta(days=10))
    assert g.do("restore_secret", secret_name=name).secret_name == name
    assert not g.do("describe_secret", secret_name=name).planned_delete_time
    assert g.do("get_secret_value", secret_name=name).secret_data == value
    g.do("delete_secret", secret_name=name, force_delete_without_recovery="true")
    with expect_error(404, "Forbidden.ResourceNotFound"):
        g.do("get_secret_value", secret_name=name)
    with expect_error(404, "Forbidden.ResourceNotFound"):
        g.do("restore_secret", secret_name=name)
    g.do("create_secret", secret_name=name, version_id="again", secret_data=secret_value())
    assert g.do("get_secret_value", secret_name=name).version_id == "again"


def test_list_secrets_typed(g):
    tag_key = "k" + uuid.uuid4().hex[:10]
    names = [unique("ls") for _ in range(3)]
    for n in names:
        g.do("create_secret", secret_name=n, version_id="v1", secret_data=secret_value(),
             tags=json.dumps([{"TagKey": tag_key, "TagValue": n}]))
    r = g.do("list_secrets", filters=json.dumps([{"Key": "TagKey", "Values": [tag_key]}]), fetch_tags="true",
             page_size=2, page_number=1)
    assert (r.total_count, r.page_number, r.page_size) == (3, 1, 2)
    assert [s.secret_name for s in r.secret_list.secret] == names[:2]
    for s in r.secret_list.secret:
        assert [(t.tag_key, t.tag_value) for t in s.tags.tag] == [(tag_key, s.secret_name)]
        parse_time(s.create_time)
        parse_time(s.update_time)
        assert s.secret_type == "Generic"
    r = g.do("list_secrets", filters=json.dumps([{"Key": "TagKey", "Values": [tag_key]}]), page_size=2,
             page_number=2)
    assert [s.secret_name for s in r.secret_list.secret] == names[2:]


def test_random_password(g):
    pw = g.do("get_random_password").random_password
    assert len(pw) == 32
    pw = g.do("get_random_password", password_length="64", exclude_lowercase="true", exclude_uppercase="true",
              exclude_punctuation="true").random_password
    assert len(pw) == 64 and pw.isdigit(), pw


def test_tag_resources_family_typed(g, name):
    models = Gen2.models()
    g.do("create_secret", secret_name=name, version_id="v1", secret_data=secret_value())
    g.do("tag_resources", region_id=REGION, resource_type="secret", resource_id=[name],
         tag=[models.TagResourcesRequestTag(key="owner", value="alice"),
              models.TagResourcesRequestTag(key="tier", value="gold")])
    r = g.do("list_tag_resources", region_id=REGION, resource_type="secret", resource_id=[name])
    got = sorted((t.resource_id, t.resource_type, t.tag_key, t.tag_value) for t in r.tag_resources.tag_resource)
    assert got == [(name, "secret", "owner", "alice"), (name, "secret", "tier", "gold")]
    assert not r.next_token
    g.do("untag_resources", region_id=REGION, resource_type="secret", resource_id=[name], tag_key=["owner"])
    d = g.do("describe_secret", secret_name=name, fetch_tags="true")
    assert [(t.tag_key, t.tag_value) for t in d.tags.tag] == [("tier", "gold")]
    g.do("untag_resources", region_id=REGION, resource_type="secret", resource_id=[name], all=True)
    d = g.do("describe_secret", secret_name=name, fetch_tags="true")
    assert not (d.tags and d.tags.tag)


def test_endpoint_with_scheme_in_host_header(coffer, name):
    """gen 2 with endpoint 'http://host:port' sends that literal (signed) Host header."""
    g = Gen2("http://" + coffer.endpoint, coffer.ak, coffer.sk, protocol=None)
    value = secret_value("scheme")
    g.do("create_secret", secret_name=name, version_id="v1", secret_data=value)
    assert g.do("get_secret_value", secret_name=name).secret_data == value
