"""Runs last (file order): the shared server's log so far has no panic and no secret value, and no
value is stored in plaintext. The session fixture repeats both checks after SIGTERM."""
from coffer_helpers import SENTINEL, files_containing, log_problems, make_api, secret_value, tail, unique


def test_server_log_and_data_dir_are_clean_so_far(coffer):
    for kind in ("gen1", "gen2", "gen2v2"):  # gen 1 carries the value in the URL query
        api = make_api(kind, coffer)
        n = unique("zz")
        value = secret_value("last " + kind)
        api.call("CreateSecret", SecretName=n, VersionId="v1", SecretData=value)
        api.call("PutSecretValue", SecretName=n, VersionId="v2", SecretData=value + "2")
        assert api.call("GetSecretValue", SecretName=n)["SecretData"] == value + "2"
    if coffer.log_path is None:
        return  # external server: nothing to read
    text = coffer.log_text()
    problems = log_problems(text, coffer.sk)
    assert not problems, "%s\n%s" % (problems, tail(text))
    assert files_containing(coffer.data_dir, SENTINEL.encode()) == [], "plaintext secret values in the data dir"
