"""The handshake between two nodes: identities, the mutual HMAC-SHA256 challenge, the
refusals, and the one-use sessions a Channel is opened with.

Rules (Erlang's order, with roles in the proofs so that no answer can be replayed):
1. The caller sends ``hello``: protocol version, name, creation, advertised address,
   schema hash, VM version, features.
2. The callee checks the protocol version and schema hash (refusing with ``version
   mismatch`` / ``schema mismatch``), asks the node whether it admits that name (``name
   in use``, ``simultaneous connect``), and answers ``welcome``: its own fields, a
   random 32-byte challenge Cb and a session id.
3. The caller checks the callee's fields the same way and sends ``proof``:
   HMAC-SHA256(cookie, "caller" | Cb | caller name | NUL | callee name) and its own
   challenge Ca. (The NUL keeps the two names apart: node names never contain one.)
4. The callee compares the proof in constant time (``bad cookie`` otherwise) and only
   then answers ``accepted`` with HMAC-SHA256(cookie, "callee" | Ca | callee name | NUL |
   caller name), which the caller checks the same way.
The cookie itself never travels. The session id then opens the Channel, once, within
``SESSION_SECONDS``.

Messages are CBOR arrays read by the strict frame reader (``node.frames``). This module
has no sockets and no threads; ``Sessions`` is the only shared state and has its own
lock. Everything it rejects raises ``Refusal``.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import cbor2

from smalltalk_vm.node import frames as F

FEATURES = ("fragments", "spawn", "code-on-demand")
CHALLENGE_BYTES = 32
SESSION_BYTES = 16
SESSION_SECONDS = 5.0
NODE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@\-]{0,254}\Z")

# Refusal reasons (the words logged on both sides).
VERSION_MISMATCH = "version mismatch"
SCHEMA_MISMATCH = "schema mismatch"
BAD_COOKIE = "bad cookie"
NAME_IN_USE = "name in use"
SIMULTANEOUS = "simultaneous connect"   # not an error: the other connection wins
MALFORMED = "malformed handshake"
BAD_SESSION = "unknown or expired session"
STOPPING = "node stopping"
REFUSALS = (VERSION_MISMATCH, SCHEMA_MISMATCH, BAD_COOKIE, NAME_IN_USE, SIMULTANEOUS, MALFORMED,
            BAD_SESSION, STOPPING)


class Refusal(Exception):
    """A handshake that must not go on; ``reason`` is one of REFUSALS."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.pending: Pending | None = None      # the callee's session it ended, if any


@dataclass(frozen=True)
class Identity:
    """What a node says about itself in a handshake."""
    name: str
    creation: int
    address: str
    protocol: int = F.PROTOCOL_VERSION
    schema: str = F.SCHEMA_HASH
    vm_version: str = ""
    features: tuple[str, ...] = FEATURES

    def fields(self) -> list:
        return [self.protocol, self.name, self.creation, self.address, self.schema, self.vm_version,
                list(self.features)]


def valid_name(name: str) -> bool:
    return bool(NODE_NAME.match(name))


def _read(data: bytes) -> list:
    try:
        item = F.read_item(data)
    except F.FrameError as error:
        raise Refusal(MALFORMED, str(error)) from None
    if type(item) is not list or not item or type(item[0]) is not str:
        raise Refusal(MALFORMED, "not a handshake message")
    return item


def _identity(items: list) -> Identity:
    """An Identity from [protocol, name, creation, address, schema, vm, features]; the
    protocol is checked first, so that another version is told as such."""
    if not items or type(items[0]) is not int:
        raise Refusal(MALFORMED, "no protocol version")
    if items[0] != F.PROTOCOL_VERSION:
        raise Refusal(VERSION_MISMATCH, f"protocol {items[0]}, this node speaks {F.PROTOCOL_VERSION}")
    if len(items) != 7:
        raise Refusal(MALFORMED, "wrong number of fields")
    protocol, name, creation, address, schema, vm_version, features = items
    if type(name) is not str or not valid_name(name) or type(creation) is not int \
            or not 0 <= creation < 1 << 32 or type(address) is not str or type(schema) is not str \
            or type(vm_version) is not str or type(features) is not list \
            or not all(type(f) is str for f in features):
        raise Refusal(MALFORMED, "bad identity fields")
    return Identity(name, creation, address, protocol, schema, vm_version, tuple(features))


def check_compatible(own: Identity, peer: Identity) -> None:
    if peer.protocol != own.protocol:
        raise Refusal(VERSION_MISMATCH, f"protocol {peer.protocol}, this node speaks {own.protocol}")
    if peer.schema != own.schema:
        raise Refusal(SCHEMA_MISMATCH, f"schema {peer.schema}, this node has {own.schema}")


def proof(cookie: bytes, role: str, challenge: bytes, first: str, second: str) -> bytes:
    message = role.encode() + challenge + first.encode() + b"\0" + second.encode()
    return hmac.new(cookie, message, hashlib.sha256).digest()


def refusal_message(refusal: Refusal) -> bytes:
    return cbor2.dumps(["refused", refusal.reason, refusal.detail])


def _raise_if_refused(items: list) -> None:
    if items[0] == "refused":
        reason = items[1] if len(items) > 1 and items[1] in REFUSALS else MALFORMED
        detail = items[2] if len(items) > 2 and type(items[2]) is str else ""
        raise Refusal(reason, detail)


# ====================================================================== sessions

