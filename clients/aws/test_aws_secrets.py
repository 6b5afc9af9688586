"""The secret operations through boto3: every operation this server answers, its answers' shapes,
and its errors as botocore reads them (code, status, message)."""
import base64
import datetime
import time
import uuid

from botocore.exceptions import ClientError

from aws_helpers import ACCOUNT, REGION, expect, name


def token():
    return str(uuid.uuid4())


def test_create_get_describe(sm):
    n = name()
    r = sm.create_secret(Name=n, SecretString="v1", Description="first", Tags=[{"Key": "team", "Value": "blue"}])
    assert r["Name"] == n
    arn = r["ARN"]
    prefix = "arn:aws:secretsmanager:%s:%s:secret:%s-" % (REGION, ACCOUNT, n)
    assert arn.startswith(prefix) and len(arn) == len(prefix) + 6
    g = sm.get_secret_value(SecretId=n)
    assert (g["SecretString"], g["VersionId"], g["VersionStages"], g["ARN"]) == ("v1", r["VersionId"], ["AWSCURRENT"], arn)
    assert "SecretBinary" not in g
    d = sm.describe_secret(SecretId=arn)
    assert d["Description"] == "first"
    assert d["Tags"] == [{"Key": "team", "Value": "blue"}]
    assert d["VersionIdsToStages"] == {r["VersionId"]: ["AWSCURRENT"]}
    assert d["RotationEnabled"] is False
    assert "DeletedDate" not in d
    assert d["CreatedDate"] <= d["LastChangedDate"]


def test_lookup_by_name_full_arn_and_partial_arn(sm):
    n = name("db/pass")
    arn = sm.create_secret(Name=n, SecretString="x")["ARN"]
    partial = arn[:-7]
    for sid in (n, arn, partial):
        assert sm.get_secret_value(SecretId=sid)["ARN"] == arn
    with expect("ResourceNotFoundException", 400, "can't find the specified secret"):
        sm.get_secret_value(SecretId=arn[:-6] + "AAAAAA" if not arn.endswith("AAAAAA") else arn[:-6] + "BBBBBB")
    other_account = arn.replace(ACCOUNT, "999999999999")
    with expect("ResourceNotFoundException"):
        sm.get_secret_value(SecretId=other_account)


def test_binary_secret(sm):
    n = name()
    blob = bytes(range(256)) * 3
    sm.create_secret(Name=n, SecretBinary=blob)
    g = sm.get_secret_value(SecretId=n)
    assert g["SecretBinary"] == blob and "SecretString" not in g


def test_a_secret_created_without_a_value_gets_one_with_its_first_put(sm, coffer):
    n = name()
    r = sm.create_secret(Name=n, Description="empty")
    assert "VersionId" not in r
    with expect("ResourceNotFoundException", 400, "staging label: AWSCURRENT"):
        sm.get_secret_value(SecretId=n)
    assert sm.describe_secret(SecretId=n)["VersionIdsToStages"] == {}
    assert sm.list_secret_version_ids(SecretId=n)["Versions"] == []
    v = sm.put_secret_value(SecretId=n, SecretString="first")["VersionId"]
    g = sm.get_secret_value(SecretId=n)
    assert (g["SecretString"], g["VersionId"], g["VersionStages"]) == ("first", v, ["AWSCURRENT"])
    m = name()
    sm.create_secret(Name=m)
    # The other APIs see the secret, without a value.
    from tc_helpers import make_tc
    tc = make_tc("tc3", coffer)
    assert tc.call("DescribeSecret", SecretName=m)["SecretName"] == m
    assert tc.call("ListSecretVersionIds", SecretName=m)["Versions"] == []
    from coffer_helpers import Gen2
    ali = Gen2(coffer.endpoint, coffer.ak, coffer.sk)
    assert ali.call("DescribeSecret", SecretName=m)["SecretName"] == m
    try:
        ali.call("GetSecretValue", SecretName=m)
        raise AssertionError("a secret without a value returned one")
    except Exception as e:  # noqa: BLE001 - the SDK's own error type
        assert "500" not in str(e) and "InternalFailure" not in str(e), e


