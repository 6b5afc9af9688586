"""The README's "Running several nodes" section, run as written: its shell blocks, in order, as one
script (an empty PostgreSQL database, one root key, two nodes started together, a secret written
through one node and read through the other, one node killed, the cluster's audit logs checked),
with only the database name and the two ports changed to throwaway ones. Needs the machine's
PostgreSQL (127.0.0.1:5432, user postgres), psql, curl and the tests' tccli."""
import os
import re
import signal
import subprocess
import uuid
from pathlib import Path

from coffer_helpers import coffer_binary, free_port
from tc_helpers import VENV_BIN

README = Path(__file__).resolve().parents[2] / "README.md"


def section():
    text = README.read_text()
    start = text.index("## Running several nodes")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def shell_blocks(text):
    return re.findall(r"```sh\n(.*?)```", text, re.S)


def psql(sql):
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1",
                    "-qAtc", sql], check=True, capture_output=True, timeout=60)


def test_the_readme_section_works_as_written(tmp_path):
    database = "coffer_readme_" + uuid.uuid4().hex[:12]
    port_a, port_b = free_port(), free_port()
    script = "\n".join(shell_blocks(section()))
    assert "coffer serve" in script and "tccli ssm GetSecretValue" in script
    script = (script.replace("coffer_nodes", database)
              .replace("127.0.0.1:7080", "127.0.0.1:%d" % port_a)
              .replace("127.0.0.1:7081", "127.0.0.1:%d" % port_b))
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("COFFER_", "TENCENTCLOUD_", "TCCLI_"))}
    env["PATH"] = os.pathsep.join([str(coffer_binary().parent), str(VENV_BIN), env.get("PATH", "")])
    env["HOME"] = str(home)
    try:
        run = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=300)
        logs = {n: (tmp_path / ("node-%s.log" % n)).read_text() for n in "ab"
                if (tmp_path / ("node-%s.log" % n)).exists()}
        assert run.returncode == 0, "the section's commands failed:\n%s\n%s\n%s" % (
            run.stdout[-4000:], run.stderr[-4000:], {n: t[-3000:] for n, t in logs.items()})
        out = run.stdout
        # Written on a, read on b; written on b after a was killed, read on b.
        assert '"SecretString": "written-on-a"' in out, out
        assert '"SecretString": "written-on-b"' in out, out
        # One node bootstrapped (and wrote the credentials), the other found it done.
        written = [n for n in "ab" if (tmp_path / ("node-" + n) / "bootstrap-credentials").exists()]
        assert len(written) == 1, written
        other = "b" if written == ["a"] else "a"
        assert "the store is initialised already" in logs[other], logs[other][-3000:]
        # Both logs checked against the database's register.
        assert "every log the database knows of was checked" in out, out
        assert out.count(": intact,") == 2, out
    finally:
        for n in "ab":
            pid_file = tmp_path / ("node-%s.pid" % n)
            if pid_file.exists():
                try:
                    os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
        psql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % database)
