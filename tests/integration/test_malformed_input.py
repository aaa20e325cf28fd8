"""Malformed and unusual input on raw sockets. In every case a client connected before and one
connecting after keep working, and the Reservoir process is still alive."""
import struct

import pytest

import harness
from harness import APP_DB, APP_PASSWORD, APP_USER

CLOSE_WITHIN_S = 5.0


@pytest.fixture(params=[1, 2], ids=["w1", "w2"])
def guarded(request, reservoir):
    """A Reservoir with a client already connected; after the test both that client and a new
    one must still be served and the process must be alive."""
    res = reservoir(workers=request.param)
    before = res.connect()
    with before.cursor() as cur:
        cur.execute("SELECT 1")
    yield res
    assert res.alive(), "reservoir died"
    with before.cursor() as cur:
        cur.execute("SELECT current_user")
        assert cur.fetchone() == (APP_USER,), "client connected before stopped working"
    before.close()
    assert res.query("SELECT 2") == [(2,)], "new client not served"


def assert_only_errors_then_close(conn: harness.RawConnection, code: str | None = None):
    """Reservoir may answer with ErrorResponses (of SQLSTATE `code` if given), then must close."""
    try:
        seen = conn.wait_closed(CLOSE_WITHIN_S)
    except TimeoutError:
        pytest.fail(f"connection still open {CLOSE_WITHIN_S}s after malformed input")
    assert all(kind == b"E" for kind, _ in seen), f"unexpected messages {seen}"
    if code is not None:
        codes = [harness.parse_error_fields(payload).get("C") for _, payload in seen]
        assert codes and all(c == code for c in codes), f"expected ErrorResponse {code}: {codes}"
    return seen


GARBAGE = [
    pytest.param(b"\xff" * 64, id="all-ones"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: reservoir\r\n\r\n", id="http"),
    pytest.param(bytes.fromhex("160301020001000001fc0303") + bytes(range(256)) * 2, id="tls-hello"),
    pytest.param(b"\x00\x00\x00\x10\xde\xad\xbe\xef" + b"\x00garbage", id="bad-version"),
]


@pytest.mark.parametrize("garbage", GARBAGE)
def test_garbage_bytes(guarded, garbage):
    with harness.RawConnection(guarded.port) as conn:
        try:
            conn.send(garbage)
        except (BrokenPipeError, ConnectionResetError):
            return  # already closed on us: fine
        assert_only_errors_then_close(conn)


def test_startup_length_of_2_pow_31(guarded):
    with harness.RawConnection(guarded.port) as conn:
        conn.send(struct.pack("!II", 2**31, harness.PROTOCOL_3_0) + b"user\x00app\x00\x00")
        assert_only_errors_then_close(conn)


@pytest.mark.parametrize("length", [0, 3, 7])
def test_startup_length_too_small(guarded, length):
    with harness.RawConnection(guarded.port) as conn:
        conn.send(struct.pack("!II", length, harness.PROTOCOL_3_0))
        assert_only_errors_then_close(conn)


def test_bogus_protocol_version_1234_5678(guarded):
    with harness.RawConnection(guarded.port) as conn:
        conn.send(harness.startup_packet({"user": APP_USER, "database": APP_DB},
                                         (1234 << 16) | 5678))
        assert_only_errors_then_close(conn, code="08P01")


def test_unsupported_major_version(guarded):
    with harness.RawConnection(guarded.port) as conn:
        conn.send(harness.startup_packet({"user": APP_USER, "database": APP_DB}, 9999 << 16))
        seen = assert_only_errors_then_close(conn)
        codes = [harness.parse_error_fields(p).get("C") for _, p in seen]
        assert codes and codes[0] in ("08P01", "0A000"), codes


def test_truncated_startup_then_hang_up(guarded):
    with harness.RawConnection(guarded.port) as conn:
        packet = harness.startup_packet({"user": APP_USER, "database": APP_DB})
        conn.send(packet[:len(packet) // 2])


def test_truncated_query_then_hang_up(guarded):
    with harness.RawConnection(guarded.port) as conn:
        conn.startup(APP_USER, APP_DB, APP_PASSWORD)
        conn.send(b"Q" + struct.pack("!I", 100) + b"SELE")


def test_message_length_below_4_after_login(guarded):
    with harness.RawConnection(guarded.port) as conn:
        conn.startup(APP_USER, APP_DB, APP_PASSWORD)
        conn.send(b"Q" + struct.pack("!I", 2) + b"\x00" * 16)
        assert_only_errors_then_close(conn)


def test_query_with_a_nul_inside_is_refused_and_the_client_goes_on(guarded):
    # The relay scans a Query's text up to its last byte; PostgreSQL refuses one with a NUL
    # before that (08P01), and the session goes on.
    with harness.RawConnection(guarded.port) as conn:
        conn.startup(APP_USER, APP_DB, APP_PASSWORD)
        with pytest.raises(harness.ServerError) as err:
            conn.simple_query("SELECT 1\x00SET application_name = 'nul'")
        assert err.value.code == "08P01", err.value
        assert conn.simple_query("SELECT 2") == [("2",)]
        assert conn.simple_query("SHOW application_name") != [("nul",)]


def test_ssl_request_is_declined_then_startup_works(guarded):
    with harness.RawConnection(guarded.port) as conn:
        assert conn.ssl_request(harness.SSL_REQUEST_CODE) == b"N"
        conn.startup(APP_USER, APP_DB, APP_PASSWORD)
        assert conn.simple_query("SELECT current_user") == [(APP_USER,)]


def test_gssenc_request_is_declined_then_startup_works(guarded):
    with harness.RawConnection(guarded.port) as conn:
        assert conn.ssl_request(harness.GSSENC_REQUEST_CODE) == b"N"
        conn.startup(APP_USER, APP_DB, APP_PASSWORD)
        assert conn.simple_query("SELECT current_user") == [(APP_USER,)]


def test_protocol_3_1_gets_negotiate_protocol_version(guarded):
    with harness.RawConnection(guarded.port) as conn:
        conn.startup(APP_USER, APP_DB, APP_PASSWORD, version=(3 << 16) | 1)
        assert conn.negotiate is not None, f"no NegotiateProtocolVersion: {conn.login_kinds}"
        assert conn.login_kinds.index(b"v") < conn.login_kinds.index(b"R"), conn.login_kinds
        newest = struct.unpack("!I", conn.negotiate[:4])[0]
        assert newest & 0xFFFF == 0, f"server claims minor version {newest & 0xFFFF}"
        assert conn.auth_requests[-1] == harness.AUTH_OK
        assert conn.simple_query("SELECT 1") == [("1",)]
