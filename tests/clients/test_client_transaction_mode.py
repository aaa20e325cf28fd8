"""pool_mode = transaction and statement, client by client: when a server is taken and given
back (simple and extended protocol, failed transactions, COPY), statement mode's refusal of
transaction blocks, and pool_mode set globally, per database and per user.

Most tests use a pool of one server so that "is the server free?" has a visible answer: a
second client either gets it at once (same backend pid) or has to wait.
"""
import psycopg2
import pytest

import clientlib as cl
from clientlib import WORKERS, connect, scalar, start
from harness import APP_DB, APP_USER, SCRAM_PASSWORD, SCRAM_USER

HOLD_CHECK_S = 0.6  # how long a client must stay blocked to count as "made to wait"


def pid_of(conn) -> int:
    return scalar(conn, "SELECT pg_backend_pid()")


def backend_pid_job(conn, name):
    """Background: conn runs SELECT pg_backend_pid(); result is the pid."""
    return start(pid_of, conn, name=name)


def assert_waits(job, what: str) -> None:
    job.join(HOLD_CHECK_S)
    assert job.is_alive(), (f"the other client was served while {what} "
                            f"(result={job.result!r}, error={job.error!r})")


# --------------------------------------------------------------------------------------------
# Transaction mode: release at ReadyForQuery 'I'


@WORKERS
def test_idle_clients_share_one_server(reservoir, pg_up, workers):
    """Pool of 1, three connected clients: each statement outside a transaction gets the one
    server and gives it back, so all three interleave on the same backend."""
    res = reservoir(default_pool_size=1, workers=workers)
    conns = [connect(res) for _ in range(3)]
    try:
        pids = set()
        for round_ in range(3):
            for i, conn in enumerate(conns):
                assert scalar(conn, "SELECT %s::int * 10 + %s", (round_, i)) == round_ * 10 + i
                pids.add(pid_of(conn))
        assert len(pids) == 1, f"a pool of 1 used backends {pids}"
        assert cl.count_backends(pg_up) == 1
    finally:
        for conn in conns:
            conn.close()


@WORKERS
def test_transaction_keeps_its_server_until_commit(reservoir, pg_up, workers):
    res = reservoir(default_pool_size=1, workers=workers)
    a, b = connect(res), connect(res)
    try:
        with a.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("SELECT pg_backend_pid(), txid_current()")
            pid, xid = cur.fetchone()
        waiter = backend_pid_job(b, "client B")
        assert_waits(waiter, "client A was inside BEGIN ... (before COMMIT)")
        with a.cursor() as cur:
            cur.execute("SELECT pg_backend_pid(), txid_current()")
            assert cur.fetchone() == (pid, xid), "A's transaction moved to another server"
            cur.execute("COMMIT")
        assert waiter.finish(5) == pid, "B did not get the server A released"
        assert waiter.elapsed >= HOLD_CHECK_S
    finally:
        a.close()
        b.close()


@WORKERS
def test_failed_transaction_keeps_its_server_until_rollback(reservoir, pg_up, workers):
    """ReadyForQuery 'E' is not the end of the transaction: the server stays with the client
    until it rolls back."""
    res = reservoir(default_pool_size=1, workers=workers)
    a, b = connect(res), connect(res)
    try:
        with a.cursor() as cur:
            cur.execute("BEGIN")
            pid = pid_of(a)
            with pytest.raises(psycopg2.errors.DivisionByZero):
                cur.execute("SELECT 1 / 0")
        waiter = backend_pid_job(b, "client B")
        assert_waits(waiter, "client A's transaction had failed but was not rolled back")
        with a.cursor() as cur:
            # Still the same (aborted) transaction on the same server.
            with pytest.raises(psycopg2.errors.InFailedSqlTransaction):
                cur.execute("SELECT 1")
            cur.execute("ROLLBACK")
        assert waiter.finish(5) == pid
        assert scalar(a, "SELECT 5") == 5  # A is usable again
        assert cl.open_transactions(pg_up) == []
    finally:
        a.close()
        b.close()


