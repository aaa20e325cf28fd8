"""Failures around Reservoir: PostgreSQL restarting under it, and Reservoir itself being told
to stop while a client is connected."""
import signal
import subprocess
import time

import psycopg2
import pytest

import harness
from harness import APP_DB, APP_PASSWORD, APP_USER

# Every core test runs with one worker thread and with two.
WORKERS = pytest.mark.parametrize("workers", [1, 2], ids=["w1", "w2"])

# What a client may see when its server goes away: PostgreSQL's admin shutdown relayed, a
# connection failure, or just a closed socket (libpq then reports no SQLSTATE).
LOST_SERVER_CODES = {None, "08006", "57P01"}


def query_until_ok(res, deadline_s: float) -> tuple[bool, int, list[str]]:
    """Connect + SELECT 1 through Reservoir until it works or `deadline_s` passes."""
    deadline = time.monotonic() + deadline_s
    attempts, failures = 0, []
    while True:
        attempts += 1
        try:
            if res.query("SELECT 1", connect_timeout=3) == [(1,)]:
                return True, attempts, failures
        except psycopg2.Error as exc:
            failures.append(f"{type(exc).__name__}: {str(exc).strip()}")
        if time.monotonic() > deadline:
            return False, attempts, failures
        time.sleep(0.2)


@WORKERS
def test_postgres_restart_fails_session_then_recovers(reservoir, pg_up, workers):
    res = reservoir(workers=workers)
    conn = res.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT 1")

    pg_up.restart()

    with pytest.raises(psycopg2.OperationalError) as err:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
    assert err.value.pgcode in LOST_SERVER_CODES, (err.value.pgcode, str(err.value))
    conn.close()

    ok, attempts, failures = query_until_ok(res, 5.0)
    assert ok, f"not served within 5 s of PostgreSQL being back: {failures[-3:]}"
    print(f"served again after {attempts} attempt(s)")
    assert res.alive()


@WORKERS
def test_idle_servers_killed_by_restart_are_replaced(reservoir, pg_up, workers):
    assert pg_up.wait_backends_at_most(APP_USER, APP_DB, 0) == 0, "backends left by another test"
    res = reservoir(default_pool_size=3, workers=workers)
    conns = [res.connect() for _ in range(3)]
    for conn in conns:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
    for conn in conns:
        conn.close()
    time.sleep(0.2)  # let the resets finish: three idle servers in the pool
    old_pids = pg_up.backend_pids(APP_USER, APP_DB)
    assert len(old_pids) == 3, f"expected 3 idle servers, PostgreSQL has {old_pids}"

    pg_up.restart()

    ok, attempts, failures = query_until_ok(res, 5.0)
    assert ok, f"dead idle servers were not replaced within 5 s: {failures[-3:]}"
    print(f"served after {attempts} attempt(s); failures: {failures}")
    assert res.alive()


@WORKERS
def test_sigterm_with_connected_client(reservoir, pg_up, workers):
    res = reservoir(workers=workers)
    conn = res.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
    raw = harness.RawConnection(res.port)
    raw.startup(APP_USER, APP_DB, APP_PASSWORD)
    assert raw.simple_query("SELECT 1") == [("1",)]
    assert pg_up.count_backends(APP_USER, APP_DB) == 2

    res.proc.send_signal(signal.SIGTERM)
    try:
        res.proc.wait(harness.STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"reservoir still running {harness.STOP_TIMEOUT}s after SIGTERM with a "
                    "client connected")
    # (Crash signals are caught by the fixture's teardown.)

    # The raw client sees either an ErrorResponse 57P01 or just the close.
    seen = raw.wait_closed(2.0)
    raw.close()
    errors = [harness.parse_error_fields(p) for kind, p in seen if kind == b"E"]
    assert all(e.get("C") == "57P01" for e in errors), errors
    assert all(kind in (b"E", b"N") for kind, _ in seen), seen

    with pytest.raises(psycopg2.OperationalError) as err:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
    assert err.value.pgcode in {None, "57P01"}, (err.value.pgcode, str(err.value))
    conn.close()
    # Its server connections went with it.
    assert pg_up.wait_backends_at_most(APP_USER, APP_DB, 0) == 0