@dataclass
class Pending:
    """A callee's half-done handshake: waiting for the caller's proof, then for the
    Channel. ``caller_alive`` says the callee already had a channel to that name."""
    peer: Identity
    challenge: bytes
    session: bytes
    expires: float
    proven: bool = False
    caller_alive: bool = False


class Sessions:
    """The callee's pending handshakes by session id. Thread-safe; never blocks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[bytes, Pending] = {}

    def open(self, peer: Identity, alive: bool) -> Pending:
        now = time.monotonic()
        pending = Pending(peer, os.urandom(CHALLENGE_BYTES), os.urandom(SESSION_BYTES),
                          now + SESSION_SECONDS, caller_alive=alive)
        with self._lock:
            self._expire(now)
            self._pending[pending.session] = pending
        return pending

    def get(self, session: bytes) -> Pending:
        with self._lock:
            self._expire(time.monotonic())
            pending = self._pending.get(session)
        if pending is None:
            raise Refusal(BAD_SESSION)
        return pending

    def take(self, session: bytes) -> Pending:
        """The proven session, removed: a session opens one Channel, once."""
        with self._lock:
            self._expire(time.monotonic())
            pending = self._pending.pop(session, None)
        if pending is None or not pending.proven:
            raise Refusal(BAD_SESSION)
        return pending

    def drop(self, session: bytes) -> Pending | None:
        with self._lock:
            return self._pending.pop(session, None)

    def expired(self) -> list[Pending]:
        """Remove and answer the sessions whose time is up."""
        with self._lock:
            return self._expire(time.monotonic())

    def _expire(self, now: float) -> list[Pending]:
        gone = [p for p in self._pending.values() if p.expires < now]
        for p in gone:
            del self._pending[p.session]
        return gone


# ====================================================================== the two roles

class Callee:
    """The answering side. ``admit(peer) -> bool`` is the node's decision about that
    name (raise Refusal to refuse; answer whether a channel to it is already up).
    Called on gRPC threads; raises Refusal."""

    def __init__(self, own: Identity, cookie: bytes, sessions: Sessions) -> None:
        self.own = own
        self.cookie = cookie
        self.sessions = sessions

    def on_hello(self, data: bytes, admit: Any) -> tuple[bytes, Pending]:
        items = _read(data)
        if items[0] != "hello":
            raise Refusal(MALFORMED, "expected hello")
        peer = _identity(items[1:])
        check_compatible(self.own, peer)
        alive = admit(peer)
        pending = self.sessions.open(peer, bool(alive))
        welcome = ["welcome", *self.own.fields(), pending.challenge, pending.session, bool(alive)]
        return cbor2.dumps(welcome), pending

    def on_proof(self, data: bytes) -> tuple[bytes, Pending]:
        items = _read(data)
        if items[0] != "proof" or len(items) != 4 or type(items[1]) is not bytes \
                or type(items[2]) is not bytes or type(items[3]) is not bytes \
                or len(items[3]) != CHALLENGE_BYTES:
            raise Refusal(MALFORMED, "expected proof")
        pending = self.sessions.get(items[1])
        expected = proof(self.cookie, "caller", pending.challenge, pending.peer.name, self.own.name)
        if not hmac.compare_digest(expected, items[2]):
            self.sessions.drop(pending.session)
            refusal = Refusal(BAD_COOKIE)
            refusal.pending = pending
            raise refusal
        pending.proven = True
        answer = proof(self.cookie, "callee", items[3], self.own.name, pending.peer.name)
        return cbor2.dumps(["accepted", answer]), pending


class Caller:
    """The dialling side of one handshake, step by step. Raises Refusal."""

    def __init__(self, own: Identity, cookie: bytes) -> None:
        self.own = own
        self.cookie = cookie
        self.peer: Identity | None = None
        self.session = b""
        self.peer_alive = False
        self._challenge = os.urandom(CHALLENGE_BYTES)

    def hello(self) -> bytes:
        return cbor2.dumps(["hello", *self.own.fields()])

    def on_welcome(self, data: bytes) -> Identity:
        items = _read(data)
        _raise_if_refused(items)
        if items[0] != "welcome" or len(items) != 11:
            raise Refusal(MALFORMED, "expected welcome")
        peer = _identity(items[1:8])
        check_compatible(self.own, peer)
        challenge, session, alive = items[8], items[9], items[10]
        if type(challenge) is not bytes or len(challenge) != CHALLENGE_BYTES \
                or type(session) is not bytes or type(alive) is not bool:
            raise Refusal(MALFORMED, "bad welcome fields")
        self.peer, self.session, self.peer_alive = peer, session, alive
        self._peer_challenge = challenge
        return peer

    def proof(self) -> bytes:
        assert self.peer is not None
        mine = proof(self.cookie, "caller", self._peer_challenge, self.own.name, self.peer.name)
        return cbor2.dumps(["proof", self.session, mine, self._challenge])

    def on_accepted(self, data: bytes) -> None:
        assert self.peer is not None
        items = _read(data)
        _raise_if_refused(items)
        if items[0] != "accepted" or len(items) != 2 or type(items[1]) is not bytes:
            raise Refusal(MALFORMED, "expected accepted")
        expected = proof(self.cookie, "callee", self._challenge, self.peer.name, self.own.name)
        if not hmac.compare_digest(expected, items[1]):
            raise Refusal(BAD_COOKIE, f"{self.peer.name} does not hold our cookie")
