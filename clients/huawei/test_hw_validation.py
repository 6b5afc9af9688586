"""Bad input (reference 4.1, 6.3): every constraint is the server's (the SDK checks nothing). Bad fields are
400 CSMS.0002, malformed JSON 400 CSMS.0004; nothing is half-written; never a 500."""
import json

import pytest

from hw_helpers import expect_hw, hw_name, raw_hw_error, raw_ok


def _create(hw, **body):
    return hw.call("create_secret", body=body)


def _absent(hw, name):
    with expect_hw(404, "CSMS.0106"):
        hw.call("show_secret", secret_name=name)


@pytest.mark.parametrize("bad", ["has.dot", "sp ace", "slash/x", "caf\u00e9", "x" * 65, "", "star*", "a+b"])
def test_bad_secret_name_is_400(hw, bad):
    with expect_hw(400, "CSMS.0002"):
        _create(hw, name=bad, secret_string="v")


def test_missing_name_is_400(hw):
    with expect_hw(400, "CSMS.0002"):
        _create(hw, secret_string="v")


def test_description_is_limited_to_2048_bytes(hw):
    ok = hw_name("desc")
    _create(hw, name=ok, secret_string="v", description="d" * 2048)
    assert hw.call("show_secret", secret_name=ok)["secret"]["description"] == "d" * 2048
    ok2 = hw_name("desc")
    _create(hw, name=ok2, secret_string="v", description="\u00e9" * 1024)  # 2048 bytes
    for bad in ("d" * 2049, "\u00e9" * 1025):  # 2049 bytes / 2050 bytes (1025 chars)
        n = hw_name("desc")
        with expect_hw(400, "CSMS.0002"):
            _create(hw, name=n, secret_string="v", description=bad)
        _absent(hw, n)
    with expect_hw(400, "CSMS.0002"):
        hw.call("update_secret", secret_name=ok, body={"description": "d" * 2049})
    assert hw.call("show_secret", secret_name=ok)["secret"]["description"] == "d" * 2048


def test_value_size_limit_is_32768(hw):
    ok = hw_name("big")
    _create(hw, name=ok, secret_string="s" * 32768)
    v = hw.call("show_secret_version", secret_name=ok, version_id="v1")["version"]
    assert v["secret_string"] == "s" * 32768
    n = hw_name("big")
    with expect_hw(400, "CSMS.0002"):
        _create(hw, name=n, secret_string="s" * 32769)
    _absent(hw, n)


def test_binary_size_limit_is_32768_base64_chars(hw):
    ok = hw_name("bigb")
    b = "QUJD" * 8192  # 32768 chars
    _create(hw, name=ok, secret_binary=b)
    assert hw.call("show_secret_version", secret_name=ok, version_id="v1")["version"]["secret_binary"] == b
    n = hw_name("bigb")
    with expect_hw(400, "CSMS.0002"):
        _create(hw, name=n, secret_binary=b + "QUJD")
    _absent(hw, n)


def test_both_or_neither_value_is_400(hw):
    n = hw_name("both")
    with expect_hw(400, "CSMS.0002"):
        _create(hw, name=n, secret_string="a", secret_binary="YQ==")
    _absent(hw, n)
    with expect_hw(400, "CSMS.0002"):
        _create(hw, name=n)
    _absent(hw, n)


@pytest.mark.parametrize("bad", ["not base64!", "YQ=", "Y", "YQ==YQ==", "\u00e9\u00e9\u00e9\u00e9", "YQ== "])
def test_bad_base64_is_400(hw, bad):
    n = hw_name("b64")
    with expect_hw(400, "CSMS.0002"):
        _create(hw, name=n, secret_binary=bad)
    _absent(hw, n)


def test_empty_string_value(hw):
    """secret_string "" is present (not missing), and Huawei sets it no minimum length: stored as empty."""
    n = hw_name("empty")
    _create(hw, name=n, secret_string="")
    assert hw.call("show_secret_version", secret_name=n, version_id="v1")["version"]["secret_string"] == ""


@pytest.mark.parametrize("field,value", [
    ("secret_type", "FOO"),
    ("secret_type", "common"),
    ("rotation_period", "1x"),
    ("rotation_period", "abc"),
    ("rotation_config", "c" * 1025),
    ("enterprise_project_id", "e" * 37),
    ("event_subscriptions", ["a", "b"]),
    ("kms_key_id", "k" * 65),
])
def test_bad_optional_field_is_400(hw, field, value):
    n = hw_name("opt")
    with expect_hw(400, "CSMS.0002"):
        _create(hw, name=n, secret_string="v", **{field: value})
    _absent(hw, n)


def test_auto_rotation_needs_a_period(hw):
    n = hw_name("rot")
    with expect_hw(400, "CSMS.0002"):
        _create(hw, name=n, secret_string="v", auto_rotation=True)
    _absent(hw, n)


def test_rotate_common_secret_is_400_csms_0002(hw, secret):
    """Coffer decision (4.14): rotation is not supported for COMMON secrets."""
    with expect_hw(400, "CSMS.0002"):
        hw.call("rotate_secret", secret_name=secret["name"])
    vs = hw.call("list_secret_versions", secret_name=secret["name"])["version_metadatas"]
    assert [v["id"] for v in vs] == ["v1"]
    with expect_hw(404, "CSMS.0106"):
        hw.call("rotate_secret", secret_name=hw_name("missing"))


# ----------------------------------------------------------------------------- raw bodies
@pytest.mark.parametrize("body", [b"{", b"not json", b'{"name": "x",}', b'{"name": "x"', b"\xff\xfe{}",
                                  b'{"name": "a", "secret_string": "\\ud800"'])
