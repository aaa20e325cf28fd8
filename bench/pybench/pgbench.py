"""Running pgbench against a port and reading its results."""
from __future__ import annotations

import glob
import os
import re
import subprocess
import time
from dataclasses import dataclass, field

from pybench import cluster

PGBENCH = os.path.join(cluster.PG_BIN, "pgbench")
# pgbench threads: 2 on the 2-core VM; more on a bigger machine, so the load generator is
# not what limits a multi-worker pooler.
JOBS = int(os.environ.get("PGBENCH_JOBS", "") or 2)


def client_env() -> dict:
    env = dict(os.environ)
    env.update(PGPASSWORD=cluster.PASSWORD, PGSSLMODE="disable", PGCONNECT_TIMEOUT="15",
               PGPASSFILE="/nonexistent/reservoir-bench-pgpass")
    return env


@dataclass
class Outcome:
    ok: bool
    command: str
    tps: float | None = None
    transactions: int | None = None
    failed: int | None = None
    seconds: float = 0.0  # wall time of the pgbench process
    latencies_us: list[int] = field(default_factory=list)
    problem: str = ""  # why ok is False: exit status, aborted clients, timeout
    output: str = ""


def run(port: int, clients: int, args: list[str], duration: float | None = None,
        transactions: int | None = None, log_prefix: str | None = None,
        timeout: float = 120.0) -> Outcome:
    """pgbench -n against 127.0.0.1:port with `clients` clients over JOBS threads, for
    `duration` seconds (-T) or `transactions` per client (-t)."""
    cmd = [PGBENCH, "-n", "-h", "127.0.0.1", "-p", str(port), "-U", cluster.USER,
           "-c", str(clients), "-j", str(min(JOBS, clients))]
    if duration is not None:
        cmd += ["-T", str(int(duration))]
    if transactions is not None:
        cmd += ["-t", str(transactions)]
    if log_prefix:
        cmd += ["-l", f"--log-prefix={log_prefix}"]
    cmd += args + [cluster.DATABASE]
    shown = " ".join(c if not c.startswith("/") else os.path.basename(c) for c in cmd)
    start = time.monotonic()
    try:
        res = subprocess.run(cmd, env=client_env(), capture_output=True, text=True,
                             timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) \
            else (exc.stdout or "")
        return Outcome(False, shown, seconds=time.monotonic() - start,
                       problem=f"HANG: pgbench did not finish within {timeout:.0f}s",
                       output=out[-3000:])
    seconds = time.monotonic() - start
    text = res.stdout + res.stderr
    outcome = Outcome(res.returncode == 0, shown, seconds=seconds, output=text)
    if m := re.search(r"^tps = ([\d.]+)", text, re.M):
        outcome.tps = float(m.group(1))
    if m := re.search(r"number of transactions actually processed: (\d+)", text):
        outcome.transactions = int(m.group(1))
    if m := re.search(r"number of failed transactions: (\d+)", text):
        outcome.failed = int(m.group(1))
    problems = [ln for ln in text.splitlines()
                if re.search(r"abort|error|fatal|could not|timeout|closed", ln, re.I)]
    if res.returncode < 0:
        outcome.problem = (f"pgbench killed by signal {-res.returncode} (not sent by the "
                           "benchmark)")
    elif res.returncode != 0:
        outcome.problem = f"pgbench exit status {res.returncode}"
    if outcome.failed:
        outcome.ok = False
        outcome.problem = f"{outcome.failed} failed transactions"
    if outcome.tps is None and outcome.ok:
        outcome.ok = False
        outcome.problem = "no tps in pgbench output"
    if problems and not outcome.ok:
        outcome.problem += "; " + " | ".join(problems[:4])
    if log_prefix:
        outcome.latencies_us = read_latency_logs(log_prefix)
    return outcome


def read_latency_logs(prefix: str) -> list[int]:
    """Per-transaction latencies (µs, the log's 3rd field) from pgbench -l files; removes
    the files. With --rate the field counts from the scheduled start (includes lag)."""
    values: list[int] = []
    for path in glob.glob(prefix + ".*"):
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2].isdigit():
                    values.append(int(parts[2]))
        os.remove(path)
    return values


def percentile(sorted_values: list[int], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of an already sorted list."""
    if not sorted_values:
        return None
    rank = max(1, int(-(-q * len(sorted_values) // 100)))  # ceil(q/100 * n)
    return float(sorted_values[min(rank, len(sorted_values)) - 1])
