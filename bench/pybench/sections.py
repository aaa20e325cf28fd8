"""The measurements. Each section loops rounds x workloads x targets, starts a fresh pooler
process per measurement, and rotates the target order every round (A B C, B C A, ...), so
slow drifts of a noisy machine fall on every target alike."""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

from pybench import cluster, pgbench
from pybench.common import cpu_seconds, give_to_service_user, have, log, proc_status_kib
from pybench.poolers import (DIRECT, PGBOUNCER, RESERVOIR, RESERVOIR_NOPOLL, RESERVOIR_W2, PoolerFailed,
                             Running, Target, extra_reservoirs)
from pybench.record import Recorder

HERE = os.path.dirname(os.path.abspath(__file__))


@dataclass
class Workload:
    name: str
    title: str
    clients: int
    args: list[str]
    targets: list[Target]
    kind: str = "tps"  # tps | latency
    before: Callable[[], None] | None = None


@dataclass
class Context:
    """What every section needs: the cluster, where to put things, the plan, the results."""
    pg: cluster.Postgres
    workdir: str
    userlist: str
    rec: Recorder
    rounds: int
    duration: int
    quick: bool
    counter: int = 0
    latency_rate: int | None = None
    tool_notes: dict = field(default_factory=dict)

    def start(self, target: Target, valgrind: list[str] | None = None) -> Running:
        restarted = self.pg.ensure_running()
        if restarted:
            self.rec.notes.append(restarted)
        self.counter += 1
        return Running(target, self.pg, self.workdir, self.userlist,
                       f"{self.counter:04d}-{target.name}", valgrind)


def rotated(targets: list[Target], round_: int) -> list[Target]:
    k = round_ % len(targets)
    return targets[k:] + targets[:k]


def finish(ctx: Context, running: Running | None) -> str:
    """Stops the target; returns a problem description if it crashed or would not stop."""
    if running is None:
        return ""
    problem = "" if running.alive() else f"pooler {running.exit_description()} during the run"
    running.stop()
    if running.notes:
        problem = "; ".join(filter(None, [problem] + running.notes))
    ctx.rec.warn_lines(running.target.name, running.warnings())
    restarted = ctx.pg.ensure_running()
    if restarted:  # not the target's fault: say so in the failure
        problem = "; ".join(filter(None, [problem, "NOT A POOLER FAILURE: " + restarted]))
    return problem


def excerpt(running: Running | None) -> str:
    if running is None or not running.target.is_pooler:
        return ""
    return running.log_tail(30)


# --------------------------------------------------------------------------------------------
# Throughput and latency (pgbench -T)


def throughput_workloads(pg: cluster.Postgres, quick: bool, workdir: str) -> list[Workload]:
    extra = extra_reservoirs()
    base = [DIRECT, RESERVOIR] + extra + [PGBOUNCER]
    empty_sql = os.path.join(workdir, "empty_query.sql")
    with open(empty_sql, "w") as f:
        f.write(";\n")  # an empty query: PostgreSQL answers EmptyQueryResponse, no planning
    wl = []
    for proto in ("simple", "extended"):
        for c in (10, 100, 500):
            if quick and proto == "extended" and c != 100:
                continue
            wl.append(Workload(f"select_{proto}_c{c}", f"pgbench -S -M {proto}, {c} clients", c,
                               ["-S", "-M", proto], base))
    # Issue 5: named prepared statements through transaction pooling. PgBouncer 1.18 cannot
    # run -M prepared in transaction mode, so Reservoir's figure is compared with its -M
    # extended (select_extended_c100) in the report.
    wl.append(Workload("select_prepared_c100", "pgbench -S -M prepared, 100 clients", 100,
                       ["-S", "-M", "prepared"], [DIRECT, RESERVOIR] + extra))
    wl.append(Workload("tpcb_c50", "pgbench TPC-B (built-in script), 50 clients", 50,
                       ["-M", "simple"], base, before=pg.tpcb_reset))
    # Also with busy polling off (busy_poll = 0): logins are latency-bound (bench/RESULTS.md),
    # and so is a fixed rate below saturation.
    wl.append(Workload("churn_c50", "pgbench -S -C (new connection per transaction), 50 clients",
                       50, ["-S", "-C", "-M", "simple"], base[:-1] + [RESERVOIR_NOPOLL, PGBOUNCER]))
    wl.append(Workload("latency_c100", "pgbench -S, 100 clients, fixed rate -R: latency", 100,
                       ["-S", "-M", "simple"], base[:-1] + [RESERVOIR_NOPOLL, PGBOUNCER],
                       kind="latency"))
    wl.append(Workload("pooler_bound_c100", "empty query ';' (-f), 100 clients: pooler-bound",
                       100, ["-f", empty_sql, "-M", "simple"],
                       [DIRECT, RESERVOIR, RESERVOIR_W2] +
                       [t for t in extra if t != RESERVOIR_W2] + [PGBOUNCER]))
    wanted = {n.strip() for n in os.environ.get("WORKLOADS", "").split(",") if n.strip()}
    return [w for w in wl if w.name in wanted] if wanted else wl


