"""Reservoir's own log lines: per-pool stats, saturation and waiting episodes (once per
episode, plus a line when it ends), leak warnings naming the client, the slow query log and
log_format = json. Reads the Reservoir log the harness captures."""
from __future__ import annotations

import json
import threading
import time

import harness


def wait_for_log(res, text: str, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = res.log()
        if text in log:
            return log
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in the log:\n{res.log_tail(40)}")


def test_saturation_and_waiting_are_one_episode_each(reservoir):
    res = reservoir(pool_mode="transaction", default_pool_size=2, warn_pool_utilization=50,
                    query_wait_notify=0)
    holders = [res.connect(autocommit=False) for _ in range(2)]
    for h in holders:
        with h.cursor() as cur:
            cur.execute("SELECT 1")  # each holds a server inside a transaction
    waiter_done = threading.Event()

    def waiter():
        c = res.connect()
        with c.cursor() as cur:
            cur.execute("SELECT 1")
        c.close()
        waiter_done.set()

    t = threading.Thread(target=waiter)
    t.start()
    wait_for_log(res, "clients are waiting for a server")
    time.sleep(1.2)  # a few more upkeep ticks: still one warning each
    log = res.log()
    assert log.count("clients are waiting for a server") == 1, log
    assert log.count("at or above warn_pool_utilization=50%") == 1, log
    assert "2 of 2 servers in use (100%)" in log
    for h in holders:
        h.commit()
        h.close()
    assert waiter_done.wait(5)
    t.join(5)
    log = wait_for_log(res, "no client waiting any more")
    log = wait_for_log(res, "utilization back below warn_pool_utilization=50%")
    assert log.count("clients are waiting for a server") == 1


def test_leak_warning_names_the_client(reservoir):
    res = reservoir(pool_mode="transaction", leak_warn_time=1)
    conn = res.connect(autocommit=False, application_name="leaky-app")
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
    log = wait_for_log(res, "possible connection leak", timeout=4)
    line = next(line for line in log.splitlines() if "possible connection leak" in line)
    assert "application_name=leaky-app" in line
    assert f"user={harness.APP_USER}" in line and f"database={harness.APP_DB}" in line
    assert "client 127.0.0.1:" in line
    time.sleep(1.2)
    assert res.log().count("possible connection leak") == 1  # once per transaction
    conn.rollback()
    conn.close()


def test_stats_line_every_stats_period(reservoir):
    res = reservoir(pool_mode="transaction", stats_period=1)
    conn = res.connect()
    with conn.cursor() as cur:
        for _ in range(20):
            cur.execute("SELECT 1")
    log = wait_for_log(res, f"stats: pool {harness.APP_DB}/{harness.APP_USER}:", timeout=4)
    assert "xact/s" in log and "queries/s" in log
    conn.close()


def test_slow_query_log_has_text_but_never_parameters(reservoir):
    psycopg = __import__("pytest").importorskip("psycopg", reason="python3-psycopg not installed")
    res = reservoir(pool_mode="transaction", slow_query_threshold=0.2)
    with psycopg.connect(host="127.0.0.1", port=res.port, user=harness.APP_USER,
                         password=harness.APP_PASSWORD, dbname=harness.APP_DB,
                         autocommit=True, application_name="slowpoke") as conn:
        conn.execute("SELECT 1 /* fast-one */")
        conn.execute("SELECT pg_sleep(%s), %s::text /* slow-one */", (0.3, "secret-param-value"))
        long_sql = "SELECT pg_sleep(0.25) /* " + "x" * 400 + " */"
        conn.execute(long_sql)
    log = wait_for_log(res, "slow-one")
    slow = [line for line in log.splitlines() if "slow query:" in line]
    assert len(slow) == 2, slow
    assert "fast-one" not in log
    assert "secret-param-value" not in log
    assert "application_name=slowpoke" in slow[0]
    assert f"pool {harness.APP_DB}/{harness.APP_USER}" in slow[0]
    # At most 200 characters of the statement.
    assert "x" * 150 in slow[1] and "x" * 200 not in slow[1]


def test_json_log_format(reservoir):
    res = reservoir(log_format="json")
    res.query("SELECT 1")
    res.terminate()
    lines = [line for line in res.log().splitlines() if line.strip()]
    assert lines
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert any("logged in" in r["msg"] for r in records)
    assert {"time", "level", "msg"} <= set(records[0])


def test_log_connections_and_disconnections(reservoir):
    """PgBouncer's log_connections / log_disconnections: on by default, off silences the
    line per login and per disconnect, and a change (admin console SET) applies at once, to
    clients already connected too."""
    res = reservoir(pool_mode="transaction", admin_users=harness.APP_USER)
    c = res.connect(application_name="loud-app")
    with c.cursor() as cur:
        cur.execute("SELECT 1")
    c.close()
    log = wait_for_log(res, "disconnected: client closed the connection")
    assert "logged in (application_name=loud-app, pool_mode=transaction)" in log

    quiet = reservoir(pool_mode="transaction", admin_users=harness.APP_USER,
                      log_connections=0, log_disconnections=0)
    admin = quiet.connect(dbname="reservoir")  # the admin console's login is not logged
    admin.autocommit = True
    c = quiet.connect(application_name="quiet-app")
    with c.cursor() as cur:
        cur.execute("SELECT 1")
    c.close()
    late = quiet.connect(application_name="late-app")  # logs in while the lines are off
    with admin.cursor() as cur:
        cur.execute("SET log_disconnections = 1")
    # One more client through the relay, so the quiet client's disconnect (long done) is in
    # the log if it was ever going to be.
    assert quiet.query("SELECT 2") == [(2,)]
    late.close()
    log = wait_for_log(quiet, "disconnected: client closed the connection")
    assert "logged in" not in log, log
    assert "quiet-app" not in log, log
    # The line at disconnect names neither application; exactly the two clients that left
    # after the SET (the one of quiet.query() and late-app) have one.
    deadline = time.monotonic() + 5
    while log.count("disconnected:") < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
        log = quiet.log()
    assert log.count("disconnected:") == 2, log
    assert "admin console: log_disconnections set to " in log, log
    admin.close()
