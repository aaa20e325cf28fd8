"""Helpers for the real-driver tests (tests/clients): a Reservoir config with [users] lines,
live reload, pg_stat_activity monitors, extended-protocol messages for the raw client, and
bounded background work. Builds on tests/integration/harness.py, which it does not change.

Every wait here is bounded: a test may fail, never hang.
"""
from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field

import pytest

import harness
from harness import APP_DB, APP_PASSWORD, APP_USER
from harness import (FLUSH, SYNC, bind_msg, describe_msg, execute_msg,  # noqa: F401 (re-export)
                     parse_msg, query_msg)

# The integration-style tests run with one worker thread and with two.
WORKERS = pytest.mark.parametrize("workers", [1, 2], ids=["w1", "w2"])


# --------------------------------------------------------------------------------------------
# Configuration


@dataclass
class ClientsConfig(harness.ReservoirConfig):
    """harness.ReservoirConfig plus a [users] section, and an http_listen port chosen once (a
    rewrite for a live reload must not move it)."""

    users: dict | None = None  # name -> "pool_mode=transaction pool_size=3 ..."
    extra: str = ""  # appended verbatim

    def __post_init__(self) -> None:
        self.settings.setdefault("http_listen", f"127.0.0.1:{harness.free_port()}")

    def render(self) -> str:
        text = super().render()
        if self.users:
            text += "\n[users]\n" + "".join(f"{name} = {line}\n"
                                             for name, line in self.users.items())
        return text + self.extra


# Only for checking the tests themselves: RESERVOIR_CLIENTS_TARGET=pgbouncer runs the same
# tests against PgBouncer (a reference pooler; its messages and a few behaviours differ).
TARGET = os.environ.get("RESERVOIR_CLIENTS_TARGET", "reservoir")
PGBOUNCER_BIN = os.environ.get("PGBOUNCER_BIN", "/usr/sbin/pgbouncer")
RESERVOIR_ONLY_SETTINGS = {"workers", "http_listen", "query_wait_notify", "log_format",
                           "stats_period"}


class PgBouncerProcess(harness.Reservoir):
    """The same config run by PgBouncer (as the postgres OS user when we are root)."""

    def start(self) -> "PgBouncerProcess":
        import pwd
        self.config.write()
        with open(self.config.path) as f:
            text = f.read().replace("[reservoir]", "[pgbouncer]")
        lines = [line for line in text.splitlines()
                 if line.split("=", 1)[0].strip() not in RESERVOIR_ONLY_SETTINGS]
        with open(self.config.path, "w") as f:
            f.write("\n".join(lines) + "\n")
        kwargs = {}
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            for root, dirs, files in os.walk(self.config.workdir):
                for name in [root] + [os.path.join(root, n) for n in dirs + files]:
                    os.chown(name, pw.pw_uid, pw.pw_gid)
            kwargs = dict(user=pw.pw_uid, group=pw.pw_gid)
        self._log = open(self.logfile, "ab")
        self.proc = subprocess.Popen([PGBOUNCER_BIN, self.config.path], stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT, env=self.env,
                                     cwd=self.config.workdir, **kwargs)
        deadline = time.monotonic() + harness.STARTUP_TIMEOUT
        while not harness.port_accepts(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"pgbouncer did not start\n{self.log()}")
            time.sleep(0.05)
        return self


class ClientsFactory:
    """reservoir(databases=..., users=..., env=..., **settings) -> a running harness.Reservoir.
    pool_mode defaults to transaction here (the harness defaults to session)."""

    DEFAULTS = {"pool_mode": "transaction", "max_client_conn": 300, "query_wait_timeout": 20}

    def __init__(self, pg: harness.PostgresCluster, workdir_factory):
        self.pg = pg
        self.instances: list[harness.Reservoir] = []
        self._mkdtemp = workdir_factory

    def app_db(self, **params) -> str:
        """A [databases] connection string for the app database, with extra pool params."""
        extra = "".join(f" {k}={v}" for k, v in params.items())
        return f"host=127.0.0.1 port={self.pg.port} dbname={APP_DB}{extra}"

    def __call__(self, databases: dict | None = None, users: dict | None = None,
                 env: dict | None = None, **settings) -> harness.Reservoir:
        merged = dict(self.DEFAULTS)
        merged.update(settings)
        config = ClientsConfig(pg_port=self.pg.port, listen_port=harness.free_port(),
                               workdir=self._mkdtemp(), settings=merged, databases=databases,
                               users=users)
        kind = PgBouncerProcess if TARGET == "pgbouncer" else harness.Reservoir
        instance = kind(config, env=env)
        self.instances.append(instance)
        return instance.start()

    def stop_all(self) -> list[str]:
        return harness.stop_instances(self.instances)

    def cleanup(self) -> None:
        for instance in self.instances:
            instance.kill()


