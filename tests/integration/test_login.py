"""Logging in through Reservoir: every client auth_type, with libpq (psycopg2 and psql) and
with a raw client that checks which authentication request Reservoir sends; wrong passwords,
unknown databases, the "*" fallback, the unix socket, and BackendKeyData."""
import os
import struct

import psycopg2
import pytest

import harness
from harness import (APP_DB, APP_PASSWORD, APP_USER, AUTH_CLEARTEXT, AUTH_MD5, AUTH_OK,
                     AUTH_SASL, MD5_PASSWORD, MD5_USER, SCRAM_PASSWORD, SCRAM_USER, TRUST_USER)

# Every core test runs with one worker thread and with two.
WORKERS = pytest.mark.parametrize("workers", [1, 2], ids=["w1", "w2"])

# (client auth_type, user, password the client knows, first authentication request expected).
# How Reservoir logs in to PostgreSQL differs per user: app has SCRAM in PostgreSQL and a plain
# password in auth_file; scramuser has the same SCRAM secret in both (the pooler must reuse the
# client's SCRAM proof); md5user is md5 in both; trustuser is trusted by PostgreSQL.
LOGINS = [
    pytest.param("scram-sha-256", APP_USER, APP_PASSWORD, AUTH_SASL, id="scram-app"),
    pytest.param("scram-sha-256", SCRAM_USER, SCRAM_PASSWORD, AUTH_SASL, id="scram-scramsecret"),
    pytest.param("md5", APP_USER, APP_PASSWORD, AUTH_MD5, id="md5-app"),
    pytest.param("md5", MD5_USER, MD5_PASSWORD, AUTH_MD5, id="md5-md5user"),
    pytest.param("trust", TRUST_USER, None, AUTH_OK, id="trust-trustuser"),
    pytest.param("trust", APP_USER, None, AUTH_OK, id="trust-app"),
    pytest.param("plain", APP_USER, APP_PASSWORD, AUTH_CLEARTEXT, id="plain-app"),
]


@WORKERS
@pytest.mark.parametrize("auth_type,user,password,first_request", LOGINS)
def test_login_with_psycopg2(reservoir, workers, auth_type, user, password, first_request):
    res = reservoir(auth_type=auth_type, workers=workers)
    conn = res.connect(user=user, password=password)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user, current_database(), 6 * 7")
            assert cur.fetchone() == (user, APP_DB, 42)
    finally:
        conn.close()


@pytest.mark.parametrize("auth_type,user,password,first_request", LOGINS)
def test_login_with_psql(reservoir, auth_type, user, password, first_request):
    res = reservoir(auth_type=auth_type)
    out = harness.psql(res.port, user, password, "SELECT current_user || '@' || current_database()")
    assert out.returncode == 0, f"psql failed: {out.stderr}"
    assert out.stdout.strip() == f"{user}@{APP_DB}"


@pytest.mark.parametrize("auth_type,user,password,first_request", LOGINS)
def test_authentication_request_matches_auth_type(reservoir, auth_type, user, password,
                                                  first_request):
    res = reservoir(auth_type=auth_type)
    with harness.RawConnection(res.port) as conn:
        conn.startup(user, APP_DB, password)
        assert conn.auth_requests[0] == first_request, conn.auth_requests
        assert conn.auth_requests[-1] == AUTH_OK
        if first_request == AUTH_SASL:
            assert "SCRAM-SHA-256" in conn.sasl_mechanisms
        assert conn.simple_query("SELECT current_user") == [(user,)]