def run_throughput(ctx: Context, workloads: list[Workload]) -> None:
    for r in range(ctx.rounds):
        for w in workloads:
            for target in rotated(w.targets, r):
                measure_pgbench(ctx, w, target, r)
            if w.name == "select_simple_c100" and ctx.latency_rate is None:
                calibrate_latency_rate(ctx)


def calibrate_latency_rate(ctx: Context) -> None:
    """The latency workload runs at half the slowest target's select_simple_c100 rate of the
    first round, so every target gets the same offered load and none is saturated."""
    tps = [float(row["value"]) for row in ctx.rec.rows
           if row["workload"] == "select_simple_c100" and row["metric"] == "tps" and row["value"]]
    ctx.latency_rate = int(min(tps) * 0.5) if tps else 2000
    log(f"latency workload rate: {ctx.latency_rate} tps")


def measure_pgbench(ctx: Context, w: Workload, target: Target, r: int) -> None:
    metric = "tps" if w.kind == "tps" else "p99_ms"
    args = list(w.args)
    if w.kind == "latency":
        args += ["-R", str(ctx.latency_rate or 2000)]
    log(f"round {r + 1}/{ctx.rounds} {w.name} -> {target.name}")
    running = None
    try:
        running = ctx.start(target)
    except PoolerFailed as exc:
        ctx.rec.fail("throughput", w.name, target.name, r, metric, "", "(start)", str(exc), "")
        return
    if w.before:
        try:
            w.before()
        except Exception as exc:  # noqa: BLE001 - recorded; the run goes on
            finish(ctx, running)
            ctx.rec.fail("throughput", w.name, target.name, r, metric, "", "(preparation)",
                         f"preparing the run failed: {exc}", "")
            return
    if w.kind == "latency":
        # Steady state: the pool's servers are logged in before the clock starts, for every
        # target alike (cold, the first ~100 ms of server logins would make up the p99 of
        # a short run, and a pooler in service is warm).
        warm_up(running.port, w.clients)
    prefix = os.path.join(ctx.workdir, f"lat{ctx.counter}") if w.kind == "latency" else None
    cpu0 = cpu_seconds(running.pid) if running.pid else None
    # Direct, 500 clients take seconds to connect (a fork each) and pgbench's -T clock runs
    # meanwhile: too short a run would measure nothing.
    duration = max(ctx.duration, 5) if w.clients >= 500 else ctx.duration
    out = pgbench.run(running.port, w.clients, args, duration=duration, log_prefix=prefix,
                      timeout=duration + 120)
    cpu1 = cpu_seconds(running.pid) if running.pid else None
    problem = finish(ctx, running)
    if problem or not out.ok:
        full = "; ".join(filter(None, [out.problem, problem]))
        ctx.rec.fail("throughput", w.name, target.name, r, metric, "", out.command, full,
                     excerpt(running) + "\n--- pgbench ---\n" + out.output[-1500:])
        log(f"  FAILED: {full}")
        return
    if w.kind == "tps":
        ctx.rec.add("throughput", w.name, target.name, r, "tps", out.tps, "tx/s")
    else:
        lat = sorted(out.latencies_us)
        for q, name in ((50, "p50_ms"), (99, "p99_ms"), (99.9, "p99.9_ms")):
            value = pgbench.percentile(lat, q)
            ctx.rec.add("latency", w.name, target.name, r, name,
                        None if value is None else value / 1000, "ms",
                        detail=f"rate {ctx.latency_rate} tps, {len(lat)} transactions")
        ctx.rec.add("latency", w.name, target.name, r, "tps", out.tps, "tx/s")
    if cpu0 is not None and cpu1 is not None and out.seconds > 0:
        ctx.rec.add("pooler_cpu", w.name, target.name, r, "cpu_cores", (cpu1 - cpu0) / out.seconds,
                    "cores", detail="pooler utime+stime / pgbench wall time")
    log(f"  tps {out.tps:.0f}" + (f", pooler CPU {(cpu1 - cpu0) / out.seconds:.2f} cores"
                                  if cpu0 is not None and cpu1 is not None else ""))