def log_size(res: harness.Reservoir) -> int:
    return len(res.log())


def reload(res: harness.Reservoir, **changes) -> int:
    """Rewrites the config with `changes` applied to the main section and sends SIGHUP.
    Returns the log length before the signal (to read only what the reload logged)."""
    for key, value in changes.items():
        if value is None:
            res.config.settings.pop(key, None)
        else:
            res.config.settings[key] = value
    res.config.write()
    before = log_size(res)
    res.proc.send_signal(signal.SIGHUP)
    return before


def write_config_text(res: harness.Reservoir, text: str) -> None:
    with open(res.config.path, "w") as f:
        f.write(text)


def sighup(res: harness.Reservoir) -> int:
    before = log_size(res)
    res.proc.send_signal(signal.SIGHUP)
    return before


# --------------------------------------------------------------------------------------------
# Waiting


def wait_until(predicate, timeout: float, interval: float = 0.05):
    """Polls `predicate` until it returns something truthy (returned) or `timeout` passes
    (the last falsy value is returned)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


class Background(threading.Thread):
    """Runs fn(*args) in a daemon thread; keeps its result or exception and when it ended."""

    def __init__(self, fn, *args, name: str | None = None):
        super().__init__(daemon=True, name=name)
        self.fn, self.args = fn, args
        self.result = None
        self.error: BaseException | None = None
        self.started_at = None
        self.ended_at = None

    def run(self):
        self.started_at = time.monotonic()
        try:
            self.result = self.fn(*self.args)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
        finally:
            self.ended_at = time.monotonic()

    def finish(self, timeout: float):
        """Joins with a timeout; returns the result, re-raises the error, or fails if still
        running."""
        self.join(timeout)
        if self.is_alive():
            raise AssertionError(f"{self.name or 'background work'} still running after "
                                 f"{timeout:.1f}s")
        if self.error is not None:
            raise self.error
        return self.result

    @property
    def elapsed(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at


def start(fn, *args, name: str | None = None) -> Background:
    job = Background(fn, *args, name=name)
    job.start()
    return job


# --------------------------------------------------------------------------------------------
# PostgreSQL, read directly (never through Reservoir)

# One monitor for both suites; it lives in harness.py.
BackendMonitor = harness.BackendMonitor


def count_backends(pg, user: str | None = APP_USER, dbname: str | None = APP_DB,
                   state: str | None = None) -> int:
    sql, params = harness.BACKENDS_SQL, []
    if user is not None:
        sql += " AND usename = %s"
        params.append(user)
    if dbname is not None:
        sql += " AND datname = %s"
        params.append(dbname)
    if state is not None:
        sql += " AND state = %s"
        params.append(state)
    return pg.sql(sql, params)[0][0]


def open_transactions(pg, user: str = APP_USER) -> list[tuple]:
    """Backends of `user` idle inside a transaction (or in a failed one), with their query."""
    return pg.sql("SELECT pid, state, query FROM pg_stat_activity WHERE usename = %s AND state "
                  "IN ('idle in transaction', 'idle in transaction (aborted)')", (user,))


def running_queries(pg, like: str, user: str = APP_USER) -> list[tuple]:
    return pg.sql("SELECT pid, state, query FROM pg_stat_activity WHERE usename = %s AND state "
                  "= 'active' AND query LIKE %s AND pid <> pg_backend_pid()", (user, like))


def app_sql(pg, sql: str, params=None):
    """Runs a statement in the app database as the app role (so `app` owns what it creates),
    connected directly to PostgreSQL as superuser over its unix socket."""
    conn = pg.admin_connect(APP_DB)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SET ROLE {APP_USER}")
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def wait_no_backends(pg, user: str = APP_USER, dbname: str | None = APP_DB,
                     timeout: float = 5.0) -> None:
    left = wait_until(lambda: count_backends(pg, user, dbname) == 0, timeout)
    assert left, (f"{count_backends(pg, user, dbname)} backends of {user} still open from an "
                  "earlier test")


# --------------------------------------------------------------------------------------------
# Drivers


def connect(res, autocommit: bool = True, **extra):
    """psycopg2 through Reservoir (app@app unless told otherwise)."""
    return res.connect(autocommit=autocommit, **extra)


def scalar(conn, sql: str, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


def asyncpg_connect(res, **extra):
    import asyncpg
    args = dict(host="127.0.0.1", port=res.port, user=APP_USER, password=APP_PASSWORD,
                database=APP_DB, ssl=False, timeout=10, statement_cache_size=0)
    args.update(extra)
    return asyncpg.connect(**args)


def psycopg3_connect(res, **extra):
    import psycopg
    args = dict(host="127.0.0.1", port=res.port, user=APP_USER, password=APP_PASSWORD,
                dbname=APP_DB, connect_timeout=harness.CONNECT_TIMEOUT, sslmode="disable",
                autocommit=True, prepare_threshold=None)
    args.update(extra)
    return psycopg.connect(**args)


# --------------------------------------------------------------------------------------------
# Raw protocol


# (The message builders parse_msg, bind_msg, ... SYNC and FLUSH come from harness.py,
# shared with the integration tests, and are re-exported above.)


def copy_data(data: bytes) -> bytes:
    return harness.message(b"d", data)


COPY_DONE = harness.message(b"c")


def decode_row(payload: bytes) -> tuple:
    (count,) = struct.unpack("!H", payload[:2])
    pos, row = 2, []
    for _ in range(count):
        (n,) = struct.unpack("!i", payload[pos:pos + 4])
        pos += 4
        if n < 0:
            row.append(None)
        else:
            row.append(payload[pos:pos + n].decode(errors="replace"))
            pos += n
    return tuple(row)


@dataclass
class Reply:
    """Everything the server sent up to (and including) one ReadyForQuery."""
    rows: list = field(default_factory=list)
    errors: list = field(default_factory=list)  # dicts of error fields
    notices: list = field(default_factory=list)
    parameters: dict = field(default_factory=dict)  # ParameterStatus seen
    kinds: list = field(default_factory=list)
    status: str | None = None  # the ReadyForQuery status

    @property
    def error(self):
        return self.errors[0] if self.errors else None


class RawClient(harness.RawConnection):
    """harness.RawConnection with whole-reply reading, ParameterStatus tracking and the
    extended protocol."""

    def read_reply(self, timeout: float = harness.SOCKET_TIMEOUT, until: bytes = b"Z") -> Reply:
        self.sock.settimeout(timeout)
        reply = Reply()
        while True:
            kind, payload = self.read_message()
            reply.kinds.append(kind)
            if kind == b"D":
                reply.rows.append(decode_row(payload))
            elif kind == b"E":
                reply.errors.append(harness.parse_error_fields(payload))
            elif kind == b"N":
                reply.notices.append(harness.parse_error_fields(payload))
            elif kind == b"S":
                key, value, _ = payload.split(b"\x00", 2)
                reply.parameters[key.decode()] = value.decode()
                self.parameters[key.decode()] = value.decode()
            elif kind == b"Z":
                reply.status = payload.decode()
            if kind == until:
                return reply

    def query(self, sql: str, timeout: float = harness.SOCKET_TIMEOUT) -> Reply:
        self.send(query_msg(sql))
        return self.read_reply(timeout)

    def read_kinds(self, count: int, timeout: float = harness.SOCKET_TIMEOUT) -> list:
        self.sock.settimeout(timeout)
        return [self.read_message() for _ in range(count)]

    def abort(self) -> None:
        """Vanishes without a Terminate message (an RST where the kernel can)."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()