@WORKERS
@pytest.mark.parametrize("auth_type", ["scram-sha-256", "md5", "plain"])
def test_wrong_password_is_rejected_and_others_still_served(reservoir, workers, auth_type):
    res = reservoir(auth_type=auth_type, workers=workers)
    bystander = res.connect()

    with pytest.raises(psycopg2.OperationalError) as err:
        res.connect(password="wrong")
    assert 'password authentication failed for user "app"' in str(err.value)

    with harness.RawConnection(res.port) as raw:
        with pytest.raises(harness.ServerError) as raw_err:
            raw.startup(APP_USER, APP_DB, "wrong")
        assert raw_err.value.code == "28P01"
        assert raw_err.value.severity == "FATAL"
        assert raw_err.value.message == 'password authentication failed for user "app"'
        raw.wait_closed()

    assert res.query("SELECT 1") == [(1,)]
    with bystander.cursor() as cur:
        cur.execute("SELECT current_user")
        assert cur.fetchone() == (APP_USER,)
    bystander.close()
    assert res.alive()


@WORKERS
def test_unknown_database_is_fatal_3d000(reservoir, pg_up, workers):
    only_app = {APP_DB: f"host=127.0.0.1 port={pg_up.port} dbname={APP_DB}"}
    res = reservoir(databases=only_app, workers=workers)

    with pytest.raises(psycopg2.OperationalError):
        res.connect(dbname="nosuchdb")
    with harness.RawConnection(res.port) as raw:
        with pytest.raises(harness.ServerError) as err:
            raw.startup(APP_USER, "nosuchdb", APP_PASSWORD)
        assert (err.value.severity, err.value.code) == ("FATAL", "3D000"), err.value.fields
        raw.wait_closed()
    # Not routed through a wildcard either: "postgres" exists in PostgreSQL but not in the config.
    with harness.RawConnection(res.port) as raw:
        with pytest.raises(harness.ServerError) as err:
            raw.startup(APP_USER, "postgres", APP_PASSWORD)
        assert err.value.code == "3D000", err.value.fields
    assert res.query("SELECT current_database()") == [(APP_DB,)]


def test_wildcard_database_uses_client_dbname(reservoir):
    res = reservoir()
    assert res.query("SELECT current_database()", dbname="postgres") == [("postgres",)]
    assert res.query("SELECT current_database()") == [(APP_DB,)]


@WORKERS
def test_unix_socket(reservoir, workers):
    res = reservoir(workers=workers)
    socket_path = os.path.join(res.unix_socket_dir, f".s.PGSQL.{res.port}")
    assert os.path.exists(socket_path), f"no unix socket at {socket_path}"
    rows = res.query("SELECT current_user, current_database()", host=res.unix_socket_dir)
    assert rows == [(APP_USER, APP_DB)]
    with harness.RawConnection(res.port, host=res.unix_socket_dir) as raw:
        raw.startup(APP_USER, APP_DB, APP_PASSWORD)
        assert raw.simple_query("SELECT 1") == [("1",)]


def test_client_gets_backend_key_data(reservoir):
    """Reservoir answers login with BackendKeyData (its own key, for cancel routing): exactly
    one, and two clients connected at once get different keys."""
    res = reservoir()
    with harness.RawConnection(res.port) as one, harness.RawConnection(res.port) as two:
        one.startup(APP_USER, APP_DB, APP_PASSWORD)
        two.startup(APP_USER, APP_DB, APP_PASSWORD)
        assert one.backend_key_count == 1 and two.backend_key_count == 1
        assert one.backend_key != two.backend_key
        assert one.simple_query("SELECT 1") == [("1",)]
        assert two.simple_query("SELECT 2") == [("2",)]
    conn = res.connect()
    try:
        assert isinstance(conn.info.backend_pid, int)
        with conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            assert cur.fetchone()[0] > 0
    finally:
        conn.close()


def read_query_reply(conn: harness.RawConnection) -> list[bytes]:
    """Message types up to and including ReadyForQuery."""
    kinds = []
    while not kinds or kinds[-1] != b"Z":
        kinds.append(conn.read_message()[0])
    return kinds


