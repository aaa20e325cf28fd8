"""The things a workload runs against: PostgreSQL directly, Reservoir, or PgBouncer.

Both poolers get the same configuration (see `COMMON_SETTINGS`): the same listen address,
auth_type and auth_file, pool mode and size, client limit, and the same database line, so
the same TCP path (127.0.0.1) to PostgreSQL. Every measurement starts a fresh process.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass

from pybench import cluster
from pybench.common import (free_port, give_to_service_user, log, popen_service, port_accepts,
                            tail_text)

RESERVOIR_BIN = os.environ.get("RESERVOIR_BIN", "")
PGBOUNCER_BIN = os.environ.get("PGBOUNCER_BIN", "/usr/sbin/pgbouncer")

POOL_SIZE = 20
# 10,000 idle clients + margin; raised by the suite when IDLE_CLIENTS asks for more.
MAX_CLIENT_CONN = 12000
STOP_TIMEOUT = 10.0
COMMON_SETTINGS = {
    "listen_addr": "127.0.0.1",
    "unix_socket_dir": "",  # TCP only, for both poolers and for direct
    "auth_type": "scram-sha-256",
    "pool_mode": "transaction",
    "default_pool_size": POOL_SIZE,
}


@dataclass(frozen=True)
class Target:
    name: str  # as shown in the tables: direct, reservoir, reservoir-w2, pgbouncer
    kind: str  # direct | reservoir | pgbouncer
    workers: int = 1
    busy_poll: str = ""  # Reservoir's busy_poll setting, when not its default (auto)

    @property
    def is_pooler(self) -> bool:
        return self.kind != "direct"


DIRECT = Target("direct", "direct")
RESERVOIR = Target("reservoir", "reservoir", 1)
RESERVOIR_W2 = Target("reservoir-w2", "reservoir", 2)
# workers=1 with busy polling off (busy_poll = 0; the default is auto): what auto polling
# changes on the latency-bound workloads (churn, fixed-rate latency).
RESERVOIR_NOPOLL = Target("reservoir-nopoll", "reservoir", 1, "0")
PGBOUNCER = Target("pgbouncer", "pgbouncer")


def reservoir_with(workers: int) -> Target:
    """Reservoir with `workers` worker threads (workers=1 is the plain `reservoir`)."""
    return RESERVOIR if workers == 1 else Target(f"reservoir-w{workers}", "reservoir", workers)


def extra_reservoirs() -> list[Target]:
    """BENCH_WORKERS=8 (or 4,8): Reservoir targets with that many workers, added beside
    workers=1 to every throughput workload (for machines with more cores than the VM)."""
    counts = [int(w) for w in os.environ.get("BENCH_WORKERS", "").split(",") if w.strip()]
    return [reservoir_with(w) for w in sorted(set(counts)) if w > 1]


def column_order(names: set[str]) -> list[str]:
    """Table columns: direct, reservoir, reservoir-wN by N, reservoir-bpN, pgbouncer."""
    def key(name: str) -> tuple:
        if name == "direct":
            return (0, 0)
        if name == "reservoir":
            return (1, 1)
        if name.startswith("reservoir-w"):
            return (1, int(name[len("reservoir-w"):]))
        if name.startswith("reservoir-"):
            return (1, 10**6)
        return (2, 0) if name == "pgbouncer" else (3, 0)
    return sorted(names, key=key)


def write_userlist(path: str) -> None:
    """One auth_file for both poolers: the role's SCRAM verifier, identical to the one
    PostgreSQL stores, so both can log in to the server with the client's proof."""
    with open(path, "w") as f:
        f.write(f'"{cluster.USER}" "{cluster.SECRET}"\n')
    give_to_service_user(path)


_live: set["Running"] = set()  # started and not yet stopped


def stop_all() -> None:
    """Stops every pooler still running (after an interruption)."""
    for running in list(_live):
        running.stop()


class PoolerFailed(Exception):
    """The pooler could not be started (details in the message, log excerpt included)."""


