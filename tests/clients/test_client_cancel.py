"""Query cancellation in transaction mode: BackendKeyData comes from Reservoir, a
CancelRequest reaches the server the client holds right now (and nothing when it holds
none), and the cancelled server is reused afterwards."""
import asyncio
import time

import psycopg2
import pytest

import clientlib as cl
from clientlib import WORKERS, connect, scalar, start
from harness import APP_DB, APP_USER


def test_backend_key_is_issued_by_reservoir(reservoir, pg_up):
    res = reservoir(default_pool_size=2)
    a, b = cl.raw_login(res), cl.raw_login(res)
    try:
        assert a.backend_key_count == 1 and b.backend_key_count == 1
        assert a.backend_key != b.backend_key, "two clients got the same BackendKeyData"
        server_pid = int(a.query("SELECT pg_backend_pid()").rows[0][0])
        server_pids = pg_up.backend_pids(APP_USER, APP_DB)
        assert server_pid in server_pids
        assert a.backend_key[0] not in server_pids and b.backend_key[0] not in server_pids, \
            "a client was given a PostgreSQL backend's own key"
    finally:
        a.terminate()
        b.terminate()


@WORKERS
def test_psycopg2_cancel_stops_query_and_server_is_reused(reservoir, pg_up, workers):
    res = reservoir(default_pool_size=1, workers=workers)
    conn, other = connect(res), connect(res)
    try:
        pid = scalar(conn, "SELECT pg_backend_pid()")
        job = start(scalar, conn, "SELECT pg_sleep(20)", name="long query")
        assert cl.wait_until(lambda: cl.running_queries(pg_up, "%pg_sleep(20)%"), 3)
        began = time.monotonic()
        conn.cancel()
        job.join(2.0)
        assert not job.is_alive(), "query still running 2 s after conn.cancel()"
        assert isinstance(job.error, psycopg2.errors.QueryCanceled), repr(job.error)
        assert time.monotonic() - began < 2.0
        assert scalar(conn, "SELECT 'again'") == "again"
        assert scalar(other, "SELECT pg_backend_pid()") == pid, "the server was not reused"
        assert cl.running_queries(pg_up, "%pg_sleep(20)%") == []
    finally:
        conn.close()
        other.close()


@WORKERS
def test_asyncpg_timeout_cancels_and_server_is_reused(reservoir, pg_up, workers):
    """asyncpg's timeout= sends a CancelRequest with the BackendKeyData Reservoir gave it."""
    res = reservoir(default_pool_size=1, workers=workers)

    async def main():
        conn = await cl.asyncpg_connect(res)
        other = await cl.asyncpg_connect(res)
        try:
            pid = await conn.fetchval("SELECT pg_backend_pid()")
            began = time.monotonic()
            with pytest.raises(asyncio.TimeoutError):
                await conn.fetchval("SELECT pg_sleep(20)", timeout=1)
            took = time.monotonic() - began
            assert took < 3.0, took
            # The query stopped in PostgreSQL within 2 s of the timeout.
            deadline = time.monotonic() + 2
            while cl.running_queries(pg_up, "%pg_sleep(20)%") and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert cl.running_queries(pg_up, "%pg_sleep(20)%") == [], "query not cancelled"
            assert await conn.fetchval("SELECT $1::int", 5) == 5
            assert await other.fetchval("SELECT pg_backend_pid()") == pid, "server not reused"
            async with conn.transaction():
                assert await conn.fetchval("SELECT pg_backend_pid()") == pid
        finally:
            for c in (conn, other):
                await asyncio.wait_for(c.close(), 5)

    asyncio.run(asyncio.wait_for(main(), 20))


@WORKERS
def test_cancel_from_client_without_server_is_ignored(reservoir, pg_up, workers):
    """Client A is idle (holds no server) and sends a CancelRequest with its own key while
    client B runs a query on the only server: B's query must not be cancelled."""
    res = reservoir(default_pool_size=1, workers=workers)
    a = cl.raw_login(res)
    b = connect(res)
    try:
        assert a.query("SELECT 1").rows == [("1",)]
        job = start(scalar, b, "SELECT pg_sleep(1)::text || 'done'", name="B's query")
        assert cl.wait_until(lambda: cl.running_queries(pg_up, "%pg_sleep(1)%"), 2)
        cl.send_cancel(res.port, *a.backend_key)
        cl.send_cancel(res.port, 12345, 67890)  # nobody's key
        assert job.finish(5) == "done", "another client's cancel reached B's query"
        assert a.query("SELECT 2").rows == [("2",)]
    finally:
        a.terminate()
        b.close()


@WORKERS
def test_cancel_in_transaction_keeps_transaction_usable(reservoir, pg_up, workers):
    """Cancel inside BEGIN: the statement fails (aborted transaction), ROLLBACK works, the
    server is the same one and is clean afterwards."""
    res = reservoir(default_pool_size=1, workers=workers)
    conn = connect(res)
    try:
        with conn.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
        job = start(scalar, conn, "SELECT pg_sleep(20)", name="long query")
        assert cl.wait_until(lambda: cl.running_queries(pg_up, "%pg_sleep(20)%"), 3)
        conn.cancel()
        job.join(2.0)
        assert isinstance(job.error, psycopg2.errors.QueryCanceled), repr(job.error)
        with conn.cursor() as cur:
            cur.execute("ROLLBACK")
            cur.execute("SELECT pg_backend_pid(), txid_current_if_assigned()")
            assert cur.fetchone() == (pid, None)
    finally:
        conn.close()
