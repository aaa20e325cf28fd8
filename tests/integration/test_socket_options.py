"""tcp_keepalive / tcp_keepidle reach both sides: the client's socket and the server's."""
import os
import socket
import subprocess
import time

import psycopg2
import pytest

import harness
from harness import APP_DB, APP_PASSWORD, APP_USER


def keepalive_timers(local_port=None, remote_port=None):
    """`ss -tno` timer fields of established TCP sockets on 127.0.0.1 with that port."""
    filt = f"( sport = :{local_port} )" if local_port else f"( dport = :{remote_port} )"
    out = subprocess.run(["ss", "-tnoH", "state", "established", filt], capture_output=True,
                         text=True, timeout=10).stdout
    return [line for line in out.splitlines() if line.strip()]


def test_keepalive_on_client_and_server_sockets(reservoir, pg_up):
    res = reservoir(tcp_keepalive=1, tcp_keepidle=77)
    conn = res.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
        time.sleep(0.5)  # let the last ACKs arrive: ss shows one timer, keepalive once idle
        client_side = keepalive_timers(local_port=res.port)
        server_side = keepalive_timers(remote_port=pg_up.port)
        assert client_side and all("keepalive" in line for line in client_side), client_side
        # Reservoir's sockets to PostgreSQL (the fixture's own admin connection uses a unix
        # socket, so every TCP connection to PostgreSQL's port is Reservoir's).
        assert server_side and all("keepalive" in line for line in server_side), server_side
        assert any("keepalive,1min" in line or "keepalive,7" in line for line in server_side), server_side
    finally:
        conn.close()


def client_timer(res, conn) -> str:
    """The `ss -tno` line of Reservoir's end of `conn`'s TCP connection."""
    sock = socket.fromfd(conn.fileno(), socket.AF_INET, socket.SOCK_STREAM)  # a dup
    local = sock.getsockname()[1]
    sock.close()
    out = subprocess.run(["ss", "-tnoH", "state", "established",
                          f"( sport = :{res.port} and dport = :{local} )"],
                         capture_output=True, text=True, timeout=10).stdout
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out
    return lines[0]


def keepalive_seconds(line: str):
    """Seconds left on the keepalive timer in an `ss -o` line, or None without one."""
    import re
    m = re.search(r"timer:\(keepalive,(?:(\d+)min)?(?:(\d+)(?:\.\d+)?sec)?", line)
    if not m:
        return None
    return int(m.group(1) or 0) * 60 + int(m.group(2) or 0)


@pytest.mark.parametrize("workers", [1, 2])
def test_keepalive_settings_follow_a_change_at_runtime(reservoir, workers):
    """Clients get their TCP options from the listening socket (Linux copies them to each
    accepted connection, so a login costs no setsockopt): a change by SET reaches the next
    client on every worker, and keepalive turned off leaves none on it."""
    res = reservoir(workers=workers, tcp_keepalive=1, tcp_keepidle=77, admin_users=APP_USER,
                    pool_mode="transaction")
    admin = psycopg2.connect(**res.dsn(dbname="reservoir"))
    admin.autocommit = True

    def clients(n=4):
        conns = [res.connect() for _ in range(n)]  # over two workers: some land on each
        for conn in conns:
            conn.autocommit = True  # no transaction left open to hold a server
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
        time.sleep(0.3)  # the last ACKs: ss then shows the keepalive timer
        return conns

    held = []
    # (SET before the clients connect, the keepalive seconds their sockets must show)
    steps = [(None, (60, 77)), ("SET tcp_keepidle = 33", (20, 33)), ("SET tcp_keepalive = 0", None)]
    try:
        for command, window in steps:
            if command:
                with admin.cursor() as cur:
                    cur.execute(command)
            conns = clients()
            held += conns
            for conn in conns:
                line = client_timer(res, conn)
                left = keepalive_seconds(line)
                if window is None:
                    assert left is None, line
                else:
                    assert left is not None and window[0] < left <= window[1], line
    finally:
        for conn in held:
            conn.close()
        admin.close()


def server_side_state(listen_port: int, client_port: int) -> str:
    """The TCP state, as ss names it, of the listener's end of the connection from
    127.0.0.1:client_port, or "" if there is none."""
    out = subprocess.run(["ss", "-tanH", f"( sport = :{listen_port} and dport = :{client_port} )"],
                         capture_output=True, text=True, timeout=10).stdout
    states = [line.split()[0] for line in out.splitlines() if line.strip()]
    return states[0] if states else ""


