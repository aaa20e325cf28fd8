"""`reservoir top --once` against a Reservoir with running, waiting and idle clients."""
from __future__ import annotations

import subprocess
import threading
import time

import harness


def test_top_once_shows_pools_waiting_and_running(reservoir):
    res = reservoir(pool_mode="transaction", default_pool_size=1, query_wait_notify=0)
    stop = threading.Event()
    started = threading.Event()

    def long_query():
        c = res.connect(application_name="long-runner")
        started.set()
        with c.cursor() as cur:
            cur.execute("SELECT pg_sleep(2)")
        c.close()

    def waiter():
        c = res.connect(application_name="patient-one")
        with c.cursor() as cur:
            cur.execute("SELECT 1")
        c.close()

    runner = threading.Thread(target=long_query)
    runner.start()
    assert started.wait(5)
    time.sleep(0.3)
    w = threading.Thread(target=waiter)
    w.start()
    time.sleep(0.5)
    try:
        out = subprocess.run([harness.require_binary(), "top", "--once", "--url", res.http_url],
                             capture_output=True, text=True, timeout=10)
    finally:
        stop.set()
        runner.join(5)
        w.join(5)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "\x1b[" not in text  # --once: no screen clearing
    lines = text.splitlines()
    pool = next(line for line in lines if line.startswith(f"{harness.APP_DB}/{harness.APP_USER}"))
    cols = pool.split()
    assert cols[1] == "transaction" and cols[2] == "1"  # mode, size
    assert cols[3] == "1" and cols[5] == "1"  # active, waiting
    waiting_at = lines.index(next(line for line in lines if line.startswith("WAITING CLIENTS")))
    running_at = lines.index(next(line for line in lines if line.startswith("SLOWEST RUNNING")))
    assert "patient-one" in "\n".join(lines[waiting_at:running_at])
    assert "long-runner" in "\n".join(lines[running_at:])


def test_top_reports_unreachable_endpoint():
    out = subprocess.run([harness.require_binary(), "top", "--once", "--url",
                          f"http://127.0.0.1:{harness.free_port()}"],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 1
    assert "cannot read" in out.stderr
