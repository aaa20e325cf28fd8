"""Waiting for a server in transaction mode: one FIFO queue per pool, query_wait_timeout
(53300, then ReadyForQuery: the client stays and can retry), max_waiting_clients,
query_wait_notify, reserve_pool_size / reserve_pool_timeout and min_pool_size."""
import re
import threading
import time

import psycopg2
import pytest

import clientlib as cl
from clientlib import WORKERS, BackendMonitor, connect, scalar, start
from harness import APP_DB, APP_USER

EXHAUSTED = re.compile(
    r'pool "app/app" exhausted: waited (\d+\.\d) s for a server connection '
    r"\(pool_size=2, reserve_pool_size=0, 2 in use, (\d+) waiting\); "
    r"raise pool_size or query_wait_timeout")


def hold_transaction(res):
    """A client inside an open transaction: it holds one server until .commit()."""
    conn = connect(res)
    with conn.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute("SELECT txid_current()")
    return conn


def end_transaction(conn):
    with conn.cursor() as cur:
        cur.execute("COMMIT")


@WORKERS
def test_20_clients_queue_for_2_servers(reservoir, pg_up, workers):
    cl.wait_no_backends(pg_up)
    res = reservoir(default_pool_size=2, workers=workers)
    clients = 20
    conns = [connect(res) for _ in range(clients)]
    go = threading.Barrier(clients + 1, timeout=10)

    def client(conn):
        go.wait()
        return scalar(conn, "SELECT pg_sleep(0.2)::text || 'ok'")

    try:
        with BackendMonitor(pg_up) as monitor:
            jobs = [start(client, c, name=f"client {i}") for i, c in enumerate(conns)]
            go.wait()
            began = time.monotonic()
            results = [job.finish(20) for job in jobs]
            elapsed = time.monotonic() - began
    finally:
        for conn in conns:
            conn.close()
    assert results == ["ok"] * clients
    assert not monitor.errors, monitor.errors
    assert monitor.max_seen <= 2, f"{monitor.max_seen} servers for a pool of 2"
    # 20 x 0.2 s over 2 servers cannot take less than 2 s: they really queued.
    assert elapsed >= 1.9, f"20 sleeps of 0.2 s on 2 servers took only {elapsed:.2f}s"
    assert elapsed < 10, f"queueing took {elapsed:.1f}s"


@WORKERS
def test_query_wait_timeout_gives_53300_and_client_can_retry(reservoir, pg_up, workers):
    res = reservoir(default_pool_size=2, query_wait_timeout=1, workers=workers)
    third = connect(res)
    assert scalar(third, "SELECT 1") == 1
    holders = [connect(res) for _ in range(2)]
    jobs = [start(scalar, h, "SELECT pg_sleep(5)::text", name=f"holder {i}")
            for i, h in enumerate(holders)]
    try:
        assert cl.wait_until(lambda: len(cl.running_queries(pg_up, "%pg_sleep(5)%")) == 2, 5), \
            "the two holders did not start"
        began = time.monotonic()
        with pytest.raises(psycopg2.OperationalError) as err:
            scalar(third, "SELECT 3")
        waited = time.monotonic() - began
        assert err.value.pgcode == "53300", cl.error_text(err.value)
        message = err.value.diag.message_primary
        assert EXHAUSTED.fullmatch(message or ""), f"message was {message!r}"
        assert 0.9 <= waited <= 2.0, f"53300 came after {waited:.2f}s with query_wait_timeout=1"
        assert 1.0 <= float(EXHAUSTED.fullmatch(message).group(1)) <= 2.0
        # ReadyForQuery followed: the client is still connected and idle.
        assert third.closed == 0
        assert third.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE
        for job in jobs:
            assert job.finish(8) == ""
        assert scalar(third, "SELECT 3") == 3, "the client could not retry after 53300"
    finally:
        for conn in holders + [third]:
            conn.close()


