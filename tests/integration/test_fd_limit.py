"""Reservoir lifts its soft file-descriptor limit to the hard one at start-up (a soft limit of
1024 would refuse clients long before max_client_conn), and warns when even the hard limit
cannot hold max_client_conn clients."""
import contextlib
import resource


@contextlib.contextmanager
def soft_fd_limit(soft):
    """Children started inside inherit RLIMIT_NOFILE with this soft limit (hard unchanged)."""
    old = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, old[1]))
    try:
        yield old[1]
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, old)


def open_files_limits(pid):
    with open(f"/proc/{pid}/limits") as f:
        line = next(ln for ln in f if ln.startswith("Max open files"))
    soft, hard = line.split()[3:5]
    return int(soft), int(hard)


def test_soft_limit_is_raised_to_the_hard_limit(reservoir):
    with soft_fd_limit(256) as hard:
        assert hard > 256, "the test needs a hard fd limit above 256"
        res = reservoir(max_client_conn=100)
    assert open_files_limits(res.proc.pid) == (hard, hard)
    conn = res.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
    finally:
        conn.close()
    assert "max_client_conn=100 needs" not in res.log()


def test_max_client_conn_beyond_the_limit_is_named_in_a_warning(reservoir):
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    res = reservoir(max_client_conn=hard + 5000)
    log = res.log()
    assert f"max_client_conn={hard + 5000} needs about {hard + 5100} file descriptors" in log, log
    assert f"the limit is {hard}" in log, log
