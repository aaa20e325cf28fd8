"""Just enough of the PostgreSQL wire protocol for the benchmark's own clients: a startup
packet, SCRAM-SHA-256 (and cleartext/md5) login, a simple Query, and message framing.

The login is a small state machine (`Login.feed`) with no I/O of its own, so the blocking
big-result reader and the asyncio idle-client opener share it.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct

PROTOCOL_3 = 196608


def scram_secret(password: str, salt: bytes, iterations: int) -> str:
    """PostgreSQL's stored SCRAM-SHA-256 verifier (also what PgBouncer's and Reservoir's
    auth_file accept): SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def message(type_byte: bytes, body: bytes) -> bytes:
    return type_byte + struct.pack("!I", len(body) + 4) + body


def startup_packet(user: str, database: str, **params: str) -> bytes:
    body = struct.pack("!I", PROTOCOL_3)
    for key, value in {"user": user, "database": database, **params}.items():
        body += key.encode() + b"\0" + value.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def query(sql: str) -> bytes:
    return message(b"Q", sql.encode() + b"\0")


def terminate() -> bytes:
    return message(b"X", b"")


def error_text(body: bytes) -> str:
    """"SQLSTATE: message" from an ErrorResponse body."""
    fields = {}
    for part in body.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode(errors="replace")
    return f"{fields.get('C', '?????')}: {fields.get('M', '')}"


class LoginError(Exception):
    pass


class Login:
    """Client side of authentication, from the first server message after the startup
    packet to ReadyForQuery. feed() takes one server message and returns the bytes to send
    (possibly empty); `done` becomes True at ReadyForQuery."""

    def __init__(self, user: str, password: str) -> None:
        self.user = user
        self.password = password
        self.done = False
        self._nonce = ""
        self._client_first_bare = ""
        self._server_signature = b""

    def feed(self, type_byte: bytes, body: bytes) -> bytes:
        if type_byte == b"E":
            raise LoginError(error_text(body))
        if type_byte == b"Z":
            self.done = True
            return b""
        if type_byte != b"R":
            return b""  # ParameterStatus, BackendKeyData, NoticeResponse
        (code,) = struct.unpack("!I", body[:4])
        if code == 0:  # AuthenticationOk
            return b""
        if code == 3:  # cleartext
            return message(b"p", self.password.encode() + b"\0")
        if code == 5:  # md5
            inner = hashlib.md5((self.password + self.user).encode()).hexdigest()
            outer = hashlib.md5(inner.encode() + body[4:8]).hexdigest()
            return message(b"p", b"md5" + outer.encode() + b"\0")
        if code == 10:  # SASL: offer SCRAM-SHA-256
            if b"SCRAM-SHA-256\0" not in body[4:]:
                raise LoginError(f"no SCRAM-SHA-256 among {body[4:]!r}")
            self._nonce = base64.b64encode(secrets.token_bytes(18)).decode()
            self._client_first_bare = f"n=,r={self._nonce}"
            first = ("n,," + self._client_first_bare).encode()
            return message(b"p", b"SCRAM-SHA-256\0" + struct.pack("!I", len(first)) + first)
        if code == 11:  # SASLContinue: server-first-message
            return message(b"p", self._client_final(body[4:].decode()))
        if code == 12:  # SASLFinal: check the server's signature
            attrs = dict(item.split("=", 1) for item in body[4:].decode().split(","))
            if base64.b64decode(attrs.get("v", "")) != self._server_signature:
                raise LoginError("bad SCRAM server signature")
            return b""
        raise LoginError(f"unsupported authentication request {code}")

    def _client_final(self, server_first: str) -> bytes:
        attrs = dict(item.split("=", 1) for item in server_first.split(","))
        if not attrs["r"].startswith(self._nonce):
            raise LoginError("SCRAM nonce mismatch")
        salted = hashlib.pbkdf2_hmac("sha256", self.password.encode(),
                                     base64.b64decode(attrs["s"]), int(attrs["i"]))
        without_proof = f"c=biws,r={attrs['r']}"
        auth_message = f"{self._client_first_bare},{server_first},{without_proof}".encode()
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored_key = hashlib.sha256(client_key).digest()
        signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        self._server_signature = hmac.new(server_key, auth_message, hashlib.sha256).digest()
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()


def login_blocking(sock, user: str, password: str, database: str) -> None:
    """Startup + authentication on a connected blocking socket, up to ReadyForQuery."""
    sock.sendall(startup_packet(user, database, application_name="reservoir-bench"))
    login = Login(user, password)
    buf = b""
    while not login.done:
        while len(buf) < 5 or len(buf) < 1 + struct.unpack("!I", buf[1:5])[0]:
            chunk = sock.recv(65536)
            if not chunk:
                raise LoginError("connection closed during login")
            buf += chunk
        length = struct.unpack("!I", buf[1:5])[0]
        reply = login.feed(buf[:1], buf[5:1 + length])
        buf = buf[1 + length:]
        if reply:
            sock.sendall(reply)
    if buf:
        raise LoginError("unexpected bytes after ReadyForQuery")


async def login_async(reader, writer, user: str, password: str, database: str) -> None:
    """The same over asyncio streams."""
    writer.write(startup_packet(user, database, application_name="reservoir-bench"))
    await writer.drain()
    login = Login(user, password)
    while not login.done:
        header = await reader.readexactly(5)
        length = struct.unpack("!I", header[1:5])[0]
        body = await reader.readexactly(length - 4)
        reply = login.feed(header[:1], body)
        if reply:
            writer.write(reply)
            await writer.drain()
