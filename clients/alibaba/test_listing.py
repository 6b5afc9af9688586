"""ListSecrets (paging, filters, tags) and ListSecretVersionIds through every SDK flavour."""
import json
import uuid

import pytest

from coffer_helpers import expect_error, parse_time, secret_value, stages, tags_of, unique, wrapped_list


def make_group(api, n, tag_key=None, description=None, extra_tags=None):
    tag_key = tag_key or "grp" + uuid.uuid4().hex[:10]
    names = []
    for i in range(n):
        name = unique("ls%d" % i)
        tags = [{"TagKey": tag_key, "TagValue": "val%d" % i}] + (extra_tags or [])
        api.call("CreateSecret", SecretName=name, VersionId="v1", SecretData=secret_value(),
                 Tags=json.dumps(tags), Description=description)
        names.append(name)
    return tag_key, names


def listed(r):
    return [s["SecretName"] for s in wrapped_list(r, "SecretList", "Secret")]


def filt(*pairs):
    return json.dumps([{"Key": k, "Values": v} for k, v in pairs])


def test_paging(api):
    tag_key, names = make_group(api, 5)
    f = filt(("TagKey", [tag_key]))
    pages = []
    for page in (1, 2, 3):
        r = api.call("ListSecrets", Filters=f, PageSize=2, PageNumber=page)
        assert (r["TotalCount"], r["PageNumber"], r["PageSize"]) == (5, page, 2)
        assert isinstance(r["TotalCount"], int) and isinstance(r["PageSize"], int)
        pages.append(listed(r))
    assert pages == [names[0:2], names[2:4], names[4:5]]  # creation order, stable
    r = api.call("ListSecrets", Filters=f, PageSize=2, PageNumber=4)
    assert r["TotalCount"] == 5 and listed(r) == []


def test_default_paging(api):
    tag_key, names = make_group(api, 1)
    r = api.call("ListSecrets", Filters=filt(("TagKey", [tag_key])))
    assert (r["PageNumber"], r["PageSize"], r["TotalCount"]) == (1, 10, 1)
    [s] = wrapped_list(r, "SecretList", "Secret")
    assert s["SecretName"] == names[0]
    assert s["SecretType"] == "Generic"
    parse_time(s["CreateTime"])
    parse_time(s["UpdateTime"])
    assert "SecretData" not in s
    assert tags_of(s) == {}  # no FetchTags, no tags


def test_fetch_tags(api):
    tag_key, names = make_group(api, 2, extra_tags=[{"TagKey": "shared", "TagValue": "yes"}])
    r = api.call("ListSecrets", Filters=filt(("TagKey", [tag_key])), FetchTags="true")
    got = {s["SecretName"]: tags_of(s) for s in wrapped_list(r, "SecretList", "Secret")}
    assert got == {names[0]: {tag_key: "val0", "shared": "yes"}, names[1]: {tag_key: "val1", "shared": "yes"}}


def test_filter_by_secret_name_is_exact_and_ored(api):
    tag_key, names = make_group(api, 3)
    r = api.call("ListSecrets", Filters=filt(("SecretName", [names[0], names[2]])))
    assert listed(r) == [names[0], names[2]] and r["TotalCount"] == 2
    r = api.call("ListSecrets", Filters=filt(("SecretName", [names[0][:-2]])))
    assert listed(r) == [] and r["TotalCount"] == 0


def test_filter_by_tag_value_and_description(api):
    desc = "description " + uuid.uuid4().hex
    tag_key, names = make_group(api, 3, description=desc)
    r = api.call("ListSecrets", Filters=filt(("TagKey", [tag_key]), ("TagValue", ["val1"])))
    assert listed(r) == [names[1]]
    r = api.call("ListSecrets", Filters=filt(("Description", [desc])))
    assert listed(r) == names
    r = api.call("ListSecrets", Filters=filt(("Description", [desc]), ("SecretName", [names[2]])))
    assert listed(r) == [names[2]]


def test_pending_deletion_is_listed(api):
    tag_key, names = make_group(api, 2)
    api.call("DeleteSecret", SecretName=names[1])
    r = api.call("ListSecrets", Filters=filt(("TagKey", [tag_key])))
    secrets = {s["SecretName"]: s for s in wrapped_list(r, "SecretList", "Secret")}
    assert set(secrets) == set(names)
    assert not secrets[names[0]].get("PlannedDeleteTime")
    parse_time(secrets[names[1]]["PlannedDeleteTime"])


@pytest.mark.parametrize("size", [0, 101])
def test_page_size_bounds(api, size):
    with expect_error(400, "InvalidParameter", "PageSize"):
        api.call("ListSecrets", PageSize=size)


def test_page_size_100_is_fine(api):
    r = api.call("ListSecrets", PageSize=100)
    assert r["PageSize"] == 100
    assert len(listed(r)) <= 100


@pytest.mark.parametrize("bad", ['[{"Key": "SecretName", "Values": ["x"]}', "not json", '{"Key": 1}'])
def test_malformed_filters(api, bad):
    with expect_error(400, "InvalidParameter", "Filters"):
        api.call("ListSecrets", Filters=bad)


def test_list_secret_version_ids_paging_and_deprecated(api, name):
    api.call("CreateSecret", SecretName=name, VersionId="a", SecretData=secret_value())
    for v in ("b", "c", "d"):
        api.call("PutSecretValue", SecretName=name, VersionId=v, SecretData=secret_value(v))
    r = api.call("ListSecretVersionIds", SecretName=name)
    assert r["SecretName"] == name
    assert {v["VersionId"]: stages(v) for v in wrapped_list(r, "VersionIds", "VersionId")} == \
        {"c": ["ACSPrevious"], "d": ["ACSCurrent"]}
    assert r["TotalCount"] == 2
    r = api.call("ListSecretVersionIds", SecretName=name, IncludeDeprecated="true", PageSize=3, PageNumber=1)
    assert (r["TotalCount"], r["PageSize"], r["PageNumber"]) == (4, 3, 1)
    first = [v["VersionId"] for v in wrapped_list(r, "VersionIds", "VersionId")]
    r = api.call("ListSecretVersionIds", SecretName=name, IncludeDeprecated="true", PageSize=3, PageNumber=2)
    second = [v["VersionId"] for v in wrapped_list(r, "VersionIds", "VersionId")]
    assert len(first) == 3 and len(second) == 1
    assert sorted(first + second) == ["a", "b", "c", "d"]
    for v in wrapped_list(r, "VersionIds", "VersionId"):
        parse_time(v["CreateTime"])


@pytest.mark.parametrize("size", [0, 101])
def test_list_secret_version_ids_page_size_bounds(api, name, size):
    api.call("CreateSecret", SecretName=name, VersionId="v1", SecretData=secret_value())
    with expect_error(400, "InvalidParameter", "PageSize"):
        api.call("ListSecretVersionIds", SecretName=name, PageSize=size)