# --------------------------------------------------------------------------------------------
# Cost per transaction: perf stat on the pooler process, and callgrind


def perf_events() -> tuple[list[str], str]:
    """The perf events that work here, and a note about what is missing."""
    if not have("perf"):
        return [], "perf not installed: CPU from /proc/PID/stat, no syscall counts"
    wanted = ["task-clock", "context-switches", "raw_syscalls:sys_enter"]
    res = subprocess.run(["perf", "stat", "-x", ",", "-e", ",".join(wanted), "--", "true"],
                         capture_output=True, text=True)
    if res.returncode == 0 and "not supported" not in res.stderr:
        return wanted, ""
    res = subprocess.run(["perf", "stat", "-x", ",", "-e", "task-clock", "--", "true"],
                         capture_output=True, text=True)
    if res.returncode == 0:
        return ["task-clock", "context-switches"], (
            "raw_syscalls:sys_enter unavailable (needs root or perf_event_paranoid <= -1): no "
            "syscall counts")
    return [], "perf stat unusable here: CPU from /proc/PID/stat, no syscall counts"


POOL_WARM_CLIENTS = 20  # = pool_size: every server connection is open before measuring


def warm_up(port: int, clients: int) -> None:
    """Fills the server pool so a measurement does not include server logins."""
    pgbench.run(port, clients, ["-S"], transactions=5, timeout=120)


def run_cost(ctx: Context, per_client: dict[int, int]) -> None:
    events, note = perf_events()
    if note:
        ctx.rec.notes.append(f"cost: {note}")
    for r in range(ctx.rounds):
        for clients, tx in per_client.items():
            for target in rotated([RESERVOIR, PGBOUNCER], r):
                measure_cost(ctx, target, r, clients, tx, events)


