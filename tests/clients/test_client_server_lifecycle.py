"""Server connections over time in transaction mode: server_lifetime, server_idle_timeout,
server_check_query / server_check_delay, server_connect_timeout, server_login_retry while
PostgreSQL is down, and PostgreSQL restarting under light load."""
import socket
import threading
import time

import psycopg2

import clientlib as cl
from clientlib import WORKERS, connect, scalar, start
from harness import APP_DB, APP_USER


def pid_of(conn) -> int:
    return scalar(conn, "SELECT pg_backend_pid()")


def test_server_lifetime_replaces_servers_between_transactions(reservoir, pg_up):
    res = reservoir(default_pool_size=1, server_lifetime=1)
    conn = connect(res)
    try:
        first = pid_of(conn)
        # A transaction that outlives server_lifetime is not cut short.
        with conn.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("SELECT pg_backend_pid()")
            assert cur.fetchone()[0] == first
            cur.execute("SELECT pg_sleep(1.3)")
            cur.execute("SELECT pg_backend_pid()")
            assert cur.fetchone()[0] == first, "server replaced inside a transaction"
            cur.execute("COMMIT")
        seen = {first}
        deadline = time.monotonic() + 4
        while len(seen) < 2 and time.monotonic() < deadline:
            seen.add(pid_of(conn))
            time.sleep(0.2)
        assert len(seen) >= 2, "server_lifetime=1 never replaced the server"
        assert cl.wait_until(lambda: first not in pg_up.backend_pids(APP_USER, APP_DB), 3), \
            "the expired server is still open in PostgreSQL"
    finally:
        conn.close()


def test_server_idle_timeout_closes_idle_servers(reservoir, pg_up):
    cl.wait_no_backends(pg_up)
    res = reservoir(default_pool_size=3, server_idle_timeout=1)
    conn = connect(res)
    try:
        first = pid_of(conn)
        assert cl.count_backends(pg_up) >= 1
        # The client stays connected; its server is idle in the pool and must go.
        assert cl.wait_until(lambda: cl.count_backends(pg_up) == 0, 4), \
            f"{cl.count_backends(pg_up)} idle servers still open 4 s after server_idle_timeout=1"
        second = pid_of(conn)
        assert second != first
    finally:
        conn.close()


def test_server_check_query_runs_after_server_check_delay(reservoir, pg_up):
    """server_check_query with a visible side effect (a sequence) runs on a server that was
    idle longer than server_check_delay, before it is handed out."""
    cl.app_sql(pg_up, "DROP SEQUENCE IF EXISTS check_probe_seq")
    cl.app_sql(pg_up, "CREATE SEQUENCE check_probe_seq")
    res = reservoir(default_pool_size=1, server_check_delay=0.5,
                    server_check_query="SELECT nextval('public.check_probe_seq')")
    conn = connect(res)
    try:
        scalar(conn, "SELECT 1")

        def checks():
            return cl.app_sql(pg_up, "SELECT last_value, is_called FROM check_probe_seq")[0]

        before = checks()
        scalar(conn, "SELECT 1")  # right away: no check needed
        time.sleep(1.0)
        scalar(conn, "SELECT 1")  # idle 1 s > 0.5 s: checked first
        after = checks()
        assert after != before and after[1], \
            f"server_check_query did not run (sequence {before} -> {after})"
    finally:
        conn.close()


def test_server_killed_while_idle_is_replaced_without_client_error(reservoir, pg_up):
    res = reservoir(default_pool_size=1, server_check_delay=0)
    conn = connect(res)
    try:
        pid = pid_of(conn)
        pg_up.sql("SELECT pg_terminate_backend(%s)", (pid,))
        time.sleep(0.2)
        for _ in range(3):
            assert scalar(conn, "SELECT 42") == 42
        assert pid_of(conn) != pid
    finally:
        conn.close()


