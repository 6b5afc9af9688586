"""Hostile input through the official Huawei SDK and hand-signed requests: a request over the
server's size limits gets the API gateway's own APIG.0201 (413 for the body, 414 for the URI) in the
CSMS and KMS error bodies, which the SDK reads; a path or query that is not UTF-8 is the gateway's
400, before the signature is looked at."""
import pytest

from hw_helpers import HwKms, expect_hw, hw_name, raw_hw_error


def test_a_body_over_the_limit_gets_the_gateways_413(hw):
    with expect_hw(413, "APIG.0201", "Request entity too large", "1048576 bytes"):
        hw.call("create_secret", body={"name": hw_name("big"), "secret_string": "x" * (2 << 20)})


def test_a_kms_body_over_the_limit_gets_the_gateways_413_in_the_kms_shape(coffer):
    kms = HwKms(coffer.endpoint, coffer.ak, coffer.sk, coffer.project_id)
    with expect_hw(413, "APIG.0201", "Request entity too large"):
        kms.call("create_key", body={"key_alias": hw_name("k"), "key_description": "d" * (2 << 20)})


def test_a_uri_over_the_limit_gets_the_gateways_414(hw):
    with expect_hw(414, "APIG.0201", "Request URI too large", "61440 bytes"):
        hw.call("show_secret", secret_name="n" * 62_000)


@pytest.mark.parametrize("query", ["limit=%FF", "%C3%28=1", "limit=10&marker=%E2%82"])
def test_a_query_that_is_not_utf8_is_the_gateways_400_even_when_signed(raw, query):
    # Signed over the same bytes as sent: the signature is not what is wrong.
    raw_hw_error(raw.send("GET", raw.path("secrets"), query=query), 400, "APIG.0201", "UTF-8")


def test_a_path_that_is_not_utf8_is_the_gateways_400(raw):
    path = raw.path("secrets") + "/%FF%FE"
    raw_hw_error(raw.send("GET", path), 400, "APIG.0201", "UTF-8")


def test_a_method_no_route_takes_is_an_unknown_route(raw):
    # Judged after the signature, like any route CSMS does not have.
    raw_hw_error(raw.send("PATCH", raw.path("secrets")), 400, "CSMS.0003", "PATCH")
