"""The whole benchmark run: set up PostgreSQL, run the sections, write bench/results/.

Settings (environment):
  QUICK=1        a short run (< 3 minutes): 1 round, 2 s runs, fewer client counts
  ROUNDS, DURATION, SCALE     override the plan (rounds, seconds per pgbench -T run, scale)
  SECTIONS       comma list of throughput,cost,callgrind,memory,backpressure,micro (default all)
  WORKLOADS      comma list of throughput workload names (default all), e.g. pooler_bound_c100
  IDLE_CLIENTS   idle clients in the memory section (10,000; 50000 shows holding 50,000)
  BENCH_WORKERS  e.g. 8 or 2,8: add Reservoir with that many workers to the throughput
                 workloads; PGBENCH_JOBS  pgbench threads (default 2)
  RESULTS_DIR    where results go (default bench/results)
  RESERVOIR_BIN  the binary (default build/reservoir); PGBOUNCER_BIN (/usr/sbin/pgbouncer)
  MICRO_BENCH    the micro-benchmark binary (default build/bench/micro_bench)
  KEEP=1         keep the temporary directory (configs, pooler logs) for inspection
"""
from __future__ import annotations

import datetime
import os
import platform
import shutil
import subprocess
import tempfile
import time

from pybench import cluster, micro, pgbench, poolers, report, sections
from pybench.common import give_to_service_user, log, raise_fd_limit
from pybench.record import Recorder

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(BENCH_DIR)
ALL_SECTIONS = ["throughput", "cost", "callgrind", "memory", "backpressure", "micro"]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def plan() -> dict:
    quick = os.environ.get("QUICK", "") not in ("", "0")
    p = dict(
        quick=quick,
        rounds=env_int("ROUNDS", 1 if quick else 3),
        duration=env_int("DURATION", 3 if quick else 10),
        scale=env_int("SCALE", 1 if quick else 10),
        # per-client -t for the cost runs: 20,000 transactions (QUICK 5,000) at 10 and 100 clients
        cost_tx={10: 500, 100: 50} if quick else {10: 2000, 100: 200},
        callgrind_tx=100 if quick else 2000,  # per client, 10 clients
        idle_clients=env_int("IDLE_CLIENTS", 1000 if quick else 10000),
        big_rows=100_000 if quick else 1_000_000,  # x ~1 KiB: 100 MB / 1 GB
        slow_rate_mib=32.0,
    )
    wanted = os.environ.get("SECTIONS", "")
    p["sections"] = [s.strip() for s in wanted.split(",") if s.strip()] or ALL_SECTIONS
    return p


def tool_versions() -> str:
    def first_line(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True,
                                  timeout=10).stdout.splitlines()[0].strip()
        except Exception:  # noqa: BLE001
            return "?"
    return (f"{first_line([poolers.RESERVOIR_BIN, '--version'])}; "
            f"{first_line([poolers.PGBOUNCER_BIN, '--version'])}; "
            f"{first_line([pgbench.PGBENCH, '--version'])}")


def git_revision() -> str:
    try:  # read-only
        rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--", "src"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + (" (src/ has uncommitted changes)" if dirty else "")
    except Exception:  # noqa: BLE001
        return "?"


def check_prerequisites() -> None:
    missing = [p for p in (poolers.RESERVOIR_BIN, poolers.PGBOUNCER_BIN, pgbench.PGBENCH,
                           os.path.join(cluster.PG_BIN, "initdb")) if not os.access(p, os.X_OK)]
    if missing:
        raise SystemExit(f"bench: missing {', '.join(missing)} (run `make build`; PgBouncer and "
                         "PostgreSQL 15 come from Debian's pgbouncer and postgresql-15)")


