"""Startup parameters travel with the client in transaction mode, and one client's session
state never shows up in another's, even though both run on the same server (pool of 1)."""
import pytest

import clientlib as cl
import harness
from clientlib import WORKERS, connect, scalar
from harness import APP_DB, APP_PASSWORD, APP_USER

SETTINGS = ["application_name", "client_encoding", "DateStyle", "IntervalStyle", "TimeZone",
            "standard_conforming_strings", "extra_float_digits", "search_path", "work_mem",
            "statement_timeout"]
PROBE = ("SELECT pg_backend_pid(), " + ", ".join(f"current_setting('{s}')" for s in SETTINGS)
         + ", current_setting('reservoir_test.tenant', true), "
         "(SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid())")

# Startup packet keys exactly as a driver may send them (not via `options`).
ALPHA = {"application_name": "alpha", "client_encoding": "LATIN1", "DateStyle": "SQL, DMY",
         "IntervalStyle": "iso_8601", "TimeZone": "Asia/Tokyo",
         "standard_conforming_strings": "off", "extra_float_digits": "0",
         "search_path": "alpha_schema, public", "options": "-c work_mem=3MB",
         "reservoir_test.tenant": "acme"}
BETA = {"application_name": "beta", "client_encoding": "UTF8", "DateStyle": "German, DMY",
        "IntervalStyle": "sql_standard", "TimeZone": "America/New_York",
        "standard_conforming_strings": "on", "extra_float_digits": "2",
        "search_path": "beta_schema", "options": "-c work_mem=5MB -c statement_timeout=54321"}
REPORTED = ["application_name", "client_encoding", "DateStyle", "IntervalStyle", "TimeZone",
            "standard_conforming_strings"]


def probe_raw(client) -> dict:
    reply = client.query(PROBE)
    assert not reply.errors, reply.errors
    (row,) = reply.rows
    values = dict(zip(SETTINGS, row[1:len(SETTINGS) + 1]))
    values["pid"] = int(row[0])
    values["tenant"] = row[len(SETTINGS) + 1]
    values["pg_stat_activity.application_name"] = row[len(SETTINGS) + 2]
    values["reported"] = reply.parameters
    return values


def direct_defaults(pg) -> dict:
    """What a client that sends no parameters gets from PostgreSQL itself."""
    with cl.RawClient(pg.port) as client:
        client.startup(APP_USER, APP_DB, APP_PASSWORD)
        return probe_raw(client)


def expected(params: dict, defaults: dict) -> dict:
    want = {s: defaults[s] for s in SETTINGS}
    for key, value in params.items():
        if key in want:
            want[key] = value
    for item in params.get("options", "").split("-c")[1:]:
        name, value = item.strip().split("=", 1)
        want[name] = value
    return want


@WORKERS
def test_startup_parameters_travel_with_each_client(reservoir, pg_up, workers):
    defaults = direct_defaults(pg_up)
    res = reservoir(default_pool_size=1, workers=workers)
    clients = {"alpha": cl.raw_login(res, extra=ALPHA), "beta": cl.raw_login(res, extra=BETA),
               "plain": cl.raw_login(res)}
    want = {"alpha": expected(ALPHA, defaults), "beta": expected(BETA, defaults),
            "plain": expected({}, defaults)}
    want["beta"]["statement_timeout"] = "54321ms"  # as current_setting() prints it
    try:
        # What each was told at login is its own.
        for name, params in (("alpha", ALPHA), ("beta", BETA)):
            for key in REPORTED:
                assert clients[name].parameters.get(key) == params[key], \
                    (name, key, clients[name].parameters)
        pids = set()
        for round_ in range(3):
            for name, client in clients.items():
                got = probe_raw(client)
                pids.add(got["pid"])
                for setting in SETTINGS:
                    assert got[setting] == want[name][setting], \
                        f"round {round_}: client {name} sees {setting}={got[setting]!r}, " \
                        f"expected {want[name][setting]!r}"
                if name == "alpha":
                    assert got["tenant"] == "acme", got
                else:
                    assert got["tenant"] in (None, ""), \
                        f"client {name} sees alpha's reservoir_test.tenant={got['tenant']!r}"
                assert got["pg_stat_activity.application_name"] == want[name]["application_name"]
                # A ParameterStatus sent mid-session must carry this client's value.
                for key, value in got["reported"].items():
                    if key in REPORTED:
                        assert value == want[name][key], \
                            f"client {name} was sent ParameterStatus {key}={value!r}"
        assert len(pids) == 1, f"a pool of 1 used backends {pids}: the test proves nothing"
    finally:
        for client in clients.values():
            client.terminate()


