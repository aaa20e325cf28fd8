"""Live reload: SIGHUP applies the rewritten file without dropping anyone (pool_size grows and
shrinks at once); a broken file is rejected, the reason is logged, and the old settings keep
working."""
import threading
import time

import psycopg2

import clientlib as cl
from clientlib import WORKERS, BackendMonitor, connect, scalar, start


def hold_transactions(res, conns, release: threading.Event):
    """Each conn runs BEGIN; SELECT pg_backend_pid(); waits for `release`; COMMIT."""

    def hold(conn):
        with conn.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
            if not release.wait(20):
                raise AssertionError("never released")
            cur.execute("COMMIT")
        return pid

    return [start(hold, c, name=f"holder {i}") for i, c in enumerate(conns)]


def servers_in_transaction(pg) -> int:
    return len(cl.open_transactions(pg))


@WORKERS
def test_sighup_grows_and_shrinks_pool_size(reservoir, pg_up, workers):
    cl.wait_no_backends(pg_up)
    res = reservoir(default_pool_size=1, workers=workers, query_wait_timeout=30)
    conns = [connect(res) for _ in range(4)]
    release = threading.Event()
    try:
        jobs = hold_transactions(res, conns, release)
        assert cl.wait_until(lambda: servers_in_transaction(pg_up) == 1, 3)
        time.sleep(0.3)
        assert servers_in_transaction(pg_up) == 1, "more than pool_size=1 servers before reload"

        mark = cl.reload(res, default_pool_size=4)
        assert cl.wait_until(lambda: servers_in_transaction(pg_up) == 4, 3), \
            f"after SIGHUP with default_pool_size=4, only {servers_in_transaction(pg_up)} " \
            f"clients got a server\n{res.log()[mark:]}"
        release.set()
        pids = [job.finish(5) for job in jobs]
        assert len(set(pids)) == 4
        assert all(c.closed == 0 for c in conns), "a client was dropped by the reload"
        assert res.alive()

        # Shrink to 2: extra idle servers go at once, and at most 2 are used from now on.
        mark = cl.reload(res, default_pool_size=2)
        assert cl.wait_until(lambda: cl.count_backends(pg_up) <= 2, 3), \
            f"{cl.count_backends(pg_up)} servers open 3 s after shrinking to 2\n" \
            f"{res.log()[mark:]}"
        errors = []

        def burst(conn):
            with conn.cursor() as cur:
                for _ in range(5):
                    cur.execute("BEGIN")
                    cur.execute("SELECT pg_sleep(0.05)")
                    cur.execute("COMMIT")

        with BackendMonitor(pg_up, interval=0.01) as monitor:
            burst_jobs = [start(burst, c) for c in conns]
            for job in burst_jobs:
                try:
                    job.finish(15)
                except Exception as exc:  # noqa: BLE001
                    errors.append(exc)
        assert not errors, errors
        assert not monitor.errors and monitor.samples > 10
        assert monitor.max_seen <= 2, f"{monitor.max_seen} servers after shrinking to 2"
        assert all(scalar(c, "SELECT 1") == 1 for c in conns)
    finally:
        release.set()
        for conn in conns:
            conn.close()


@WORKERS
def test_shrunk_pool_limits_concurrency_at_once(reservoir, pg_up, workers):
    """After SIGHUP to default_pool_size=1, two transactions can no longer run at once."""
    res = reservoir(default_pool_size=3, workers=workers)
    a, b = connect(res), connect(res)
    try:
        for c in (a, b):
            scalar(c, "SELECT 1")
        cl.reload(res, default_pool_size=1)
        time.sleep(0.5)
        with a.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("SELECT 1")
        job = start(scalar, b, "SELECT 2", name="second client")
        job.join(1.0)
        assert job.is_alive(), "a second server was used after shrinking the pool to 1"
        with a.cursor() as cur:
            cur.execute("COMMIT")
        assert job.finish(5) == 2
    finally:
        a.close()
        b.close()


@WORKERS
def test_broken_file_is_rejected_and_old_settings_stay(reservoir, pg_up, workers):
    res = reservoir(default_pool_size=1, workers=workers)
    a, b = connect(res), connect(res)
    try:
        good = open(res.config.path).read()
        broken = good.replace("default_pool_size = 1", "default_pool_size = lots")
        assert broken != good
        cl.write_config_text(res, broken)
        mark = cl.sighup(res)
        logged = cl.wait_until(lambda: "default_pool_size" in res.log()[mark:], 3)
        assert logged, f"the reason was not logged after SIGHUP:\n{res.log()[mark:]}"
        reason = res.log()[mark:]
        assert "reservoir.ini" in reason, f"log does not name the file: {reason}"
        assert res.alive(), "a broken file on SIGHUP stopped Reservoir"
        # Clients are still connected and the old pool_size (1) still holds.
        for c in (a, b):
            assert scalar(c, "SELECT 1") == 1
        with a.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("SELECT 1")
        job = start(scalar, b, "SELECT 2", name="second client")
        job.join(0.8)
        assert job.is_alive(), "pool_size changed although the new file was rejected"
        with a.cursor() as cur:
            cur.execute("COMMIT")
        assert job.finish(5) == 2
        # New clients are still accepted.
        assert res.query("SELECT 3") == [(3,)]

        # A file that does not parse at all (bad section) is rejected too.
        cl.write_config_text(res, good + "\n[not closed\n")
        mark = cl.sighup(res)
        assert cl.wait_until(lambda: len(res.log()) > mark, 3), "nothing logged for SIGHUP"
        time.sleep(0.3)
        assert res.alive()
        assert res.query("SELECT 4") == [(4,)]

        # And a good file afterwards is applied: pool_size 2 lets both run at once.
        cl.write_config_text(res, good.replace("default_pool_size = 1", "default_pool_size = 2"))
        cl.sighup(res)
        time.sleep(0.5)
        with a.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("SELECT 1")
        assert start(scalar, b, "SELECT 5").finish(3) == 5
        with a.cursor() as cur:
            cur.execute("COMMIT")
    finally:
        a.close()
        b.close()


def test_reload_changes_query_wait_timeout(reservoir, pg_up):
    """A timeout setting changed by SIGHUP applies to clients already connected."""
    res = reservoir(default_pool_size=1, query_wait_timeout=5)
    holder, waiter = connect(res), connect(res)
    try:
        cl.reload(res, query_wait_timeout=1)
        time.sleep(0.5)
        with holder.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("SELECT 1")
        began = time.monotonic()
        try:
            scalar(waiter, "SELECT 1")
            raise AssertionError("the waiter was served while the only server was held")
        except psycopg2.OperationalError as exc:
            assert exc.pgcode == "53300", cl.error_text(exc)
        assert time.monotonic() - began < 2.5, "the old query_wait_timeout (5 s) still applied"
    finally:
        holder.close()
        waiter.close()