def main() -> int:
    poolers.RESERVOIR_BIN = os.environ.get("RESERVOIR_BIN") or os.path.join(REPO, "build",
                                                                             "reservoir")
    micro_bin = os.environ.get("MICRO_BENCH") or os.path.join(REPO, "build", "bench",
                                                              "micro_bench")
    results = os.environ.get("RESULTS_DIR") or os.path.join(BENCH_DIR, "results")
    p = plan()
    check_prerequisites()
    fd_limit = raise_fd_limit(p["idle_clients"] + 1000)
    if fd_limit < p["idle_clients"] + 200:
        p["idle_clients"] = max(100, fd_limit - 200)
    poolers.MAX_CLIENT_CONN = max(poolers.MAX_CLIENT_CONN, p["idle_clients"] + 2000)
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="reservoir-bench-")
    os.chmod(workdir, 0o755)
    give_to_service_user(workdir)
    # A private copy: others may rebuild build/reservoir while a long run is in progress.
    snapshot = os.path.join(workdir, "reservoir")
    shutil.copy2(poolers.RESERVOIR_BIN, snapshot)
    built = datetime.datetime.fromtimestamp(os.path.getmtime(poolers.RESERVOIR_BIN))
    poolers.RESERVOIR_BIN = snapshot
    rec = Recorder()
    micro_results: list[dict] = []
    pg = cluster.Postgres(workdir)
    log(f"plan: {'QUICK, ' if p['quick'] else ''}{p['rounds']} round(s), {p['duration']}s runs, "
        f"scale {p['scale']}, sections {','.join(p['sections'])}; work dir {workdir}")
    try:
        pg.init()
        pg.start()
        pg.create_bench_role()
        log(f"PostgreSQL on 127.0.0.1:{pg.port}; pgbench -i -s {p['scale']}")
        pg.pgbench_init(p["scale"], pgbench.client_env())
        userlist = os.path.join(workdir, "userlist.txt")
        poolers.write_userlist(userlist)
        ctx = sections.Context(pg, workdir, userlist, rec, p["rounds"], p["duration"],
                               p["quick"])
        if "throughput" in p["sections"]:
            sections.run_throughput(ctx, sections.throughput_workloads(pg, p["quick"], workdir))
        if "cost" in p["sections"]:
            sections.run_cost(ctx, p["cost_tx"])
        if "callgrind" in p["sections"]:
            sections.run_callgrind(ctx, p["callgrind_tx"])
        if "memory" in p["sections"]:
            sections.run_memory(ctx, p["idle_clients"])
        if "backpressure" in p["sections"]:
            sections.run_backpressure(ctx, p["big_rows"], p["slow_rate_mib"])
        if "micro" in p["sections"]:
            micro_results = micro.run_micro(micro_bin, p["quick"], rec.notes)
    except KeyboardInterrupt:
        rec.notes.append("interrupted: results are partial")
        log("interrupted; writing partial results")
    finally:
        poolers.stop_all()
        pg.stop()
        elapsed = time.monotonic() - started
        os.makedirs(results, exist_ok=True)
        meta = [
            f"date: {datetime.datetime.now().isoformat(timespec='seconds')}; "
            f"run time {elapsed / 60:.1f} min; {'QUICK' if p['quick'] else 'full'} run",
            f"plan: {p['rounds']} round(s), pgbench -T {p['duration']} s, -j {pgbench.JOBS}, scale "
            f"{p['scale']}, pool_size {poolers.POOL_SIZE}, pool_mode transaction, "
            f"auth scram-sha-256 ({cluster.SCRAM_ITERATIONS} iterations), TCP 127.0.0.1",
            f"machine: {os.cpu_count()} cores, {platform.platform()}; shared and noisy: "
            "compare ratios, not absolute numbers",
            f"commit: {git_revision()}; reservoir binary built {built:%Y-%m-%d %H:%M}; "
            f"{tool_versions()}",
        ]
        rec.write_csv(os.path.join(results, "raw.csv"))
        chart_note = report.chart(rec, os.path.join(results, "chart.png"), workdir)
        if chart_note:
            rec.notes.append(chart_note)
        with open(os.path.join(results, "results.md"), "w") as f:
            f.write(report.markdown(rec, meta, micro_results))
        if os.environ.get("KEEP", "") not in ("", "0"):
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        log(f"done in {elapsed:.0f}s: {results}/results.md, raw.csv, chart.png; "
            f"{len(rec.failures)} failed measurement(s)")
    return 0