def measure_cost(ctx: Context, target: Target, r: int, clients: int, tx: int,
                 events: list[str]) -> None:
    name = f"select_simple_c{clients}"
    log(f"cost round {r + 1}/{ctx.rounds} {name} -t {tx} -> {target.name}")
    try:
        running = ctx.start(target)
    except PoolerFailed as exc:
        ctx.rec.fail("cost", name, target.name, r, "cpu_us_per_tx", "µs", "(start)", str(exc), "")
        return
    warm_up(running.port, POOL_WARM_CLIENTS)
    perf = None
    out_path = os.path.join(ctx.workdir, f"perf{ctx.counter}.csv")
    if events:
        perf = subprocess.Popen(["perf", "stat", "-x", ",", "-e", ",".join(events), "-p",
                                 str(running.pid), "-o", out_path], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(0.5)  # let perf attach before the first transaction
    cpu0 = cpu_seconds(running.pid)
    out = pgbench.run(running.port, clients, ["-S", "-M", "simple"], transactions=tx,
                      timeout=300)
    cpu1 = cpu_seconds(running.pid)
    counts = {}
    if perf:
        perf.send_signal(signal.SIGINT)
        perf.wait(30)
        counts = parse_perf(out_path)
    problem = finish(ctx, running)
    if problem or not out.ok or not out.transactions:
        full = "; ".join(filter(None, [out.problem, problem]))
        ctx.rec.fail("cost", name, target.name, r, "cpu_us_per_tx", "µs", out.command, full,
                     excerpt(running) + "\n--- pgbench ---\n" + out.output[-1500:])
        return
    n = out.transactions
    detail = f"{n} transactions, {clients} clients (their logins included)"
    if "task-clock" in counts:
        ctx.rec.add("cost", name, target.name, r, "cpu_us_per_tx", counts["task-clock"] * 1000 / n,
                    "µs", detail=detail + "; perf task-clock")
    elif cpu0 is not None and cpu1 is not None:
        ctx.rec.add("cost", name, target.name, r, "cpu_us_per_tx", (cpu1 - cpu0) * 1e6 / n, "µs",
                    detail=detail + "; /proc utime+stime")
    if "raw_syscalls:sys_enter" in counts:
        ctx.rec.add("cost", name, target.name, r, "syscalls_per_tx",
                    counts["raw_syscalls:sys_enter"] / n, "syscalls", detail=detail)
    if "context-switches" in counts:
        ctx.rec.add("cost", name, target.name, r, "ctx_switches_per_tx",
                    counts["context-switches"] / n, "switches", detail=detail)
    log(f"  {n} tx: " + ", ".join(f"{k}={v / n:.3g}/tx" for k, v in counts.items()))



def parse_perf(path: str) -> dict[str, float]:
    counts = {}
    try:
        with open(path) as f:
            for line in f:
                parts = line.strip().split(",")
                if len(parts) >= 3 and parts[0] and parts[0][0].isdigit():
                    counts[parts[2]] = float(parts[0])
    except OSError:
        pass
    return counts


def run_callgrind(ctx: Context, per_client: int, clients: int = 10) -> None:
    """User-space instructions per transaction, as the difference between two runs of the
    pooler under callgrind that differ only in the number of transactions: logins, start-up
    and shutdown cancel out. (callgrind_control -z/-d is not used: it needs vgdb to reach a
    process blocked in epoll_wait, which does not work everywhere.)"""
    if not have("valgrind"):
        ctx.rec.notes.append("callgrind: valgrind not installed, skipped")
        return
    base = max(5, per_client // 10)
    for target in [RESERVOIR, PGBOUNCER]:
        small = callgrind_total(ctx, target, clients, base)
        large = callgrind_total(ctx, target, clients, base + per_client) if small else None
        name = f"select_simple_c{clients}"
        if small and large:
            (ir_small, tx_small), (ir_large, tx_large) = small, large
            per_tx = (ir_large - ir_small) / (tx_large - tx_small)
            ctx.rec.add("cost", name, target.name, 0, "ir_per_tx", per_tx, "Ir",
                        detail=f"callgrind: (Ir of {tx_large} tx - Ir of {tx_small} tx) / "
                               f"{tx_large - tx_small}, {clients} clients")
            log(f"  {target.name}: {per_tx:.0f} Ir/tx")


def callgrind_total(ctx: Context, target: Target, clients: int,
                    tx: int) -> tuple[int, int] | None:
    """Runs a fresh pooler under callgrind through pgbench -t tx; returns (total Ir of the
    whole process, transactions), or None after recording the failure."""
    name = f"select_simple_c{clients}"
    log(f"callgrind {name} -t {tx} -> {target.name}")
    vg_dir = os.path.join(ctx.workdir, f"callgrind{ctx.counter + 1}")
    os.makedirs(vg_dir)
    give_to_service_user(vg_dir)
    out_file = os.path.join(vg_dir, "callgrind.out")
    valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}",
                "--dump-instr=no", "--dump-line=no"]
    try:
        running = ctx.start(target, valgrind=valgrind)
    except PoolerFailed as exc:
        ctx.rec.fail("cost", name, target.name, 0, "ir_per_tx", "Ir", "(start under valgrind)",
                     str(exc), "")
        return None
    out = pgbench.run(running.port, clients, ["-S", "-M", "simple"], transactions=tx,
                      timeout=600)
    problem = finish(ctx, running)
    total = None
    try:
        with open(out_file) as f:
            for line in f:
                if line.startswith("summary:"):
                    total = int(line.split()[1])
    except OSError:
        pass
    if problem or not out.ok or not out.transactions or total is None:
        why = "; ".join(filter(None, [out.problem, problem,
                                      "" if total is not None else "no callgrind output"]))
        ctx.rec.fail("cost", name, target.name, 0, "ir_per_tx", "Ir", out.command, why,
                     excerpt(running) + "\n--- pgbench ---\n" + out.output[-1500:])
        return None
    return total, out.transactions


# --------------------------------------------------------------------------------------------
# Memory per idle client


def run_memory(ctx: Context, clients: int) -> None:
    for r in range(ctx.rounds):
        for target in rotated([RESERVOIR, PGBOUNCER], r):
            measure_memory(ctx, target, r, clients)