@WORKERS
def test_psycopg2_non_autocommit_transactions_interleave(reservoir, pg_up, workers):
    """psycopg2's default (implicit BEGIN) from 4 clients over a pool of 2: every transaction
    sees only its own uncommitted rows and all commits land."""
    table = f"tx_interleave_{workers}"
    cl.app_sql(pg_up, f"DROP TABLE IF EXISTS {table}")
    cl.app_sql(pg_up, f"CREATE TABLE {table} (client int, n int)")
    res = reservoir(default_pool_size=2, workers=workers)
    errors = []

    def client(i):
        conn = connect(res, autocommit=False)
        try:
            for n in range(10):
                with conn.cursor() as cur:
                    cur.execute(f"INSERT INTO {table} VALUES (%s, %s)", (i, n))
                    cur.execute(f"SELECT count(*) FROM {table} WHERE client = %s", (i,))
                    assert cur.fetchone()[0] == n + 1
                    cur.execute("SELECT pg_sleep(0.01)")
                conn.commit()
        finally:
            conn.close()

    jobs = [start(client, i, name=f"client {i}") for i in range(4)]
    for job in jobs:
        try:
            job.finish(20)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{job.name}: {type(exc).__name__}: {exc}")
    assert not errors, errors
    assert cl.app_sql(pg_up, f"SELECT client, count(*) FROM {table} GROUP BY 1 ORDER BY 1") == \
        [(i, 10) for i in range(4)]
    assert cl.count_backends(pg_up) <= 2


# --------------------------------------------------------------------------------------------
# COPY and the extended protocol


@WORKERS
def test_server_is_not_released_mid_copy(reservoir, pg_up, workers):
    table = f"copy_hold_{workers}"
    cl.app_sql(pg_up, f"DROP TABLE IF EXISTS {table}")
    cl.app_sql(pg_up, f"CREATE TABLE {table} (n int)")
    res = reservoir(default_pool_size=1, workers=workers)
    a = cl.raw_login(res)
    b = connect(res)
    try:
        a.send(cl.query_msg(f"COPY {table} FROM STDIN"))
        reply = a.read_reply(until=b"G")
        assert reply.kinds[-1] == b"G", f"no CopyInResponse: {reply}"
        a.send(cl.copy_data(b"1\n2\n"))
        waiter = backend_pid_job(b, "client B")
        assert_waits(waiter, "client A was in the middle of COPY FROM STDIN")
        a.send(cl.copy_data(b"3\n"))
        a.send(cl.COPY_DONE)
        done = a.read_reply()
        assert not done.errors, done.errors
        assert done.status == "I"
        waiter.finish(5)
        assert scalar(b, f"SELECT count(*) FROM {table}") == 3
    finally:
        a.terminate()
        b.close()


