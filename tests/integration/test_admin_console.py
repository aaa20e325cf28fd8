"""The admin console: the virtual database `reservoir` (or `pgbouncer`), through psql and
psycopg2, with admin_users / stats_users permissions, against a real PostgreSQL."""
from __future__ import annotations

import threading
import time

import psycopg2
import pytest

import harness

ADMIN = harness.APP_USER          # in admin_users
STATS = harness.SCRAM_USER        # in stats_users
OUTSIDER = harness.MD5_USER       # in neither


def start(reservoir, **settings):
    settings.setdefault("admin_users", ADMIN)
    settings.setdefault("stats_users", STATS)
    settings.setdefault("pool_mode", "transaction")
    return reservoir(**settings)


def console(res, user=ADMIN, password=harness.APP_PASSWORD, dbname="reservoir"):
    conn = psycopg2.connect(**res.dsn(user=user, password=password, dbname=dbname))
    conn.autocommit = True
    return conn


def show(conn, what: str) -> list[dict]:
    with conn.cursor() as cur:
        cur.execute(f"SHOW {what}")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]


def test_show_commands_via_psycopg2(reservoir):
    res = start(reservoir)
    app = res.connect()
    with app.cursor() as cur:
        for _ in range(5):
            cur.execute("SELECT 1")
    admin = console(res)
    pools = show(admin, "POOLS")
    pool = next(p for p in pools if p["database"] == harness.APP_DB)
    assert list(pools[0])[:4] == ["database", "user", "cl_active", "cl_waiting"]
    assert pool["user"] == harness.APP_USER
    assert pool["cl_active"] == 1 and pool["cl_waiting"] == 0
    assert pool["pool_mode"] == "transaction"
    stats = show(admin, "STATS")
    row = next(r for r in stats if r["database"] == harness.APP_DB)
    assert row["total_xact_count"] >= 5 and row["total_query_count"] >= 5
    totals = show(admin, "STATS_TOTALS")
    assert next(r for r in totals if r["database"] == harness.APP_DB)["xact_count"] >= 5
    assert show(admin, "STATS_AVERAGES")
    clients = show(admin, "CLIENTS")
    assert {c["database"] for c in clients} >= {harness.APP_DB, "reservoir"}
    assert all(isinstance(c["id"], int) for c in clients)
    assert show(admin, "SERVERS")  # the idle server of the app pool
    dbs = show(admin, "DATABASES")
    assert {d["name"] for d in dbs} >= {harness.APP_DB, "*"}
    assert show(admin, "USERS")
    config = {r["key"]: r for r in show(admin, "CONFIG")}
    assert config["pool_mode"]["value"] == "transaction"
    assert config["admin_users"]["value"] == ADMIN
    lists = {r["list"]: r["items"] for r in show(admin, "LISTS")}
    assert lists["pools"] >= 1
    assert {r["key"]: r["value"] for r in show(admin, "STATE")}["paused"] == "no"
    assert show(admin, "VERSION")[0]["version"].startswith("Reservoir ")
    admin.close()
    app.close()


def test_psql_and_pgbouncer_alias(reservoir):
    res = start(reservoir)
    out = harness.psql(res.port, ADMIN, harness.APP_PASSWORD, "SHOW VERSION", dbname="pgbouncer")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith("Reservoir ")
    out = harness.psql(res.port, ADMIN, harness.APP_PASSWORD, "show pools;", dbname="reservoir")
    assert out.returncode == 0, out.stderr
    out = harness.psql(res.port, ADMIN, harness.APP_PASSWORD, "SHOW NONSENSE", dbname="reservoir")
    assert out.returncode != 0
    assert "unsupported admin command" in out.stderr


def test_unknown_command_is_a_clear_error(reservoir):
    res = start(reservoir)
    admin = console(res)
    with admin.cursor() as cur:
        with pytest.raises(psycopg2.Error) as e:
            cur.execute("SELECT 1")
        assert e.value.pgcode == "0A000"
        assert "unsupported admin command" in str(e.value)
        with pytest.raises(psycopg2.Error) as e:
            cur.execute("KILL_CLIENT abc")
        assert e.value.pgcode == "42601"
        cur.execute("SHOW STATE")  # the console is still usable
    admin.close()


def test_permissions(reservoir):
    res = start(reservoir)
    with pytest.raises(psycopg2.OperationalError) as e:
        console(res, user=OUTSIDER, password=harness.MD5_PASSWORD)
    assert "not allowed" in str(e.value)
    stats = console(res, user=STATS, password=harness.SCRAM_PASSWORD)
    assert show(stats, "POOLS") is not None
    with stats.cursor() as cur:
        with pytest.raises(psycopg2.Error) as e:
            cur.execute("PAUSE")
        assert e.value.pgcode == "42501"
    stats.close()
    with pytest.raises(psycopg2.OperationalError) as e:
        console(res, password="wrong")
    assert "password authentication failed" in str(e.value)


