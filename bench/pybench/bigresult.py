"""Runs one query with a big result over a raw socket and reads it slowly or at full speed.

    python3 bigresult.py HOST PORT USER PASSWORD DATABASE ROWS MODE [RATE_MIB_S]

The query is SELECT repeat('x', 1000) FROM generate_series(1, ROWS): about 1 KiB a row.
MODE "fast" reads as fast as it can (4 MiB recv_into, nothing parsed but the tail); MODE
"slow" uses a small receive buffer and reads 64 KiB at a time, sleeping to stay at or below
RATE_MIB_S, so a pooler that does not apply backpressure has to buffer the difference.

Prints one JSON line: {"ok", "bytes", "seconds", "error"}. The result is complete when the
stream ends with CommandComplete "SELECT ROWS" + ReadyForQuery; the rows hold only 'x'
bytes, so that byte pattern cannot occur earlier and no per-message parsing is needed.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pybench import wire  # noqa: E402

READY_IDLE = b"Z\x00\x00\x00\x05I"
SLOW_RCVBUF = 64 * 1024
SLOW_READ = 64 * 1024
FAST_READ = 4 * 1024 * 1024
TIMEOUT = 300.0  # no single recv may wait longer


def main() -> int:
    host, port, user, password, database, rows, mode = sys.argv[1:8]
    rate = float(sys.argv[8]) * 1024 * 1024 if len(sys.argv) > 8 else 0.0
    rows = int(rows)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if mode == "slow":  # before connect, so the window is small from the start
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_RCVBUF)
    sock.settimeout(TIMEOUT)
    sock.connect((host, int(port)))
    wire.login_blocking(sock, user, password, database)
    sock.sendall(wire.query(f"SELECT repeat('x', 1000) FROM generate_series(1, {rows})"))
    expected_tail = f"SELECT {rows}\0".encode() + READY_IDLE
    buf = bytearray(FAST_READ if mode == "fast" else SLOW_READ)
    view = memoryview(buf)
    tail = b""
    total = 0
    error = ""
    start = time.monotonic()
    try:
        while True:
            n = sock.recv_into(view)
            if n == 0:
                error = "connection closed before ReadyForQuery"
                break
            total += n
            tail = (tail + bytes(view[max(0, n - 256):n]))[-256:]
            if tail.endswith(READY_IDLE):
                break
            if rate:
                ahead = total / rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
    except OSError as exc:
        error = f"{type(exc).__name__}: {exc}"
    seconds = time.monotonic() - start
    ok = not error and tail.endswith(expected_tail)
    if not error and not ok:
        at = tail.rfind(b"E")
        error = "incomplete result; tail: " + repr(tail[-120:] if at < 0 else tail[at:])
    try:
        sock.sendall(wire.terminate())
    except OSError:
        pass
    sock.close()
    print(json.dumps({"ok": ok, "bytes": total, "seconds": round(seconds, 4), "error": error}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
