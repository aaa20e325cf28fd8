"""Client-side timeouts in transaction mode (client_idle_timeout, query_timeout,
transaction_timeout, idle_transaction_timeout) and clients that vanish mid-transaction: no
open transaction may be left behind, and the server goes back to the pool clean."""
import time

import psycopg2
import pytest

import clientlib as cl
from clientlib import WORKERS, connect, scalar, start
from harness import APP_DB, APP_USER


def table_for(pg, name: str) -> str:
    cl.app_sql(pg, f"DROP TABLE IF EXISTS {name}")
    cl.app_sql(pg, f"CREATE TABLE {name} (n int)")
    return name


def test_client_idle_timeout_disconnects_idle_client(reservoir, pg_up):
    res = reservoir(client_idle_timeout=1)
    client = cl.raw_login(res)
    busy = connect(res)

    def stay_busy():
        """Another client stays active the whole time and must not be disconnected."""
        for _ in range(15):
            scalar(busy, "SELECT 1")
            time.sleep(0.2)
        return True

    try:
        assert client.query("SELECT 1").rows == [("1",)]
        began = time.monotonic()
        active = start(stay_busy, name="active client")
        seen = client.wait_closed(4)
        took = time.monotonic() - began
        assert 0.8 <= took <= 3.0, f"closed after {took:.2f}s with client_idle_timeout=1"
        errors = [cl.harness.parse_error_fields(p) for k, p in seen if k == b"E"]
        assert errors, "closed without telling the client why"
        assert "idle" in errors[0].get("M", "").lower(), errors
        assert active.finish(5), "the active client was disconnected"
    finally:
        client.close()
        busy.close()


@WORKERS
def test_query_timeout_cancels_and_says_why(reservoir, pg_up, workers):
    res = reservoir(default_pool_size=1, query_timeout=1, workers=workers)
    conn = connect(res)
    try:
        began = time.monotonic()
        with pytest.raises(psycopg2.Error) as err:
            scalar(conn, "SELECT pg_sleep(10)")
        took = time.monotonic() - began
        assert took <= 2.5, f"query_timeout=1 stopped the query after {took:.2f}s"
        text = cl.error_text(err.value) + " ".join(conn.notices)
        assert "query_timeout" in text, f"the client was not told why: {text!r}"
        assert cl.wait_until(lambda: cl.running_queries(pg_up, "%pg_sleep(10)%") == [], 2), \
            "the query still runs in PostgreSQL"
    finally:
        conn.close()
    # The pool still works.
    assert res.query("SELECT 3") == [(3,)]


@WORKERS
def test_transaction_timeout(reservoir, pg_up, workers):
    """A transaction kept busy with short statements past transaction_timeout=1 is ended;
    the client is told, nothing stays open."""
    table = table_for(pg_up, f"tx_timeout_{workers}")
    res = reservoir(default_pool_size=1, transaction_timeout=1, workers=workers)
    conn = connect(res)
    began = time.monotonic()
    try:
        with pytest.raises(psycopg2.Error) as err:
            with conn.cursor() as cur:
                cur.execute("BEGIN")
                cur.execute(f"INSERT INTO {table} VALUES (1)")
                for _ in range(20):
                    cur.execute("SELECT pg_sleep(0.2)")
                cur.execute("COMMIT")
        took = time.monotonic() - began
        assert took <= 2.5, f"transaction_timeout=1 acted after {took:.2f}s"
        assert "transaction_timeout" in cl.error_text(err.value), cl.error_text(err.value)
    finally:
        conn.close()
    assert cl.wait_until(lambda: cl.open_transactions(pg_up) == [], 3)
    assert cl.app_sql(pg_up, f"SELECT count(*) FROM {table}") == [(0,)]
    assert res.query("SELECT 4") == [(4,)]


