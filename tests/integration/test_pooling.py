"""Session pooling: many clients share a few servers, never more than the pool size reach
PostgreSQL, and a server handed to the next client has been reset."""
import threading
import time

import psycopg2
import pytest

from harness import APP_DB, APP_USER, BackendMonitor

# Every core test runs with one worker thread and with two.
WORKERS = pytest.mark.parametrize("workers", [1, 2], ids=["w1", "w2"])


@WORKERS
def test_100_clients_share_a_session_pool_of_5(reservoir, pg_up, workers):
    assert pg_up.wait_backends_at_most(APP_USER, APP_DB, 0) == 0, "backends left by another test"
    res = reservoir(default_pool_size=5, max_client_conn=200, workers=workers)
    clients = 100
    start = threading.Barrier(clients + 1, timeout=10)
    errors, done = [], []
    lock = threading.Lock()

    def client(i):
        try:
            start.wait()
            conn = res.connect(connect_timeout=20)
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT pg_sleep(0.05)")
                    cur.execute("SELECT %s::int + 1", (i,))
                    assert cur.fetchone() == (i + 1,)
                    cur.execute("SELECT current_user, current_database()")
                    assert cur.fetchone() == (APP_USER, APP_DB)
                    cur.execute("SELECT count(*) FROM generate_series(1, 1000)")
                    assert cur.fetchone() == (1000,)
            finally:
                conn.close()
            with lock:
                done.append(i)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            with lock:
                errors.append(f"client {i}: {type(exc).__name__}: {exc}")

    monitor = BackendMonitor(pg_up)
    monitor.start()
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    began = time.monotonic()
    start.wait()
    for t in threads:
        t.join(max(0.1, 60 - (time.monotonic() - began)))
    elapsed = time.monotonic() - began
    monitor.stop()

    assert not any(t.is_alive() for t in threads), "clients still running after 60 s"
    assert not errors, f"{len(errors)} clients failed:\n" + "\n".join(errors[:10])
    assert len(done) == clients
    assert not monitor.errors, monitor.errors
    assert monitor.samples >= 10, f"monitor took only {monitor.samples} samples"
    assert monitor.max_seen <= 5, f"saw {monitor.max_seen} backends for a pool of 5"
    # 100 clients each holding a server >= 50 ms cannot finish in time without concurrency.
    assert monitor.max_seen >= 2, f"saw at most {monitor.max_seen} backend(s)"
    assert pg_up.count_backends(APP_USER, APP_DB) <= 5
    print(f"100 clients in {elapsed:.2f}s, at most {monitor.max_seen} backends "
          f"({monitor.samples} samples)")


@WORKERS
def test_server_is_reused_and_reset_between_clients(reservoir, pg_up, workers):
    res = reservoir(default_pool_size=1, workers=workers)
    default_work_mem = pg_up.sql("SHOW work_mem")[0][0]
    assert default_work_mem != "7MB"

    first = res.connect()
    with first.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        first_pid = cur.fetchone()[0]
        cur.execute("SET work_mem = '7MB'")
        cur.execute("CREATE TEMP TABLE reset_probe (x int)")
        cur.execute("PREPARE reset_stmt AS SELECT 1")
        cur.execute("SHOW work_mem")
        assert cur.fetchone() == ("7MB",)
    first.close()

    second = res.connect()
    try:
        with second.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            assert cur.fetchone()[0] == first_pid, "the pool of 1 did not reuse its server"
            cur.execute("SHOW work_mem")
            assert cur.fetchone() == (default_work_mem,), "SET survived into the next client"
            cur.execute("SELECT to_regclass('pg_temp.reset_probe')")
            assert cur.fetchone() == (None,), "temp table survived into the next client"
            cur.execute("SELECT count(*) FROM pg_prepared_statements")
            assert cur.fetchone() == (0,), "prepared statement survived into the next client"
            with pytest.raises(psycopg2.errors.InvalidSqlStatementName):
                cur.execute("EXECUTE reset_stmt")
    finally:
        second.close()
    assert pg_up.count_backends(APP_USER, APP_DB) == 1


def test_pool_size_from_env_limits_servers(reservoir, pg_up):
    """RESERVOIR_DEFAULT_POOL_SIZE overrides the file: a third client waits for a server."""
    assert pg_up.wait_backends_at_most(APP_USER, APP_DB, 0) == 0, "backends left by another test"
    res = reservoir(default_pool_size=5, env={"RESERVOIR_DEFAULT_POOL_SIZE": "2"})
    holders = [res.connect(), res.connect()]
    for conn in holders:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
    assert pg_up.count_backends(APP_USER, APP_DB) == 2

    result = {}

    def third():
        try:
            result["rows"] = res.query("SELECT 3", connect_timeout=10)
        except Exception as exc:  # noqa: BLE001
            result["error"] = exc

    waiter = threading.Thread(target=third, daemon=True)
    waiter.start()
    waiter.join(1.0)
    assert waiter.is_alive(), f"third client was not made to wait: {result}"
    assert pg_up.count_backends(APP_USER, APP_DB) == 2
    holders[0].close()
    waiter.join(8)
    assert result.get("rows") == [(3,)], result
    holders[1].close()
    assert pg_up.count_backends(APP_USER, APP_DB) <= 2


def test_transaction_pool_hand_offs_across_four_workers_lose_nothing(reservoir, pg_up):
    """Under load a released server goes first to a waiter on its own worker (within a bound
    of passing the longest waiter over): with 4 workers, 24 clients and 2 servers, every
    client is served and every committed increment is there at the end."""
    admin = pg_up.admin_connect(APP_DB)
    with admin.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS handoff_counts")
        cur.execute("CREATE TABLE handoff_counts (client int PRIMARY KEY, n int NOT NULL)")
        cur.execute("GRANT ALL ON handoff_counts TO " + APP_USER)
    res = reservoir(default_pool_size=2, pool_mode="transaction", max_client_conn=100, workers=4)
    clients, rounds = 24, 40
    errors = []
    lock = threading.Lock()

    def client(i):
        try:
            conn = res.connect(connect_timeout=20, autocommit=False)
            try:
                with conn.cursor() as cur:
                    cur.execute("INSERT INTO handoff_counts VALUES (%s, 0)", (i,))
                    conn.commit()
                    for _ in range(rounds):
                        cur.execute("UPDATE handoff_counts SET n = n + 1 WHERE client = %s", (i,))
                        conn.commit()
            finally:
                conn.close()
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            with lock:
                errors.append(f"client {i}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    try:
        assert not any(t.is_alive() for t in threads), "clients still running after 90 s"
        assert not errors, "\n".join(errors[:10])
        with admin.cursor() as cur:
            cur.execute("SELECT count(*), sum(n), min(n) FROM handoff_counts")
            assert cur.fetchone() == (clients, clients * rounds, rounds)
        assert pg_up.count_backends(APP_USER, APP_DB) <= 2
    finally:
        with admin.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS handoff_counts")
        admin.close()