class Running:
    """One running target. For `direct` it only carries PostgreSQL's port."""

    def __init__(self, target: Target, pg: cluster.Postgres, workdir: str, userlist: str,
                 tag: str, valgrind: list[str] | None = None) -> None:
        self.target = target
        self.pg = pg
        self.tag = tag
        self.proc: subprocess.Popen | None = None
        self.port = pg.port
        self.notes: list[str] = []
        if not target.is_pooler:
            return
        self.port = free_port()
        self.dir = os.path.join(workdir, tag)
        os.makedirs(self.dir, exist_ok=True)
        give_to_service_user(self.dir)
        self.config_path = os.path.join(self.dir, f"{target.kind}.ini")
        self.log_path = os.path.join(self.dir, f"{target.kind}.log")
        with open(self.config_path, "w") as f:
            f.write(self._render(userlist))
        give_to_service_user(self.config_path)
        binary = RESERVOIR_BIN if target.kind == "reservoir" else PGBOUNCER_BIN
        self.command = (valgrind or []) + [binary, self.config_path]
        self.proc = popen_service(self.command, self.log_path, self.dir)
        _live.add(self)
        self._wait_ready(90.0 if valgrind else 15.0)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def _render(self, userlist: str) -> str:
        settings = dict(COMMON_SETTINGS, max_client_conn=MAX_CLIENT_CONN, listen_port=self.port,
                        auth_file=userlist)
        section = "pgbouncer"
        if self.target.kind == "reservoir":
            section = "reservoir"
            settings["workers"] = self.target.workers
            if self.target.busy_poll:
                settings["busy_poll"] = self.target.busy_poll
            # Off the shared default, and not the listen port, which is not bound yet either
            # (two picks in a row can return the same free port).
            http_port = free_port()
            while http_port == self.port:
                http_port = free_port()
            settings["http_listen"] = f"127.0.0.1:{http_port}"
        lines = ["[databases]",
                 f"{cluster.DATABASE} = host=127.0.0.1 port={self.pg.port} "
                 f"dbname={cluster.DATABASE}", "", f"[{section}]"]
        lines += [f"{key} = {value}" for key, value in settings.items()]
        return "\n".join(lines) + "\n"

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not port_accepts(self.port):
            if self.proc.poll() is not None:
                raise PoolerFailed(f"{self.target.name} exited with {self.proc.returncode} "
                                   f"during start-up:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise PoolerFailed(f"{self.target.name} did not accept connections within "
                                   f"{timeout:.0f}s:\n{self.log_tail()}")
            time.sleep(0.05)

    def alive(self) -> bool:
        return self.proc is None or self.proc.poll() is None

    def exit_description(self) -> str:
        code = self.proc.returncode if self.proc else None
        if code is None:
            return "running"
        if code < 0:
            return f"killed by signal {signal.Signals(-code).name}"
        return f"exited with status {code}"

    def log_tail(self, lines: int = 25) -> str:
        if not self.target.is_pooler:
            return tail_text(self.pg.logfile, lines)
        return tail_text(self.log_path, lines)

    def warnings(self) -> list[str]:
        """Log lines at warning level or above (Reservoir: W/E/C, PgBouncer: WARNING/ERROR)."""
        if not self.target.is_pooler:
            return []
        marks = (" W [", " E [", " C [") if self.target.kind == "reservoir" else (
            " WARNING ", " ERROR ", " FATAL ")
        try:
            with open(self.log_path, errors="replace") as f:
                return [ln.rstrip() for ln in f if any(m in ln for m in marks)]
        except OSError:
            return []

    def stop(self) -> None:
        """SIGTERM and wait; SIGKILL (noted) if it does not exit within STOP_TIMEOUT."""
        _live.discard(self)
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.notes.append(f"did not exit within {STOP_TIMEOUT:.0f}s of SIGTERM; killed")
            log(f"{self.target.name} ({self.tag}) ignored SIGTERM for {STOP_TIMEOUT:.0f}s")
            self.proc.kill()
            self.proc.wait(10)
