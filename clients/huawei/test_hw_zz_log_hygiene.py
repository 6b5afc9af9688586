"""Runs last (file order): the server log so far has no panic, no secret value and no SK, and no value is stored
in plaintext. The session fixture repeats both checks after SIGTERM."""
from coffer_helpers import SENTINEL, files_containing, log_problems, tail
from hw_helpers import expect_hw, hw_binary, hw_name, hw_value


def test_server_log_and_data_dir_are_clean_so_far(coffer, hw, raw):
    n = hw_name("zz")
    value = hw_value("last")
    hw.call("create_secret", body={"name": n, "secret_string": value, "description": "zz"})
    hw.call("create_secret_version", secret_name=n, body={"secret_binary": hw_binary(40)})
    hw.call("create_secret_version", secret_name=n, body={"secret_string": value + "2"})
    assert hw.call("show_secret_version", secret_name=n, version_id="latest")["version"]["secret_string"] == value + "2"
    # failing requests that carry a value
    for body in ({"name": n, "secret_string": value},                       # duplicate name
                 {"name": n + ".bad", "secret_string": value},              # bad name
                 {"name": hw_name("zz"), "secret_string": value, "secret_binary": "%s!" % value}):  # both
        with expect_hw(400, "CSMS.0002") as refused:
            hw.call("create_secret", body=body)
        assert value not in refused.error.message
    # a bad signature over a body with a value, and malformed JSON with a value
    resp = raw.send("POST", raw.path("secrets"), body={"name": hw_name("zz"), "secret_string": value}, sk="wrong")
    assert resp.status_code == 401 and value not in resp.text
    resp = raw.send("POST", raw.path("secrets"), body=('{"name": "x", "secret_string": "%s"' % value).encode())
    assert resp.status_code == 400 and SENTINEL not in resp.text
    if coffer.log_path is None:
        return  # external server: nothing to read
    text = coffer.log_text()
    problems = log_problems(text, coffer.sk)
    assert not problems, "%s\n%s" % (problems, tail(text))
    assert files_containing(coffer.data_dir, SENTINEL.encode()) == [], "plaintext secret values in the data dir"
