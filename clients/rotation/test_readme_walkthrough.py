"""The README's "Rotating database passwords" section, run as written: a fresh server with its
own bootstrap credentials file, the `db-instance add` command, the account made with the mysql
client, and the section's Python code (endpoint and paths pointed at this test's server)."""
import os
import re
import secrets
import subprocess
from pathlib import Path

from coffer_helpers import coffer_binary, free_port, stop_coffer, wait_ready, CofferServer
import db_helpers

README = Path(__file__).resolve().parents[2] / "README.md"


def section():
    text = README.read_text()
    start = text.index("## Rotating database passwords")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def blocks(text, lang):
    return [re.sub(r"^ {3}", "", b, flags=re.M) for b in re.findall(r"```%s\n(.*?)```" % lang, text, re.S)]


def test_the_readme_section_works_as_written(tmp_path):
    account = "app"
    db_helpers.drop_account("mariadb", account)
    data = tmp_path / "coffer-data"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COFFER_")}
    log = open(tmp_path / "coffer.log", "ab")
    proc = subprocess.Popen([str(coffer_binary()), "serve", "--data-dir", str(data), "--listen",
                             "127.0.0.1:%d" % port], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    srv = wait_ready(CofferServer("127.0.0.1:%d" % port, None, None, proc, tmp_path / "coffer.log", data, log))
    try:
        text = section()
        shell = blocks(text, "sh")
        # Step 1: the db-instance command, as the binary (not through cargo).
        add = shell[0].replace("cargo run --release --bin coffer --", str(coffer_binary()))
        env_cli = dict(env, COFFER_ENDPOINT="http://127.0.0.1:%d" % port)
        r = subprocess.run(["bash", "-c", add], cwd=tmp_path, env=env_cli, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        # Step 2: the account, then the SDK code that hands it to coffer and rotates it.
        r = subprocess.run(["bash", "-c", shell[1]], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        code = "\n".join(blocks(text, "python")).replace("127.0.0.1:7080", "127.0.0.1:%d" % port)
        scope = {}
        cwd = os.getcwd()
        os.chdir(tmp_path)
        try:
            exec(compile(code, "README.md", "exec"), scope)
        finally:
            os.chdir(cwd)
        value = scope["value"]
        assert value["AccountName"] == account
        # Step 3: the new password logs in, the old one does not (the section's last commands).
        check = shell[2].replace("$NEW_PASSWORD", value["AccountPassword"])
        first, second = check.splitlines()
        assert subprocess.run(["bash", "-c", first.split("#")[0]], capture_output=True).returncode == 0
        assert subprocess.run(["bash", "-c", second.split("#")[0]], capture_output=True).returncode != 0
    finally:
        stop_coffer(srv)
        db_helpers.drop_account("mariadb", account)
