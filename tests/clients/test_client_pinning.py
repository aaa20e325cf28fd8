"""Session features in transaction mode (transaction_mode_pinning): a client that uses
LISTEN, a session advisory lock, a temporary table, a WITH HOLD cursor or SQL PREPARE keeps
its server across transactions until it undoes them or leaves; then the server is reset
before another client gets it. With transaction_mode_pinning=off those statements get
0A000.
"""
import os
import select
import subprocess
import threading
import time

import psycopg2
import pytest

import clientlib as cl
import harness
from clientlib import connect, scalar
from harness import APP_DB, APP_PASSWORD, APP_USER


def pid_of(conn) -> int:
    return scalar(conn, "SELECT pg_backend_pid()")


class Churn:
    """Other clients running short transactions in a loop, so that an unpinned client
    would get another server between its transactions."""

    def __init__(self, res, clients=3):
        self.stop = threading.Event()
        self.errors = []
        self.conns = [connect(res) for _ in range(clients)]
        self.threads = [threading.Thread(target=self.run, args=(c,), daemon=True)
                        for c in self.conns]

    def run(self, conn):
        try:
            while not self.stop.is_set():
                scalar(conn, "SELECT pg_sleep(0.005)")
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(exc)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(10)
        for c in self.conns:
            c.close()
        assert not self.errors, self.errors


def test_sql_prepare_execute_deallocate_from_psql(reservoir, pg_up):
    res = reservoir(default_pool_size=2)
    script = ["PREPARE p(int) AS SELECT $1 * 2;"]
    for i in range(15):
        script += ["SELECT pg_sleep(0.01);", f"EXECUTE p({i});"]
    script += ["BEGIN;", "EXECUTE p(100);", "COMMIT;", "DEALLOCATE p;", "SELECT 'done';"]
    env = dict(os.environ, PGPASSWORD=APP_PASSWORD, PGPASSFILE=harness.NO_PGPASS)
    with Churn(res):
        run = subprocess.run(
            [f"{harness.PG_BIN}/psql", "-X", "-w", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h",
             "127.0.0.1", "-p", str(res.port), "-U", APP_USER, APP_DB],
            input="\n".join(script) + "\n", capture_output=True, text=True, timeout=30,
            env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    values = [line for line in run.stdout.splitlines() if line.strip()]
    assert values == [str(2 * i) for i in range(15)] + ["200", "done"], values


def test_sql_prepare_with_psycopg2_across_transactions(reservoir, pg_up):
    """PREPARE, EXECUTE in many transactions, DEALLOCATE: then the client is unpinned and
    its server goes back to the pool, reset (the statement is gone there)."""
    res = reservoir(default_pool_size=1, query_wait_timeout=5)
    a = connect(res)
    try:
        with a.cursor() as cur:
            cur.execute("PREPARE q(text) AS SELECT upper($1)")
            pid = pid_of(a)
            for i in range(10):
                cur.execute("EXECUTE q(%s)", (f"v{i}",))
                assert cur.fetchone() == (f"V{i}",)
            a.autocommit = False
            cur.execute("EXECUTE q('in tx')")
            assert cur.fetchone() == ("IN TX",)
            a.commit()
            a.autocommit = True
            assert pid_of(a) == pid
            # Pinned: a second client cannot have the pool's only server.
            b = connect(res)
            try:
                job = cl.start(pid_of, b)
                job.join(0.5)
                assert job.is_alive(), "the pinned client's server was lent to another client"
                cur.execute("DEALLOCATE q")
                assert job.finish(5) == pid
                with b.cursor() as bcur:
                    bcur.execute("SELECT count(*) FROM pg_prepared_statements")
                    assert bcur.fetchone() == (0,), "the server was not reset"
            finally:
                b.close()
    finally:
        a.close()


def test_listen_notify_across_clients(reservoir, pg_up):
    res = reservoir(default_pool_size=2)
    listener = connect(res)
    notifier = connect(res)
    try:
        with listener.cursor() as cur:
            cur.execute("LISTEN reservoir_channel")
        with Churn(res, clients=2):
            for i in range(3):
                with notifier.cursor() as cur:
                    cur.execute("NOTIFY reservoir_channel, %s", (f"hello {i}",))
                deadline = time.monotonic() + 5
                while not listener.notifies and time.monotonic() < deadline:
                    if select.select([listener], [], [], 0.5)[0]:
                        listener.poll()
                assert listener.notifies, f"notification {i} did not arrive"
                note = listener.notifies.pop(0)
                assert (note.channel, note.payload) == ("reservoir_channel", f"hello {i}")
                scalar(listener, "SELECT 1")  # the listener keeps working in between
        with listener.cursor() as cur:
            cur.execute("UNLISTEN *")
    finally:
        listener.close()
        notifier.close()


def test_session_advisory_lock_held_across_transactions(reservoir, pg_up):
    res = reservoir(default_pool_size=2)
    a = connect(res)
    try:
        assert scalar(a, "SELECT pg_advisory_lock(424242)") == ""
        pid = pid_of(a)
        with Churn(res, clients=2):
            for _ in range(5):
                assert pid_of(a) == pid
                locks = pg_up.sql("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND "
                                  "objid = 424242 AND granted", dbname=APP_DB)
                assert locks == [(pid,)], locks
                time.sleep(0.02)
        # Another client cannot take it meanwhile.
        b = connect(res)
        try:
            assert scalar(b, "SELECT pg_try_advisory_lock(424242)") is False
        finally:
            b.close()
        assert scalar(a, "SELECT pg_advisory_unlock_all()") == ""
        assert pg_up.sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND "
                         "objid = 424242", dbname=APP_DB) == [(0,)]
    finally:
        a.close()


