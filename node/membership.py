"""Who this node is connected to: the member table, joining, the full mesh, gossip of
joins and leaves, failure detection and keepalive, and reconnection with backoff.

Rules:
- Each peer name is in one state: ``dialing`` (our dial owns it), ``accepting`` (a
  handshake from it owns it), ``up`` (one connection), ``retrying`` (lost through a
  fault: dialled again with backoff 250 ms doubling to 5 s, ±20 % jitter, for at most
  ``RETRY_FOR`` seconds), ``left`` (it said goodbye: not dialled again) or ``down``.
  Every change happens under one lock; dials run on threads of their own.
- One connection per pair. When both sides dial at once, the connection opened by the
  lower-named node is kept: a callee that is itself dialling a higher-named caller
  refuses it (``simultaneous connect``); one dialling a lower-named caller gives its
  own attempt up. A dial whose peer is already up is abandoned; a handshake from a name
  that is up is accepted only if the caller goes on (it has no connection: ours is
  stale, or the peer restarted), and the old connection is then declared down.
- A connection is up when its first frame (``members``) has arrived (dialling side)
  or when its Channel opens (accepting side, which sends ``members`` at once). Each
  side then tells the other the members it is up with; every node tells its other
  peers ``joined``, so the view converges without a central node. Members being
  retried are not handed on.
- The ticker thread runs every tick/8: a connection that sent nothing since the
  last check gets a tick frame, so never more than tick/4 passes without one; a
  connection from which nothing arrived for a tick is down (reason ``timeout``). A
  silent node is thus declared down between 0.75 and 1.125 ticks after it went silent
  (the spec's bound is 0.75..1.25). A closed stream is down at once (``noconnection``); a goodbye makes it
  ``shutdown``. A peer whose connection closed because it broke the protocol is
  not dialled again (it may connect again itself). The ticker also starts due
  retries and join attempts.
- The VM hears of connections only through ``events`` (the node runtime, which posts
  to the scheduler's inbox): ``peer_up``, ``peer_frames``, ``peer_down``, in order.

Any thread may call the public methods; none blocks except ``shutdown``.
"""
from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smalltalk_vm.node import frames as F
from smalltalk_vm.node.config import ConfigError, NodeConfig, split_address
from smalltalk_vm.node.handshake import (
    NAME_IN_USE,
    SIMULTANEOUS,
    STOPPING,
    Identity,
    Pending,
    Refusal,
    valid_name,
)
from smalltalk_vm.node.peer import Connection
from smalltalk_vm.node.transport import DialFailure, Transport

DIALING, ACCEPTING, UP, RETRYING, LEFT, DOWN = "dialing", "accepting", "up", "retrying", "left", "down"
INITIAL_BACKOFF = 0.25
MAX_BACKOFF = 5.0
JITTER = 0.2
RETRY_FOR = 600.0


def jittered(seconds: float) -> float:
    return seconds * random.uniform(1 - JITTER, 1 + JITTER)


@dataclass
class Seed:
    """A --join address: dialled until this node is connected through it."""
    address: str
    next_attempt: float = 0.0
    backoff: float = INITIAL_BACKOFF
    done: bool = False
    dialing: bool = False
    failure_logged: bool = False


@dataclass
class Member:
    name: str
    creation: int = 0
    address: str = ""
    state: str = DOWN
    connection: Connection | None = None
    token: object | None = None          # the dial attempt or hello that owns the state
    lost_at: float | None = None         # lost through a fault at this time
    next_attempt: float = 0.0
    backoff: float = INITIAL_BACKOFF
    pending_deadline: float = 0.0        # a dialled connection must answer by then
    failure_logged: bool = False
    seed: Seed | None = None             # the --join this dial came from


