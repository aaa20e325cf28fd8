"""Many real clients over few servers in transaction mode: 200 psycopg2 threads, 200 asyncpg
tasks, and SQLAlchemy engines (QueuePool and NullPool) used from 50 threads the way a web app
(FastAPI and the like) uses them. pg_stat_activity, read directly from PostgreSQL, must never
show more servers than the pool allows."""
import asyncio
import threading
import time

import pytest

import clientlib as cl
from clientlib import WORKERS, BackendMonitor, connect, start
from harness import APP_DB, APP_PASSWORD, APP_USER

CLIENTS = 200
POOL = 5


def make_table(pg, name: str) -> None:
    cl.app_sql(pg, f"DROP TABLE IF EXISTS {name}")
    cl.app_sql(pg, f"CREATE TABLE {name} (client int, n int)")


def check_monitor(monitor: BackendMonitor, limit: int) -> None:
    assert not monitor.errors, monitor.errors
    assert monitor.samples >= 10, f"monitor took only {monitor.samples} samples"
    assert 1 <= monitor.max_seen <= limit, \
        f"pg_stat_activity showed {monitor.max_seen} servers for a pool of {limit}"


@WORKERS
def test_200_psycopg2_threads_over_5_servers(reservoir, pg_up, workers):
    """All 200 are connected at the same time (a barrier), which session mode could not do
    with 5 servers; each then runs 3 transactions and a plain statement."""
    cl.wait_no_backends(pg_up)
    table = f"load_pg2_{workers}"
    make_table(pg_up, table)
    res = reservoir(default_pool_size=POOL, workers=workers, max_client_conn=CLIENTS + 50)
    all_connected = threading.Barrier(CLIENTS, timeout=30)
    errors, lock = [], threading.Lock()

    def client(i):
        try:
            conn = connect(res, connect_timeout=20)
        except Exception:
            all_connected.abort()
            raise
        try:
            assert cl.scalar(conn, "SELECT %s::int", (i,)) == i
            all_connected.wait()
            with conn.cursor() as cur:
                for n in range(3):
                    cur.execute("BEGIN")
                    cur.execute(f"INSERT INTO {table} VALUES (%s, %s)", (i, n))
                    cur.execute("SELECT pg_sleep(0.002)")
                    cur.execute(f"SELECT count(*) FROM {table} WHERE client = %s", (i,))
                    assert cur.fetchone()[0] == n + 1
                    cur.execute("COMMIT")
                cur.execute("SELECT current_user, current_database()")
                assert cur.fetchone() == (APP_USER, APP_DB)
        except Exception:
            all_connected.abort()
            raise
        finally:
            conn.close()

    def run(i):
        try:
            client(i)
        except Exception as exc:  # noqa: BLE001 - collected below
            with lock:
                errors.append(f"client {i}: {type(exc).__name__}: {str(exc).strip()[:200]}")

    began = time.monotonic()
    with BackendMonitor(pg_up) as monitor:
        jobs = [start(run, i) for i in range(CLIENTS)]
        for job in jobs:
            job.join(max(0.1, 45 - (time.monotonic() - began)))
    assert not any(job.is_alive() for job in jobs), "clients still running after 45 s"
    real = [e for e in errors if "BrokenBarrierError" not in e] or errors
    assert not errors, f"{len(errors)} clients failed, e.g.:\n" + "\n".join(real[:8])
    check_monitor(monitor, POOL)
    assert cl.app_sql(pg_up, f"SELECT count(*) FROM {table}") == [(CLIENTS * 3,)]
    print(f"{CLIENTS} psycopg2 clients in {time.monotonic() - began:.1f}s, "
          f"at most {monitor.max_seen} servers")