def test_temp_table_persists_for_its_client_only(reservoir, pg_up):
    res = reservoir(default_pool_size=2)
    a = connect(res)
    b = connect(res)
    try:
        with a.cursor() as cur:
            cur.execute("CREATE TEMP TABLE scratch (v int)")
        with Churn(res, clients=2):
            for i in range(8):
                with a.cursor() as cur:
                    cur.execute("INSERT INTO scratch VALUES (%s)", (i,))
                time.sleep(0.01)
        assert scalar(a, "SELECT sum(v) FROM scratch") == sum(range(8))
        with pytest.raises(psycopg2.errors.UndefinedTable):
            scalar(b, "SELECT count(*) FROM scratch")
        with a.cursor() as cur:
            cur.execute("DROP TABLE scratch")
    finally:
        a.close()
        b.close()


def test_disconnect_while_pinned_resets_the_server(reservoir, pg_up):
    res = reservoir(default_pool_size=1)
    a = connect(res)
    with a.cursor() as cur:
        cur.execute("CREATE TEMP TABLE gone (v int)")
        cur.execute("LISTEN gone_channel")
    pid = pid_of(a)
    a.close()
    b = connect(res)
    try:
        assert pid_of(b) == pid
        assert scalar(b, "SELECT count(*) FROM pg_class WHERE relname = 'gone' AND "
                         "relpersistence = 't'") == 0
        assert scalar(b, "SELECT count(*) FROM pg_listening_channels()") == 0
    finally:
        b.close()


def test_with_hold_cursor(reservoir, pg_up):
    res = reservoir(default_pool_size=2)
    a = connect(res)
    try:
        with a.cursor() as cur:
            cur.execute("DECLARE c CURSOR WITH HOLD FOR SELECT g FROM generate_series(1, 6) g")
        with Churn(res, clients=2):
            got = []
            for _ in range(3):
                with a.cursor() as cur:
                    cur.execute("FETCH 2 FROM c")
                    got += [r[0] for r in cur.fetchall()]
                time.sleep(0.01)
        assert got == [1, 2, 3, 4, 5, 6]
        with a.cursor() as cur:
            cur.execute("CLOSE c")
    finally:
        a.close()


def test_pinning_off_refuses_session_features(reservoir, pg_up):
    res = reservoir(default_pool_size=1, transaction_mode_pinning="off")
    a = connect(res)
    try:
        for sql in ("LISTEN x", "SELECT pg_advisory_lock(7)", "CREATE TEMP TABLE t (a int)",
                    "PREPARE p AS SELECT 1"):
            with pytest.raises(psycopg2.errors.FeatureNotSupported) as err:
                scalar(a, sql)
            assert "transaction_mode_pinning" in str(err.value)
            assert scalar(a, "SELECT 2") == 2  # the client stays usable
        assert pg_up.sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'",
                         dbname=APP_DB) == [(0,)]
    finally:
        a.close()