class Membership:
    """The member table of one node (see the module rules). ``events`` receives
    peer_up/peer_frames/peer_down; ``log`` is the node log. Any thread may call it;
    nothing blocks but ``shutdown`` (at most its ``wait``); handshake decisions raise
    ``Refusal``."""

    def __init__(self, config: NodeConfig, make_identity: Callable[[str], Identity], events: Any,
                 log: Any) -> None:
        self.config = config
        self.make_identity = make_identity
        self.identity: Identity | None = None     # known once listening
        self.events = events
        self.log = log
        self.transport = Transport(config, self, log)
        self.members: dict[str, Member] = {}
        self.seeds: list[Seed] = []
        self._seed_tokens: dict[object, Seed] = {}
        self.stopping = False
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # ------------------------------------------------------------------ life

    def start(self) -> str:
        """Listen; answer the listening address."""
        address = self.transport.bind()
        self.identity = self.make_identity(address)
        self.transport.serve(self.identity)
        self._ticker = threading.Thread(target=self._tick_loop, name="ticker", daemon=True)
        self._ticker.start()
        return address

    def join(self, addresses: list[str]) -> None:
        with self._lock:
            for address in addresses:
                self.seeds.append(Seed(address))
        self._start_due(time.monotonic())

    def up_members(self) -> list[Member]:
        with self._lock:
            return [m for m in self.members.values() if m.state == UP]

    def shutdown(self, reason: str = "shutdown", wait: float = 1.0) -> None:
        """Say goodbye to every peer, let the streams drain (at most ``wait``
        seconds), close them and stop the server."""
        with self._lock:
            self.stopping = True
            connections = [m.connection for m in self.members.values()
                           if m.state == UP and m.connection is not None]
        goodbye = F.frame("goodbye", reason)
        for conn in connections:
            conn.send(goodbye)
            conn.finish()
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and not all(c.closed.is_set() for c in connections):
            time.sleep(0.01)
        for conn in connections:
            conn.close("this node stopped")
        self._stop.set()
        self.transport.stop()

    # ------------------------------------------------------------------ accepting (gRPC threads)

    def admit(self, peer: Identity) -> bool:
        """A hello from ``peer``: refuse it (Refusal), or admit it and answer whether
        a connection to that name is already up."""
        superseded = None
        with self._lock:
            if self.stopping:
                raise Refusal(STOPPING)
            if peer.name == self.identity.name:
                raise Refusal(NAME_IN_USE, "that is this node's own name")
            m = self.members.setdefault(peer.name, Member(peer.name))
            if m.state == ACCEPTING:
                raise Refusal(NAME_IN_USE, f"a handshake from {peer.name} is already in progress")
            if m.state == UP:
                return True
            if m.state == DIALING:
                if self.identity.name < peer.name:
                    raise Refusal(SIMULTANEOUS, "this node's connection is kept")
                superseded = m.connection          # theirs is kept: give ours up
                m.connection = None
            m.state, m.token = ACCEPTING, peer
            m.creation, m.address = peer.creation, peer.address
        if superseded is not None:
            superseded.close("superseded by the peer's connection")
        return False

    def accepting(self, pending: Pending) -> None:
        """The welcome is sent: the session now owns the name's state."""
        with self._lock:
            m = self.members.get(pending.peer.name)
            if m is not None and m.state == ACCEPTING and m.token is pending.peer:
                m.pending_deadline = pending.expires

    def proven(self, pending: Pending) -> None:
        """The caller proved the cookie. If a connection to that name was up, the
        caller went on without one: ours is stale (or the peer restarted)."""
        stale = None
        with self._lock:
            m = self.members.get(pending.peer.name)
            if m is None:
                return
            if m.state == UP and pending.caller_alive:
                stale = m.connection
                m.connection = None
                m.state, m.token = ACCEPTING, pending.peer
                m.creation, m.address = pending.peer.creation, pending.peer.address
                m.pending_deadline = pending.expires
        if stale is not None:
            how = "restarted" if stale.peer.creation != pending.peer.creation else "replaced its connection"
            self._replace(stale, f"the peer {how}")

    def handshake_failed(self, pending: Pending) -> None:
        with self._lock:
            m = self.members.get(pending.peer.name)
            if m is not None and m.state == ACCEPTING and m.token is pending.peer:
                self._release(m, time.monotonic())

    def new_connection(self, peer: Identity, opened_by: str) -> Connection:
        return Connection(peer, opened_by, self.config.max_frame, self, self.events.peer_frames,
                          self._closed)

    def attach_incoming(self, conn: Connection, pending: Pending) -> bool:
        with self._lock:
            m = self.members.get(conn.name)
            if m is None or m.state != ACCEPTING or m.token is not pending.peer or self.stopping:
                return False
            self._attach(m, conn)
        self._announce(conn)
        return True

    # ------------------------------------------------------------------ dialling

    def _start_dial(self, address: str, expected: str | None, seed: Seed | None) -> None:
        token = object()
        if expected is not None:
            m = self.members[expected]
            m.state, m.token = DIALING, token
        threading.Thread(target=self._dial, args=(address, token, expected, seed),
                         name=f"dial-{expected or address}", daemon=True).start()

    def _dial(self, address: str, token: object, expected: str | None, seed: Seed | None) -> None:
        try:
            self.transport.dial(address, token, expected)
        except DialFailure as failure:
            self._dial_failed(address, token, expected, seed, failure)
        except Exception as error:            # a bug in a dial must not go unnoticed
            self._dial_failed(address, token, expected, seed,
                              DialFailure(f"dial failed: {type(error).__name__}: {error}"))

    def claim(self, peer: Identity, token: object, expected: str | None) -> bool:
        """After the welcome: may this dial go on?"""
        stale = None
        with self._lock:
            if self.stopping:
                return False
            if expected is not None and expected != peer.name:
                old = self.members.get(expected)
                if old is not None and old.token is token:
                    self._release(old, time.monotonic())
            m = self.members.setdefault(peer.name, Member(peer.name))
            if m.state == UP:
                if m.creation == peer.creation:
                    return False
                stale, m.connection = m.connection, None     # it restarted
            elif m.state == ACCEPTING or (m.state == DIALING and m.token is not token):
                return False
            m.state, m.token = DIALING, token
            m.creation, m.address = peer.creation, peer.address
            seed = self._seed_tokens.pop(token, None)
            if seed is not None:
                m.seed = seed
        if stale is not None:
            self._replace(stale, "the peer restarted")
        return True

    def pending_outgoing(self, conn: Connection, token: object) -> bool:
        with self._lock:
            m = self.members.get(conn.name)
            if m is None or m.state != DIALING or m.token is not token or self.stopping:
                return False
            m.connection = conn
            m.pending_deadline = time.monotonic() + self.config.tick
            return True

    def _dial_failed(self, address: str, token: object, expected: str | None, seed: Seed | None,
                     failure: DialFailure) -> None:
        now = time.monotonic()
        log_it = not failure.quiet
        with self._lock:
            if seed is not None and (failure.definitive or failure.settled):
                seed.done = True
            for name in {expected, failure.peer} - {None}:
                m = self.members.get(name)
                if m is not None and m.token is token:
                    if log_it and m.failure_logged:
                        log_it = False
                    m.failure_logged = m.failure_logged or not failure.quiet
                    self._release(m, now)
            self._seed_tokens.pop(token, None)
            if seed is not None and seed.dialing:
                seed.dialing = False
                if not seed.done:
                    if log_it and seed.failure_logged:
                        log_it = False
                    seed.failure_logged = seed.failure_logged or not failure.quiet
                    seed.next_attempt = now + jittered(seed.backoff)
                    seed.backoff = min(seed.backoff * 2, MAX_BACKOFF)
        if log_it:
            suffix = "; not retrying" if failure.definitive else "; retrying with backoff"
            what = f"join {address}" if seed is not None else f"connection to {expected or address}"
            self.log(f"{what} failed: {failure}{suffix}")

    def _release(self, m: Member, now: float) -> None:
        """A dial or accept that owned ``m`` is over without a connection."""
        m.token = None
        m.connection = None
        seed, m.seed = m.seed, None
        if seed is not None and not seed.done:
            seed.dialing = False
            seed.next_attempt = now + jittered(seed.backoff)
            seed.backoff = min(seed.backoff * 2, MAX_BACKOFF)
        if m.lost_at is not None and not self.stopping and now - m.lost_at < RETRY_FOR:
            m.state = RETRYING
            m.next_attempt = now + jittered(m.backoff)
            m.backoff = min(m.backoff * 2, MAX_BACKOFF)
        elif m.state != LEFT:
            m.state = DOWN

    # ------------------------------------------------------------------ up and down

    def _attach(self, m: Member, conn: Connection) -> None:
        m.state, m.token, m.connection = UP, None, conn
        if m.seed is not None:
            m.seed.done, m.seed.dialing, m.seed = True, False, None
        m.creation, m.address = conn.peer.creation, conn.peer.address
        m.lost_at = None
        m.backoff = INITIAL_BACKOFF
        m.failure_logged = False

    def _announce(self, conn: Connection) -> None:
        """``conn`` just came up: tell the VM, the peer and the other peers."""
        peer = conn.peer
        self.log(f"nodeup {peer.name} (creation {peer.creation}) at {peer.address}")
        self.events.peer_up(conn)
        with self._lock:
            others = [m for m in self.members.values()
                      if m.state == UP and m.connection is not None and m.connection is not conn]
        conn.send(F.frame("members", [[m.name, m.creation, m.address] for m in others]))
        joined = F.frame("joined", peer.name, peer.creation, peer.address)
        for m in others:
            m.connection.send(joined)

    def _replace(self, stale: Connection, why: str) -> None:
        """A connection that was up is replaced by a new one to the same name (already
        detached from its member): the VM hears of it as down."""
        self.log(f"nodedown {stale.name}: noconnection ({why})")
        self.events.peer_down(stale, "noconnection")
        stale.close(why)

    def _closed(self, conn: Connection, reason: str) -> None:
        with self._lock:
            m = self.members.get(conn.name)
            if m is None or m.connection is not conn:
                return
            was_up = m.state == UP
            m.connection = None
            now = time.monotonic()
            if self.stopping:
                m.state = DOWN
            elif conn.said_goodbye:
                m.state, m.lost_at = LEFT, None
            elif conn.protocol_error:          # not dialled again: it may come back itself
                m.token, m.state, m.lost_at = None, DOWN, None
            else:
                if was_up:
                    m.lost_at = now
                    m.backoff = INITIAL_BACKOFF
                self._release(m, now)
            others = [o for o in self.members.values() if o.state == UP and o.connection is not None]
        if self.stopping:
            return
        if not was_up:
            self.log(f"connection to {conn.name} failed: {reason}")
            return
        self.log(f"nodedown {conn.name}: {conn.down_reason} ({reason})")
        self.events.peer_down(conn, conn.down_reason)
        if conn.said_goodbye:
            left = F.frame("left", conn.peer.name, conn.peer.creation)
            for o in others:
                o.connection.send(left)

    # ------------------------------------------------------------------ the connection's own frames (reader threads)

    def on_tick(self, conn: Connection) -> None:
        """Keepalive: ``last_received`` was stamped already."""

    def on_goodbye(self, conn: Connection, reason: str) -> None:
        conn.said_goodbye = True
        conn.down_reason = "shutdown"
        conn.close(f"it said goodbye: {reason}")

    def on_members(self, conn: Connection, members: list) -> None:
        announce = False
        with self._lock:
            m = self.members.get(conn.name)
            if m is not None and m.state == DIALING and m.connection is conn:
                self._attach(m, conn)
                announce = True
        if announce:
            self._announce(conn)
        for name, creation, address in members:
            self._consider(name, creation, address)

    def on_joined(self, conn: Connection, name: str, creation: int, address: str) -> None:
        self._consider(name, creation, address)

    def on_left(self, conn: Connection, name: str, creation: int) -> None:
        with self._lock:
            m = self.members.get(name)
            if m is not None and m.creation == creation and m.state in (RETRYING, DOWN):
                m.state, m.lost_at = LEFT, None

    def _consider(self, name: str, creation: int, address: str) -> None:
        """Another member says ``name`` is up at ``address``: connect to it too."""
        try:
            split_address(address)
        except ConfigError:
            self.log(f"ignored member {name!r} at {address!r}: not HOST:PORT")
            return
        if not valid_name(name):
            self.log(f"ignored member {name!r}: not a node name")
            return
        with self._lock:
            if self.stopping or name == self.identity.name:
                return
            m = self.members.setdefault(name, Member(name))
            if m.state in (UP, DIALING, ACCEPTING):
                return
            if m.state == LEFT and m.creation == creation:
                return
            m.address = address
            m.creation = creation
            self._start_dial(address, name, None)

    # ------------------------------------------------------------------ the ticker thread

    def _tick_loop(self) -> None:
        tick = self.config.tick
        interval = tick / 8
        while not self._stop.wait(interval):
            try:
                self._tick(time.monotonic(), tick)
            except Exception as error:           # the failure detector must keep running
                self.log(f"ticker: {type(error).__name__}: {error}")

    def _tick(self, now: float, tick: float) -> None:
        with self._lock:
            members = list(self.members.values())
        for m in members:
            conn = m.connection
            if conn is None:
                continue
            if m.state == UP:
                if now - conn.last_received > tick:
                    conn.down_reason = "timeout"
                    conn.close(f"nothing received for {self.config.tick_ms} ms")
                elif now - conn.last_sent >= tick / 8:
                    # checked every tick/8: so never more than tick/4 without a frame
                    conn.send(F.TICK)
            elif m.state == DIALING and now > m.pending_deadline:
                conn.close("no answer on the channel within the tick")
        for pending in self.transport.sessions.expired():
            self.handshake_failed(pending)
        self._start_due(now)

    def _start_due(self, now: float) -> None:
        with self._lock:
            if self.stopping:
                return
            for m in list(self.members.values()):
                if m.state == RETRYING and m.next_attempt <= now:
                    if m.lost_at is not None and now - m.lost_at >= RETRY_FOR:
                        m.state = DOWN
                        self.log(f"giving up on {m.name}: unreachable for {int(RETRY_FOR)} s")
                    else:
                        self._start_dial(m.address, m.name, None)
            for seed in self.seeds:
                if not seed.done and not seed.dialing and seed.next_attempt <= now:
                    seed.dialing = True
                    token = object()
                    self._seed_tokens[token] = seed
                    threading.Thread(target=self._dial, args=(seed.address, token, None, seed),
                                     name=f"join-{seed.address}", daemon=True).start()
