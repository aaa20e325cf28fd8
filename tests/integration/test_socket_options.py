"""tcp_keepalive / tcp_keepidle reach both sides: the client's socket and the server's."""
import subprocess
import time


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
