"""Small process and /proc helpers shared by the benchmark modules."""
from __future__ import annotations

import os
import pwd
import resource
import shutil
import socket
import subprocess
import sys
import time

START = time.monotonic()
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(f"[bench {time.monotonic() - START:7.1f}s] {message}", file=sys.stderr, flush=True)


# PostgreSQL refuses to run as root and PgBouncer too; under root both poolers and
# PostgreSQL run as Debian's `postgres` user, so the two poolers are treated alike.
SERVICE_USER = "postgres" if os.geteuid() == 0 else None


def service_ids() -> tuple[int, int] | None:
    if SERVICE_USER is None:
        return None
    pw = pwd.getpwnam(SERVICE_USER)
    return pw.pw_uid, pw.pw_gid


def give_to_service_user(path: str) -> None:
    ids = service_ids()
    if ids:
        os.chown(path, *ids)


def as_service_user(cmd: list[str]) -> list[str]:
    """`cmd` run as the service user (for tools that must match the pooler's user)."""
    return (["runuser", "-u", SERVICE_USER, "--"] if SERVICE_USER else []) + cmd


def popen_service(cmd: list[str], log_path: str, cwd: str) -> subprocess.Popen:
    """Starts a long-running service process directly as the service user (no wrapper
    process, so the Popen pid is the service's own pid), output appended to log_path."""
    kwargs = {}
    if SERVICE_USER:
        kwargs = dict(user=SERVICE_USER, group=SERVICE_USER, extra_groups=[])
    # Reservoir reads RESERVOIR_<SETTING> variables as settings: the suite's own variables
    # (RESERVOIR_BIN) must not reach it, so every target runs on its config file alone.
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESERVOIR_")}
    with open(log_path, "ab") as out:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, cwd=cwd, env=env, **kwargs)


def raise_fd_limit(wanted: int = 0) -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (as root, the hard limit up to `wanted` first,
    within fs.nr_open); children inherit it. Returns the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if wanted > hard and os.geteuid() == 0:
        try:
            with open("/proc/sys/fs/nr_open") as f:
                wanted = min(wanted, int(f.read()))
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            return wanted
        except (OSError, ValueError):
            pass
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def proc_status_kib(pid: int, key: str) -> int | None:
    """A "VmRSS"-style field of /proc/PID/status, in KiB; None if the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process (all its threads), in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def tail_text(path: str, lines: int = 30, grep: tuple[str, ...] = ()) -> str:
    """The last `lines` lines of a file; with `grep`, only lines containing one of the words
    (case-insensitive)."""
    try:
        with open(path, errors="replace") as f:
            content = f.read().splitlines()
    except OSError:
        return "(no log)"
    if grep:
        content = [ln for ln in content if any(g.lower() in ln.lower() for g in grep)]
    return "\n".join(content[-lines:])


def median(values: list[float]) -> float | None:
    values = sorted(values)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
