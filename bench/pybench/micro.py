"""Runs the Google Benchmark micro-benchmarks (target micro_bench) and returns their results."""
from __future__ import annotations

import json
import os
import subprocess

from pybench.common import log


def run_micro(binary: str, quick: bool, notes: list[str]) -> list[dict]:
    if not os.access(binary, os.X_OK):
        notes.append(f"micro-benchmarks: {binary} not built, skipped")
        return []
    min_time = "0.05" if quick else "0.5"  # seconds per benchmark (1.7 syntax: a number)
    log(f"micro-benchmarks ({binary}, min_time {min_time}s)")
    res = subprocess.run([binary, "--benchmark_format=json", f"--benchmark_min_time={min_time}"],
                         capture_output=True, text=True, timeout=600)
    if res.returncode != 0:
        notes.append(f"micro-benchmarks failed ({res.returncode}): {res.stderr[-300:]}")
        return []
    try:
        data = json.loads(res.stdout)
    except ValueError:
        notes.append("micro-benchmarks: unreadable JSON output")
        return []
    return [b for b in data.get("benchmarks", []) if b.get("run_type", "iteration") == "iteration"]
