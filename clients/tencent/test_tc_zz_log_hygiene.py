"""Runs last (file order): the server log so far has no panic, no secret value and no SecretKey, and no
value is stored in plaintext. The session fixture repeats both checks after SIGTERM."""
from coffer_helpers import SENTINEL, binary_value, files_containing, log_problems, secret_value, tail
from tc_helpers import Tc, expect_tc_error, make_tc, tc_name


def test_server_log_and_data_dir_are_clean_so_far(coffer, cli):
    for kind in Tc.KINDS:  # GET shapes carry the value in the URL query
        c = make_tc(kind, coffer)
        n = tc_name("zz")
        value = secret_value("last " + kind)
        c.call("CreateSecret", SecretName=n, VersionId="v1", SecretString=value)
        c.call("PutSecretValue", SecretName=n, VersionId="v2", SecretBinary=binary_value(40))
        c.call("UpdateSecret", SecretName=n, VersionId="v1", SecretString=value + "2")
        assert c.call("GetSecretValue", SecretName=n, VersionId="v1")["SecretString"] == value + "2"
        # a failing request that carries a value
        with expect_tc_error("ResourceInUse.SecretExists") as refused:
            c.call("CreateSecret", SecretName=n, VersionId="v1", SecretString=value)
        assert value not in refused.error.message
    n = tc_name("zz")
    cli.run("CreateSecret", SecretName=n, VersionId="v1", SecretString=secret_value("tccli"))
    if coffer.log_path is None:
        return  # external server: nothing to read
    text = coffer.log_text()
    problems = log_problems(text, coffer.sk)
    assert not problems, "%s\n%s" % (problems, tail(text))
    assert files_containing(coffer.data_dir, SENTINEL.encode()) == [], "plaintext secret values in the data dir"
