"""Named prepared statements in transaction mode (max_prepared_statements): drivers that
prepare a statement on one server and use it later on another, with more clients than
servers so that they do.

Reservoir records each client's Parse, prepares it on servers under a name derived from its
content ("rsv_" + 16 hex digits), and prepares it again on a server that lacks it.
"""
import asyncio
import os
import subprocess
import threading

import pytest

import clientlib as cl
from clientlib import WORKERS, connect, scalar
from harness import APP_DB, APP_PASSWORD, APP_USER

CLIENTS = 24
POOL = 3


def server_statements(res):
    """(name, statement) of the prepared statements of the server a psycopg2 client gets
    (with a pool of one: the only server)."""
    conn = connect(res)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT name, statement FROM pg_prepared_statements ORDER BY name")
            return cur.fetchall()
    finally:
        conn.close()


def run_async(coro, timeout=45):
    async def bounded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


# --------------------------------------------------------------------------------------------
# asyncpg, SQLAlchemy


@WORKERS
def test_asyncpg_statement_cache_over_fewer_servers(reservoir, pg_up, workers):
    """asyncpg with its default statement cache (named statements, prepared once per
    connection): 24 connections over 3 servers, each query repeated across transactions."""
    res = reservoir(default_pool_size=POOL, workers=workers)
    table = f"prep_apg_{workers}"
    cl.app_sql(pg_up, f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (c int, n int)")

    async def client(conn, i):
        for n in range(6):
            assert await conn.fetchval("SELECT $1::int * 2", i + n) == 2 * (i + n)
            assert await conn.fetchrow("SELECT $1::text AS t, $2::int AS k", f"c{i}", n) == \
                (f"c{i}", n)
            async with conn.transaction():
                await conn.execute(f"INSERT INTO {table} VALUES ($1, $2)", i, n)
                assert await conn.fetchval(
                    f"SELECT count(*) FROM {table} WHERE c = $1", i) == n + 1
            await asyncio.sleep(0)
        stmt = await conn.prepare("SELECT $1::int + 100")
        for n in range(4):
            assert await stmt.fetchval(n) == n + 100
            await asyncio.sleep(0.01)

    async def main():
        conns = [await cl.asyncpg_connect(res, statement_cache_size=100) for _ in range(CLIENTS)]
        try:
            results = await asyncio.gather(*[client(c, i) for i, c in enumerate(conns)],
                                           return_exceptions=True)
            return [f"client {i}: {type(e).__name__}: {e}" for i, e in enumerate(results)
                    if isinstance(e, BaseException)]
        finally:
            await asyncio.gather(*[c.close() for c in conns], return_exceptions=True)

    errors = run_async(main())
    assert not errors, "\n".join(errors[:8])
    assert cl.app_sql(pg_up, f"SELECT count(*) FROM {table}") == [(CLIENTS * 6,)]


def test_statements_are_shared_on_the_server(reservoir, pg_up):
    """Ten asyncpg clients preparing the same two queries leave two statements on the one
    server, under rsv_ names; none under the drivers' own names."""
    res = reservoir(default_pool_size=1)

    async def main():
        conns = [await cl.asyncpg_connect(res, statement_cache_size=100) for _ in range(10)]
        try:
            for round_ in range(3):
                for i, conn in enumerate(conns):
                    assert await conn.fetchval("SELECT $1::int - 1", i) == i - 1
                    assert await conn.fetchval("SELECT length($1::text)", "x" * i) == i
        finally:
            for conn in conns:
                await conn.close()

    run_async(main())
    statements = server_statements(res)
    names = [name for name, _ in statements]
    assert names, "no statement was prepared on the server"
    assert all(name.startswith("rsv_") and len(name) == 20 for name in names), names
    texts = sorted(text for _, text in statements)
    assert texts == sorted(["SELECT $1::int - 1", "SELECT length($1::text)"]), statements


def test_sqlalchemy_over_asyncpg(reservoir, pg_up):
    """SQLAlchemy's asyncpg dialect (its own prepared statement cache) from 12 tasks over 2
    servers."""
    pytest.importorskip("sqlalchemy.ext.asyncio")
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    res = reservoir(default_pool_size=2)
    url = f"postgresql+asyncpg://{APP_USER}:{APP_PASSWORD}@127.0.0.1:{res.port}/{APP_DB}"

    async def task(engine, i):
        async with engine.connect() as conn:
            for n in range(8):
                row = (await conn.execute(text("SELECT CAST(:a AS int) + CAST(:b AS int)"),
                                          {"a": i, "b": n})).scalar_one()
                assert row == i + n
                await conn.commit()
                await asyncio.sleep(0)

    async def main():
        engine = create_async_engine(url, poolclass=NullPool,
                                     connect_args={"ssl": False})
        try:
            await asyncio.gather(*[task(engine, i) for i in range(12)])
        finally:
            await engine.dispose()

    run_async(main())


# --------------------------------------------------------------------------------------------
# psycopg 3, pgbench


def test_psycopg3_prepare_threshold_0(reservoir, pg_up):
    """psycopg 3 prepares every query (named _pg3_N statements) from 8 threads over 2
    servers, outside and inside transactions."""
    res = reservoir(default_pool_size=2)
    errors = []

    def worker(i):
        try:
            with cl.psycopg3_connect(res, prepare_threshold=0) as conn:
                for n in range(15):
                    cur = conn.execute("SELECT %s::int * 3, %s::text", (i + n, f"w{i}"))
                    assert cur.fetchone() == (3 * (i + n), f"w{i}")
                    with conn.transaction():
                        assert conn.execute("SELECT %s::int + 1", (n,)).fetchone() == (n + 1,)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(f"thread {i}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(40)
    assert not errors, "\n".join(errors)


def test_psycopg3_cache_eviction_and_rollback(reservoir, pg_up):
    """psycopg 3 deallocates what falls out of its cache (DEALLOCATE _pg3_N, sent through
    the extended protocol) and sends DEALLOCATE ALL after a ROLLBACK: both must work
    although the server knows the statements by other names."""
    res = reservoir(default_pool_size=2)
    queries = [f"SELECT %s::int + {k}" for k in range(6)]
    with cl.psycopg3_connect(res, prepare_threshold=0) as conn, \
            cl.psycopg3_connect(res, prepare_threshold=0) as other:
        conn.prepared_max = 3
        for round_ in range(4):
            for k, q in enumerate(queries):
                assert conn.execute(q, (round_,)).fetchone() == (round_ + k,)
                assert other.execute(q, (k,)).fetchone() == (2 * k,)
            with pytest.raises(Exception):
                with conn.transaction():
                    conn.execute(queries[0], (1,))
                    raise RuntimeError("roll back")
            assert conn.execute(queries[1], (5,)).fetchone() == (6,)


def test_pgbench_prepared_in_transaction_mode(reservoir, pg_up):
    """pgbench -M prepared (Parse once per connection, Bind/Execute after) with 8 clients
    over 2 servers completes with no failed transaction. One thread per client: pgbench
    prepares each command synchronously the first time, inside the transaction, so a thread
    serving two clients could wait for a server that its other client holds."""
    env = dict(os.environ, PGPASSWORD=APP_PASSWORD)
    init = subprocess.run(["pgbench", "-i", "-s", "1", "-q", "-h", "127.0.0.1",
                           "-p", str(pg_up.port), "-U", APP_USER, APP_DB],
                          env=env, capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    res = reservoir(default_pool_size=2)
    run = subprocess.run(["pgbench", "-M", "prepared", "-c", "8", "-j", "8", "-t", "150",
                          "-n", "-h", "127.0.0.1", "-p", str(res.port), "-U", APP_USER, APP_DB],
                         env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "number of transactions actually processed: 1200/1200" in run.stdout, run.stdout
    assert "number of failed transactions: 0" in run.stdout, run.stdout


# --------------------------------------------------------------------------------------------
# Errors as PostgreSQL gives them (libpq's prepare/exec_prepared through psycopg 3's pq)


def test_protocol_errors_match_postgresql(reservoir, pg_up):
    res = reservoir(default_pool_size=1)
    with cl.psycopg3_connect(res) as conn:
        pq = conn.pgconn
        ok = pq.prepare(b"s1", b"SELECT $1::int + 1")
        assert ok.error_message == b"", ok.error_message
        dup = pq.prepare(b"s1", b"SELECT 2")
        assert dup.error_field(ord("C")) == b"42P05"
        assert b'prepared statement "s1" already exists' in dup.error_message
        res1 = pq.exec_prepared(b"s1", [b"41"])
        assert res1.get_value(0, 0) == b"42"
        missing = pq.exec_prepared(b"nope", [])
        assert missing.error_field(ord("C")) == b"26000"
        assert b'prepared statement "nope" does not exist' in missing.error_message
        bad = pq.prepare(b"s2", b"SELEC 1")
        assert bad.error_field(ord("C")) == b"42601"
        # A failed Parse defines nothing: the name is free again.
        assert pq.prepare(b"s2", b"SELECT 7").error_message == b""
        assert pq.exec_prepared(b"s2", []).get_value(0, 0) == b"7"
        # The connection is still usable from the driver.
        assert conn.execute("SELECT 5").fetchone() == (5,)


def test_pipeline_without_sync_and_statement_moving_servers(reservoir, pg_up):
    """Raw protocol: Parse/Bind/Execute of two named statements in one batch with one Sync;
    then the statements are used from another client's server after the first server was
    taken by someone else."""
    res = reservoir(default_pool_size=2)
    c = cl.raw_login(res)
    try:
        c.send(cl.parse_msg("SELECT 1 + 1", "a") + cl.bind_msg("", "a") + cl.execute_msg() +
               cl.parse_msg("SELECT 'x'::text", "b") + cl.bind_msg("", "b") + cl.execute_msg() +
               cl.SYNC)
        reply = c.read_reply()
        assert not reply.errors, reply.errors
        assert reply.rows == [("2",), ("x",)]
        assert reply.kinds.count(b"1") == 2
        # Hold one server in a transaction elsewhere so that a later batch may land on the
        # other one, then use the statements many times.
        other = connect(res, autocommit=False)
        try:
            scalar(other, "SELECT 1")
            for _ in range(5):
                c.send(cl.bind_msg("", "b") + cl.execute_msg() + cl.bind_msg("", "a") +
                       cl.execute_msg() + cl.SYNC)
                reply = c.read_reply()
                assert not reply.errors, reply.errors
                assert reply.rows == [("x",), ("2",)]
                assert b"1" not in reply.kinds  # injected Parses are not seen
        finally:
            other.rollback()
            other.close()
        c.send(cl.harness.message(b"C", b"Sa\x00") + cl.SYNC)
        reply = c.read_reply()
        assert reply.kinds == [b"3", b"Z"]
        c.send(cl.bind_msg("", "a") + cl.execute_msg() + cl.SYNC)
        reply = c.read_reply()
        assert reply.error and reply.error.get("C") == "26000", reply
    finally:
        c.close()


def test_zero_disables(reservoir, pg_up):
    """max_prepared_statements = 0: Parse/Bind pass through as before (the statement keeps
    its client name on the server)."""
    res = reservoir(default_pool_size=1, max_prepared_statements=0)
    with cl.psycopg3_connect(res) as conn:
        pq = conn.pgconn
        assert pq.prepare(b"plain", b"SELECT 1").error_message == b""
        names = [r[0] for r in conn.execute("SELECT name FROM pg_prepared_statements")]
        assert names == ["plain"]
        conn.execute("DEALLOCATE plain")
