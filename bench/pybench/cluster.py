"""A throwaway PostgreSQL 15 cluster for the benchmark: initdb in a temporary directory,
SCRAM over TCP on 127.0.0.1, trust on its own unix socket (for administration only)."""
from __future__ import annotations

import os
import subprocess

from pybench import wire
from pybench.common import as_service_user, free_port, give_to_service_user, log, tail_text

PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")

USER = "bench"
PASSWORD = "bench-password"
DATABASE = "bench"
# Few PBKDF2 iterations: with the same verifier in PostgreSQL and in the poolers' auth_file,
# the client's key derivation (done once per connection, by pgbench) stays cheap, so the
# churn workload measures the poolers' connection handling rather than libpq's PBKDF2.
SCRAM_ITERATIONS = 16
SCRAM_SALT = b"reservoir-bench!"
SECRET = wire.scram_secret(PASSWORD, SCRAM_SALT, SCRAM_ITERATIONS)

MAX_CONNECTIONS = 700  # 500 direct pgbench clients + two pools of 20 + room for admin


class Postgres:
    def __init__(self, base: str) -> None:
        self.base = base
        self.datadir = os.path.join(base, "pgdata")
        self.sockdir = os.path.join(base, "pgsock")
        self.logfile = os.path.join(base, "postgres.log")
        os.makedirs(self.sockdir)
        give_to_service_user(self.sockdir)
        self.port = free_port()

    def _run(self, args: list[str], timeout: float = 120) -> str:
        res = subprocess.run(as_service_user(args), cwd=self.base, capture_output=True,
                             text=True, timeout=timeout)
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({res.returncode}):\n{res.stdout}"
                               f"\n{res.stderr}")
        return res.stdout

    def init(self) -> None:
        self._run([f"{PG_BIN}/initdb", "-D", self.datadir, "-U", "postgres", "-E", "UTF8",
                   "--no-locale", "--auth-local=trust", "--auth-host=scram-sha-256",
                   "--no-sync"])
        with open(os.path.join(self.datadir, "postgresql.conf"), "a") as f:
            f.write(f"""
listen_addresses = '127.0.0.1'
port = {self.port}
unix_socket_directories = '{self.sockdir}'
max_connections = {MAX_CONNECTIONS}
password_encryption = 'scram-sha-256'
shared_buffers = 128MB
fsync = off
synchronous_commit = off
full_page_writes = off
max_wal_size = 2GB
checkpoint_timeout = 30min
logging_collector = off
log_min_messages = warning
""")
        with open(os.path.join(self.datadir, "pg_hba.conf"), "w") as f:
            f.write("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")

    def start(self) -> None:
        self._run([f"{PG_BIN}/pg_ctl", "-D", self.datadir, "-l", self.logfile, "-w", "-t",
                   "60", "start"])

    def alive(self) -> bool:
        res = subprocess.run(as_service_user([f"{PG_BIN}/pg_ctl", "-D", self.datadir, "status"]),
                             capture_output=True, timeout=30)
        return res.returncode == 0

    def ensure_running(self) -> str:
        """Starts PostgreSQL again if something outside the benchmark stopped it; returns a
        description of what happened ("" if it was running)."""
        if self.alive():
            return ""
        tail = tail_text(self.logfile, 8)
        log("PostgreSQL is not running (stopped from outside?); starting it again")
        self.start()
        return f"PostgreSQL had stopped (not by the benchmark); restarted. postgres.log: {tail}"

    def stop(self) -> None:
        try:
            self._run([f"{PG_BIN}/pg_ctl", "-D", self.datadir, "-m", "immediate", "-w", "-t",
                       "30", "stop"], timeout=40)
        except Exception as exc:  # noqa: BLE001 - teardown goes on
            log(f"pg_ctl stop failed: {exc}")

    def sql(self, *statements: str, database: str = "postgres") -> str:
        """Runs each statement (separately, so VACUUM works) as the superuser over the unix
        socket; returns psql's unaligned output."""
        commands = [arg for statement in statements for arg in ("-c", statement)]
        return self._run([f"{PG_BIN}/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                          "-h", self.sockdir, "-p", str(self.port), "-U", "postgres", "-d",
                          database, *commands])

    def create_bench_role(self) -> None:
        # A SCRAM verifier given as the password is stored as is (not hashed again).
        self.sql(f"CREATE ROLE {USER} LOGIN PASSWORD '{SECRET}'")
        self.sql(f"CREATE DATABASE {DATABASE} OWNER {USER}")
        stored = self.sql(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{USER}'").strip()
        if stored != SECRET:
            raise RuntimeError(f"role secret not stored as given: {stored}")

    def pgbench_init(self, scale: int, env: dict) -> None:
        res = subprocess.run([f"{PG_BIN}/pgbench", "-i", "-q", "-s", str(scale), "-h",
                              "127.0.0.1", "-p", str(self.port), "-U", USER, DATABASE],
                             env=env, capture_output=True, text=True, timeout=900)
        if res.returncode != 0:
            raise RuntimeError(f"pgbench -i failed:\n{res.stderr}")
        self.sql("VACUUM ANALYZE", database=DATABASE)

    def tpcb_reset(self) -> None:
        """What pgbench itself does before a run unless -n: keeps TPC-B runs comparable."""
        self.sql("VACUUM pgbench_branches", "VACUUM pgbench_tellers",
                 "TRUNCATE pgbench_history", database=DATABASE)
