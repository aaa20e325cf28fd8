"""The dashboard at / in headless Chromium, against a Reservoir with traffic: the page polls
/api/pools and draws its charts; it records how many points it drew in data-points
attributes, which --dump-dom shows after the page has run for a while."""
from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time

import pytest

import harness

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_dashboard_page_is_self_contained(reservoir):
    res = reservoir()
    status, body = res.http_get("/")
    assert status == 200
    assert "<canvas" in body or "canvas" in body
    assert "/api/pools" in body
    # No external asset: nothing is loaded from another origin.
    assert not re.search(r"(src|href)=\"(https?:)?//", body)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/bootstrap "
                    "installs Debian's chromium package)")
def test_dashboard_draws_charts_in_headless_chromium(reservoir, tmp_path):
    res = reservoir(pool_mode="transaction", default_pool_size=2)
    stop = threading.Event()

    def load():
        conn = res.connect()
        with conn.cursor() as cur:
            while not stop.is_set():
                cur.execute("SELECT pg_sleep(0.01)")
        conn.close()

    workers = [threading.Thread(target=load) for _ in range(3)]
    for w in workers:
        w.start()
    try:
        time.sleep(0.3)
        out = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-dev-shm-usage", f"--user-data-dir={tmp_path}/profile",
             "--virtual-time-budget=4000", "--dump-dom", res.http_url + "/"],
            capture_output=True, text=True, timeout=60)
    finally:
        stop.set()
        for w in workers:
            w.join(5)
    dom = out.stdout
    assert "<body" in dom, out.stderr[-2000:]
    body_points = int(re.search(r'<body[^>]*data-points="(\d+)"', dom).group(1))
    pools = int(re.search(r'<body[^>]*data-pools="(\d+)"', dom).group(1))
    assert pools >= 1 and body_points >= 2, dom[:2000]
    # Each pool card has two canvases with points drawn.
    assert f'id="pool-{harness.APP_DB}/{harness.APP_USER}"' in dom
    drawn = dom[dom.index('id="pools"'):dom.index("<script")]  # the page, not its script text
    canvas_points = [int(n) for n in re.findall(r'<canvas[^>]*data-points="(\d+)"', drawn)]
    assert len(canvas_points) >= 2 and all(n > 0 for n in canvas_points), canvas_points