def test_both_values_or_none_refused(sm):
    with expect("InvalidParameterException", 400, "both a binary secret value and a string"):
        sm.create_secret(Name=name(), SecretString="a", SecretBinary=b"b")
    n = name()
    sm.create_secret(Name=n, SecretString="a")
    with expect("InvalidParameterException", 400, "SecretString or SecretBinary"):
        sm.put_secret_value(SecretId=n)


def test_value_size_limit(sm_raw):
    n = name()
    sm_raw.create_secret(Name=n, SecretString="x" * 65536)
    assert len(sm_raw.get_secret_value(SecretId=n)["SecretString"]) == 65536
    with expect("ValidationException", 400, "secretString"):
        sm_raw.put_secret_value(SecretId=n, SecretString="x" * 65537)


def test_put_versions_stages_and_idempotency(sm):
    n = name()
    v1 = sm.create_secret(Name=n, SecretString="one")["VersionId"]
    t2 = token()
    r = sm.put_secret_value(SecretId=n, SecretString="two", ClientRequestToken=t2)
    assert (r["VersionId"], r["VersionStages"]) == (t2, ["AWSCURRENT"])
    # The same token and value again: success, nothing changes.
    again = sm.put_secret_value(SecretId=n, SecretString="two", ClientRequestToken=t2)
    assert again["VersionId"] == t2
    # The same token, another value: refused.
    with expect("ResourceExistsException", 400, "can't modify an existing version"):
        sm.put_secret_value(SecretId=n, SecretString="other", ClientRequestToken=t2)
    d = sm.describe_secret(SecretId=n)["VersionIdsToStages"]
    assert d == {t2: ["AWSCURRENT"], v1: ["AWSPREVIOUS"]}
    assert sm.get_secret_value(SecretId=n, VersionStage="AWSPREVIOUS")["SecretString"] == "one"
    assert sm.get_secret_value(SecretId=n, VersionId=v1)["SecretString"] == "one"
    # A pending version does not move AWSCURRENT.
    t3 = token()
    sm.put_secret_value(SecretId=n, SecretString="three", ClientRequestToken=t3, VersionStages=["AWSPENDING"])
    assert sm.get_secret_value(SecretId=n)["SecretString"] == "two"
    assert sm.get_secret_value(SecretId=n, VersionStage="AWSPENDING")["VersionId"] == t3
    with expect("ResourceNotFoundException", 400, "staging label: NOPE"):
        sm.get_secret_value(SecretId=n, VersionStage="NOPE")
    with expect("ResourceNotFoundException", 400, "VersionId"):
        sm.get_secret_value(SecretId=n, VersionId=token())


def test_create_idempotency(sm):
    n, t = name(), token()
    a = sm.create_secret(Name=n, SecretString="same", ClientRequestToken=t)
    b = sm.create_secret(Name=n, SecretString="same", ClientRequestToken=t)
    assert a["ARN"] == b["ARN"] and b["VersionId"] == t
    with expect("ResourceExistsException"):
        sm.create_secret(Name=n, SecretString="different", ClientRequestToken=t)
    with expect("ResourceExistsException", 400, "already exists"):
        sm.create_secret(Name=n, SecretString="same")


def test_list_secret_version_ids(sm):
    n = name()
    sm.create_secret(Name=n, SecretString="0")
    ids = []
    for i in range(4):
        ids.append(sm.put_secret_value(SecretId=n, SecretString=str(i + 1))["VersionId"])
    r = sm.list_secret_version_ids(SecretId=n)
    assert {v["VersionId"] for v in r["Versions"]} == {ids[-1], ids[-2]}
    r = sm.list_secret_version_ids(SecretId=n, IncludeDeprecated=True)
    assert len(r["Versions"]) == 5
    first = sm.list_secret_version_ids(SecretId=n, IncludeDeprecated=True, MaxResults=2)
    assert len(first["Versions"]) == 2 and "NextToken" in first
    seen = [v["VersionId"] for v in first["Versions"]]
    nxt = first["NextToken"]
    while nxt:
        page = sm.list_secret_version_ids(SecretId=n, IncludeDeprecated=True, MaxResults=2, NextToken=nxt)
        seen += [v["VersionId"] for v in page["Versions"]]
        nxt = page.get("NextToken")
    assert len(seen) == 5 and len(set(seen)) == 5
    with expect("InvalidNextTokenException"):
        sm.list_secret_version_ids(SecretId=n, NextToken="bm90LW91cnM=")