@WORKERS
def test_idle_transaction_timeout_frees_server_for_another_client(reservoir, pg_up, workers):
    table = table_for(pg_up, f"idle_tx_{workers}")
    res = reservoir(default_pool_size=1, idle_transaction_timeout=1, workers=workers)
    idler, other = connect(res), connect(res)
    try:
        with idler.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute(f"INSERT INTO {table} VALUES (1)")
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
        began = time.monotonic()
        # The other client waits for the only server; the idler's timeout frees it.
        with other.cursor() as cur:
            cur.execute("SELECT pg_backend_pid(), txid_current_if_assigned(), "
                        f"(SELECT count(*) FROM {table})")
            other_pid, xid, rows = cur.fetchone()
        waited = time.monotonic() - began
        assert 0.8 <= waited <= 2.5, f"served after {waited:.2f}s (idle_transaction_timeout=1)"
        assert rows == 0, "the idler's uncommitted row is visible: its transaction went on"
        assert xid is None
        assert other_pid == pid, "the server was closed instead of rolled back and reused"
        assert cl.open_transactions(pg_up) == []
        # The idler was disconnected with a clear error.
        with pytest.raises(psycopg2.Error) as err:
            scalar(idler, "SELECT 1")
        assert "idle_transaction_timeout" in cl.error_text(err.value) or \
            "idle_transaction_timeout" in res.log(), cl.error_text(err.value)
        assert idler.closed or isinstance(err.value, psycopg2.OperationalError)
    finally:
        idler.close()
        other.close()
    assert cl.app_sql(pg_up, f"SELECT count(*) FROM {table}") == [(0,)]


def test_idle_transaction_timeout_message_reaches_raw_client(reservoir, pg_up):
    res = reservoir(default_pool_size=1, idle_transaction_timeout=1)
    client = cl.raw_login(res)
    try:
        assert client.query("BEGIN").status == "T"
        seen = client.wait_closed(4)
        errors = [cl.harness.parse_error_fields(p) for k, p in seen if k == b"E"]
        assert errors, f"closed without an error message: {seen}"
        assert "idle_transaction_timeout" in errors[0].get("M", ""), errors
    finally:
        client.close()


@WORKERS
@pytest.mark.parametrize("how", ["terminate", "abort"])
def test_client_vanishing_mid_transaction_leaves_nothing_open(reservoir, pg_up, workers, how):
    """A client inside a transaction goes away (Terminate, or a dropped socket): its
    transaction is rolled back and its server serves the next client."""
    table = table_for(pg_up, f"vanish_{how}_{workers}")
    res = reservoir(default_pool_size=1, workers=workers)
    other = connect(res)
    client = cl.raw_login(res)
    assert client.query("BEGIN").status == "T"
    assert not client.query(f"INSERT INTO {table} VALUES (1)").errors
    pid = int(client.query("SELECT pg_backend_pid()").rows[0][0])
    assert cl.open_transactions(pg_up), "test setup: no open transaction seen"
    if how == "terminate":
        client.terminate()
    else:
        client.abort()
    try:
        assert cl.wait_until(lambda: cl.open_transactions(pg_up) == [], 3), \
            f"left behind: {cl.open_transactions(pg_up)}"
        assert scalar(other, f"SELECT count(*) FROM {table}") == 0
        assert scalar(other, "SELECT txid_current_if_assigned()") is None
        # Rolled back and reused, or closed: either way not left open in PostgreSQL.
        assert scalar(other, "SELECT pg_backend_pid()") == pid or \
            pid not in pg_up.backend_pids(APP_USER, APP_DB)
    finally:
        other.close()


@WORKERS
def test_client_vanishing_mid_query_frees_the_server(reservoir, pg_up, workers):
    res = reservoir(default_pool_size=1, workers=workers)
    other = connect(res)
    client = cl.raw_login(res)
    client.send(cl.query_msg("SELECT pg_sleep(2)"))
    time.sleep(0.3)
    client.abort()
    try:
        began = time.monotonic()
        assert scalar(other, "SELECT 'next'") == "next"
        assert time.monotonic() - began < 3.5
        assert cl.wait_until(lambda: cl.running_queries(pg_up, "%pg_sleep(2)%") == [], 3)
        assert cl.open_transactions(pg_up) == []
    finally:
        other.close()