@WORKERS
def test_psycopg2_options_and_application_name(reservoir, pg_up, workers):
    """libpq's `options` (-c name=value) and application_name, through psycopg2."""
    res = reservoir(default_pool_size=1, workers=workers)
    a = connect(res, application_name="pg2-alpha",
                options="-c DateStyle=Postgres,YMD -c TimeZone=Europe/Paris "
                        "-c search_path=pg2_schema -c extra_float_digits=-2 "
                        "-c reservoir_test.tenant=acme -c work_mem=2MB")
    b = connect(res, application_name="pg2-beta")
    sql = ("SELECT pg_backend_pid(), current_setting('application_name'), "
           "current_setting('DateStyle'), current_setting('TimeZone'), "
           "current_setting('search_path'), current_setting('extra_float_digits'), "
           "current_setting('reservoir_test.tenant', true), current_setting('work_mem')")
    try:
        with b.cursor() as cur:
            cur.execute(sql)
            b_first = cur.fetchone()
        for _ in range(3):
            with a.cursor() as cur:
                cur.execute(sql)
                got = cur.fetchone()
            # psycopg2 itself sends SET DATESTYLE TO 'ISO' at connect when the server reports
            # another style: the order (YMD) stays from options, the style becomes ISO.
            assert got[1:] == ("pg2-alpha", "ISO, YMD", "Europe/Paris", "pg2_schema", "-2",
                               "acme", "2MB"), got
            with b.cursor() as cur:
                cur.execute(sql)
                got_b = cur.fetchone()
            assert got_b == b_first, f"B's settings changed after A ran: {b_first} -> {got_b}"
            assert got_b[0] == got[0], "not the same server: the test proves nothing"
        assert got_b[1] == "pg2-beta"
        assert got_b[2:6] != ("ISO, YMD", "Europe/Paris", "pg2_schema", "-2")
        assert got_b[6] in (None, ""), got_b
        assert got_b[7] != "2MB"
    finally:
        a.close()
        b.close()


def test_unknown_startup_parameter_is_passed_on(reservoir, pg_up):
    """A parameter Reservoir does not know goes to PostgreSQL, which decides: a custom
    (dotted) one is accepted, a misspelt one is PostgreSQL's error 42704."""
    res = reservoir(default_pool_size=1)
    client = cl.raw_login(res, extra={"reservoir_test.tenant": "tenant-7"})
    try:
        reply = client.query("SELECT current_setting('reservoir_test.tenant', true)")
        assert reply.rows == [("tenant-7",)], reply
    finally:
        client.terminate()

    def bad_login_then_query():
        c = cl.raw_login(res, extra={"no_such_setting_xyz": "1"})
        try:
            reply = c.query("SELECT 1")
            if reply.errors:
                raise harness.ServerError(reply.errors[0])
            return reply
        finally:
            c.close()

    with pytest.raises(harness.ServerError) as err:
        bad_login_then_query()
    assert err.value.code == "42704", str(err.value)
    assert "no_such_setting_xyz" in (err.value.message or ""), str(err.value)
    # The pool is fine afterwards.
    assert res.query("SELECT 1") == [(1,)]


def test_ignore_startup_parameters(reservoir, pg_up):
    defaults = direct_defaults(pg_up)
    res = reservoir(default_pool_size=1,
                    ignore_startup_parameters="extra_float_digits, no_such_setting_xyz")
    client = cl.raw_login(res, extra={"no_such_setting_xyz": "1", "extra_float_digits": "3",
                                      "application_name": "ignorer"})
    try:
        got = probe_raw(client)
        assert got["extra_float_digits"] == defaults["extra_float_digits"], got
        assert got["application_name"] == "ignorer"
    finally:
        client.terminate()


