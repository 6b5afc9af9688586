"""Hostile input through the official Alibaba SDKs: XML answers (generation 1 asks for them with
set_accept_format('XML')) are well-formed for any stored text, and a request too large for the
server gets Alibaba's own error format, which both SDK generations read."""
import json
import xml.etree.ElementTree as ET

import pytest

from coffer_helpers import SENTINEL, Gen1, expect_error, unique


def gen1_xml(gen1, action, **params):
    """A generation-1 request answered in XML. `do_action_with_exception` forces JSON, so the
    (deprecated) `do_action`, which returns the body as received whatever the status, is used;
    the body is parsed by expat, a conforming XML parser."""
    req = gen1.request(action)
    for k, v in params.items():
        getattr(req, "set_%s" % k)(v)
    gen1.prepare(req)
    req.set_accept_format("XML")
    body = gen1.client.do_action(req)
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>'), body[:200]
    return ET.fromstring(body)


def test_gen1_xml_keeps_markup_line_ends_and_every_character(gen1):
    name = unique("xml")
    # CR and CR LF: an XML parser turns literal ones into LF, so only a character reference keeps
    # them. Markup and the end of a CDATA section: escaped. Tabs, non-ASCII, astral characters.
    value = "%s\r\nline two\rthree <tag a='1'>&amp; ]]> \"q\" \t é 中 😀 \x7f" % SENTINEL
    gen1.call("CreateSecret", SecretName=name, VersionId="v1", SecretData=value)
    root = gen1_xml(gen1, "GetSecretValue", SecretName=name)
    assert root.tag == "KMS"
    assert root.findtext("SecretData") == value
    assert root.findtext("SecretName") == name


def test_gen1_xml_answers_an_error_for_a_value_xml_cannot_carry(gen1):
    name = unique("xmlctl")
    value = SENTINEL + " \x01 and \x1b[31m escape"
    gen1.call("CreateSecret", SecretName=name, VersionId="v1", SecretData=value)
    root = gen1_xml(gen1, "GetSecretValue", SecretName=name)
    assert root.tag == "Error"
    assert root.findtext("Code") == "InvalidParameter"
    assert root.findtext("HttpStatus") == "400"
    message = root.findtext("Message")
    assert "Format" in message and "SecretData" in message and "U+0001" in message, message
    assert SENTINEL not in message
    # The same value in JSON, which can carry it.
    assert gen1.call("GetSecretValue", SecretName=name)["SecretData"] == value


def test_gen1_xml_answers_an_error_for_a_description_xml_cannot_carry(gen1, gen2):
    name = unique("xmldesc")
    gen2.call("CreateSecret", SecretName=name, VersionId="v1", SecretData="v", Description="bell \x07")
    root = gen1_xml(gen1, "DescribeSecret", SecretName=name)
    assert root.tag == "Error" and root.findtext("Code") == "InvalidParameter"
    assert "Description" in root.findtext("Message")
    # And an XML request naming such a text is refused before it runs.
    other = unique("xmldesc")
    root = gen1_xml(gen1, "CreateSecret", SecretName=other, VersionId="v1", SecretData="v",
                    Description="bell \x07")
    assert root.tag == "Error" and "Description" in root.findtext("Message")
    with expect_error(404, "Forbidden.ResourceNotFound"):
        gen1.call("DescribeSecret", SecretName=other)


def test_a_body_over_the_limit_gets_alibabas_error_through_generation_2(gen2):
    # Generation 2 sends SecretData in a form body; 2 MiB is over the server's 1 MiB limit.
    with expect_error(413, "RequestEntityTooLarge", "1048576 bytes"):
        gen2.call("CreateSecret", SecretName=unique("big"), VersionId="v1", SecretData="x" * (2 << 20))


def test_a_uri_over_the_limit_gets_alibabas_error_through_generation_1(gen1):
    # Generation 1 puts SecretData in the URI: over the 61440-byte limit (and under the 65534
    # bytes past which the HTTP layer refuses a URI by itself).
    with expect_error(414, "RequestURITooLong", "61440 bytes"):
        gen1.call("CreateSecret", SecretName=unique("long"), VersionId="v1", SecretData="x" * 62_000)


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_other_methods_are_refused_through_generation_1(gen1, method):
    req = gen1.request("ListSecrets")
    req.set_method(method)
    with expect_error(403, "UnsupportedHTTPMethod"):
        gen1.do(req)