def test_query_wait_timeout_with_asyncpg(reservoir, pg_up):
    """The same 53300 through asyncpg (extended protocol), then a retry on that connection."""
    import asyncio

    import asyncpg
    res = reservoir(default_pool_size=2, query_wait_timeout=1)

    async def main():
        third = await cl.asyncpg_connect(res)
        holders = [await cl.asyncpg_connect(res) for _ in range(2)]
        try:
            sleeps = [asyncio.ensure_future(h.fetchval("SELECT pg_sleep(3)")) for h in holders]
            await asyncio.sleep(0.5)
            began = time.monotonic()
            with pytest.raises(asyncpg.PostgresError) as err:
                await third.fetchval("SELECT $1::int", 3)
            waited = time.monotonic() - began
            assert err.value.sqlstate == "53300", repr(err.value)
            assert EXHAUSTED.fullmatch(str(err.value)), str(err.value)
            assert waited <= 2.0, waited
            await asyncio.wait_for(asyncio.gather(*sleeps), 6)
            assert await third.fetchval("SELECT $1::int", 3) == 3
        finally:
            for c in holders + [third]:
                await asyncio.wait_for(c.close(), 5)

    asyncio.run(asyncio.wait_for(main(), 20))


@WORKERS
def test_max_waiting_clients(reservoir, pg_up, workers):
    res = reservoir(default_pool_size=1, max_waiting_clients=1, query_wait_timeout=10,
                    workers=workers)
    first_waiter, second_waiter = connect(res), connect(res)
    holder = hold_transaction(res)
    try:
        queued = start(scalar, first_waiter, "SELECT 'first'", name="first waiter")
        time.sleep(0.3)
        assert queued.is_alive(), f"the first waiter was not queued: {queued.error!r}"
        began = time.monotonic()
        with pytest.raises(psycopg2.OperationalError) as err:
            scalar(second_waiter, "SELECT 'second'")
        assert time.monotonic() - began < 0.5, "refused only after waiting"
        assert err.value.pgcode == "53300", cl.error_text(err.value)
        assert "max_waiting_clients" in err.value.diag.message_primary, cl.error_text(err.value)
        end_transaction(holder)
        assert queued.finish(5) == "first"
        assert second_waiter.closed == 0
        assert scalar(second_waiter, "SELECT 'second'") == "second"
    finally:
        for conn in (holder, first_waiter, second_waiter):
            conn.close()


def test_query_wait_notify_tells_the_client_it_waits(reservoir, pg_up):
    """query_wait_notify=0.5: a queued client gets a NOTICE while it waits, saying how many
    are ahead of it."""
    res = reservoir(default_pool_size=1, query_wait_notify=0.5, query_wait_timeout=10)
    ahead = connect(res)
    behind = cl.raw_login(res)
    holder = hold_transaction(res)
    try:
        first = start(scalar, ahead, "SELECT 'ahead'", name="first waiter")
        time.sleep(0.2)
        began = time.monotonic()
        behind.send(cl.query_msg("SELECT 'behind'"))
        kind, payload = behind.read_message()  # raises socket.timeout if nothing in 5 s
        waited = time.monotonic() - began
        assert kind == b"N", f"expected a NOTICE while queued, got {kind!r} {payload!r}"
        notice = cl.harness.parse_error_fields(payload)
        text = notice.get("M", "") + " " + notice.get("D", "")
        assert 0.3 <= waited <= 2.0, f"notice after {waited:.2f}s with query_wait_notify=0.5"
        assert "wait" in text.lower(), notice
        assert re.search(r"\b1\b", text), f"notice does not say 1 client is ahead: {text!r}"
        end_transaction(holder)
        reply = behind.read_reply()
        assert reply.rows == [("behind",)] and not reply.errors, reply
        assert first.finish(5) == "ahead"
    finally:
        holder.close()
        ahead.close()
        behind.terminate()


@WORKERS
def test_a_client_that_waits_again_starts_a_fresh_wait(reservoir, pg_up, workers):
    """One client, two waits in a row: a NOTICE and then 53300 in the first, a NOTICE again
    and then its reply in the second. Each wait has its own notice and its own deadline (the
    waiter a client keeps between waits starts clean), and no wake-up of the first wait is
    taken for the second."""
    res = reservoir(default_pool_size=1, query_wait_notify=0.3, query_wait_timeout=1,
                    workers=workers)
    behind = cl.raw_login(res)
    holder = hold_transaction(res)
    try:
        for attempt in ("timed out", "served"):
            began = time.monotonic()
            behind.send(cl.query_msg("SELECT 'behind'"))
            kind, payload = behind.read_message()
            noticed = time.monotonic() - began
            assert kind == b"N", f"{attempt}: expected a NOTICE first, got {kind!r} {payload!r}"
            assert 0.2 <= noticed <= 0.9, f"{attempt}: notice after {noticed:.2f}s"
            if attempt == "timed out":
                reply = behind.read_reply()
                waited = time.monotonic() - began
                assert [e.get("C") for e in reply.errors] == ["53300"], reply
                assert not reply.rows, reply
                assert 0.9 <= waited <= 2.0, f"53300 after {waited:.2f}s (query_wait_timeout=1)"
            else:
                end_transaction(holder)
                reply = behind.read_reply()
                assert reply.rows == [("behind",)] and not reply.errors, reply
        assert scalar(holder, "SELECT 'holder'") == "holder"
    finally:
        holder.close()
        behind.terminate()


