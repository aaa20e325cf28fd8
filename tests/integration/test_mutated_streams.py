"""Randomly mutated protocol streams from logged-in clients, in transaction mode, against a
real PostgreSQL (seeded: every run sends the same bytes). Whatever a client sends, Reservoir
stays up, answers it with well-formed messages (errors carry a SQLSTATE) or closes it, other
clients are served throughout, and no pooled server is left inside a transaction."""
import os
import random
import socket
import struct
import time

import pytest

import harness
from harness import (APP_DB, APP_PASSWORD, APP_USER, FLUSH, SYNC, bind_msg, close_msg,
                     describe_msg, execute_msg, parse_msg, query_msg)

# More, and another seed, for a longer hunt: RESERVOIR_MUTATED_STREAMS=5000
# RESERVOIR_MUTATION_SEED=7 pytest tests/integration/test_mutated_streams.py
STREAMS = int(os.environ.get("RESERVOIR_MUTATED_STREAMS", "120"))
SEED = int(os.environ.get("RESERVOIR_MUTATION_SEED", "20261123"))
READ_WINDOW_S = 0.4


# Pieces of what real drivers send, each valid on its own.
PIECES = [
    query_msg("SELECT 1"),
    query_msg("BEGIN"),
    query_msg("COMMIT"),
    query_msg("ROLLBACK"),
    query_msg("SET application_name = 'mutated'"),
    query_msg("SELECT pg_sleep(0.01)"),
    query_msg("PREPARE p1 AS SELECT 1"),
    query_msg("EXECUTE p1"),
    query_msg("DEALLOCATE p1"),
    query_msg("DEALLOCATE ALL"),
    query_msg("DISCARD ALL"),
    query_msg("SELECT 1; SELECT 2"),
    query_msg(""),
    parse_msg("SELECT $1::int", types=(23,)) + bind_msg(params=["7"]) + describe_msg(b"P")
    + execute_msg() + SYNC,
    parse_msg("SELECT 1", "s1") + SYNC,
    bind_msg("", "s1") + execute_msg() + SYNC,
    parse_msg("SELECT 1", "s1") + bind_msg("", "s1") + describe_msg(b"S", "s1") + execute_msg()
    + SYNC,
    close_msg(b"S", "s1") + SYNC,
    parse_msg("SELECT $1::text", "s2", types=(25,)) + FLUSH,
    bind_msg("", "s2", ["x"]) + execute_msg() + SYNC,
    parse_msg("BEGIN") + bind_msg() + execute_msg() + SYNC,
    SYNC,
    FLUSH,
]


def mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    choice = rng.randrange(7)
    if choice == 0 and b:  # flip bytes
        for _ in range(rng.randint(1, 3)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    elif choice == 1 and b:  # truncate
        del b[rng.randrange(len(b)):]
    elif choice == 2:  # random bytes somewhere
        at = rng.randrange(len(b) + 1)
        b[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    elif choice == 3 and len(b) >= 5:  # a length field off by a little or a lot
        at = rng.randrange(len(b) - 4)
        (n,) = struct.unpack("!I", b[at + 1:at + 5])
        delta = rng.choice([-5, -1, 1, 3, 1 << 20, 1 << 30])
        b[at + 1:at + 5] = struct.pack("!I", (n + delta) & 0xFFFFFFFF)
    elif choice == 4 and b:  # a byte of a message type replaced
        b[rng.randrange(len(b))] = rng.choice(b"QPBDESHCFXdcfpZ\x00\xff")
    elif choice == 5 and b:  # part of the stream repeated
        at = rng.randrange(len(b))
        b[at:at] = b[at:at + rng.randint(1, 64)]
    # choice 6: unchanged
    return bytes(b)


# Ends every stream: Sync closes an unfinished extended-protocol batch (after an error
# PostgreSQL discards everything up to it, a Query included), ROLLBACK leaves a transaction
# block, and the answer to SELECT 42 is the last thing an intact stream gets.
FINALE = SYNC + query_msg("ROLLBACK") + query_msg("SELECT 42")
FINAL_ROW = struct.pack("!hi", 1, 2) + b"42"


def drain(conn: harness.RawConnection, window: float,
          until_final: bool = False) -> list[tuple[bytes, bytes]]:
    """Messages Reservoir sends within `window` seconds, until it closes the connection (or,
    `until_final`, has answered the FINALE's SELECT 42). Each must be well formed
    (read_message checks the length) and every ErrorResponse must carry a SQLSTATE."""
    seen = []
    deadline = time.monotonic() + window
    try:
        while (left := deadline - time.monotonic()) > 0:
            conn.sock.settimeout(left)
            kind, payload = conn.read_message()
            if kind == b"E":
                fields = harness.parse_error_fields(payload)
                assert len(fields.get("C", "")) == 5, f"ErrorResponse without a SQLSTATE: {fields}"
            seen.append((kind, payload))
            if until_final and kind == b"Z" and (b"D", FINAL_ROW) in seen[-4:]:
                break
    except (socket.timeout, TimeoutError, harness.ConnectionClosed, ConnectionResetError):
        pass
    return seen


@pytest.mark.parametrize("workers", [1, 2])
def test_mutated_streams_leave_reservoir_and_the_pool_healthy(reservoir, workers):
    res = reservoir(pool_mode="transaction", default_pool_size=3, workers=workers)
    guard = res.connect()
    guard.autocommit = True
    rng = random.Random(SEED + workers)
    answered = intact = 0
    for i in range(STREAMS):
        stream = b"".join(rng.choice(PIECES) for _ in range(rng.randint(1, 5)))
        mutated = rng.random() < 0.8
        if mutated:
            stream = mutate(rng, stream)
        stream += FINALE
        with harness.RawConnection(res.port) as conn:
            conn.startup(APP_USER, APP_DB, APP_PASSWORD)
            try:
                conn.send(stream)
            except (BrokenPipeError, ConnectionResetError):
                continue
            if mutated:
                answered += bool(drain(conn, READ_WINDOW_S))
                continue
            # What drivers send, in any order: answered as PostgreSQL would (errors
            # included) up to the FINALE's row, and the session is not ended.
            seen = drain(conn, 10.0, until_final=True)
            kinds = [kind for kind, _ in seen]
            codes = [harness.parse_error_fields(p)["C"] for kind, p in seen if kind == b"E"]
            assert seen and seen[-1][0] == b"Z" and (b"D", FINAL_ROW) in seen[-4:], \
                f"no answer to the final SELECT 42: {kinds} for {stream!r}"
            assert not [c for c in codes if c[:2] in ("08", "57", "58")], f"{codes} for {stream!r}"
            intact += 1
            answered += 1
        if i % 20 == 19:
            assert res.alive(), f"reservoir died after stream {i}: {stream!r}"
            with guard.cursor() as cur:
                cur.execute("SELECT %s::int", (i,))
                assert cur.fetchone() == (i,), f"other client not served after stream {i}"
    assert answered > STREAMS // 2, f"only {answered} of {STREAMS} streams got any answer"
    assert intact >= 10, f"only {intact} unmutated streams"

    # Every client is gone: no server may stay inside a transaction (rolled back at the
    # client's end) or keep a client's setting.
    deadline = time.monotonic() + 10
    while True:
        with guard.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND state LIKE 'idle in transaction%%' AND pid <> pg_backend_pid()")
            stuck = cur.fetchone()[0]
        if stuck == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert stuck == 0, f"{stuck} server(s) left idle in a transaction"
    for _ in range(12):  # the pool's servers in turn
        with guard.cursor() as cur:
            cur.execute("SELECT current_setting('application_name'), "
                        "txid_current_if_assigned() IS NULL")
            name, no_tx = cur.fetchone()
            assert no_tx, "a server was lent inside another client's transaction"
            assert name != "mutated", "a server kept another client's application_name"
    guard.close()
