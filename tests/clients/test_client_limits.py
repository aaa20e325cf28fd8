"""Connection limits: max_client_conn, max_db_connections and max_user_connections, checked
against pg_stat_activity read directly from PostgreSQL while clients push against them."""
import threading
import time

import psycopg2
import pytest

import clientlib as cl
from clientlib import WORKERS, BackendMonitor, connect, scalar, start
from harness import APP_DB, APP_PASSWORD, APP_USER, SCRAM_PASSWORD, SCRAM_USER


def run_clients(res, specs, statements, timeout=30):
    """specs: list of connect kwargs, one per client; each client runs `statements` (a list
    of SQL strings, BEGIN/COMMIT included) 3 times. Returns the error strings."""
    errors, lock = [], threading.Lock()

    def client(i, kwargs):
        try:
            conn = connect(res, connect_timeout=15, **kwargs)
            try:
                with conn.cursor() as cur:
                    for _ in range(3):
                        for sql in statements:
                            cur.execute(sql)
            finally:
                conn.close()
        except Exception as exc:  # noqa: BLE001 - collected
            with lock:
                errors.append(f"client {i} {kwargs}: {type(exc).__name__}: {str(exc)[:200]}")

    jobs = [start(client, i, kw) for i, kw in enumerate(specs)]
    began = time.monotonic()
    for job in jobs:
        job.join(max(0.1, timeout - (time.monotonic() - began)))
    assert not any(job.is_alive() for job in jobs), f"clients still running after {timeout}s"
    return errors


TX = ["BEGIN", "SELECT pg_sleep(0.05)", "COMMIT"]


@WORKERS
def test_max_client_conn(reservoir, pg_up, workers):
    res = reservoir(max_client_conn=3, workers=workers)
    conns = [connect(res) for _ in range(3)]
    try:
        with pytest.raises(psycopg2.OperationalError) as err:
            connect(res)
        assert "too many clients: max_client_conn=3" in str(err.value), str(err.value)
        raw = cl.RawClient(res.port)
        with pytest.raises(cl.harness.ServerError) as raw_err:
            raw.startup(APP_USER, APP_DB, APP_PASSWORD)
        raw.close()
        assert (raw_err.value.severity, raw_err.value.code) == ("FATAL", "53300")
        assert raw_err.value.message == "too many clients: max_client_conn=3"
        for conn in conns:
            assert scalar(conn, "SELECT 1") == 1
        conns.pop().close()
        # The freed slot is usable at once (allow the close to be noticed).
        late = cl.wait_until(lambda: _try_connect(res), 3)
        assert late, "no slot after a client left"
        late.close()
    finally:
        for conn in conns:
            conn.close()


def _try_connect(res):
    try:
        return connect(res)
    except psycopg2.OperationalError:
        return None


@pytest.mark.parametrize("where", ["global", "per_database"])
def test_max_db_connections_across_user_pools(reservoir, pg_up, where):
    """Two users (two pools) on one database, pool_size 5 each, max_db_connections=2: at
    most 2 servers on the database, and every client is served in the end."""
    cl.wait_no_backends(pg_up)
    cl.wait_no_backends(pg_up, user=SCRAM_USER)
    if where == "global":
        res = reservoir(default_pool_size=5, max_db_connections=2)
    else:
        res = reservoir(databases={APP_DB: reservoir.app_db(max_db_connections=2)},
                        default_pool_size=5)
    specs = ([{}] * 8) + ([{"user": SCRAM_USER, "password": SCRAM_PASSWORD}] * 8)
    with BackendMonitor(pg_up, user=None, dbname=APP_DB) as monitor:
        errors = run_clients(res, specs, TX)
    assert not errors, f"{len(errors)} failed:\n" + "\n".join(errors[:6])
    assert not monitor.errors and monitor.samples > 10
    assert 1 <= monitor.max_seen <= 2, \
        f"pg_stat_activity showed {monitor.max_seen} servers on {APP_DB} (max_db_connections=2)"


@pytest.mark.parametrize("where", ["global", "per_user"])
def test_max_user_connections_across_databases(reservoir, pg_up, where):
    """One user on two databases (two pools), max_user_connections=2."""
    cl.wait_no_backends(pg_up, dbname=None)
    databases = {APP_DB: reservoir.app_db(), "otherdb": f"host=127.0.0.1 port={pg_up.port} "
                 "dbname=postgres"}
    if where == "global":
        res = reservoir(databases=databases, default_pool_size=5, max_user_connections=2)
    else:
        res = reservoir(databases=databases, default_pool_size=5,
                        users={APP_USER: "max_user_connections=2"})
    specs = ([{}] * 8) + ([{"dbname": "otherdb"}] * 8)
    with BackendMonitor(pg_up, user=APP_USER, dbname=None) as monitor:
        errors = run_clients(res, specs, TX)
    assert not errors, f"{len(errors)} failed:\n" + "\n".join(errors[:6])
    assert not monitor.errors and monitor.samples > 10
    assert 1 <= monitor.max_seen <= 2, \
        f"pg_stat_activity showed {monitor.max_seen} servers for {APP_USER} " \
        "(max_user_connections=2)"


def test_per_user_pool_size(reservoir, pg_up):
    """[users] app = pool_size=2 overrides default_pool_size=5."""
    cl.wait_no_backends(pg_up)
    res = reservoir(default_pool_size=5, users={APP_USER: "pool_size=2"})
    with BackendMonitor(pg_up) as monitor:
        errors = run_clients(res, [{}] * 10, TX)
    assert not errors, errors[:5]
    assert 1 <= monitor.max_seen <= 2, f"{monitor.max_seen} servers with [users] pool_size=2"
