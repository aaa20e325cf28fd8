"""Helpers for Reservoir's integration tests: a throwaway PostgreSQL 15 cluster, a Reservoir
process driven by a generated pgbouncer.ini-style config, PgBouncer-format credentials, and a
small raw wire-protocol client for the cases real drivers cannot produce (malformed input,
checking which authentication request is sent, reading SQLSTATEs at login).

Everything here has short timeouts: a test may fail, but it must never hang.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import pwd
import secrets
import shutil
import signal
import socket
import threading
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

import psycopg2

PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RESERVOIR_BIN = os.environ.get("RESERVOIR_BIN", os.path.join(REPO_ROOT, "build", "reservoir"))

# No ~/.pgpass may supply a password a test meant to leave out.
NO_PGPASS = "/nonexistent/reservoir-tests-pgpass"
os.environ["PGPASSFILE"] = NO_PGPASS
os.environ.pop("PGPASSWORD", None)

CONNECT_TIMEOUT = 5  # seconds, for every driver connection
SOCKET_TIMEOUT = 5.0  # seconds, for raw sockets
STARTUP_TIMEOUT = 10.0  # seconds for Reservoir to accept connections
STOP_TIMEOUT = 5.0  # seconds for Reservoir to exit after SIGTERM

# Users, as PostgreSQL knows them and as Reservoir's auth_file lists them.
APP_USER, APP_PASSWORD = "app", "secret"  # SCRAM in PostgreSQL, plain text in auth_file
MD5_USER, MD5_PASSWORD = "md5user", "md5pass"  # md5 in PostgreSQL and in auth_file
SCRAM_USER, SCRAM_PASSWORD = "scramuser", "scrampass"  # the same SCRAM secret in both
TRUST_USER = "trustuser"  # trust in pg_hba.conf, "" in auth_file
APP_DB = "app"


_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now, and that this process has not
    handed out before: two calls made before either port is bound (a listen port and an HTTP
    port, say) would otherwise both get the port the kernel just freed."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def port_accepts(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------------------------
# Credentials


def md5_secret(user: str, password: str) -> str:
    """PostgreSQL's and PgBouncer's stored md5 form: "md5" + hex(md5(password + user))."""
    return "md5" + hashlib.md5((password + user).encode()).hexdigest()


def scram_secret(password: str, salt: bytes | None = None, iterations: int = 4096) -> str:
    """A SCRAM-SHA-256 verifier as PostgreSQL stores it (and PgBouncer's auth_file accepts):
    SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>, all base64."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


# A fixed salt keeps the verifier identical in PostgreSQL and in the auth_file, which is
# what lets a pooler reuse the client's SCRAM proof to log in to the server.
SCRAM_USER_SECRET = scram_secret(SCRAM_PASSWORD, salt=b"reservoir-tests!")


def userlist_text() -> str:
    lines = [
        f'"{APP_USER}" "{APP_PASSWORD}"',
        f'"{MD5_USER}" "{md5_secret(MD5_USER, MD5_PASSWORD)}"',
        f'"{SCRAM_USER}" "{SCRAM_USER_SECRET}"',
        f'"{TRUST_USER}" ""',
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# PostgreSQL


def _pg_os_user() -> str | None:
    """PostgreSQL refuses to run as root: under root we run it as Debian's `postgres` user."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise RuntimeError("running as root but there is no 'postgres' OS user to run "
                           "PostgreSQL as (install postgresql-15)") from exc
    return "postgres"


class PostgresCluster:
    """A PostgreSQL 15 cluster in a temporary directory, on 127.0.0.1:<free port> and a unix
    socket in that directory. The superuser is `postgres`, trusted over the unix socket."""

    def __init__(self) -> None:
        for tool in ("initdb", "pg_ctl", "postgres"):
            if not os.access(os.path.join(PG_BIN, tool), os.X_OK):
                raise RuntimeError(f"{PG_BIN}/{tool} not found: PostgreSQL 15 server binaries "
                                   "are required (apt-get install postgresql-15, or run "
                                   "scripts/bootstrap)")
        self.os_user = _pg_os_user()
        self.base = tempfile.mkdtemp(prefix="reservoir-it-pg-")
        os.chmod(self.base, 0o755)
        self.datadir = os.path.join(self.base, "data")
        self.sockdir = os.path.join(self.base, "sock")
        self.logfile = os.path.join(self.base, "postgres.log")
        os.mkdir(self.sockdir)
        if self.os_user:
            pw = pwd.getpwnam(self.os_user)
            for path in (self.base, self.sockdir):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        self.port = free_port()
        self.started = False

    # -- process control

    def _run(self, args: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
        cmd = (["runuser", "-u", self.os_user, "--"] if self.os_user else []) + args
        res = subprocess.run(cmd, cwd=self.base, capture_output=True, text=True, timeout=timeout)
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stdout}\n"
                               f"{res.stderr}\n--- postgres log ---\n{self.log_tail()}")
        return res

    def init(self) -> None:
        self._run([f"{PG_BIN}/initdb", "-D", self.datadir, "-U", "postgres", "-E", "UTF8",
                   "--no-locale", "--auth-local=trust", "--auth-host=scram-sha-256",
                   "--no-sync"], timeout=120)
        conf = f"""
listen_addresses = '127.0.0.1'
port = {self.port}
unix_socket_directories = '{self.sockdir}'
password_encryption = 'scram-sha-256'
max_connections = 200
shared_buffers = 32MB
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
log_connections = on
log_disconnections = on
log_line_prefix = '%m [%p] %u@%d '
"""
        with open(os.path.join(self.datadir, "postgresql.conf"), "a") as f:
            f.write(conf)
        hba = """
local all postgres trust
local all all trust
host all trustuser 127.0.0.1/32 trust
host all md5user 127.0.0.1/32 md5
host all all 127.0.0.1/32 scram-sha-256
"""
        with open(os.path.join(self.datadir, "pg_hba.conf"), "w") as f:
            f.write(hba)

    def start(self) -> None:
        self._run([f"{PG_BIN}/pg_ctl", "-D", self.datadir, "-l", self.logfile, "-w", "-t", "30",
                   "start"], timeout=40)
        self.started = True

    def stop(self, mode: str = "fast") -> None:
        self._run([f"{PG_BIN}/pg_ctl", "-D", self.datadir, "-m", mode, "-w", "-t", "30", "stop"],
                  timeout=40)
        self.started = False

    def restart(self) -> None:
        """Stop with -m fast (terminating every backend) and start again on the same port."""
        self.stop("fast")
        self.start()

    def postmaster_pid(self) -> int | None:
        try:
            with open(os.path.join(self.datadir, "postmaster.pid")) as f:
                return int(f.readline().strip())
        except (OSError, ValueError):
            return None

    def destroy(self) -> None:
        """Best effort, never raises: stop immediately, kill what is left, remove the files."""
        try:
            if self.postmaster_pid():
                self._run([f"{PG_BIN}/pg_ctl", "-D", self.datadir, "-m", "immediate", "-w",
                           "-t", "10", "stop"], timeout=15)
        except Exception:  # noqa: BLE001 - teardown must go on
            pass
        pid = self.postmaster_pid()
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(self.base, ignore_errors=True)

    def log_tail(self, n: int = 40) -> str:
        try:
            with open(self.logfile, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no postgres log)"

    # -- administration, directly on PostgreSQL (never through Reservoir)

    def admin_connect(self, dbname: str = "postgres"):
        conn = psycopg2.connect(host=self.sockdir, port=self.port, user="postgres", dbname=dbname,
                                connect_timeout=CONNECT_TIMEOUT)
        conn.autocommit = True
        return conn

    def sql(self, query: str, params=None, dbname: str = "postgres"):
        """Runs one statement as superuser; returns all rows (or None if it returns none)."""
        conn = self.admin_connect(dbname)
        try:
            with conn.cursor() as cur:
                cur.execute(query, params)
                return cur.fetchall() if cur.description else None
        finally:
            conn.close()

    def count_backends(self, user: str, dbname: str, conn=None) -> int:
        """Client backends of `user` on `dbname`, not counting the connection asking."""
        query = ("SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND datname = %s "
                 "AND backend_type = 'client backend' AND pid <> pg_backend_pid()")
        if conn is not None:
            with conn.cursor() as cur:
                cur.execute(query, (user, dbname))
                return cur.fetchone()[0]
        return self.sql(query, (user, dbname))[0][0]

    def backend_pids(self, user: str, dbname: str) -> set[int]:
        rows = self.sql("SELECT pid FROM pg_stat_activity WHERE usename = %s AND datname = %s "
                        "AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
                        (user, dbname))
        return {r[0] for r in rows}

    def wait_backends_at_most(self, user: str, dbname: str, n: int, timeout: float = 5.0) -> int:
        deadline = time.monotonic() + timeout
        while True:
            count = self.count_backends(user, dbname)
            if count <= n or time.monotonic() > deadline:
                return count
            time.sleep(0.05)

    def create_roles(self) -> None:
        self.sql(f"CREATE ROLE {APP_USER} LOGIN PASSWORD '{APP_PASSWORD}'")
        self.sql(f"CREATE ROLE {SCRAM_USER} LOGIN PASSWORD '{SCRAM_USER_SECRET}'")
        self.sql(f"CREATE ROLE {TRUST_USER} LOGIN")
        conn = self.admin_connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SET password_encryption = 'md5'")
                cur.execute(f"CREATE ROLE {MD5_USER} LOGIN PASSWORD '{MD5_PASSWORD}'")
        finally:
            conn.close()
        self.sql(f"CREATE DATABASE {APP_DB} OWNER {APP_USER}")
        stored = dict(self.sql("SELECT rolname, rolpassword FROM pg_authid WHERE rolname IN "
                               "(%s, %s, %s)", (APP_USER, MD5_USER, SCRAM_USER)))
        assert stored[APP_USER].startswith("SCRAM-SHA-256$"), stored
        assert stored[MD5_USER] == md5_secret(MD5_USER, MD5_PASSWORD), stored
        assert stored[SCRAM_USER] == SCRAM_USER_SECRET, stored


# --------------------------------------------------------------------------------------------
# Reservoir


@dataclass
class ReservoirConfig:
    pg_port: int
    listen_port: int
    workdir: str
    settings: dict = field(default_factory=dict)
    databases: dict | None = None  # name -> connection string; None: app + "*"

    def __post_init__(self) -> None:
        # Keep the HTTP listener off the shared default port so parallel runs don't clash;
        # chosen once, so tests can reach it (Reservoir.http_url).
        self.settings.setdefault("http_listen", f"127.0.0.1:{free_port()}")

    @property
    def path(self) -> str:
        return os.path.join(self.workdir, "reservoir.ini")

    @property
    def userlist_path(self) -> str:
        return os.path.join(self.workdir, "userlist.txt")

    @property
    def unix_socket_dir(self) -> str:
        return self.settings.get("unix_socket_dir", os.path.join(self.workdir, "sock"))

    def render(self) -> str:
        databases = self.databases
        if databases is None:
            databases = {
                APP_DB: f"host=127.0.0.1 port={self.pg_port} dbname={APP_DB}",
                "*": f"host=127.0.0.1 port={self.pg_port}",
            }
        settings = {
            "listen_addr": "127.0.0.1",
            "listen_port": self.listen_port,
            "unix_socket_dir": self.unix_socket_dir,
            "auth_type": "scram-sha-256",
            "auth_file": self.userlist_path,
            "pool_mode": "session",
            "default_pool_size": 5,
            # RESERVOIR_TEST_WORKERS=2 runs every test that does not choose on two workers.
            "workers": int(os.environ.get("RESERVOIR_TEST_WORKERS", "1")),
        }
        settings.update(self.settings)
        lines = ["[databases]"]
        lines += [f"{name} = {conn}" for name, conn in databases.items()]
        lines += ["", "[reservoir]"]
        lines += [f"{key} = {value}" for key, value in settings.items() if value is not None]
        return "\n".join(lines) + "\n"

    def write(self) -> None:
        os.makedirs(self.unix_socket_dir, exist_ok=True)
        with open(self.userlist_path, "w") as f:
            f.write(userlist_text())
        with open(self.path, "w") as f:
            f.write(self.render())


def line_of(path: str, prefix: str) -> int:
    """1-based number of the first line of `path` starting with `prefix`."""
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if line.startswith(prefix):
                return number
    raise AssertionError(f"no line starting with {prefix!r} in {path}")


def require_binary() -> str:
    if not os.access(RESERVOIR_BIN, os.X_OK):
        raise AssertionError(f"Reservoir binary not found at {RESERVOIR_BIN}: run `make build` "
                             "first or set RESERVOIR_BIN")
    return RESERVOIR_BIN


class Reservoir:
    """A running `reservoir CONFIG` process, stderr captured to a file."""

    def __init__(self, config: ReservoirConfig, env: dict | None = None,
                 args: list[str] | None = None) -> None:
        self.config = config
        self.port = config.listen_port
        self.unix_socket_dir = config.unix_socket_dir
        self.logfile = os.path.join(config.workdir, "reservoir.log")
        self.env = dict(os.environ, **(env or {}))
        self.args = args or []
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Reservoir":
        binary = require_binary()
        self.config.write()
        self._log = open(self.logfile, "ab")
        self.proc = subprocess.Popen([binary, *self.args, self.config.path], stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT, env=self.env,
                                     cwd=self.config.workdir)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        # Ready means every listener is up: TCP accepts and the unix socket exists (the two
        # are opened one after the other, so TCP alone would race the unix socket tests).
        while not (port_accepts(self.port) and (not self.unix_socket_dir or os.path.exists(
                os.path.join(self.unix_socket_dir, f".s.PGSQL.{self.port}")))):
            if self.proc.poll() is not None:
                raise AssertionError(f"reservoir exited with {self.proc.returncode} during "
                                     f"start-up\n--- reservoir log ---\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"reservoir did not accept connections on port {self.port} "
                                     f"within {STARTUP_TIMEOUT}s\n--- reservoir log ---\n{self.log()}")
            time.sleep(0.05)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def http_url(self) -> str:
        """Base URL of the HTTP endpoint (http_listen), e.g. http://127.0.0.1:1234"""
        return "http://" + self.config.settings["http_listen"]

    def http_get(self, path: str, timeout: float = 5.0) -> tuple[int, str]:
        """GET path on the HTTP endpoint; returns (status, body) for any status."""
        import urllib.error
        import urllib.request
        try:
            with urllib.request.urlopen(self.http_url + path, timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def log(self) -> str:
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except OSError:
            return "(no reservoir log)"

    def log_tail(self, n: int = 60) -> str:
        return "".join(self.log().splitlines(keepends=True)[-n:])

    def terminate(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM, then wait. Returns the exit status, or None if it did not exit in time (it
        is then killed, so nothing outlives the test)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                self._log.close()
                return None
        self._log.close()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    # -- connecting through Reservoir

    def dsn(self, user: str = APP_USER, password: str | None = APP_PASSWORD, dbname: str = APP_DB,
            host: str = "127.0.0.1", **extra) -> dict:
        params = dict(host=host, port=self.port, user=user, dbname=dbname,
                      connect_timeout=CONNECT_TIMEOUT, sslmode="disable")
        if password is not None:
            params["password"] = password
        params.update(extra)
        return params

    def connect(self, user: str = APP_USER, password: str | None = APP_PASSWORD,
                dbname: str = APP_DB, autocommit: bool = True, **extra):
        conn = psycopg2.connect(**self.dsn(user, password, dbname, **extra))
        conn.autocommit = autocommit
        return conn

    def query(self, sql: str, **connect_args):
        """Connects, runs one statement, disconnects; returns all rows."""
        conn = self.connect(**connect_args)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall()
        finally:
            conn.close()


def run_reservoir_cli(args: list[str], env: dict | None = None,
                      timeout: float = 10) -> subprocess.CompletedProcess:
    """Runs the binary to completion (for --check, --version, bad configs)."""
    binary = require_binary()
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env=dict(os.environ, **(env or {})))


def psql(port: int, user: str, password: str | None, sql: str, dbname: str = APP_DB,
         host: str = "127.0.0.1") -> subprocess.CompletedProcess:
    env = dict(os.environ, PGPASSFILE=NO_PGPASS)
    env.pop("PGPASSWORD", None)
    if password is not None:
        env["PGPASSWORD"] = password
    conninfo = (f"host={host} port={port} dbname={dbname} user={user} "
                f"connect_timeout={CONNECT_TIMEOUT} sslmode=disable")
    return subprocess.run([f"{PG_BIN}/psql", "-X", "-w", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                           "-d", conninfo, "-c", sql], capture_output=True, text=True,
                          timeout=20, env=env, stdin=subprocess.DEVNULL)


# --------------------------------------------------------------------------------------------
# Raw wire protocol

PROTOCOL_3_0 = 3 << 16
SSL_REQUEST_CODE = (1234 << 16) | 5679
GSSENC_REQUEST_CODE = (1234 << 16) | 5680

AUTH_OK, AUTH_CLEARTEXT, AUTH_MD5, AUTH_SASL, AUTH_SASL_CONTINUE, AUTH_SASL_FINAL = 0, 3, 5, 10, 11, 12


class ConnectionClosed(Exception):
    pass


@dataclass
class ServerError(Exception):
    fields: dict

    @property
    def code(self) -> str | None:
        return self.fields.get("C")

    @property
    def severity(self) -> str | None:
        return self.fields.get("V") or self.fields.get("S")

    @property
    def message(self) -> str | None:
        return self.fields.get("M")

    def __str__(self) -> str:
        return f"{self.severity} {self.code}: {self.message}"


def parse_error_fields(payload: bytes) -> dict:
    fields = {}
    for part in payload.split(b"\x00"):
        if part:
            fields[chr(part[0])] = part[1:].decode(errors="replace")
    return fields


def startup_packet(params: dict, version: int = PROTOCOL_3_0) -> bytes:
    body = struct.pack("!I", version)
    for key, value in params.items():
        body += key.encode() + b"\x00" + value.encode() + b"\x00"
    body += b"\x00"
    return struct.pack("!I", len(body) + 4) + body


def message(kind: bytes, payload: bytes = b"") -> bytes:
    return kind + struct.pack("!I", len(payload) + 4) + payload


def cstr(text: str) -> bytes:
    return text.encode() + b"\x00"


def parse_msg(sql: str, name: str = "", types: tuple[int, ...] = ()) -> bytes:
    body = cstr(name) + cstr(sql) + struct.pack("!H", len(types))
    return message(b"P", body + b"".join(struct.pack("!I", t) for t in types))


def bind_msg(portal: str = "", statement: str = "", params: list[str | None] = ()) -> bytes:
    body = cstr(portal) + cstr(statement) + struct.pack("!H", 0)
    body += struct.pack("!H", len(params))
    for p in params:
        if p is None:
            body += struct.pack("!i", -1)
        else:
            data = p.encode()
            body += struct.pack("!i", len(data)) + data
    body += struct.pack("!H", 0)
    return message(b"B", body)


def describe_msg(kind: bytes = b"P", name: str = "") -> bytes:
    return message(b"D", kind + cstr(name))


def execute_msg(portal: str = "", max_rows: int = 0) -> bytes:
    return message(b"E", cstr(portal) + struct.pack("!I", max_rows))


def close_msg(kind: bytes = b"S", name: str = "") -> bytes:
    return message(b"C", kind + cstr(name))


def query_msg(sql: str) -> bytes:
    return message(b"Q", cstr(sql))


SYNC = message(b"S")
FLUSH = message(b"H")


class RawConnection:
    """A byte-level PostgreSQL frontend over TCP or a unix socket."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = SOCKET_TIMEOUT):
        if host.startswith("/"):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(os.path.join(host, f".s.PGSQL.{port}"))
        else:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.auth_requests: list[int] = []  # authentication codes the server sent, in order
        self.sasl_mechanisms: list[str] = []
        self.backend_key: tuple[int, int] | None = None
        self.backend_key_count = 0
        self.parameters: dict[str, str] = {}
        self.negotiate: bytes | None = None  # payload of NegotiateProtocolVersion, if any
        self.login_kinds: list[bytes] = []  # message types received during login, in order

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self, n: int) -> None:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionClosed(f"connection closed with {len(self.buf)} bytes buffered")
            self.buf += chunk

    def read_byte(self) -> bytes:
        self._fill(1)
        b, self.buf = self.buf[:1], self.buf[1:]
        return b

    def read_message(self) -> tuple[bytes, bytes]:
        self._fill(5)
        kind = self.buf[:1]
        (length,) = struct.unpack("!I", self.buf[1:5])
        if length < 4 or length > 1 << 24:
            raise AssertionError(f"bad message length {length} for type {kind!r}")
        self._fill(1 + length)
        payload = self.buf[5:1 + length]
        self.buf = self.buf[1 + length:]
        return kind, payload

    def wait_closed(self, timeout: float = SOCKET_TIMEOUT) -> list[tuple[bytes, bytes]]:
        """Reads until the peer closes; returns the messages seen. Raises socket.timeout if
        the peer keeps the connection open longer than `timeout`."""
        self.sock.settimeout(timeout)
        seen = []
        try:
            while True:
                seen.append(self.read_message())
        except ConnectionClosed:
            return seen
        except ConnectionResetError:
            return seen

    def ssl_request(self, code: int = SSL_REQUEST_CODE) -> bytes:
        self.send(struct.pack("!II", 8, code))
        return self.read_byte()

    def startup(self, user: str, database: str, password: str | None = None,
                version: int = PROTOCOL_3_0, extra: dict | None = None) -> None:
        """Sends a startup packet and completes authentication and start-up, up to the first
        ReadyForQuery. Raises ServerError on an ErrorResponse."""
        params = {"user": user, "database": database, **(extra or {})}
        self.send(startup_packet(params, version))
        self.finish_login(user, password)

    def finish_login(self, user: str, password: str | None) -> None:
        scram = None
        while True:
            kind, payload = self.read_message()
            self.login_kinds.append(kind)
            if kind == b"E":
                raise ServerError(parse_error_fields(payload))
            if kind == b"v":
                self.negotiate = payload
            elif kind == b"R":
                (code,) = struct.unpack("!I", payload[:4])
                self.auth_requests.append(code)
                if code == AUTH_OK:
                    continue
                if password is None:
                    raise AssertionError(f"server asked for authentication {code} but the test "
                                         "gave no password")
                if code == AUTH_CLEARTEXT:
                    self.send(message(b"p", password.encode() + b"\x00"))
                elif code == AUTH_MD5:
                    salt = payload[4:8]
                    inner = hashlib.md5((password + user).encode()).hexdigest()
                    outer = "md5" + hashlib.md5(inner.encode() + salt).hexdigest()
                    self.send(message(b"p", outer.encode() + b"\x00"))
                elif code == AUTH_SASL:
                    self.sasl_mechanisms = [m.decode() for m in payload[4:].split(b"\x00") if m]
                    if "SCRAM-SHA-256" not in self.sasl_mechanisms:
                        raise AssertionError(f"no SCRAM-SHA-256 in {self.sasl_mechanisms}")
                    scram = ScramClient(password)
                    first = scram.client_first().encode()
                    self.send(message(b"p", b"SCRAM-SHA-256\x00" + struct.pack("!I", len(first))
                                      + first))
                elif code == AUTH_SASL_CONTINUE:
                    self.send(message(b"p", scram.client_final(payload[4:].decode()).encode()))
                elif code == AUTH_SASL_FINAL:
                    scram.verify_server_final(payload[4:].decode())
                else:
                    raise AssertionError(f"unsupported authentication request {code}")
            elif kind == b"K":
                self.backend_key_count += 1
                self.backend_key = struct.unpack("!II", payload[:8])
                assert len(payload) == 8, f"BackendKeyData payload of {len(payload)} bytes"
            elif kind == b"S":
                key, value, _ = payload.split(b"\x00", 2)
                self.parameters[key.decode(errors="replace")] = value.decode(errors="replace")
            elif kind == b"Z":
                return
            elif kind == b"N":
                pass
            else:
                raise AssertionError(f"unexpected message {kind!r} during login")

    def simple_query(self, sql: str) -> list[tuple]:
        """Runs a simple query; returns data rows as tuples of str/None; raises ServerError."""
        self.send(message(b"Q", sql.encode() + b"\x00"))
        rows, error = [], None
        while True:
            kind, payload = self.read_message()
            if kind == b"D":
                (count,) = struct.unpack("!H", payload[:2])
                pos, row = 2, []
                for _ in range(count):
                    (n,) = struct.unpack("!i", payload[pos:pos + 4])
                    pos += 4
                    if n < 0:
                        row.append(None)
                    else:
                        row.append(payload[pos:pos + n].decode())
                        pos += n
                rows.append(tuple(row))
            elif kind == b"E":
                error = ServerError(parse_error_fields(payload))
            elif kind == b"Z":
                if error:
                    raise error
                return rows

    def terminate(self) -> None:
        try:
            self.send(message(b"X"))
        except OSError:
            pass
        self.close()


class ScramClient:
    """The client side of SCRAM-SHA-256 without channel binding, as libpq does it."""

    def __init__(self, password: str):
        self.password = password.encode()
        self.nonce = base64.b64encode(secrets.token_bytes(18)).decode()
        self.first_bare = f"n=,r={self.nonce}"

    def client_first(self) -> str:
        return "n,," + self.first_bare

    def client_final(self, server_first: str) -> str:
        attrs = dict(item.split("=", 1) for item in server_first.split(","))
        assert attrs["r"].startswith(self.nonce), "server nonce does not extend ours"
        salt = base64.b64decode(attrs["s"])
        iterations = int(attrs["i"])
        self.salted = hashlib.pbkdf2_hmac("sha256", self.password, salt, iterations)
        client_key = hmac.new(self.salted, b"Client Key", hashlib.sha256).digest()
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = f"c=biws,r={attrs['r']}"
        self.auth_message = f"{self.first_bare},{server_first},{without_proof}".encode()
        signature = hmac.new(stored_key, self.auth_message, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        return f"{without_proof},p={base64.b64encode(proof).decode()}"

    def verify_server_final(self, server_final: str) -> None:
        assert server_final.startswith("v="), f"SASL final message {server_final!r}"
        server_key = hmac.new(self.salted, b"Server Key", hashlib.sha256).digest()
        expected = hmac.new(server_key, self.auth_message, hashlib.sha256).digest()
        assert base64.b64decode(server_final[2:]) == expected, "bad SCRAM server signature"


def stop_instances(instances) -> list[str]:
    """SIGTERMs every pooler process; returns a problem line for each that did not exit
    within STOP_TIMEOUT or died of a signal other than SIGTERM (a crash)."""
    problems = []
    for instance in instances:
        was_alive = instance.alive()
        status = instance.terminate()
        if was_alive and status is None:
            problems.append(f"reservoir (port {instance.port}) did not exit within "
                            f"{STOP_TIMEOUT}s of SIGTERM\n{instance.log_tail()}")
        elif status is not None and status < 0 and -status != signal.SIGTERM:
            problems.append(f"reservoir (port {instance.port}) died of signal {-status}\n"
                            f"{instance.log_tail()}")
    return problems


BACKENDS_SQL = ("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                "AND pid <> pg_backend_pid()")


class BackendMonitor(threading.Thread):
    """Polls pg_stat_activity on PostgreSQL itself every `interval` seconds and keeps the
    largest number of client backends seen matching `user` and/or `dbname`."""

    def __init__(self, pg, user: str | None = APP_USER, dbname: str | None = APP_DB,
                 interval: float = 0.02):
        super().__init__(daemon=True)
        self.pg, self.interval = pg, interval
        self.sql, self.params = BACKENDS_SQL, []
        if user is not None:
            self.sql += " AND usename = %s"
            self.params.append(user)
        if dbname is not None:
            self.sql += " AND datname = %s"
            self.params.append(dbname)
        self.stop_event = threading.Event()
        self.max_seen, self.samples, self.errors = 0, 0, []

    def run(self):
        try:
            conn = self.pg.admin_connect()
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(exc)
            return
        try:
            with conn.cursor() as cur:
                cur.execute("SET statement_timeout = '5s'")
                while not self.stop_event.is_set():
                    cur.execute(self.sql, self.params)
                    self.max_seen = max(self.max_seen, cur.fetchone()[0])
                    self.samples += 1
                    self.stop_event.wait(self.interval)
        except Exception as exc:  # noqa: BLE001
            self.errors.append(exc)
        finally:
            conn.close()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self.stop_event.set()
        self.join(5)
