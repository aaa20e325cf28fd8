"""Fixtures: one real PostgreSQL 15 cluster per session, and a factory of Reservoir processes
in front of it. Teardown stops everything even when a test fails."""
from __future__ import annotations

import faulthandler
import os
import shutil
import signal
import sys
import tempfile

import pytest

import harness

# Backstop against a hang nobody foresaw: every blocking call already has a short timeout.
# (Raised by hand for a long exploratory run, e.g. test_mutated_streams.py with more streams.)
TEST_WATCHDOG_S = int(os.environ.get("RESERVOIR_TEST_WATCHDOG_S", "90"))


@pytest.fixture(scope="session")
def pg():
    cluster = harness.PostgresCluster()
    try:
        cluster.init()
        cluster.start()
        cluster.create_roles()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def pg_up(pg):
    """The cluster, restarted first if an earlier test left it stopped."""
    if not pg.started or not harness.port_accepts(pg.port):
        pg.start()
    return pg


class ReservoirFactory:
    def __init__(self, pg: harness.PostgresCluster):
        self.pg = pg
        self.instances: list[harness.Reservoir] = []
        self.dirs: list[str] = []

    def config(self, databases: dict | None = None, **settings) -> harness.ReservoirConfig:
        workdir = tempfile.mkdtemp(prefix="reservoir-it-")
        self.dirs.append(workdir)
        return harness.ReservoirConfig(pg_port=self.pg.port, listen_port=harness.free_port(),
                                       workdir=workdir, settings=settings, databases=databases)

    def __call__(self, databases: dict | None = None, env: dict | None = None,
                 **settings) -> harness.Reservoir:
        """Starts `reservoir CONFIG` with the default test config plus `settings` overrides;
        returns once it accepts TCP connections."""
        instance = harness.Reservoir(self.config(databases, **settings), env=env)
        self.instances.append(instance)
        return instance.start()

    def stop_all(self) -> list[str]:
        return harness.stop_instances(self.instances)

    def cleanup(self) -> None:
        for instance in self.instances:
            instance.kill()
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def reservoir(request, pg_up):
    """Factory: reservoir(default_pool_size=1, workers=2, ...) -> a running harness.Reservoir.
    At teardown each is sent SIGTERM and must exit within 5 s without crashing."""
    factory = ReservoirFactory(pg_up)
    request.node.reservoirs = factory.instances
    try:
        yield factory
        problems = factory.stop_all()
        assert not problems, "\n".join(problems)
    finally:
        factory.cleanup()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attaches the Reservoir log(s) to the report of a failing test."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for i, instance in enumerate(getattr(item, "reservoirs", [])):
            report.sections.append((f"reservoir log #{i} (port {instance.port})",
                                    instance.log_tail(120)))


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
