"""How Reservoir reaches PostgreSQL by host: a literal address is connected to directly; a
name is looked up on a thread of its own (the worker's loop, lock-free with workers=1, must
not be posted to from Asio's resolver thread), tried address by address; a name that does
not resolve is a clear 08001 for the client, and the pooler goes on serving the others."""
import json
import threading

import psycopg2
import pytest

from harness import APP_DB, APP_USER


def servers_by_name(res_pg_port: int, host: str) -> dict:
    return {
        APP_DB: f"host={host} port={res_pg_port} dbname={APP_DB}",
        "*": f"host=127.0.0.1 port={res_pg_port}",
    }


def lost_and_found(pg_port: int) -> dict:
    """Database "lost" on a host name that does not resolve; the app database by address."""
    return {
        "lost": f"host=no-such-host.invalid port={pg_port} dbname={APP_DB}",
        APP_DB: f"host=127.0.0.1 port={pg_port} dbname={APP_DB}",
    }


def query_lost(res) -> None:
    """Logs in to "lost" and asks it something: raises the psycopg2.Error the client gets."""
    conn = psycopg2.connect(**res.dsn(dbname="lost", connect_timeout=20))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
    finally:
        conn.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_server_reached_by_host_name(reservoir, pg_up, workers):
    res = reservoir(databases=servers_by_name(pg_up.port, "localhost"), workers=workers,
                    pool_mode="transaction", default_pool_size=3)
    conns = [res.connect() for _ in range(6)]
    try:
        for i, conn in enumerate(conns):
            with conn.cursor() as cur:
                cur.execute("SELECT %s + 1, inet_server_addr()", (i,))
                value, addr = cur.fetchone()
                assert value == i + 1
                assert str(addr).startswith("127.0.0.1"), addr
    finally:
        for conn in conns:
            conn.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_unresolvable_server_host_is_an_error_for_its_clients_only(reservoir, pg_up, workers):
    res = reservoir(databases=lost_and_found(pg_up.port), workers=workers, query_wait_timeout=3)
    outcome = {}

    def lost_client():
        try:
            query_lost(res)
        except psycopg2.Error as e:
            outcome["error"] = str(e)

    waiting = threading.Thread(target=lost_client)
    waiting.start()
    try:
        # While that client waits for a server that cannot be found, the other database is
        # served as usual.
        for _ in range(3):
            conn = res.connect()
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT 42")
                    assert cur.fetchone() == (42,)
            finally:
                conn.close()
    finally:
        waiting.join(timeout=30)
    assert "error" in outcome, outcome  # it was not served by some other server
    assert "query_wait_timeout" in outcome["error"], outcome
    log = res.log_tail(200)
    assert "could not connect to server no-such-host.invalid" in log, log
    assert res.proc.poll() is None


def connect_failures(res, database: str) -> int:
    """The pool's server_connect_failures counter from /api/pools (the log warns once per
    distinct error, not once per retry)."""
    status, body = res.http_get("/api/pools")
    assert status == 200, body

    def find(node):
        if isinstance(node, dict):
            if "server_connect_failures" in node:
                return node["server_connect_failures"]
            for value in node.values():
                found = find(value)
                if found is not None:
                    return found
        return None

    for pool in json.loads(body)["pools"]:
        if pool["database"] == database:
            return find(pool)
    raise AssertionError(f"no pool {database} in {body}")


@pytest.mark.parametrize("dns_max_ttl", [None, 0])
def test_host_name_is_looked_up_once_per_dns_max_ttl(reservoir, pg_up, dns_max_ttl):
    """PgBouncer's dns_max_ttl (default 15 s): a pool that opens servers one after another
    looks its host up once; dns_max_ttl = 0 looks it up for every connection."""
    settings = {} if dns_max_ttl is None else {"dns_max_ttl": dns_max_ttl}
    res = reservoir(databases=servers_by_name(pg_up.port, "localhost"), pool_mode="transaction",
                    default_pool_size=3, **settings)
    holders = []
    try:
        for i in range(3):  # one after another, each keeping its server in a transaction
            conn = res.connect(autocommit=False)
            with conn.cursor() as cur:
                cur.execute("SELECT %s", (i,))
                assert cur.fetchone() == (i,)
            holders.append(conn)
        assert pg_up.count_backends(APP_USER, APP_DB) >= 3  # three servers were opened
    finally:
        for conn in holders:
            conn.close()
    lookups = res.log().count('server host "localhost" looked up: ')
    if dns_max_ttl is None:
        assert lookups == 1, res.log_tail(60)
        assert "kept 15 s, dns_max_ttl" in res.log()
    else:
        assert lookups >= 3, res.log_tail(60)  # one per server opened
        assert "dns_max_ttl=0: not kept" in res.log()


@pytest.mark.parametrize("dns_nxdomain_ttl", [None, 0])
def test_failed_lookup_is_kept_for_dns_nxdomain_ttl(reservoir, pg_up, dns_nxdomain_ttl):
    """A host name that does not resolve is asked for once per dns_nxdomain_ttl, however often
    the pool retries its connection (server_login_retry); every retry still fails with the
    name service's answer."""
    settings = {} if dns_nxdomain_ttl is None else {"dns_nxdomain_ttl": dns_nxdomain_ttl}
    res = reservoir(databases=lost_and_found(pg_up.port), query_wait_timeout=3,
                    server_login_retry=0.3, **settings)
    with pytest.raises(psycopg2.Error) as failed:
        query_lost(res)
    assert "query_wait_timeout" in str(failed.value)
    attempts = connect_failures(res, "lost")
    lookups = res.log().count('server host "no-such-host.invalid" looked up: ')
    assert attempts >= 3, res.log_tail(60)  # retried every server_login_retry
    if dns_nxdomain_ttl is None:
        assert lookups == 1, res.log_tail(60)
    else:
        assert lookups == attempts, res.log_tail(60)