def test_update_secret(sm):
    n = name()
    sm.create_secret(Name=n, SecretString="a", Description="d1")
    r = sm.update_secret(SecretId=n, Description="d2")
    assert "VersionId" not in r
    assert sm.describe_secret(SecretId=n)["Description"] == "d2"
    r = sm.update_secret(SecretId=n, SecretString="b")
    assert sm.get_secret_value(SecretId=n)["VersionId"] == r["VersionId"]
    assert sm.get_secret_value(SecretId=n, VersionStage="AWSPREVIOUS")["SecretString"] == "a"
    with expect("ResourceNotFoundException"):
        sm.update_secret(SecretId=name("missing"), Description="x")


def test_update_secret_version_stage(sm):
    n = name()
    v1 = sm.create_secret(Name=n, SecretString="1")["VersionId"]
    v2 = sm.put_secret_value(SecretId=n, SecretString="2", VersionStages=["AWSPENDING"])["VersionId"]
    with expect("InvalidParameterException", 400, "currently attached to version %s" % v1):
        sm.update_secret_version_stage(SecretId=n, VersionStage="AWSCURRENT", MoveToVersionId=v2)
    sm.update_secret_version_stage(SecretId=n, VersionStage="AWSCURRENT", MoveToVersionId=v2, RemoveFromVersionId=v1)
    stages = sm.describe_secret(SecretId=n)["VersionIdsToStages"]
    assert "AWSCURRENT" in stages[v2] and stages[v1] == ["AWSPREVIOUS"]
    # A custom label: added, then removed.
    sm.update_secret_version_stage(SecretId=n, VersionStage="blue", MoveToVersionId=v1)
    assert "blue" in sm.describe_secret(SecretId=n)["VersionIdsToStages"][v1]
    sm.update_secret_version_stage(SecretId=n, VersionStage="blue", RemoveFromVersionId=v1)
    assert "blue" not in sm.describe_secret(SecretId=n)["VersionIdsToStages"].get(v1, [])
    with expect("InvalidParameterException"):
        sm.update_secret_version_stage(SecretId=n, VersionStage="AWSCURRENT", MoveToVersionId=token(),
                                       RemoveFromVersionId=v2)


