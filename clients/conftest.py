"""Shared by every suite: when a test fails, attach what its suite's server logged meanwhile; at
the end, drop the PostgreSQL databases that COFFER_TEST_DATABASE_URL made servers use."""
import sys
from pathlib import Path

import pytest

_ALIBABA = str(Path(__file__).resolve().parent / "alibaba")
if _ALIBABA not in sys.path:
    sys.path.insert(0, _ALIBABA)

from coffer_helpers import ACTIVE_SERVERS, drop_test_databases, tail  # noqa: E402

_LOG_OFFSET = pytest.StashKey[int]()


def _server_of(item):
    return ACTIVE_SERVERS.get(Path(str(item.path)).parent.name)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    srv = _server_of(item)
    if srv is not None:
        item.stash[_LOG_OFFSET] = srv.log_size()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    srv = _server_of(item)
    if rep.failed and srv is not None and srv.log_path is not None:
        text = srv.log_text(item.stash.get(_LOG_OFFSET, 0))
        if text.strip():
            rep.sections.append(("coffer server log during this test", tail(text, 8000)))


def pytest_sessionfinish(session, exitstatus):
    drop_test_databases()
