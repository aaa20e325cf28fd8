"""Checks of the test harness itself, directly against PostgreSQL (no Reservoir): if these
fail, the Reservoir tests' verdicts cannot be trusted."""
import struct

import psycopg2
import pytest

import harness
from harness import APP_DB, APP_PASSWORD, APP_USER, MD5_PASSWORD, MD5_USER, SCRAM_PASSWORD, \
    SCRAM_USER, TRUST_USER


@pytest.mark.parametrize("user,password,auth_code", [
    (APP_USER, APP_PASSWORD, harness.AUTH_SASL),
    (SCRAM_USER, SCRAM_PASSWORD, harness.AUTH_SASL),
    (MD5_USER, MD5_PASSWORD, harness.AUTH_MD5),
    (TRUST_USER, None, harness.AUTH_OK),
])
def test_raw_client_logs_in_to_postgres(pg, user, password, auth_code):
    with harness.RawConnection(pg.port) as conn:
        conn.startup(user, APP_DB, password)
        assert conn.auth_requests[0] == auth_code
        assert conn.auth_requests[-1] == harness.AUTH_OK
        assert conn.backend_key_count == 1
        assert conn.simple_query("SELECT current_user, 1") == [(user, "1")]


def test_raw_client_reports_wrong_password_sqlstate(pg):
    with harness.RawConnection(pg.port) as conn:
        with pytest.raises(harness.ServerError) as err:
            conn.startup(APP_USER, APP_DB, "wrong")
    assert err.value.code == "28P01"
    assert err.value.message == 'password authentication failed for user "app"'


def test_raw_client_unknown_database(pg):
    with harness.RawConnection(pg.port) as conn:
        with pytest.raises(harness.ServerError) as err:
            conn.startup(APP_USER, "nosuchdb", APP_PASSWORD)
    assert (err.value.severity, err.value.code) == ("FATAL", "3D000")


def test_psycopg2_and_psql_log_in_to_postgres(pg):
    conn = psycopg2.connect(host="127.0.0.1", port=pg.port, user=APP_USER, password=APP_PASSWORD,
                            dbname=APP_DB, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user")
            assert cur.fetchone() == (APP_USER,)
    finally:
        conn.close()
    res = harness.psql(pg.port, MD5_USER, MD5_PASSWORD, "SELECT current_user")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == MD5_USER


def test_ssl_request_then_startup_on_same_socket(pg):
    with harness.RawConnection(pg.port) as conn:
        assert conn.ssl_request() == b"N"
        conn.startup(APP_USER, APP_DB, APP_PASSWORD)
        assert conn.simple_query("SELECT 1") == [("1",)]


def test_protocol_3_1_negotiation(pg):
    with harness.RawConnection(pg.port) as conn:
        conn.startup(APP_USER, APP_DB, APP_PASSWORD, version=(3 << 16) | 1)
        assert conn.negotiate is not None
        # PostgreSQL sends the full newest version (3.0); only the minor part matters.
        assert struct.unpack("!I", conn.negotiate[:4])[0] & 0xFFFF == 0
        assert conn.simple_query("SELECT 1") == [("1",)]


def test_unsupported_protocol_version_gets_error_and_close(pg):
    with harness.RawConnection(pg.port) as conn:
        conn.send(harness.startup_packet({"user": APP_USER, "database": APP_DB}, 9999 << 16))
        seen = conn.wait_closed()
    assert [kind for kind, _ in seen] == [b"E"]
    assert harness.parse_error_fields(seen[0][1])["C"] == "0A000"


def test_1234_5678_startup_is_a_malformed_cancel_request_to_postgres(pg):
    """1234.5678 is CancelRequest's code: PostgreSQL closes silently on a wrong length."""
    with harness.RawConnection(pg.port) as conn:
        conn.send(harness.startup_packet({"user": APP_USER, "database": APP_DB},
                                         (1234 << 16) | 5678))
        assert conn.wait_closed() == []


def test_restart_keeps_port_and_counts_backends(pg):
    conn = psycopg2.connect(host="127.0.0.1", port=pg.port, user=APP_USER, password=APP_PASSWORD,
                            dbname=APP_DB, connect_timeout=5)
    assert pg.count_backends(APP_USER, APP_DB) == 1
    pg.restart()
    with pytest.raises(psycopg2.OperationalError):
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
    conn.close()
    assert pg.count_backends(APP_USER, APP_DB) == 0
    assert harness.port_accepts(pg.port)


def test_userlist_secrets_match_postgres(pg):
    stored = dict(pg.sql("SELECT rolname, rolpassword FROM pg_authid"))
    text = harness.userlist_text()
    assert f'"{MD5_USER}" "{stored[MD5_USER]}"' in text
    assert f'"{SCRAM_USER}" "{stored[SCRAM_USER]}"' in text


def test_free_port_never_hands_out_a_port_twice():
    # A listen port and an HTTP port are both picked before Reservoir binds either; CI once got
    # the same port twice and Reservoir stopped with "cannot listen for HTTP: Address already in
    # use". A thousand picks with nothing bound in between must all differ.
    ports = [harness.free_port() for _ in range(1000)]
    assert len(set(ports)) == len(ports)
