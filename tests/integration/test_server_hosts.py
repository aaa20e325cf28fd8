"""How Reservoir reaches PostgreSQL by host: a literal address is connected to directly; a
name is looked up on a thread of its own (the worker's loop, lock-free with workers=1, must
not be posted to from Asio's resolver thread), tried address by address; a name that does
not resolve is a clear 08001 for the client, and the pooler goes on serving the others."""
import threading

import psycopg2
import pytest

from harness import APP_DB


def servers_by_name(res_pg_port: int, host: str) -> dict:
    return {
        APP_DB: f"host={host} port={res_pg_port} dbname={APP_DB}",
        "*": f"host=127.0.0.1 port={res_pg_port}",
    }


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
    res = reservoir(databases={
        "lost": f"host=no-such-host.invalid port={pg_up.port} dbname={APP_DB}",
        APP_DB: f"host=127.0.0.1 port={pg_up.port} dbname={APP_DB}",
    }, workers=workers, query_wait_timeout=3)
    outcome = {}

    def lost_client():
        try:
            conn = psycopg2.connect(**res.dsn(dbname="lost", connect_timeout=20))
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT 1")
            finally:
                conn.close()
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
