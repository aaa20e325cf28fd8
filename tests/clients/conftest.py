"""Fixtures for the real-driver tests: the PostgreSQL 15 cluster fixtures of
tests/integration (reused, not copied), and a Reservoir factory that also writes [users]
lines, defaults to pool_mode=transaction and can rewrite its file for a live reload.

Run: RESERVOIR_BIN=$PWD/build/reservoir /usr/bin/python3 -m pytest -q tests/clients
(Debian's python3, which has psycopg2, psycopg 3, asyncpg and SQLAlchemy.)

To check the tests themselves against a reference pooler, RESERVOIR_CLIENTS_TARGET=pgbouncer
runs them on PgBouncer instead; expect its known differences (it closes the client on
query_wait_timeout and statement-mode errors, lets SET leak, has no max_waiting_clients).
"""
from __future__ import annotations

import faulthandler
import importlib.util
import os
import shutil
import signal
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
INTEGRATION = os.path.normpath(os.path.join(HERE, "..", "integration"))
for path in (INTEGRATION, HERE):
    if path not in sys.path:
        sys.path.insert(0, path)

import clientlib  # noqa: E402


def _load_integration_conftest():
    """tests/integration/conftest.py under its own module name, so its fixtures can be reused
    here without a name clash with this conftest."""
    name = "reservoir_integration_conftest"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, os.path.join(INTEGRATION, "conftest.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_it = _load_integration_conftest()
pg = _it.pg  # session: a PostgreSQL 15 cluster with roles app, md5user, scramuser, trustuser
pg_up = _it.pg_up  # the cluster, started again if a test left it stopped

# A test that is not done after this long is failing anyway (the slowest pass in ~20 s).
TEST_WATCHDOG_S = 60


@pytest.fixture(scope="session", autouse=True)
def _binary_snapshot(tmp_path_factory):
    """Runs a copy of the binary taken at session start, so a rebuild during the run (the
    file briefly missing, or half-written) cannot fail tests at random."""
    import harness
    original = harness.RESERVOIR_BIN
    if not os.access(original, os.X_OK):
        yield  # require_binary() reports it in each test
        return
    copy = tmp_path_factory.mktemp("reservoir-bin") / "reservoir"
    shutil.copy2(original, copy)
    harness.RESERVOIR_BIN = str(copy)
    try:
        yield
    finally:
        harness.RESERVOIR_BIN = original


@pytest.fixture
def reservoir(request, pg_up):
    """Factory: reservoir(default_pool_size=1, workers=2, users={...}, databases={...}) ->
    a running harness.Reservoir (pool_mode=transaction unless given). At teardown each is
    sent SIGTERM and must exit within 5 s without crashing."""
    dirs = []

    def mkdtemp():
        d = tempfile.mkdtemp(prefix="reservoir-clients-")
        dirs.append(d)
        return d

    factory = clientlib.ClientsFactory(pg_up, mkdtemp)
    request.node.reservoirs = factory.instances
    request.node.pg_cluster = pg_up
    try:
        yield factory
        problems = factory.stop_all()
        assert not problems, "\n".join(problems)
    finally:
        factory.cleanup()
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attaches the Reservoir log(s), and PostgreSQL's, to the report of a failing test."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for i, instance in enumerate(getattr(item, "reservoirs", [])):
            report.sections.append((f"reservoir log #{i} (port {instance.port})",
                                    instance.log_tail(80)))
        cluster = getattr(item, "pg_cluster", None)
        if cluster is not None:
            report.sections.append(("postgres log", cluster.log_tail(30)))


@pytest.fixture(autouse=True)
def _watchdog():
    def on_alarm(signum, frame):
        raise TimeoutError(f"test ran longer than {TEST_WATCHDOG_S}s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TEST_WATCHDOG_S)
    faulthandler.dump_traceback_later(TEST_WATCHDOG_S + 15, exit=True, file=sys.stderr)
    try:
        yield
    finally:
        signal.alarm(0)
        faulthandler.cancel_dump_traceback_later()
        signal.signal(signal.SIGALRM, previous)
