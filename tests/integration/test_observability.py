"""The HTTP endpoint: /health, /ready, /api/pools and /metrics against real activity through
Reservoir and a real PostgreSQL."""
from __future__ import annotations

import json
import threading
import time

import pytest

import harness

prometheus_parser = pytest.importorskip(
    "prometheus_client.parser",
    reason="python3-prometheus-client is not installed (scripts/bootstrap installs it)")


def metrics(res) -> dict:
    """{(name, frozenset(labels.items())): value} of every sample in /metrics, parsed with
    prometheus_client's own parser (so the format is checked too)."""
    status, body = res.http_get("/metrics")
    assert status == 200, body
    out = {}
    for family in prometheus_parser.text_string_to_metric_families(body):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def sample(m: dict, name: str, **labels) -> float:
    return m.get((name, frozenset(labels.items())), 0.0)


def pool_json(res, database=harness.APP_DB, user=harness.APP_USER) -> dict:
    status, body = res.http_get("/api/pools")
    assert status == 200, body
    pools = json.loads(body)["pools"]
    for p in pools:
        if p["database"] == database and p["user"] == user:
            return p
    raise AssertionError(f"no pool {database}/{user} in {pools}")


def test_health_and_unknown_path(reservoir):
    res = reservoir()
    assert res.http_get("/health") == (200, "ok\n")
    assert res.http_get("/nope")[0] == 404


def test_metrics_count_real_transactions(reservoir):
    res = reservoir(pool_mode="transaction", default_pool_size=2)
    conn = res.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
    labels = dict(database=harness.APP_DB, user=harness.APP_USER)
    before = metrics(res)
    n = 25
    with conn.cursor() as cur:
        for i in range(n):
            cur.execute("SELECT %s", (i,))
            assert cur.fetchone() == (i,)
        # One explicit transaction of three statements counts once.
        conn.autocommit = False
        cur.execute("SELECT 1")
        cur.execute("SELECT 2")
        conn.commit()
        conn.autocommit = True
        # Errors are counted by SQLSTATE class.
        for _ in range(2):
            with pytest.raises(Exception):
                cur.execute("SELECT * FROM no_such_table")
    after = metrics(res)
    delta = lambda name, **extra: sample(after, name, **labels, **extra) - sample(  # noqa: E731
        before, name, **labels, **extra)
    assert delta("reservoir_transactions_total") == n + 1 + 2
    assert delta("reservoir_queries_total") == n + 4 + 2  # BEGIN, 2 SELECTs, COMMIT
    assert delta("reservoir_errors_total", **{"class": "42"}) == 2
    assert delta("reservoir_bytes_received_total") > 0
    assert delta("reservoir_bytes_sent_total") > 0
    assert delta("reservoir_query_duration_seconds_count") == n + 4 + 2
    assert delta("reservoir_transaction_duration_seconds_count") == n + 1 + 2
    assert sample(after, "reservoir_client_connections_total", **labels) == 1
    assert sample(after, "reservoir_server_connections_total", **labels) >= 1
    assert sample(after, "reservoir_wait_seconds_count", **labels) >= n
    assert sample(after, "reservoir_pool_size", **labels) == 2
    assert sample(after, "reservoir_pool_clients", **labels) == 1
    assert sample(after, "reservoir_up") == 1
    conn.close()


def test_wait_timeouts_and_api_pools(reservoir, pg):
    res = reservoir(pool_mode="transaction", default_pool_size=1, query_wait_timeout=1,
                    query_wait_notify=0)
    holder = res.connect(autocommit=False)
    with holder.cursor() as cur:
        cur.execute("SELECT 1")  # holds the only server inside a transaction
    # A second client waits; while it waits, /api/pools shows it.
    result = {}

    def wait():
        c = res.connect()
        try:
            with c.cursor() as cur:
                cur.execute("SELECT 1")
        except Exception as e:  # noqa: BLE001
            result["error"] = str(e)
        finally:
            c.close()

    t = threading.Thread(target=wait)
    t.start()
    deadline = time.monotonic() + 3
    seen_waiting = False
    while time.monotonic() < deadline and not seen_waiting:
        p = pool_json(res)
        seen_waiting = p["waiting"] == 1 and p["active"] == 1 and p["longest_wait_s"] > 0
        time.sleep(0.05)
    t.join(5)
    assert seen_waiting
    assert "exhausted" in result.get("error", ""), result
    p = pool_json(res)
    assert p["timeouts"] == 1
    assert p["size"] == 1 and p["peak_in_use"] == 1
    assert p["wait_p99_s"] >= 0.5
    m = metrics(res)
    assert sample(m, "reservoir_wait_timeouts_total", database=harness.APP_DB,
                  user=harness.APP_USER) == 1
    holder.close()


def test_ready_follows_postgres(reservoir, pg):
    res = reservoir(query_wait_timeout=1)
    status, body = res.http_get("/ready")
    assert status == 200, body
    pg.stop()
    try:
        status, body = res.http_get("/ready")
        assert status == 503, body
        report = json.loads(body)
        assert report["ready"] is False
        assert report["unreachable"][0]["database"] == harness.APP_DB
        assert "connect" in report["unreachable"][0]["reason"]
        # Connect failures are counted once a client tries.
        with pytest.raises(Exception):
            res.connect()
    finally:
        pg.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status, body = res.http_get("/ready")
        if status == 200:
            break
        time.sleep(0.1)
    assert status == 200, body
    m = metrics(res)
    assert sample(m, "reservoir_server_connect_failures_total", database=harness.APP_DB,
                  user=harness.APP_USER) >= 1


def test_http_listen_empty_disables(reservoir):
    res = reservoir(http_listen="")
    assert res.query("SELECT 1") == [(1,)]