@pytest.mark.parametrize("auth_type", ["plain", "trust"])
def test_query_sent_without_waiting_for_login_is_answered(reservoir, auth_type):
    """A client that sends its first query in the same packet as its last login message
    (the password, or with trust the startup packet after an SSLRequest) gets it answered:
    bytes read together with a login message are relayed, not dropped (the password case
    used to hang until the client gave up)."""
    res = reservoir(auth_type=auth_type)
    query = harness.message(b"Q", b"SELECT 6 * 7\x00")
    with harness.RawConnection(res.port) as conn:
        startup = harness.startup_packet({"user": APP_USER, "database": APP_DB})
        if auth_type == "trust":
            conn.send(struct.pack("!II", 8, harness.SSL_REQUEST_CODE) + startup + query)
            assert conn.read_byte() == b"N"
        else:
            conn.send(startup)
            kind, payload = conn.read_message()
            assert kind == b"R" and struct.unpack("!I", payload[:4])[0] == AUTH_CLEARTEXT
            conn.send(harness.message(b"p", APP_PASSWORD.encode() + b"\x00") + query)
        conn.finish_login(APP_USER, None)
        kinds = read_query_reply(conn)
        assert kinds[0] == b"T" and b"D" in kinds and kinds[-1] == b"Z", kinds
        assert conn.simple_query("SELECT 'still here'") == [("still here",)]


def test_scram_final_message_comes_with_ok_and_welcome(reservoir):
    """SASLFinal, AuthenticationOk, the ParameterStatus messages, BackendKeyData and
    ReadyForQuery arrive in this order (Reservoir sends them in one write)."""
    res = reservoir(auth_type="scram-sha-256")
    for attempt in range(2):  # the first login lends a server, the second shows the pool's
        with harness.RawConnection(res.port) as conn:
            conn.startup(APP_USER, APP_DB, APP_PASSWORD,
                         extra={"application_name": f"churn-{attempt}", "DateStyle": "ISO, DMY"})
            kinds = conn.login_kinds
            assert kinds[-1] == b"Z" and kinds[-2] == b"K", kinds
            assert conn.auth_requests[-2:] == [harness.AUTH_SASL_FINAL, AUTH_OK]
            assert set(kinds[kinds.index(b"K") - len(conn.parameters):-2]) == {b"S"}
            # The client's own startup settings are shown in place of the server's.
            assert conn.parameters["application_name"] == f"churn-{attempt}"
            assert conn.parameters["DateStyle"] == "ISO, DMY"
            assert conn.simple_query("SHOW DateStyle") == [("ISO, DMY",)]


@WORKERS
@pytest.mark.parametrize("stall", ["in-startup", "in-sasl"])
def test_client_login_timeout_closes_a_stalled_login(reservoir, workers, stall):
    """client_login_timeout: a client that has not logged in by then is closed (checked by
    each worker's upkeep about twice a second, with no timer per login). One stalls half-way
    through its startup packet, the other after SCRAM's first message; a client that logged
    in meanwhile is left alone."""
    import time
    res = reservoir(workers=workers, auth_type="scram-sha-256", client_login_timeout=1)
    healthy = res.connect()
    with harness.RawConnection(res.port) as raw:
        began = time.monotonic()
        packet = harness.startup_packet({"user": APP_USER, "database": APP_DB},
                                        harness.PROTOCOL_3_0)
        if stall == "in-startup":
            raw.send(packet[:len(packet) // 2])
        else:
            raw.send(packet)
            kind, payload = raw.read_message()
            assert kind == b"R" and struct.unpack("!I", payload[:4])[0] == AUTH_SASL
        seen = raw.wait_closed(timeout=10)
        waited = time.monotonic() - began
    assert 0.9 <= waited <= 4.0, f"closed after {waited:.2f} s (client_login_timeout=1)"
    assert all(kind != b"Z" for kind, _ in seen), seen
    assert "client_login_timeout expired before login" in res.log()
    with healthy.cursor() as cur:  # logged in before the timeout: still served after it
        cur.execute("SELECT 42")
        assert cur.fetchone() == (42,)
    healthy.close()