@WORKERS
def test_waiters_are_served_in_fifo_order(reservoir, pg_up, workers):
    res = reservoir(default_pool_size=1, workers=workers, query_wait_timeout=15)
    waiters = [connect(res) for _ in range(6)]
    holder = hold_transaction(res)
    order, lock = [], threading.Lock()

    def waiter(i):
        scalar(waiters[i], "SELECT pg_sleep(0.03)::text")
        with lock:
            order.append(i)

    try:
        jobs = []
        for i in range(len(waiters)):
            jobs.append(start(waiter, i, name=f"waiter {i}"))
            time.sleep(0.15)  # queued one after another
        assert order == [], f"served while the only server was held: {order}"
        end_transaction(holder)
        for job in jobs:
            job.finish(10)
        assert order == list(range(len(waiters))), f"served in order {order}, not FIFO"
    finally:
        for conn in waiters + [holder]:
            conn.close()


@WORKERS
def test_reserve_pool_after_reserve_pool_timeout(reservoir, pg_up, workers):
    cl.wait_no_backends(pg_up)
    res = reservoir(default_pool_size=1, reserve_pool_size=1, reserve_pool_timeout=0.5,
                    query_wait_timeout=10, workers=workers)
    a, b, c = connect(res), connect(res), connect(res)
    holder = hold_transaction(res)
    try:
        began = time.monotonic()
        with b.cursor() as cur:  # waits ~0.5 s, then gets a reserve server
            cur.execute("BEGIN")
            cur.execute("SELECT pg_backend_pid()")
            reserve_pid = cur.fetchone()[0]
        waited = time.monotonic() - began
        assert 0.4 <= waited <= 2.5, f"served after {waited:.2f}s (reserve_pool_timeout=0.5)"
        assert cl.count_backends(pg_up) == 2
        # Pool (1) and reserve (1) both busy: a third client has to wait.
        third = start(scalar, c, "SELECT pg_backend_pid()", name="third client")
        third.join(1.2)
        assert third.is_alive(), "more servers than pool_size + reserve_pool_size"
        assert cl.count_backends(pg_up) == 2
        end_transaction(holder)
        third.finish(5)
        with b.cursor() as cur:
            cur.execute("COMMIT")
        assert scalar(a, "SELECT 1") == 1
        assert reserve_pid > 0
        assert cl.count_backends(pg_up) <= 2
    finally:
        for conn in (holder, a, b, c):
            conn.close()


def test_min_pool_size_keeps_servers_open(reservoir, pg_up):
    cl.wait_no_backends(pg_up)
    res = reservoir(default_pool_size=5, min_pool_size=3, server_idle_timeout=1)
    assert res.query("SELECT 1") == [(1,)]  # the pool exists once a client has used it
    assert cl.wait_until(lambda: cl.count_backends(pg_up) >= 3, 4), \
        f"min_pool_size=3 but {cl.count_backends(pg_up)} servers after 4 s"
    time.sleep(2.5)  # well past server_idle_timeout=1
    assert cl.count_backends(pg_up) >= 3, "idle servers closed below min_pool_size"
    assert cl.count_backends(pg_up) <= 5
    # PostgreSQL kills them: Reservoir opens new ones.
    pg_up.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s "
              "AND datname = %s", (APP_USER, APP_DB))
    assert cl.wait_until(lambda: cl.count_backends(pg_up) >= 3, 5), \
        f"only {cl.count_backends(pg_up)} servers 5 s after they were terminated"
    assert res.query("SELECT 2") == [(2,)]