def test_pause_resume(reservoir):
    res = start(reservoir, query_wait_timeout=10)
    app = res.connect()
    admin = console(res)
    with admin.cursor() as cur:
        cur.execute(f"PAUSE {harness.APP_DB}")
    assert next(p for p in show(admin, "POOLS") if p["database"] == harness.APP_DB)["paused"] == "yes"
    done = threading.Event()

    def query():
        with app.cursor() as cur:
            cur.execute("SELECT 1")
        done.set()

    t = threading.Thread(target=query)
    t.start()
    assert not done.wait(0.5), "a query ran while the database was paused"
    with admin.cursor() as cur:
        cur.execute(f"RESUME {harness.APP_DB}")
    assert done.wait(5)
    t.join(5)
    with pytest.raises(psycopg2.Error) as e:
        with admin.cursor() as cur:
            cur.execute("PAUSE no_such_db")
    assert e.value.pgcode == "3D000"
    admin.close()
    app.close()


def test_disable_enable_kill_and_kill_client(reservoir, pg):
    res = start(reservoir)
    admin = console(res)
    with admin.cursor() as cur:
        cur.execute(f"DISABLE {harness.APP_DB}")
    with pytest.raises(psycopg2.OperationalError) as e:
        res.connect()
    assert "disabled" in str(e.value)
    with admin.cursor() as cur:
        cur.execute(f"ENABLE {harness.APP_DB}")
    app = res.connect()
    app_id = next(c["id"] for c in show(admin, "CLIENTS") if c["database"] == harness.APP_DB)
    with admin.cursor() as cur:
        cur.execute(f"KILL_CLIENT {app_id}")
    time.sleep(0.2)
    with pytest.raises(psycopg2.Error):
        with app.cursor() as cur:
            cur.execute("SELECT 1")
    app2 = res.connect()
    with app2.cursor() as cur:
        cur.execute("SELECT 1")
    with admin.cursor() as cur:
        cur.execute(f"KILL {harness.APP_DB}")
    time.sleep(0.2)
    with pytest.raises(psycopg2.Error):
        with app2.cursor() as cur:
            cur.execute("SELECT 1")
    assert pg.wait_backends_at_most(harness.APP_USER, harness.APP_DB, 0) == 0
    with admin.cursor() as cur:
        cur.execute(f"RESUME {harness.APP_DB}")
    assert res.query("SELECT 1") == [(1,)]
    admin.close()


def test_reconnect_set_reload(reservoir, pg):
    res = start(reservoir, default_pool_size=3)
    assert res.query("SELECT 1") == [(1,)]
    before = pg.backend_pids(harness.APP_USER, harness.APP_DB)
    assert before
    admin = console(res)
    with admin.cursor() as cur:
        cur.execute("RECONNECT")
        cur.execute("SET default_pool_size = 7")
        cur.execute("RELOAD")
    assert res.query("SELECT 1") == [(1,)]
    after = pg.backend_pids(harness.APP_USER, harness.APP_DB)
    assert not (before & after), "RECONNECT kept an old server"
    with admin.cursor() as cur:
        with pytest.raises(psycopg2.Error) as e:
            cur.execute("SET no_such_setting = 1")
        assert e.value.pgcode == "42704"
        with pytest.raises(psycopg2.Error) as e:
            cur.execute("SET default_pool_size = lots")
        assert e.value.pgcode == "22023"
    admin.close()


def test_set_changes_config(reservoir):
    res = start(reservoir, default_pool_size=3)
    admin = console(res)
    with admin.cursor() as cur:
        cur.execute("SET default_pool_size = 7")
    config = {r["key"]: r["value"] for r in show(admin, "CONFIG")}
    assert config["default_pool_size"] == "7"
    res.query("SELECT 1")
    pool = next(p for p in show(admin, "POOLS") if p["database"] == harness.APP_DB)
    assert pool["pool_size"] == 7
    admin.close()


def test_shutdown(reservoir):
    res = start(reservoir)
    admin = console(res)
    with admin.cursor() as cur:
        cur.execute("SHUTDOWN")
    deadline = time.monotonic() + 5
    while res.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not res.alive()
    assert res.proc.returncode == 0


def test_psycopg3_simple_protocol_and_extended_is_refused(reservoir):
    psycopg = pytest.importorskip("psycopg", reason="python3-psycopg is not installed")
    res = start(reservoir)
    with psycopg.connect(host="127.0.0.1", port=res.port, user=ADMIN,
                         password=harness.APP_PASSWORD, dbname="pgbouncer",
                         autocommit=True) as conn:
        cur = conn.execute("SHOW POOLS")  # no parameters: psycopg sends a simple Query
        names = [d.name for d in cur.description]
        assert names[:4] == ["database", "user", "cl_active", "cl_waiting"]
        with pytest.raises(psycopg.Error) as e:
            conn.execute("SHOW POOLS", prepare=True)  # extended protocol
        assert e.value.sqlstate == "0A000"
        assert conn.execute("SHOW VERSION").fetchone()[0].startswith("Reservoir ")