def test_tags(sm):
    n = name()
    sm.create_secret(Name=n, SecretString="x")
    sm.tag_resource(SecretId=n, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    sm.tag_resource(SecretId=n, Tags=[{"Key": "a", "Value": "3"}])
    assert sorted((t["Key"], t["Value"]) for t in sm.describe_secret(SecretId=n)["Tags"]) == [("a", "3"), ("b", "2")]
    sm.untag_resource(SecretId=n, TagKeys=["a", "zzz"])
    assert sm.describe_secret(SecretId=n)["Tags"] == [{"Key": "b", "Value": "2"}]
    with expect("InvalidParameterException", 400, "more than once"):
        sm.tag_resource(SecretId=n, Tags=[{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}])


def test_delete_restore_and_the_deletion_window(sm):
    n = name()
    sm.create_secret(Name=n, SecretString="x")
    with expect("InvalidParameterException", 400, "ForceDeleteWithoutRecovery in conjunction"):
        sm.delete_secret(SecretId=n, RecoveryWindowInDays=7, ForceDeleteWithoutRecovery=True)
    for days in (6, 31):
        with expect("InvalidParameterException", 400, "between 7 and 30"):
            sm.delete_secret(SecretId=n, RecoveryWindowInDays=days)
    r = sm.delete_secret(SecretId=n, RecoveryWindowInDays=7)
    assert r["Name"] == n and "DeletionDate" in r
    d = sm.describe_secret(SecretId=n)
    assert "DeletedDate" in d
    with expect("InvalidRequestException", 400, "marked for deletion"):
        sm.get_secret_value(SecretId=n)
    with expect("InvalidRequestException", 400, "marked for deletion"):
        sm.put_secret_value(SecretId=n, SecretString="y")
    with expect("InvalidRequestException", 400, "already scheduled for deletion"):
        sm.delete_secret(SecretId=n)
    assert n not in [s["Name"] for s in sm.list_secrets()["SecretList"]]
    listed = sm.list_secrets(IncludePlannedDeletion=True, Filters=[{"Key": "name", "Values": [n]}])["SecretList"]
    assert [s["Name"] for s in listed] == [n] and "DeletedDate" in listed[0]
    sm.restore_secret(SecretId=n)
    assert sm.get_secret_value(SecretId=n)["SecretString"] == "x"
    sm.delete_secret(SecretId=n, ForceDeleteWithoutRecovery=True)
    with expect("ResourceNotFoundException"):
        sm.describe_secret(SecretId=n)
    # The name is free at once, and the new secret has another ARN.
    sm.create_secret(Name=n, SecretString="again")


def test_list_secrets_filters_sort_and_paging(sm):
    base = name("flt")
    made = []
    for i, (desc, tag) in enumerate([("Alpha service", "red"), ("beta service", "blue"), ("gamma", "red")]):
        n = "%s/%d" % (base, i)
        sm.create_secret(Name=n, SecretString="v", Description=desc, Tags=[{"Key": "color", "Value": tag}])
        made.append(n)

    def names(**kw):
        return [s["Name"] for s in sm.list_secrets(**kw)["SecretList"]]

    mine = [{"Key": "name", "Values": [base]}]
    assert sorted(names(Filters=mine)) == made
    assert names(Filters=mine, SortOrder="asc") == made
    assert names(Filters=mine, SortOrder="desc") == made[::-1]
    assert sorted(names(Filters=mine + [{"Key": "tag-value", "Values": ["red"]}])) == [made[0], made[2]]
    assert names(Filters=mine + [{"Key": "tag-value", "Values": ["!red"]}]) == [made[1]]
    assert sorted(names(Filters=mine + [{"Key": "description", "Values": ["ALPHA", "beta"]}])) == made[:2]
    assert names(Filters=mine + [{"Key": "tag-key", "Values": ["nothing"]}]) == []
    assert sorted(names(Filters=mine + [{"Key": "all", "Values": ["service"]}])) == made[:2]
    assert sorted(names(Filters=mine + [{"Key": "primary-region", "Values": [REGION]}])) == made
    assert names(Filters=mine + [{"Key": "owning-service", "Values": ["x"]}]) == []
    listed = sm.list_secrets(Filters=mine + [{"Key": "name", "Values": [made[0]]}])["SecretList"]
    assert list(listed[0]["SecretVersionsToStages"].values()) == [["AWSCURRENT"]]
    first = sm.list_secrets(Filters=mine, MaxResults=2, SortOrder="asc")
    assert [s["Name"] for s in first["SecretList"]] == made[:2]
    rest = sm.list_secrets(Filters=mine, MaxResults=2, SortOrder="asc", NextToken=first["NextToken"])
    assert [s["Name"] for s in rest["SecretList"]] == made[2:] and "NextToken" not in rest
    pages = sm.get_paginator("list_secrets").paginate(Filters=mine, PaginationConfig={"PageSize": 1})
    assert sum(len(p["SecretList"]) for p in pages) == 3
    with expect("InvalidNextTokenException"):
        sm.list_secrets(NextToken="garbage")


def test_list_secrets_unfiltered_pages_in_creation_order(sm):
    # Without a filter the listing is the store's own indexed order: walk every page.
    base = name("unf")
    made = ["%s/%d" % (base, i) for i in range(3)]
    for n in made:
        sm.create_secret(Name=n, SecretString="v")

    def walk(**kw):
        out = []
        for page in sm.get_paginator("list_secrets").paginate(PaginationConfig={"PageSize": 2}, **kw):
            assert len(page["SecretList"]) <= 2
            out += [s["Name"] for s in page["SecretList"]]
        assert len(out) == len(set(out)), "a secret listed twice"
        return out

    asc = walk(SortOrder="asc")
    assert [n for n in asc if n.startswith(base)] == made
    # The newest secrets come first by default (desc).
    assert sm.list_secrets(MaxResults=3)["SecretList"][0]["Name"] == made[2]
    assert [n for n in walk() if n.startswith(base)] == made[::-1]
    first = sm.list_secrets(MaxResults=1, SortOrder="asc")
    assert "NextToken" in first
    sm.delete_secret(SecretId=made[1], RecoveryWindowInDays=7)
    assert [n for n in walk(SortOrder="asc") if n.startswith(base)] == [made[0], made[2]]
    assert [n for n in walk(SortOrder="asc", IncludePlannedDeletion=True) if n.startswith(base)] == made


def test_list_secrets_bad_input(sm_raw):
    with expect("ValidationException", 400, "maxResults"):
        sm_raw.list_secrets(MaxResults=101)
    with expect("ValidationException", 400, "maxResults"):
        sm_raw.list_secrets(MaxResults=0)
    with expect("ValidationException", 400, "enum value set"):
        sm_raw.list_secrets(Filters=[{"Key": "colour", "Values": ["x"]}])
    with expect("InvalidParameterException", 400, "Invalid filter value"):
        sm_raw.list_secrets(Filters=[{"Key": "name", "Values": ["a$b"]}])
    with expect("ValidationException", 400, "sortOrder"):
        sm_raw.list_secrets(SortOrder="up")


def test_batch_get_secret_value(sm):
    base = name("batch")
    names = ["%s/%d" % (base, i) for i in range(3)]
    for i, n in enumerate(names):
        sm.create_secret(Name=n, SecretString="value-%d" % i)
    missing = name("missing")
    r = sm.batch_get_secret_value(SecretIdList=names + [missing])
    assert sorted(v["SecretString"] for v in r["SecretValues"]) == ["value-0", "value-1", "value-2"]
    assert [(e["SecretId"], e["ErrorCode"]) for e in r["Errors"]] == [(missing, "ResourceNotFoundException")]
    by_filter = sm.batch_get_secret_value(Filters=[{"Key": "name", "Values": [base]}], MaxResults=2)
    assert len(by_filter["SecretValues"]) == 2 and "NextToken" in by_filter
    rest = sm.batch_get_secret_value(Filters=[{"Key": "name", "Values": [base]}], MaxResults=2,
                                     NextToken=by_filter["NextToken"])
    assert len(rest["SecretValues"]) == 1
    with expect("InvalidParameterException", 400, "not both"):
        sm.batch_get_secret_value(SecretIdList=names, Filters=[{"Key": "name", "Values": [base]}])
    with expect("InvalidParameterException"):
        sm.batch_get_secret_value()


def test_a_value_under_a_disabled_key(coffer, sm):
    """A read of a value whose KMS key is disabled is a DecryptionFailure, for GetSecretValue
    and as that secret's entry of a batch read (the other secrets still answered)."""
    from coffer_helpers import Gen2
    gen2 = Gen2(coffer.endpoint, coffer.ak, coffer.sk)
    key = gen2.call_api("CreateKey", {"Description": "batch key"})["body"]["KeyMetadata"]["KeyId"]
    locked, open_ = name("locked"), name("open")
    sm.create_secret(Name=locked, SecretString="under-key", KmsKeyId=key)
    sm.create_secret(Name=open_, SecretString="plain")
    gen2.call_api("DisableKey", {"KeyId": key})
    try:
        with expect("DecryptionFailure", 400, "disabled"):
            sm.get_secret_value(SecretId=locked)
        r = sm.batch_get_secret_value(SecretIdList=[locked, open_])
        assert [v["SecretString"] for v in r["SecretValues"]] == ["plain"]
        assert [(e["SecretId"], e["ErrorCode"]) for e in r["Errors"]] == [(locked, "DecryptionFailure")]
    finally:
        gen2.call_api("EnableKey", {"KeyId": key})
    assert sm.get_secret_value(SecretId=locked)["SecretString"] == "under-key"


def _last_accessed(sm, n, want_present, timeout=5.0):
    """DescribeSecret's LastAccessedDate once it is (or is still not) there: a read records
    it in the background, so it may appear a moment after the read's answer."""
    deadline = time.time() + timeout
    while True:
        d = sm.describe_secret(SecretId=n)
        if ("LastAccessedDate" in d) == want_present or time.time() > deadline:
            return d.get("LastAccessedDate")
        time.sleep(0.05)


def test_last_accessed_date(sm):
    """AWS sets LastAccessedDate when a value is read (GetSecretValue, BatchGetSecretValue),
    truncated to midnight UTC, and leaves it out for a secret never read; describing or
    listing a secret is no access."""
    base = name("accessed")
    a, b = base + "/a", base + "/b"
    for n in (a, b):
        sm.create_secret(Name=n, SecretString="v")
    sm.describe_secret(SecretId=a)
    sm.list_secrets(Filters=[{"Key": "name", "Values": [base]}])
    assert _last_accessed(sm, a, False) is None
    sm.get_secret_value(SecretId=a)
    day = _last_accessed(sm, a, True)
    assert day is not None
    today = datetime.datetime.now(datetime.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    # The date only: midnight UTC of today (or of yesterday, when the test ran across midnight).
    assert day in (today, today - datetime.timedelta(days=1)), day
    assert (day.hour, day.minute, day.second, day.microsecond) == (0, 0, 0, 0)
    listed = {e["Name"]: e for e in sm.list_secrets(Filters=[{"Key": "name", "Values": [base]}])["SecretList"]}
    assert listed[a]["LastAccessedDate"] == day and "LastAccessedDate" not in listed[b]
    # A batch read is an access too; a refused one (the secret is not there) is none.
    sm.batch_get_secret_value(SecretIdList=[b, base + "/missing"])
    assert _last_accessed(sm, b, True) == day
    # A failed read is no access.
    c = base + "/c"
    sm.create_secret(Name=c, SecretString="v")
    with expect("ResourceNotFoundException"):
        sm.get_secret_value(SecretId=c, VersionStage="AWSPENDING")
    time.sleep(0.3)
    assert _last_accessed(sm, c, False, timeout=0) is None


def test_list_sorted_by_every_key(sm):
    """SortBy orders by name, creation, last change or last access (a secret never read before
    any read one), and SortOrder reverses each."""
    base = name("sorted")
    names = [base + "/" + s for s in ("c", "a", "b")]
    for n in names:
        sm.create_secret(Name=n, SecretString="v")
        time.sleep(0.01)  # dates are in milliseconds: no two alike
    sm.update_secret(SecretId=names[0], Description="changed last")
    sm.get_secret_value(SecretId=names[1])
    _last_accessed(sm, names[1], True)

    def order(by, how="asc"):
        got = sm.list_secrets(Filters=[{"Key": "name", "Values": [base]}], SortBy=by, SortOrder=how)
        return [e["Name"] for e in got["SecretList"]]

    assert order("name") == sorted(names)
    assert order("name", "desc") == sorted(names, reverse=True)
    assert order("created-date") == names
    assert order("last-changed-date") == [names[1], names[2], names[0]]
    assert order("last-accessed-date") == [names[0], names[2], names[1]]
    assert order("last-accessed-date", "desc") == [names[1], names[2], names[0]]
    with expect("ValidationException"):
        sm.list_secrets(SortBy="size")


def test_get_random_password(sm):
    p = sm.get_random_password()["RandomPassword"]
    assert len(p) == 32 and " " not in p
    p = sm.get_random_password(PasswordLength=80, ExcludePunctuation=True, ExcludeCharacters="abc")
    p = p["RandomPassword"]
    assert len(p) == 80 and p.isalnum() and not set("abc") & set(p)
    p = sm.get_random_password(PasswordLength=10, ExcludeNumbers=True, ExcludeLowercase=True,
                               ExcludePunctuation=True)["RandomPassword"]
    assert p.isupper() and p.isalpha()


def test_get_random_password_bad_input(sm_raw):
    with expect("ValidationException", 400, "passwordLength"):
        sm_raw.get_random_password(PasswordLength=0)
    with expect("ValidationException", 400, "passwordLength"):
        sm_raw.get_random_password(PasswordLength=4097)


def test_names_and_ids_validated(sm_raw):
    with expect("InvalidParameterException", 400, "Invalid name"):
        sm_raw.create_secret(Name="bad name!", SecretString="x")
    with expect("ValidationException", 400, "'name'", "512"):
        sm_raw.create_secret(Name="a" * 513, SecretString="x")
    sm_raw.create_secret(Name="n" * 512, SecretString="x")
    sm_raw.delete_secret(SecretId="n" * 512, ForceDeleteWithoutRecovery=True)
    with expect("ValidationException", 400, "'secretId'", "2048"):
        sm_raw.get_secret_value(SecretId="a" * 2049)
    with expect("ValidationException", 400, "'secretId'"):
        sm_raw.get_secret_value(SecretId="")
    with expect("ValidationException", 400, "'clientRequestToken'", "32"):
        sm_raw.create_secret(Name=name(), SecretString="x", ClientRequestToken="short")
    with expect("ValidationException", 400, "'clientRequestToken'", "64"):
        sm_raw.create_secret(Name=name(), SecretString="x", ClientRequestToken="t" * 65)
    with expect("ValidationException", 400, "'versionId'"):
        sm_raw.get_secret_value(SecretId=name(), VersionId="short")
    with expect("ValidationException", 400, "'name'", "null"):
        sm_raw.create_secret(SecretString="x")
    with expect("ValidationException", 400, "versionStages"):
        sm_raw.put_secret_value(SecretId=name(), SecretString="x", VersionStages=[])


def test_unknown_secret(sm):
    for call in (lambda n: sm.get_secret_value(SecretId=n), lambda n: sm.describe_secret(SecretId=n),
                 lambda n: sm.put_secret_value(SecretId=n, SecretString="x"),
                 lambda n: sm.delete_secret(SecretId=n), lambda n: sm.restore_secret(SecretId=n),
                 lambda n: sm.tag_resource(SecretId=n, Tags=[{"Key": "a", "Value": "b"}])):
        with expect("ResourceNotFoundException", 400, "can't find the specified secret"):
            call(name("nope"))


def test_kms_key_by_id_alias_and_arn(sm, coffer):
    n = name()
    d = sm.create_secret(Name=n, SecretString="x", KmsKeyId="alias/aws/secretsmanager")
    key = sm.describe_secret(SecretId=n)["KmsKeyId"]
    n2 = name()
    sm.create_secret(Name=n2, SecretString="y", KmsKeyId=key)
    assert sm.describe_secret(SecretId=n2)["KmsKeyId"] == key
    n3 = name()
    sm.create_secret(Name=n3, SecretString="z", KmsKeyId="arn:aws:kms:%s:%s:key/%s" % (REGION, ACCOUNT, key))
    assert sm.get_secret_value(SecretId=n3)["SecretString"] == "z"
    with expect("ResourceNotFoundException"):
        sm.create_secret(Name=name(), SecretString="x", KmsKeyId="alias/does-not-exist")
    assert d["Name"] == n


def test_operations_of_the_other_parts_answer_clearly(sm):
    n = name()
    sm.create_secret(Name=n, SecretString="x")
    # Parsed and authorized like every operation; until they are wired they say so.
    try:
        sm.get_resource_policy(SecretId=n)
    except ClientError as e:
        assert e.response["Error"]["Code"] in ("InvalidRequestException",)
    assert len(sm.meta.service_model.operation_names) == 26


def test_binary_base64_on_the_wire(sm):
    n = name()
    sm.create_secret(Name=n, SecretBinary=b"\x00\xff")
    raw = sm.get_secret_value(SecretId=n)["SecretBinary"]
    assert raw == b"\x00\xff" and base64.b64encode(raw) == b"AP8="
