"""Opens N client connections that each complete startup + SCRAM login and then sit idle.

    python3 idle_clients.py HOST PORT USER PASSWORD DATABASE N

Prints one JSON line once every connection has either reached ReadyForQuery or failed:
{"ok": ..., "failed": ..., "errors": {message: count}, "seconds": ...}; then keeps the
connections open until stdin is closed or a line arrives, and exits (sending Terminate).
"""
from __future__ import annotations

import asyncio
import collections
import json
import os
import resource
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pybench import wire  # noqa: E402

CONCURRENT_LOGINS = 64  # handshakes in flight at once (a login storm is not what we measure)
LOGIN_TIMEOUT = 30.0
# Connections per local address: one source address has about 28,000 ephemeral ports
# towards one listening port, so 50,000 clients come from 127.0.0.1, 127.0.0.2, ...
PER_SOURCE = 20000
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


async def connect_from(host, port, source):
    """A connection from `source` (None: the kernel's choice). The port is picked at
    connect time (IP_BIND_ADDRESS_NO_PORT), so ports in TIME_WAIT towards other
    destinations do not make the bind fail."""
    if source is None:
        return await asyncio.open_connection(host, port)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        sock.bind((source, 0))
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock)


async def open_one(host, port, user, password, database, gate, errors, source):
    async with gate:
        try:
            reader, writer = await asyncio.wait_for(connect_from(host, port, source),
                                                    LOGIN_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - every failure is counted, none is fatal
            errors[f"connect: {type(exc).__name__}: {exc}"] += 1
            return None
        try:
            await asyncio.wait_for(wire.login_async(reader, writer, user, password, database),
                                   LOGIN_TIMEOUT)
            return writer
        except Exception as exc:  # noqa: BLE001
            errors[f"login: {type(exc).__name__}: {exc}"] += 1
            writer.close()
            return None


async def main() -> int:
    host, port, user, password, database, count = sys.argv[1:7]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    gate = asyncio.Semaphore(CONCURRENT_LOGINS)
    errors: collections.Counter = collections.Counter()
    start = time.monotonic()
    writers = await asyncio.gather(*(open_one(host, int(port), user, password, database, gate,
                                              errors, None if i < PER_SOURCE else
                                              f"127.0.0.{1 + i // PER_SOURCE}")
                                     for i in range(int(count))))
    alive = [w for w in writers if w is not None]
    print(json.dumps({"ok": len(alive), "failed": int(count) - len(alive),
                      "errors": dict(errors.most_common(5)),
                      "seconds": round(time.monotonic() - start, 3)}), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    for w in alive:
        try:
            w.write(wire.terminate())
            w.close()
        except Exception:  # noqa: BLE001 - the pooler may already be gone
            pass
    await asyncio.sleep(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