def measure_memory(ctx: Context, target: Target, r: int, clients: int) -> None:
    name = f"idle_clients_{clients}"
    log(f"memory round {r + 1}/{ctx.rounds} {clients} idle clients -> {target.name}")
    try:
        running = ctx.start(target)
    except PoolerFailed as exc:
        ctx.rec.fail("memory", name, target.name, r, "rss_per_client_kib", "KiB", "(start)",
                     str(exc), "")
        return
    warm_up(running.port, 1)  # the pool exists and has its one server before "before"
    time.sleep(0.5)
    before = proc_status_kib(running.pid, "VmRSS")
    cmd = [sys.executable, "-B", os.path.join(HERE, "idle_clients.py"), "127.0.0.1",
           str(running.port), cluster.USER, cluster.PASSWORD, cluster.DATABASE, str(clients)]
    opener = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    ready, _, _ = select.select([opener.stdout], [], [], 300)
    report = json.loads(opener.stdout.readline() or "{}") if ready else {}
    time.sleep(1.0)  # let the pooler settle (deferred frees, buffers)
    after = proc_status_kib(running.pid, "VmRSS")
    alive = running.alive()
    try:
        opener.stdin.write("\n")
        opener.stdin.close()
    except OSError:
        pass
    try:
        opener.wait(60)
    except subprocess.TimeoutExpired:
        opener.kill()
    problem = finish(ctx, running)
    ok_clients = report.get("ok", 0)
    shown = f"idle_clients.py {clients} -> {target.name}"
    if not report or ok_clients < clients or problem or not alive or before is None or \
            after is None:
        why = "; ".join(filter(None, [
            problem, "" if report else "the opener reported nothing within 300s",
            f"{ok_clients}/{clients} logged in, errors {report.get('errors')}"
            if report and ok_clients < clients else ""]))
        ctx.rec.fail("memory", name, target.name, r, "rss_per_client_kib", "KiB", shown, why,
                     running.log_tail(30))
        return
    per = (after - before) / clients
    ctx.rec.add("memory", name, target.name, r, "rss_per_client_kib", per, "KiB",
                detail=f"VmRSS {before} -> {after} KiB")
    ctx.rec.add("memory", name, target.name, r, "logins_per_s",
                clients / report["seconds"] if report.get("seconds") else None, "logins/s",
                detail="64 SCRAM handshakes in flight from one asyncio client")
    log(f"  {per:.2f} KiB/client (VmRSS {before} -> {after} KiB), {report.get('seconds')}s")


# --------------------------------------------------------------------------------------------
# Backpressure: a big result read slowly, and at full speed


def run_bigresult(ctx: Context, target: Target, rows: int, mode: str, rate_mib: float,
                  r: int) -> None:
    section = "backpressure"
    name = f"{'slow' if mode == 'slow' else 'fast'}_reader_{rows * 1000 // 1_000_000}MB"
    log(f"backpressure round {r + 1} {name} -> {target.name}")
    try:
        running = ctx.start(target)
    except PoolerFailed as exc:
        ctx.rec.fail(section, name, target.name, r, "seconds", "s", "(start)", str(exc), "")
        return
    if running.pid:
        warm_up(running.port, 1)
        time.sleep(0.3)
    before = proc_status_kib(running.pid, "VmRSS") if running.pid else None
    cmd = [sys.executable, "-B", os.path.join(HERE, "bigresult.py"), "127.0.0.1", str(running.port),
           cluster.USER, cluster.PASSWORD, cluster.DATABASE, str(rows), mode]
    if mode == "slow":
        cmd.append(str(rate_mib))
    reader = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = before or 0
    deadline = time.monotonic() + 900
    while reader.poll() is None and time.monotonic() < deadline:
        if running.pid:
            peak = max(peak, proc_status_kib(running.pid, "VmRSS") or 0)
        time.sleep(0.05)
    if reader.poll() is None:
        reader.kill()
    stdout, stderr = reader.communicate()
    hwm = proc_status_kib(running.pid, "VmHWM") if running.pid else None
    problem = finish(ctx, running)
    try:
        result = json.loads(stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        result = {"ok": False, "error": f"reader output: {stdout[-300:]} {stderr[-600:]}"}
    shown = f"bigresult.py {rows} rows {mode}" + (f" {rate_mib} MiB/s" if mode == "slow" else "")
    if problem or not result.get("ok"):
        why = "; ".join(filter(None, [problem, result.get("error", "")]))
        ctx.rec.fail(section, name, target.name, r, "seconds", "s", shown, why,
                     running.log_tail(30) if target.is_pooler else "")
        log(f"  FAILED: {why}")
        return
    seconds = result["seconds"]
    ctx.rec.add(section, name, target.name, r, "seconds", seconds, "s",
                detail=f"{result['bytes']} bytes")
    ctx.rec.add(section, name, target.name, r, "mib_per_s", result["bytes"] / seconds / 2**20,
                "MiB/s")
    if before is not None:
        growth = (max(peak, hwm or 0) - before) / 1024
        ctx.rec.add(section, name, target.name, r, "peak_rss_growth_mib", growth, "MiB",
                    detail=f"VmRSS before {before} KiB, peak {max(peak, hwm or 0)} KiB")
        log(f"  {seconds:.2f}s, peak RSS growth {growth:.1f} MiB")
    else:
        log(f"  {seconds:.2f}s")


def run_backpressure(ctx: Context, rows: int, slow_rate_mib: float) -> None:
    for target in [RESERVOIR, PGBOUNCER]:
        run_bigresult(ctx, target, rows, "slow", slow_rate_mib, 0)
    for r in range(ctx.rounds):
        for target in rotated([DIRECT, RESERVOIR, PGBOUNCER], r):
            run_bigresult(ctx, target, rows, "fast", 0, r)