@WORKERS
def test_set_in_transaction_mode_does_not_leak(reservoir, pg_up, workers):
    """SET (work_mem, statement_timeout, TimeZone, DateStyle), SET application_name and
    SET search_path by one client are never seen by the next client of the same server."""
    res = reservoir(default_pool_size=1, workers=workers)
    a = connect(res, application_name="setter")
    b = connect(res, application_name="bystander")
    show = ("SELECT pg_backend_pid(), current_setting('work_mem'), "
            "current_setting('statement_timeout'), current_setting('TimeZone'), "
            "current_setting('DateStyle'), current_setting('application_name'), "
            "current_setting('search_path')")
    try:
        with b.cursor() as cur:
            cur.execute(show)
            before = cur.fetchone()
        statements = ["SET work_mem = '7MB'", "SET statement_timeout = '4321'",
                      "SET TimeZone = 'Pacific/Auckland'", "SET DateStyle = 'German'",
                      "SET application_name = 'leaky'",
                      "SET search_path = leaky_schema, public"]
        for stmt in statements:
            with a.cursor() as cur:
                cur.execute(stmt)
            with b.cursor() as cur:
                cur.execute(show)
                after = cur.fetchone()
            assert after[0] == before[0], "not the same server: the test proves nothing"
            assert after == before, f"after A ran {stmt!r}, B sees {after} (was {before})"
        # Inside an explicit transaction too.
        with a.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("SET search_path = leaky_tx_schema")
            cur.execute("SET work_mem = '9MB'")
            cur.execute("COMMIT")
        with b.cursor() as cur:
            cur.execute(show)
            assert cur.fetchone() == before
    finally:
        a.close()
        b.close()
    # A new client on the same server starts clean too.
    c = connect(res)
    try:
        with c.cursor() as cur:
            cur.execute(show)
            fresh = cur.fetchone()
        assert fresh[1:5] == before[1:5] and fresh[6] == before[6], (fresh, before)
        assert fresh[5] != "leaky"
    finally:
        c.close()


@WORKERS
def test_repeated_unnamed_parse_of_a_set_is_noticed_each_time(reservoir, pg_up, workers):
    """A driver that sends each statement as an unnamed Parse (node-postgres, pgbench -M
    extended) sends the same texts again and again; Reservoir remembers the last text's
    scan. The same SET sent again must still count as a change of settings: it follows
    its client and never leaks to the next client of the server."""
    res = reservoir(default_pool_size=1, workers=workers)
    a = cl.raw_login(res)
    b = connect(res)
    show = "SELECT pg_backend_pid(), current_setting('work_mem')"

    def extended(sql):
        a.send(cl.parse_msg(sql) + cl.bind_msg() + cl.execute_msg() + cl.SYNC)
        reply = a.read_reply()
        assert not reply.errors, (sql, reply)
        return reply

    try:
        before = scalar_row(b, show)
        for step, stmt in enumerate(["SET work_mem = '7MB'", "SET work_mem = '3MB'",
                                     "SET work_mem = '7MB'", "SET work_mem = '7MB'"]):
            if step == 1:
                assert not a.query(stmt).errors  # simple protocol: not a Parse
            else:
                extended(stmt)
            after = scalar_row(b, show)
            assert after[0] == before[0], "not the same server: the test proves nothing"
            assert after == before, f"after A ran {stmt!r} (step {step}), B sees {after}"
            want = "3MB" if step == 1 else "7MB"
            # (Checked with a simple Query, which leaves the remembered Parse text alone.)
            assert a.query("SELECT current_setting('work_mem')").rows == [(want,)], step
    finally:
        a.terminate()
        b.close()


def scalar_row(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()


@WORKERS
def test_client_keeps_its_own_reported_settings(reservoir, pg_up, workers):
    """A client's own SET application_name / TimeZone (reported parameters) stay with it
    after another client used the server in between."""
    res = reservoir(default_pool_size=1, workers=workers)
    a = connect(res, application_name="first")
    b = connect(res, application_name="second")
    try:
        with a.cursor() as cur:
            cur.execute("SET application_name = 'first-renamed'")
            cur.execute("SET TimeZone = 'Asia/Kolkata'")
        assert scalar(b, "SHOW application_name") == "second"
        assert scalar(b, "SHOW TimeZone") != "Asia/Kolkata"
        assert scalar(a, "SHOW application_name") == "first-renamed"
        assert scalar(a, "SHOW TimeZone") == "Asia/Kolkata"
        assert scalar(b, "SELECT pg_backend_pid()") == scalar(a, "SELECT pg_backend_pid()")
    finally:
        a.close()
        b.close()


def test_session_mode_still_resets_between_clients(reservoir, pg_up):
    """Session mode (control): SET by one client is gone for the next (server_reset_query)."""
    res = reservoir(default_pool_size=1, pool_mode="session")
    a = connect(res)
    with a.cursor() as cur:
        cur.execute("SET search_path = session_leak")
        pid = scalar(a, "SELECT pg_backend_pid()")
    a.close()
    b = connect(res)
    try:
        assert scalar(b, "SELECT pg_backend_pid()") == pid
        assert scalar(b, "SHOW search_path") != "session_leak"
    finally:
        b.close()