def raw_login(res, user: str = APP_USER, password: str | None = APP_PASSWORD,
              database: str = APP_DB, extra: dict | None = None,
              timeout: float = harness.SOCKET_TIMEOUT) -> RawClient:
    client = RawClient(res.port, timeout=timeout)
    try:
        client.startup(user, database, password, extra=extra)
    except BaseException:
        client.close()
        raise
    return client


def send_cancel(port: int, pid: int, secret: int, timeout: float = 3.0) -> None:
    """A CancelRequest on a new connection, as libpq sends it; waits for the close."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(struct.pack("!IIII", 16, 80877102, pid, secret))
        try:
            s.recv(1)
        except OSError:
            pass


def error_text(exc: BaseException) -> str:
    """A driver error's message, SQLSTATE and any detail/hint, for assertions."""
    parts = [str(exc)]
    diag = getattr(exc, "diag", None)
    if diag is not None:
        for attr in ("message_primary", "message_detail", "message_hint"):
            value = getattr(diag, attr, None)
            if value:
                parts.append(value)
    return " | ".join(parts)


def pgcode(exc: BaseException) -> str | None:
    code = getattr(exc, "pgcode", None)
    if code is None:
        code = getattr(exc, "sqlstate", None)
    if code is None and getattr(exc, "diag", None) is not None:
        code = getattr(exc.diag, "sqlstate", None)
    return code
