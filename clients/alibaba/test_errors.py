"""Error model: body fields, request ids, not-found/conflict codes through each SDK, and how the
SDKs surface Coffer's errors."""
import json
import re

import pytest

from coffer_helpers import ApiError, expect_error, raw_error, secret_value, unique

UUIDISH = re.compile(r"^[0-9A-Fa-f-]{16,}$")


def test_error_body_fields(raw):
    resp = raw.rpc("GetSecretValue", {"SecretName": unique("missing")})
    body = raw_error(resp, 404, "Forbidden.ResourceNotFound")
    for field in ("Code", "Message", "RequestId", "HostId", "Recommend", "HttpStatus"):
        assert field in body, "error body lacks %s: %r" % (field, body)
    assert body["HttpStatus"] == 404
    assert body["Message"]
    assert resp.headers.get("x-acs-request-id") == body["RequestId"]
    assert UUIDISH.match(body["RequestId"]), body["RequestId"]


def test_success_carries_request_id_header(raw, name):
    resp = raw.rpc("CreateSecret", {"SecretName": name, "VersionId": "v1", "SecretData": secret_value()})
    assert resp.status_code == 200, resp.text
    assert "application/json" in resp.headers.get("Content-Type", "")
    body = resp.json()
    assert body["RequestId"] and resp.headers.get("x-acs-request-id") == body["RequestId"]
    resp2 = raw.rpc("DescribeSecret", {"SecretName": name})
    assert resp2.json()["RequestId"] != body["RequestId"]


def test_request_ids_are_unique(raw):
    ids = set()
    for _ in range(5):
        resp = raw.rpc("GetRandomPassword", {})
        assert resp.status_code == 200, resp.text
        ids.add(resp.json()["RequestId"])
    assert len(ids) == 5


@pytest.mark.parametrize("action,params", [
    ("GetSecretValue", {}),
    ("DescribeSecret", {}),
    ("PutSecretValue", {"VersionId": "v2", "SecretData": "x"}),
    ("UpdateSecret", {"Description": "x"}),
    ("UpdateSecretVersionStage", {"VersionStage": "s", "MoveToVersion": "v1"}),
    ("ListSecretVersionIds", {}),
    ("DeleteSecret", {}),
    ("RestoreSecret", {}),
])
def test_unknown_secret_not_found(api, action, params):
    with expect_error(404, "Forbidden.ResourceNotFound") as e:
        api.call(action, SecretName=unique("nope"), **params)
    assert e.error.message


def test_conflicts(api, name):
    api.call("CreateSecret", SecretName=name, VersionId="v1", SecretData=secret_value())
    with expect_error(409, "Rejected.ResourceExist"):
        api.call("CreateSecret", SecretName=name, VersionId="v1", SecretData=secret_value())
    api.call("PutSecretValue", SecretName=name, VersionId="v2", SecretData="same")
    api.call("PutSecretValue", SecretName=name, VersionId="v2", SecretData="same")
    with expect_error(409, "Rejected.ResourceExist"):
        api.call("PutSecretValue", SecretName=name, VersionId="v2", SecretData="different")


def test_gen1_server_exception_fields(gen1):
    from aliyunsdkcore.acs_exception.exceptions import ServerException

    req = gen1.request("DescribeSecret")
    req.set_SecretName(unique("nope"))
    gen1.prepare(req)
    with pytest.raises(ServerException) as ei:
        gen1.client.do_action_with_exception(req)
    e = ei.value
    assert e.get_http_status() == 404
    assert e.get_error_code() == "Forbidden.ResourceNotFound"
    assert e.get_request_id() and UUIDISH.match(e.get_request_id())


def test_gen2_client_exception_fields(gen2):
    from alibabacloud_kms20160120 import models
    from alibabacloud_tea_openapi.exceptions import ClientException
    from darabonba.runtime import RuntimeOptions

    with pytest.raises(ClientException) as ei:
        gen2.client.describe_secret_with_options(models.DescribeSecretRequest(secret_name=unique("nope")),
                                                 RuntimeOptions())
    e = ei.value
    assert e.status_code == 404
    assert e.code == "Forbidden.ResourceNotFound"
    assert e.request_id and UUIDISH.match(e.request_id)
    assert e.data["HttpStatus"] == 404
    assert "request id: %s" % e.request_id in e.message


def test_gen2_unknown_action(gen2, gen2v2):
    for g in (gen2, gen2v2):
        with expect_error(404, "InvalidAction.NotFound"):
            g.call_api("NoSuchActionAtAll", {"SecretName": "x"})


def test_gen2_wrong_version(gen2, gen2v2):
    for g in (gen2, gen2v2):
        with expect_error(400, "InvalidVersion"):
            g.call_api("GetRandomPassword", {}, version="2099-01-01")


def test_known_but_unsupported_key_action_is_not_a_500(raw):
    """Any of the 91 KMS actions Coffer does not implement must be a clean 4xx JSON error."""
    resp = raw.rpc("ConnectKmsInstance", {"KmsInstanceId": "kst-x"})
    # The reference leaves a choice here (Alibaba's gateway answers an action it does not serve
    # with 404 InvalidAction.NotFound; 400 UnsupportedOperation would say "known but not
    # implemented"). coffer chose the gateway's answer for every action it does not implement,
    # so that is the one asserted.
    raw_error(resp, 404, "InvalidAction.NotFound", "ConnectKmsInstance")


def test_duplicate_parameter_rejected(raw, name):
    resp = raw.rpc("CreateSecret", {"SecretName": name, "VersionId": "v1"}, body={"SecretData": "x",
                                                                                    "VersionId": "v2"})
    raw_error(resp, 400, "InvalidParameter")


def test_parameters_from_form_body(raw, name):
    value = secret_value("body")
    resp = raw.rpc("CreateSecret", {"SecretName": name}, body={"VersionId": "v1", "SecretData": value})
    assert resp.status_code == 200, resp.text
    resp = raw.rpc("GetSecretValue", {}, body={"SecretName": name})
    assert resp.status_code == 200, resp.text
    assert resp.json()["SecretData"] == value


def test_boolean_spellings(api, name):
    api.call("CreateSecret", SecretName=name, VersionId="v1", SecretData=secret_value(),
             Tags=json.dumps([{"TagKey": "b", "TagValue": "1"}]))
    for spelling in ("true", "True", "TRUE"):
        d = api.call("DescribeSecret", SecretName=name, FetchTags=spelling)
        assert d["Tags"]["Tag"] == [{"TagKey": "b", "TagValue": "1"}], spelling
    d = api.call("DescribeSecret", SecretName=name, FetchTags="false")
    assert not (d.get("Tags") or {}).get("Tag")


def test_error_is_api_error_subclass_sanity():
    # guards the helper itself: ApiError carries what expect_error checks
    e = ApiError(400, "X", "m", "rid", "test")
    assert (e.status, e.code, e.message, e.request_id) == (400, "X", "m", "rid")
    with pytest.raises(AssertionError):
        with expect_error(404, "Y"):
            raise e
    with pytest.raises(pytest.fail.Exception):
        with expect_error(404, "Y"):
            pass