@pytest.mark.parametrize("defer", [1, 0], ids=["defer", "no-defer"])
def test_tcp_defer_accept(reservoir, defer):
    """tcp_defer_accept=1 (the default, as in PgBouncer): the kernel hands a client over only
    once its first packet has arrived, so a connection that has sent nothing stays half-open
    (SYN-RECV) instead of costing Reservoir an accept and a wake-up; it is accepted and
    served as soon as its startup packet arrives. With 0 it is accepted at once."""
    res = reservoir(tcp_defer_accept=defer, admin_users=APP_USER)
    with harness.RawConnection(res.port) as raw:
        client_port = raw.sock.getsockname()[1]
        time.sleep(0.3)
        before = server_side_state(res.port, client_port)
        assert before == ("SYN-RECV" if defer else "ESTAB"), before
        raw.startup(APP_USER, APP_DB, APP_PASSWORD)
        assert server_side_state(res.port, client_port) == "ESTAB"
        assert raw.simple_query("SELECT 6 * 7") == [("42",)]
    admin = psycopg2.connect(**res.dsn(dbname="reservoir"))
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute("SHOW CONFIG")
            values = {row[0]: row[1] for row in cur.fetchall()}
    finally:
        admin.close()
    assert values.get("tcp_defer_accept") == str(defer), values.get("tcp_defer_accept")


def clients_of(res, host: str) -> int:
    """Clients of the app database that `res` holds, from its admin console reached at `host`
    (its own unix socket directory)."""
    admin = psycopg2.connect(**res.dsn(dbname="reservoir", host=host))
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute("SHOW CLIENTS")
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, row)) for row in cur.fetchall()]
    finally:
        admin.close()
    return sum(1 for row in rows if row["database"] == APP_DB)


def test_so_reuseport_lets_two_poolers_share_a_port(reservoir):
    """so_reuseport=1 (PgBouncer's setting): a second pooler binds the same TCP port and the
    kernel spreads new clients over both. Without it the second one refuses to start."""
    first = reservoir(so_reuseport=1, admin_users=APP_USER, pool_mode="transaction")

    refused = harness.Reservoir(reservoir.config(admin_users=APP_USER))
    refused.config.listen_port = refused.port = first.port
    reservoir.instances.append(refused)
    with pytest.raises(AssertionError, match="Address already in use"):
        refused.start()

    config = reservoir.config(so_reuseport=1, admin_users=APP_USER, pool_mode="transaction")
    config.listen_port = first.port
    second = harness.Reservoir(config)
    reservoir.instances.append(second)
    second.start()

    held = [first.connect() for _ in range(40)]
    try:
        for conn in held:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
                assert cur.fetchone() == (1,)
        counts = [clients_of(first, first.unix_socket_dir),
                  clients_of(second, second.unix_socket_dir)]
        assert sum(counts) == 40, counts
        assert min(counts) > 0, counts  # 40 clients all on one of two poolers: not shared
    finally:
        for conn in held:
            conn.close()


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("via", ["tcp", "unix"])
def test_burst_of_connections_all_accepted(reservoir, workers, via):
    """Every worker takes all the connections waiting on a listening socket (accept4, in
    batches of 32 with the worker's other work in between) before it waits for more: a burst
    of 150 clients connecting at once, more than a batch, from 30 threads, over TCP and the
    unix socket, is served in full with no client left hanging in the listen queue."""
    import concurrent.futures

    res = reservoir(workers=workers, pool_mode="transaction", max_client_conn=400)
    host = "127.0.0.1" if via == "tcp" else res.unix_socket_dir
    n = 150

    def one(i):
        conn = psycopg2.connect(**res.dsn(host=host))
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT %s", (i,))
                return cur.fetchone()[0]
        finally:
            conn.close()

    with concurrent.futures.ThreadPoolExecutor(max_workers=30) as pool:
        got = sorted(pool.map(one, range(n), timeout=60))
    assert got == list(range(n))


def test_accepted_client_sockets_are_nonblocking_and_cloexec(reservoir):
    """accept4() gives a client's socket O_NONBLOCK and O_CLOEXEC at once (no ioctl after
    accept): the flags of the descriptor in /proc/<pid>/fdinfo show both."""
    res = reservoir()
    conn = res.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
        sock = socket.fromfd(conn.fileno(), socket.AF_INET, socket.SOCK_STREAM)  # a dup
        local = sock.getsockname()[1]
        sock.close()
        out = subprocess.run(["ss", "-tnpeH", f"( sport = :{res.port} and dport = :{local} )"],
                             capture_output=True, text=True, timeout=10).stdout
        inode = next(tok.split(":", 1)[1] for tok in out.split() if tok.startswith("ino:"))
        pid = res.proc.pid
        fd = next(name for name in os.listdir(f"/proc/{pid}/fd")
                  if os.readlink(f"/proc/{pid}/fd/{name}") == f"socket:[{inode}]")
        with open(f"/proc/{pid}/fdinfo/{fd}") as f:
            flags = int(next(l.split()[1] for l in f if l.startswith("flags:")), 8)
        assert flags & os.O_NONBLOCK, oct(flags)
        assert flags & os.O_CLOEXEC, oct(flags)
    finally:
        conn.close()
