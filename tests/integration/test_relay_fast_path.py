"""The relay serves most requests and replies inside the epoll wake-up, without resuming its
coroutines (ReadyWait::serve_with, ClientSession::serve_client and serve_server), and hands the
rest to them: a reply the client cannot take at once, a request that must wait for a server.
These tests make both hand-overs happen, on a pool of one server shared by two clients, and
check that every byte still arrives where it belongs."""
import socket
import threading
import time

import pytest

import harness
from harness import APP_DB, APP_PASSWORD, APP_USER

ROWS = 8000
WIDTH = 1000  # about 8 MB of rows: more than the socket buffers hold


def read_reply(conn: harness.RawConnection, pause_after: int = 0) -> tuple[int, int, bytes]:
    """Reads one simple-query reply: (data rows, bytes of row data, last CommandComplete).
    Sleeps once after `pause_after` rows, so that the pooler meets a full socket."""
    rows = size = 0
    tag = b""
    while True:
        kind, payload = conn.read_message()
        if kind == b"D":
            rows += 1
            size += len(payload)
            if rows == pause_after:
                time.sleep(0.5)
        elif kind == b"C":
            tag = payload.rstrip(b"\x00")
        elif kind == b"E":
            raise harness.ServerError(harness.parse_error_fields(payload))
        elif kind == b"Z":
            return rows, size, tag


@pytest.mark.parametrize("workers", [1, 2], ids=["w1", "w2"])
def test_slow_reader_and_a_waiting_client_share_one_server(reservoir, pg_up, workers):
    res = reservoir(pool_mode="transaction", default_pool_size=1, workers=workers)
    other_errors: list[str] = []
    other_done = []
    stop = threading.Event()

    def other_client():
        # Waits for the one server whenever the slow reader holds it, then gets it back.
        try:
            conn = res.connect()
            conn.autocommit = True
            n = 0
            with conn.cursor() as cur:
                while not stop.is_set() or n < 50:
                    cur.execute("SELECT %s::int * 2", (n,))
                    got = cur.fetchone()[0]
                    if got != n * 2:
                        other_errors.append(f"query {n}: {got}")
                    n += 1
            other_done.append(n)
            conn.close()
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            other_errors.append(repr(e))

    thread = threading.Thread(target=other_client)
    thread.start()
    try:
        with harness.RawConnection(res.config.listen_port) as conn:
            # A fixed buffer (no autotuning), not a tiny one: below one loopback segment the
            # sender stalls on TCP's persist timer.
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            conn.startup(APP_USER, APP_DB, APP_PASSWORD)
            for round_ in range(3):
                sql = f"SELECT repeat('x', {WIDTH}) FROM generate_series(1, {ROWS})"
                conn.send(harness.message(b"Q", sql.encode() + b"\x00"))
                rows, size, tag = read_reply(conn, pause_after=10)
                assert (rows, tag) == (ROWS, f"SELECT {ROWS}".encode()), round_
                assert size == ROWS * (2 + 4 + WIDTH)
                # Quick requests after the slow reply, pipelined and one at a time.
                conn.send(b"".join(harness.message(b"Q", f"SELECT {i}".encode() + b"\x00")
                                   for i in range(5)))
                for i in range(5):
                    assert read_reply(conn)[0] == 1
                for i in range(20):
                    assert conn.simple_query(f"SELECT {i} + {round_}") == [(str(i + round_),)]
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert not other_errors, other_errors[:5]
    assert other_done and other_done[0] >= 50
    assert res.alive()