@WORKERS
def test_200_asyncpg_tasks_over_5_servers(reservoir, pg_up, workers):
    """asyncpg (extended protocol: Parse/Describe/Flush, then Bind/Execute/Sync) with
    statement_cache_size=0; all 200 connections open at once."""
    cl.wait_no_backends(pg_up)
    table = f"load_apg_{workers}"
    make_table(pg_up, table)
    res = reservoir(default_pool_size=POOL, workers=workers, max_client_conn=CLIENTS + 50)

    async def client(conn, i):
        assert await conn.fetchval("SELECT $1::int + 1", i) == i + 1
        for n in range(3):
            async with conn.transaction():
                await conn.execute(f"INSERT INTO {table} VALUES ($1, $2)", i, n)
                assert await conn.fetchval(
                    f"SELECT count(*) FROM {table} WHERE client = $1", i) == n + 1
        rows = await conn.fetch("SELECT g, $1::text FROM generate_series(1, 3) g", f"c{i}")
        assert [tuple(r) for r in rows] == [(g, f"c{i}") for g in (1, 2, 3)]

    async def main():
        results = await asyncio.gather(*[cl.asyncpg_connect(res, timeout=20)
                                         for _ in range(CLIENTS)], return_exceptions=True)
        conns = [r for r in results if not isinstance(r, BaseException)]
        failed = [r for r in results if isinstance(r, BaseException)]
        try:
            if failed:
                return [f"connect: {type(e).__name__}: {e}" for e in failed]
            outcome = await asyncio.gather(*[client(c, i) for i, c in enumerate(conns)],
                                           return_exceptions=True)
            return [f"client {i}: {type(e).__name__}: {e}" for i, e in enumerate(outcome)
                    if isinstance(e, BaseException)]
        finally:
            await asyncio.gather(*[asyncio.wait_for(c.close(), 5) for c in conns],
                                 return_exceptions=True)

    async def bounded():
        return await asyncio.wait_for(main(), 45)

    began = time.monotonic()
    with BackendMonitor(pg_up) as monitor:
        errors = asyncio.run(bounded())
    assert not errors, f"{len(errors)} asyncpg clients failed, e.g.:\n" + "\n".join(errors[:8])
    check_monitor(monitor, POOL)
    assert cl.app_sql(pg_up, f"SELECT count(*) FROM {table}") == [(CLIENTS * 3,)]
    print(f"{CLIENTS} asyncpg clients in {time.monotonic() - began:.1f}s, "
          f"at most {monitor.max_seen} servers")


# --------------------------------------------------------------------------------------------
# SQLAlchemy, used like a web app: one engine, a session per request, many threads


@pytest.mark.parametrize("poolclass", ["QueuePool", "NullPool"])
@WORKERS
def test_sqlalchemy_engine_from_50_threads(reservoir, pg_up, workers, poolclass):
    import sqlalchemy as sa
    from sqlalchemy import orm, pool

    cl.wait_no_backends(pg_up)
    table = f"sa_items_{poolclass.lower()}_{workers}"
    cl.app_sql(pg_up, f"DROP TABLE IF EXISTS {table}")
    cl.app_sql(pg_up, f"CREATE TABLE {table} (id serial PRIMARY KEY, worker int, n int, "
                      "note text)")
    res = reservoir(default_pool_size=POOL, workers=workers)
    url = sa.engine.URL.create("postgresql+psycopg2", username=APP_USER, password=APP_PASSWORD,
                               host="127.0.0.1", port=res.port, database=APP_DB)
    kwargs = dict(connect_args={"connect_timeout": 10, "sslmode": "disable"}, future=True)
    if poolclass == "QueuePool":
        # More client connections (10 + 10 overflow) than servers (5): only transaction pooling
        # lets them all work at once.
        engine = sa.create_engine(url, poolclass=pool.QueuePool, pool_size=10, max_overflow=10,
                                  pool_timeout=20, pool_pre_ping=True, **kwargs)
    else:
        engine = sa.create_engine(url, poolclass=pool.NullPool, **kwargs)
    Session = orm.sessionmaker(bind=engine, future=True)
    threads, requests = 50, 6
    items = sa.table(table, sa.column("id"), sa.column("worker"), sa.column("n"),
                     sa.column("note"))

    def handle_request(worker: int, n: int) -> None:
        """What a request handler does: a session, a write, a read, commit."""
        with Session() as session:
            session.execute(sa.insert(items).values(worker=worker, n=n, note=f"w{worker}-{n}"))
            mine = session.execute(sa.select(sa.func.count()).select_from(items)
                                   .where(items.c.worker == worker)).scalar_one()
            assert mine == n + 1, (worker, n, mine)
            session.commit()
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT CAST(:x AS int) * 2"), {"x": worker}).scalar_one() \
                == worker * 2
        # A failed request rolls back and leaves nothing behind.
        with Session() as session:
            with pytest.raises(sa.exc.DBAPIError):
                session.execute(sa.text("SELECT 1 / 0"))
            session.rollback()

    def worker(w):
        for n in range(requests):
            handle_request(w, n)
        return True

    try:
        with BackendMonitor(pg_up) as monitor:
            jobs = [start(worker, w, name=f"thread {w}") for w in range(threads)]
            errors = []
            began = time.monotonic()
            for job in jobs:
                try:
                    job.finish(max(0.1, 45 - (time.monotonic() - began)))
                except Exception as exc:  # noqa: BLE001
                    errors.append(f"{job.name}: {type(exc).__name__}: {str(exc)[:200]}")
    finally:
        engine.dispose()
    assert not errors, f"{len(errors)} threads failed, e.g.:\n" + "\n".join(errors[:8])
    check_monitor(monitor, POOL)
    assert cl.app_sql(pg_up, f"SELECT count(*), count(DISTINCT worker) FROM {table}") == \
        [(threads * requests, threads)]
    assert cl.wait_until(lambda: cl.open_transactions(pg_up) == [], 3), \
        cl.open_transactions(pg_up)
