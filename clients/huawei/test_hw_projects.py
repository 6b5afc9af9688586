"""Projects and pointing the SDK at coffer (reference section 8): the bootstrap project of the default region,
`coffer project list`, every way the unmodified SDK can be aimed at the server, and foreign project ids."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from coffer_helpers import Gen2
from hw_helpers import (HW_REGION, PROJECT_RE, Hw, expect_hw, hw_name, make_hw, project_list,
                        random_project_id)


@pytest.fixture(scope="module")
def account_id(coffer):
    """The admin account id, learnt through the Alibaba dialect (the ARN of a probe secret)."""
    g = Gen2(coffer.endpoint, coffer.ak, coffer.sk)
    n = hw_name("acct")
    arn = g.call("CreateSecret", SecretName=n, VersionId="v1", SecretData="probe")["Arn"]
    g.call("DeleteSecret", SecretName=n, ForceDeleteWithoutRecovery="true")
    return arn.split(":")[3]


def test_bootstrap_project_is_listed_for_the_default_region(coffer, account_id):
    if getattr(coffer, "binary", None) is None:
        pytest.skip("external server: its data dir is not readable here")
    rows = project_list(coffer.binary, coffer.data_dir)
    assert rows == [{"AccountId": account_id, "Region": coffer.default_region, "ProjectId": coffer.project_id}]
    assert PROJECT_RE.match(coffer.project_id)


def test_with_region_object_and_project_id_makes_no_iam_call(coffer):
    """with_region(Region(id, endpoint)) plus a project id: the SDK calls no IAM and talks to coffer."""
    from huaweicloudsdkcore.region.region import Region

    c = Hw(coffer.endpoint, coffer.ak, coffer.sk, coffer.project_id,
           region=Region(HW_REGION, "http://" + coffer.endpoint), use_endpoint=False)
    n = hw_name("reg")
    c.call("create_secret", body={"name": n, "secret_string": "via region"})
    assert c.call("show_secret_version", secret_name=n, version_id="latest")["version"]["secret_string"] == \
        "via region"


def test_with_region_from_env_zero_code_redirect(coffer, tmp_path):
    """An app that does CsmsRegion.value_of("cn-north-4") and no credentials in code is redirected by env:
    HUAWEICLOUD_SDK_REGION_CSMS_CN_NORTH_4 and HUAWEICLOUD_SDK_AK/SK/PROJECT_ID (run in a child process)."""
    n = hw_name("env")
    make_hw(coffer).call("create_secret", body={"name": n, "secret_string": "env redirect"})
    script = textwrap.dedent("""
        import json, sys
        from huaweicloudsdkcsms.v1 import CsmsClient
        from huaweicloudsdkcsms.v1.model import ShowSecretVersionRequest
        from huaweicloudsdkcsms.v1.region.csms_region import CsmsRegion
        client = CsmsClient.new_builder().with_region(CsmsRegion.value_of("%s")).build()
        r = client.show_secret_version(ShowSecretVersionRequest(secret_name=sys.argv[1], version_id="latest"))
        print(json.dumps({"value": r.version.secret_string, "id": r.version.version_metadata.id}))
    """ % HW_REGION)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUAWEICLOUD_")}
    env.update({
        "HOME": str(tmp_path),
        "HUAWEICLOUD_SDK_REGION_CSMS_" + HW_REGION.replace("-", "_").upper(): "http://" + coffer.endpoint,
        "HUAWEICLOUD_SDK_AK": coffer.ak,
        "HUAWEICLOUD_SDK_SK": coffer.sk,
        "HUAWEICLOUD_SDK_PROJECT_ID": coffer.project_id,
    })
    p = subprocess.run([sys.executable, "-c", script, n], env=env, capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr[-3000:]
    assert json.loads(p.stdout) == {"value": "env redirect", "id": "v1"}


@pytest.mark.parametrize("region_id", ["cn-north-4", "ap-southeast-1", "eu-west-101"])
def test_any_region_id_reaches_the_same_project(coffer, region_id):
    """The Huawei region id lives only in the client; the project id selects the coffer region."""
    from huaweicloudsdkcore.region.region import Region

    c = Hw(coffer.endpoint, coffer.ak, coffer.sk, coffer.project_id,
           region=Region(region_id, "http://" + coffer.endpoint), use_endpoint=False)
    n = hw_name("rid")
    c.call("create_secret", body={"name": n, "secret_string": region_id})
    assert make_hw(coffer).call("show_secret_version", secret_name=n, version_id="v1")["version"][
        "secret_string"] == region_id


def test_a_second_project_id_is_not_this_accounts(coffer, hw):
    """A well-formed project id that is not one of the account's projects: 403 CSMS.0003 for every op,
    and nothing is read or written through it."""
    n = hw_name("p2")
    hw.call("create_secret", body={"name": n, "secret_string": "mine"})
    sid = hw.call("show_secret", secret_name=n)["secret"]["id"]
    other = make_hw(coffer, project_id=random_project_id())
    for op, kw in [
        ("show_secret", {"secret_name": n}),
        ("show_secret_version", {"secret_name": n, "version_id": "latest"}),
        ("list_secret_versions", {"secret_name": n}),
        ("create_secret_version", {"secret_name": n, "body": {"secret_string": "theirs"}}),
        ("delete_secret", {"secret_name": n}),
        ("list_secret_tags", {"secret_id": sid}),
        ("create_secret_tag", {"secret_id": sid, "body": {"tag": {"key": "k", "value": "v"}}}),
        ("list_project_secrets_tags", {}),
        ("list_secret_events", {}),
    ]:
        with expect_hw(403, "CSMS.0003"):
            other.call(op, **kw)
    vs = hw.call("list_secret_versions", secret_name=n)["version_metadatas"]
    assert [v["id"] for v in vs] == ["v1"]
    assert hw.call("list_secret_tags", secret_id=sid)["tags"] == []


def test_project_id_of_the_wrong_case_is_not_this_accounts(coffer):
    c = make_hw(coffer, project_id=coffer.project_id.upper())
    # Project ids are 32 lower-case hex characters: an upper-case one is a bad project id in the
    # path, 400 CSMS.0003 (403 is for a well-formed id the key may not use).
    with expect_hw(400, "CSMS.0003", "is not a project id"):
        c.call("list_secrets")