def test_psycopg2_copy_both_ways_in_transaction_mode(reservoir, pg_up):
    """Large COPY FROM/TO through a pool of 2 from 4 threads at once (copy_expert)."""
    import io
    res = reservoir(default_pool_size=2)
    rows = 20000

    def client(i):
        conn = connect(res, autocommit=False)
        try:
            with conn.cursor() as cur:
                cur.execute("CREATE TEMP TABLE copy_t (n int, s text) ON COMMIT DROP")
                data = "".join(f"{n}\tclient{i}-{n}\n" for n in range(rows))
                cur.copy_expert("COPY copy_t FROM STDIN", io.StringIO(data))
                cur.execute("SELECT count(*), sum(n) FROM copy_t")
                assert cur.fetchone() == (rows, rows * (rows - 1) // 2)
                out = io.StringIO()
                cur.copy_expert("COPY copy_t TO STDOUT", out)
                assert out.getvalue() == data
            conn.commit()
            return True
        finally:
            conn.close()

    jobs = [start(client, i, name=f"copy client {i}") for i in range(4)]
    assert [job.finish(30) for job in jobs] == [True] * 4
    assert cl.count_backends(pg_up) <= 2


@WORKERS
def test_extended_protocol_holds_server_until_sync(reservoir, pg_up, workers):
    """Parse/Bind/Execute then Flush (no Sync): the portal's results come back but the server
    stays with the client until its Sync is answered."""
    res = reservoir(default_pool_size=1, workers=workers)
    a = cl.raw_login(res)
    b = connect(res)
    try:
        a.send(cl.parse_msg("SELECT pg_backend_pid()") + cl.bind_msg() + cl.execute_msg()
               + cl.FLUSH)
        got = a.read_kinds(4)
        assert [k for k, _ in got] == [b"1", b"2", b"D", b"C"], got
        pid = int(cl.decode_row(got[2][1])[0])
        waiter = backend_pid_job(b, "client B")
        assert_waits(waiter, "client A had flushed but not synced its extended-protocol batch")
        # More work in the same unsynced batch still runs on the same server.
        a.send(cl.bind_msg() + cl.execute_msg() + cl.SYNC)
        reply = a.read_reply()
        assert not reply.errors, reply.errors
        assert reply.rows == [(str(pid),)], "the batch moved to another server before Sync"
        assert reply.status == "I"
        assert waiter.finish(5) == pid
    finally:
        a.terminate()
        b.close()


@WORKERS
def test_extended_protocol_error_then_sync_releases(reservoir, pg_up, workers):
    """An error inside an extended batch: the server skips to Sync; after ReadyForQuery the
    server is free again and clean."""
    res = reservoir(default_pool_size=1, workers=workers)
    a = cl.raw_login(res)
    b = connect(res)
    try:
        a.send(cl.parse_msg("SELECT 1/0") + cl.bind_msg() + cl.execute_msg() + cl.SYNC)
        reply = a.read_reply()
        assert reply.error and reply.error.get("C") == "22012", reply
        assert reply.status == "I"
        assert scalar(b, "SELECT 7") == 7
        a.send(cl.parse_msg("SELECT $1::int + 1") + cl.bind_msg(params=["41"])
               + cl.execute_msg() + cl.SYNC)
        reply = a.read_reply()
        assert reply.rows == [("42",)] and not reply.errors, reply
    finally:
        a.terminate()
        b.close()


@WORKERS
def test_psycopg3_extended_protocol_and_pipeline(reservoir, pg_up, workers):
    """psycopg 3 (extended protocol for every query, pipeline mode) from 12 threads over a
    pool of 2: every answer belongs to its own query."""
    res = reservoir(default_pool_size=2, workers=workers)

    def client(i):
        with cl.psycopg3_connect(res) as conn:
            for n in range(10):
                row = conn.execute("SELECT %s::int, %s::text", (i * 100 + n, f"c{i}")).fetchone()
                assert row == (i * 100 + n, f"c{i}")
            with conn.transaction():
                conn.execute("CREATE TEMP TABLE p3 (n int) ON COMMIT DROP")
                conn.execute("INSERT INTO p3 SELECT generate_series(1, %s)", (i + 1,))
                assert conn.execute("SELECT count(*) FROM p3").fetchone() == (i + 1,)
            with conn.pipeline():
                curs = [conn.execute("SELECT %s::int * 2", (n,)) for n in range(20)]
            assert [c.fetchone()[0] for c in curs] == [n * 2 for n in range(20)]
        return True

    jobs = [start(client, i, name=f"psycopg3 client {i}") for i in range(12)]
    assert [job.finish(30) for job in jobs] == [True] * 12
    assert cl.count_backends(pg_up) <= 2


# --------------------------------------------------------------------------------------------
# Statement mode


def statement_mode_error(exc) -> bool:
    text = cl.error_text(exc).lower()
    return "statement" in text and ("transaction" in text or "begin" in text)


@WORKERS
def test_statement_mode_single_statements_work(reservoir, pg_up, workers):
    res = reservoir(default_pool_size=1, pool_mode="statement", workers=workers)
    a, b = connect(res), connect(res)
    try:
        pids = set()
        for n in range(5):
            assert scalar(a, "SELECT %s::int", (n,)) == n
            assert scalar(b, "SELECT %s::int", (n + 100,)) == n + 100
            pids.add(pid_of(a))
            pids.add(pid_of(b))
        assert len(pids) == 1, f"statement mode with a pool of 1 used {pids}"
    finally:
        a.close()
        b.close()


@WORKERS
def test_statement_mode_rejects_explicit_transaction(reservoir, pg_up, workers):
    """BEGIN; SELECT 1; COMMIT as separate statements: a clear error, and no transaction is
    left open on the server."""
    res = reservoir(default_pool_size=1, pool_mode="statement", workers=workers)
    conn = connect(res)
    try:
        with pytest.raises(psycopg2.Error) as err:
            with conn.cursor() as cur:
                cur.execute("BEGIN")
                cur.execute("SELECT 1")
                cur.execute("COMMIT")
        assert statement_mode_error(err.value), cl.error_text(err.value)
    finally:
        conn.close()
    assert cl.wait_until(lambda: cl.open_transactions(pg_up) == [], 3), \
        cl.open_transactions(pg_up)
    assert res.query("SELECT 1") == [(1,)]


def test_statement_mode_allows_a_whole_transaction_in_one_query_string(reservoir, pg_up):
    """'BEGIN; SELECT 1; COMMIT' sent as one simple Query is a single statement message that
    ends at ReadyForQuery 'I': the server comes back clean, so statement mode allows it (as
    PgBouncer does). Only a transaction left open across messages is refused."""
    res = reservoir(default_pool_size=1, pool_mode="statement")
    client = cl.raw_login(res)
    try:
        reply = client.query("BEGIN; SELECT 1; COMMIT")
        assert not reply.errors, reply.errors
        assert reply.rows == [("1",)] or reply.rows == [(1,)], reply
        reply = client.query("BEGIN; SELECT 2")  # leaves the transaction open
        follow = client.query("SELECT 3")
        assert follow.errors, f"no error after a transaction left open: {follow}"
        assert statement_mode_error(Exception(follow.error.get("M", ""))), follow.error
        assert client.query("SELECT 4").rows in ([("4",)], [(4,)])
    finally:
        client.close()
    assert cl.wait_until(lambda: cl.open_transactions(pg_up) == [], 3)


def test_statement_mode_rejects_psycopg2_implicit_transaction(reservoir, pg_up):
    res = reservoir(default_pool_size=1, pool_mode="statement")
    conn = connect(res, autocommit=False)
    try:
        with pytest.raises(psycopg2.Error) as err:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
                cur.execute("SELECT 2")
            conn.commit()
        assert statement_mode_error(err.value), cl.error_text(err.value)
    finally:
        conn.close()
    assert cl.wait_until(lambda: cl.open_transactions(pg_up) == [], 3)


# --------------------------------------------------------------------------------------------
# pool_mode globally, per database, per user


def shares_server(res, timeout: float = 2.0, **conn_args) -> bool:
    """With a pool of 1: can a second client run a statement while the first stays
    connected (transaction/statement mode), or does it have to wait (session mode)?"""
    a = connect(res, **conn_args)
    try:
        scalar(a, "SELECT 1")

        def second():
            conn = connect(res, connect_timeout=10, **conn_args)
            try:
                return scalar(conn, "SELECT 2")
            finally:
                conn.close()

        job = start(second, name="second client")
        job.join(timeout)
        if job.is_alive():
            a.close()  # session mode: let it through, then report
            job.join(10)
            return False
        if job.error is not None:
            raise job.error
        return job.result == 2
    finally:
        a.close()


def test_pool_mode_global_session_vs_transaction(reservoir, pg_up):
    session = reservoir(default_pool_size=1, pool_mode="session")
    assert not shares_server(session), "session mode let two clients share one server"
    transaction = reservoir(default_pool_size=1, pool_mode="transaction")
    assert shares_server(transaction), "transaction mode did not share the server"


def test_pool_mode_per_database(reservoir, pg_up):
    """Global session; [databases] apptx = ... pool_mode=transaction."""
    databases = {
        APP_DB: reservoir.app_db(),
        "apptx": reservoir.app_db(pool_mode="transaction"),
        "appstmt": reservoir.app_db(pool_mode="statement"),
    }
    res = reservoir(databases=databases, default_pool_size=1, pool_mode="session")
    assert shares_server(res, dbname="apptx"), "per-database pool_mode=transaction ignored"
    assert not shares_server(res, dbname=APP_DB), "global pool_mode=session not applied"
    # Statement mode is enforced there (how clearly it says so is checked above).
    conn = connect(res, dbname="appstmt")
    try:
        with pytest.raises(psycopg2.Error):
            with conn.cursor() as cur:
                cur.execute("BEGIN")
                cur.execute("SELECT 1")
    finally:
        conn.close()


def test_pool_mode_per_user(reservoir, pg_up):
    """Global session; [users] app = pool_mode=transaction; scramuser stays in session mode."""
    res = reservoir(default_pool_size=1, pool_mode="session",
                    users={APP_USER: "pool_mode=transaction"})
    assert shares_server(res), "[users] app = pool_mode=transaction ignored"
    assert not shares_server(res, user=SCRAM_USER, password=SCRAM_PASSWORD), \
        "scramuser got transaction mode though only app was configured for it"


def test_pool_mode_user_overrides_database(reservoir, pg_up):
    """[databases] says session, [users] says transaction: the user's setting wins (as in
    PgBouncer)."""
    databases = {APP_DB: reservoir.app_db(pool_mode="session")}
    res = reservoir(databases=databases, default_pool_size=1, pool_mode="session",
                    users={APP_USER: "pool_mode=transaction"})
    assert shares_server(res), "[users] pool_mode did not override the database's"