class Blackhole:
    """A TCP port that accepts connections (kernel backlog) and never says a word."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]

    def close(self):
        self.sock.close()


def test_server_connect_timeout_bounds_a_silent_server(reservoir, pg_up):
    hole = Blackhole()
    try:
        databases = {APP_DB: reservoir.app_db(),
                     "silent": f"host=127.0.0.1 port={hole.port} dbname={APP_DB}"}
        res = reservoir(databases=databases, pool_mode="session", server_connect_timeout=0.5,
                        server_login_retry=0.2, query_wait_timeout=2)
        job = start(lambda: res.query("SELECT 1", dbname="silent", connect_timeout=8),
                    name="client of the silent server")
        time.sleep(0.3)
        # Meanwhile other databases are served normally.
        assert res.query("SELECT 5") == [(5,)]
        job.join(6)
        assert not job.is_alive(), "client of a silent server still waiting after 6 s"
        assert isinstance(job.error, psycopg2.OperationalError), repr(job.error)
        assert job.elapsed < 5, f"failed only after {job.elapsed:.1f}s"
        text = cl.error_text(job.error).lower() + res.log().lower()
        assert "timeout" in text or "timed out" in text, cl.error_text(job.error)
    finally:
        hole.close()


def test_clients_wait_while_postgres_is_down_then_are_served(reservoir, pg_up):
    """server_login_retry: with PostgreSQL down, queued clients wait (no instant failure)
    and are served once it is back."""
    res = reservoir(default_pool_size=2, server_login_retry=0.3, query_wait_timeout=15,
                    server_connect_timeout=2)
    conns = [connect(res) for _ in range(4)]
    for conn in conns:
        assert scalar(conn, "SELECT 1") == 1
    pg_up.stop("fast")
    try:
        began = time.monotonic()
        jobs = [start(scalar, conn, "SELECT 'served'", name=f"client {i}")
                for i, conn in enumerate(conns)]
        newcomer = start(lambda: res.query("SELECT 'newcomer'", connect_timeout=15),
                         name="client connecting while PostgreSQL is down")
        time.sleep(1.5)
        early = [(job.name, job.error) for job in jobs + [newcomer] if not job.is_alive()]
    finally:
        pg_up.start()
    back = time.monotonic()
    results = [job.finish(15) for job in jobs]
    assert early == [], f"failed at once while PostgreSQL was down: {early}"
    assert results == ["served"] * 4
    assert newcomer.finish(15) == [("newcomer",)]
    assert max(job.ended_at for job in jobs) - back < 5, "served more than 5 s after restart"
    assert min(job.started_at for job in jobs) >= began


@WORKERS
def test_postgres_restart_under_light_load(reservoir, pg_up, workers):
    """5 clients loop on short transactions; PostgreSQL restarts (fast). Errors while it is
    down are allowed; within a few seconds of it being back every client succeeds again, and
    nothing hangs."""
    table = f"restart_load_{workers}"
    cl.app_sql(pg_up, f"DROP TABLE IF EXISTS {table}")
    cl.app_sql(pg_up, f"CREATE TABLE {table} (client int, n int)")
    res = reservoir(default_pool_size=3, workers=workers, server_login_retry=0.3,
                    query_wait_timeout=10)
    stop = threading.Event()
    back_at = {}
    first_ok_after_back = {}
    errors = {}

    def client(i):
        conn, n = None, 0
        while not stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = connect(res, connect_timeout=5)
                with conn.cursor() as cur:
                    cur.execute("BEGIN")
                    cur.execute(f"INSERT INTO {table} VALUES (%s, %s)", (i, n))
                    cur.execute("COMMIT")
                n += 1
                if "t" in back_at and i not in first_ok_after_back:
                    first_ok_after_back[i] = time.monotonic()
            except psycopg2.Error as exc:
                errors.setdefault(i, []).append(f"{type(exc).__name__}: {str(exc).strip()[:80]}")
                if conn is not None and not conn.closed:
                    try:
                        conn.rollback()
                    except psycopg2.Error:
                        conn.close()
                time.sleep(0.05)
            time.sleep(0.02)
        if conn is not None:
            conn.close()
        return n

    jobs = [start(client, i, name=f"client {i}") for i in range(5)]
    time.sleep(0.7)
    pg_up.restart()
    back_at["t"] = time.monotonic()
    deadline = back_at["t"] + 8
    while len(first_ok_after_back) < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    counts = [job.finish(10) for job in jobs]
    late = {i: round(t - back_at["t"], 2) for i, t in first_ok_after_back.items()}
    missing = [i for i in range(5) if i not in first_ok_after_back]
    assert not missing, (f"clients {missing} never succeeded within 8 s of PostgreSQL being "
                         f"back; their last errors: "
                         f"{ {i: errors.get(i, [])[-2:] for i in missing} }")
    assert max(late.values()) < 5, f"seconds to first success after restart: {late}"
    assert all(c > 0 for c in counts)
    assert res.alive()
