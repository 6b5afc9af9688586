"""Format=XML (RPC v1 only): success bodies under <KMS>, errors under <Error>."""
import xml.etree.ElementTree as ET

import pytest

from coffer_helpers import REGION, secret_value, unique

XML_CT = "text/xml;charset=utf-8"


def parse(resp):
    assert resp.headers.get("Content-Type", "").replace(" ", "").lower() == XML_CT, resp.headers.get("Content-Type")
    text = resp.content.decode("utf-8")
    assert text.startswith("<?xml"), text[:80]
    return ET.fromstring(resp.content)


def test_xml_get_secret_value(raw, name):
    value = secret_value("xml <&> ]]> \"quotes\"")
    assert raw.rpc("CreateSecret", {"SecretName": name, "VersionId": "v1", "SecretData": value}).status_code == 200
    resp = raw.rpc("GetSecretValue", {"SecretName": name}, fmt="XML")
    assert resp.status_code == 200, resp.text
    root = parse(resp)
    assert root.tag == "KMS"
    assert root.findtext("SecretName") == name
    assert root.findtext("SecretData") == value
    assert root.findtext("VersionId") == "v1"
    assert root.findtext("SecretDataType") == "text"
    assert [e.text for e in root.findall("VersionStages/VersionStage")] == ["ACSCurrent"]
    rid = root.findtext("RequestId")
    assert rid and resp.headers.get("x-acs-request-id") == rid


def test_xml_create_secret(raw, name):
    resp = raw.rpc("CreateSecret", {"SecretName": name, "VersionId": "v1", "SecretData": secret_value()}, fmt="XML")
    assert resp.status_code == 200, resp.text
    root = parse(resp)
    assert root.tag == "KMS"
    assert root.findtext("SecretName") == name
    arn = root.findtext("Arn")
    assert arn.startswith("acs:kms:%s:" % REGION) and arn.endswith(":secret/" + name)


@pytest.mark.parametrize("fmt", ["xml", "Xml"])
def test_xml_format_is_case_insensitive(raw, fmt):
    resp = raw.rpc("GetRandomPassword", {"PasswordLength": "10"}, fmt=fmt)
    assert resp.status_code == 200, resp.text
    root = parse(resp)
    assert len(root.findtext("RandomPassword")) == 10


def test_xml_list_secrets(raw):
    names = [unique("xml") for _ in range(2)]
    tag_key = "x" + names[0][-10:]
    for n in names:
        resp = raw.rpc("CreateSecret", {"SecretName": n, "VersionId": "v1", "SecretData": "x",
                                        "Tags": '[{"TagKey":"%s","TagValue":"%s"}]' % (tag_key, n)})
        assert resp.status_code == 200, resp.text
    resp = raw.rpc("ListSecrets", {"Filters": '[{"Key":"TagKey","Values":["%s"]}]' % tag_key,
                                   "FetchTags": "true"}, fmt="XML")
    assert resp.status_code == 200, resp.text
    root = parse(resp)
    assert root.findtext("TotalCount") == "2"
    assert root.findtext("PageNumber") == "1"
    secrets = root.findall("SecretList/Secret")
    assert [s.findtext("SecretName") for s in secrets] == names
    for s in secrets:
        tags = [(t.findtext("TagKey"), t.findtext("TagValue")) for t in s.findall("Tags/Tag")]
        assert tags == [(tag_key, s.findtext("SecretName"))]


def test_xml_error(raw):
    resp = raw.rpc("GetSecretValue", {"SecretName": unique("missing")}, fmt="XML")
    assert resp.status_code == 404
    root = parse(resp)
    assert root.tag == "Error"
    assert root.findtext("Code") == "Forbidden.ResourceNotFound"
    assert root.findtext("Message")
    rid = root.findtext("RequestId")
    assert rid and resp.headers.get("x-acs-request-id") == rid


def test_xml_error_for_parameter_problem(raw):
    resp = raw.rpc("ListSecrets", {"PageSize": "0"}, fmt="XML")
    assert resp.status_code == 400
    root = parse(resp)
    assert root.tag == "Error"
    assert root.findtext("Code") == "InvalidParameter"
    assert "PageSize" in root.findtext("Message")


def test_gen1_get_response_with_xml(gen1, name):
    """The deprecated gen-1 path (get_response) honours set_accept_format('XML')."""
    from aliyunsdkkms.request.v20160120.CreateSecretRequest import CreateSecretRequest
    from aliyunsdkkms.request.v20160120.GetSecretValueRequest import GetSecretValueRequest

    value = secret_value("gen1 xml")
    req = CreateSecretRequest()
    req.set_SecretName(name)
    req.set_VersionId("v1")
    req.set_SecretData(value)
    gen1.do(req)
    req = GetSecretValueRequest()
    req.set_SecretName(name)
    req.set_accept_format("XML")
    req.set_method("GET")
    gen1.prepare(req)
    status, headers, body = gen1.client.get_response(req)
    assert status == 200
    root = ET.fromstring(body)
    assert root.tag == "KMS"
    assert root.findtext("SecretData") == value


def test_format_defaults_to_json(raw):
    resp = raw.rpc("GetRandomPassword", {}, fmt=None)
    assert resp.status_code == 200, resp.text
    assert "application/json" in resp.headers.get("Content-Type", "")
    assert len(resp.json()["RandomPassword"]) == 32