def test_malformed_json_is_400_csms_0004(hw, raw, body):
    raw_hw_error(raw.send("POST", raw.path("secrets"), body=body), 400, "CSMS.0004")


def test_malformed_json_on_every_body_op(raw, secret):
    n = secret["name"]
    sid = secret["id"]
    for method, path in [
        ("PUT", raw.path("secrets", n)),
        ("POST", raw.path("secrets", n, "versions")),
        ("PUT", raw.path("secrets", n, "versions", "v1")),
        ("PUT", raw.path("secrets", n, "stages", "blue")),
        ("POST", raw.path("secrets", n, "scheduled-deleted-tasks", "create")),
        ("POST", raw.path("csms", sid, "tags")),
        ("POST", raw.path("csms", sid, "tags", "action")),
        ("POST", raw.path("csms", "resource_instances", "action")),
    ]:
        raw_hw_error(raw.send(method, path, body=b'{"oops": '), 400, "CSMS.0004")


def test_malformed_json_on_event_create(raw):
    raw_hw_error(raw.send("POST", raw.path("csms", "events"), body=b'{"oops": '), 400, "CSMS.0004")


@pytest.mark.parametrize("body", [b"[]", b'"a string"', b"42", b"null"])
def test_json_that_is_not_an_object_is_400(raw, body):
    # Well-formed JSON, but not the object the operation takes: the body's format is wrong
    # (CSMS.0004 "The requested body format is wrong").
    raw_hw_error(raw.send("POST", raw.path("secrets"), body=body), 400, "CSMS.0004")


def test_empty_body_on_create_is_400(raw):
    # No body is no fields (routes whose fields are all optional take an empty body, as the SDK
    # sends for them), so the create misses its required name: CSMS.0002 naming it. A body
    # that is there but not a JSON object is CSMS.0004 (above).
    raw_hw_error(raw.send("POST", raw.path("secrets"), body=b""), 400, "CSMS.0002", "name")


@pytest.mark.parametrize("field,value", [
    ("name", 5), ("name", None), ("secret_string", 7), ("secret_string", ["x"]), ("description", {"a": 1}),
    ("auto_rotation", "false"), ("event_subscriptions", "ev"),
])
def test_wrong_json_types_are_400(hw, raw, field, value):
    n = hw_name("type")
    body = {"name": n, "secret_string": "v"}
    body[field] = value
    # The body reads; one field's value is of the wrong type: that field is invalid (CSMS.0002,
    # naming it), as for any other value its rules refuse.
    raw_hw_error(raw.send("POST", raw.path("secrets"), body=body), 400, "CSMS.0002", field)
    _absent(hw, n)


def test_unknown_fields_are_ignored(hw, raw):
    n = hw_name("extra")
    body = raw_ok(raw.send("POST", raw.path("secrets"), body={"name": n, "secret_string": "v", "shiny_new": 1}))
    assert body["secret"]["name"] == n


def test_json_is_parsed_not_pattern_matched(hw, raw):
    """Escapes, key order and whitespace of any valid JSON are fine (the SDK uses simplejson's defaults)."""
    n = hw_name("json")
    text = '{\n  "secret_string" : "caf\\u00e9 \\"q\\" \\\\ \\/",\t"name":"%s"\n}' % n
    raw_ok(raw.send("POST", raw.path("secrets"), body=text.encode()))
    v = hw.call("show_secret_version", secret_name=n, version_id="v1")["version"]
    assert v["secret_string"] == 'caf\u00e9 "q" \\ /'


def test_wrong_content_type_still_json(hw, raw):
    n = hw_name("ctype")
    raw_ok(raw.send("POST", raw.path("secrets"), body={"name": n, "secret_string": "v"},
                    content_type="application/json"))
    assert hw.call("show_secret", secret_name=n)["secret"]["name"] == n


def test_oversized_body_is_a_clean_4xx(raw):
    n = hw_name("huge")
    body = json.dumps({"name": n, "secret_string": "x" * (2 * 1024 * 1024)}).encode()
    resp = raw.send("POST", raw.path("secrets"), body=body)
    assert 400 <= resp.status_code < 500, (resp.status_code, resp.content[:300])


def test_no_500_on_odd_paths(raw):
    for method, path in [
        ("GET", raw.path("secrets", "")),
        ("GET", raw.path("secrets", "x" * 300)),
        ("GET", raw.path("secrets", "a b")),
        ("GET", raw.path("secrets", "\u00e9")),
        ("GET", raw.path("secrets", "..")),
        ("GET", raw.path("secrets", "x", "versions", "")),
        ("GET", raw.path("secrets", "x", "versions", "v99999999999")),
        ("GET", raw.path("secrets", "x", "stages", "")),
        ("GET", raw.path("csms", "not-a-uuid", "tags")),
        ("GET", "/v1/" + raw.project_id),
        ("GET", "/v1/" + raw.project_id + "/"),
        ("GET", "/v1/"),
        ("GET", "/v1/%ZZ/secrets"),
    ]:
        resp = raw.send(method, path)
        assert 400 <= resp.status_code < 500, (path, resp.status_code, resp.content[:300])
        if resp.headers.get("Content-Type", "").startswith("application/json") and "error_code" in resp.text:
            # The API gateway's own codes (APIG./APIGW., e.g. a path that is not UTF-8 or
            # decodes to '%') or the service's (CSMS.).
            assert resp.json()["error_code"].startswith(("CSMS.", "APIGW.", "APIG.")), (path, resp.text)
