"""A fault-injecting TCP proxy for node tests, on 127.0.0.1.

One proxy stands in front of one node (which ``--advertise``s the proxy's address, so
its peers dial through it). Faults are set per direction — ``"in"`` is towards the
node behind the proxy, ``"out"`` away from it — and apply to every connection:

- ``delay(direction, seconds)``: each chunk is forwarded that much later (order kept);
- ``drop(direction)``: bytes are read and thrown away (the connection stays open);
- ``blackhole()``: both directions dropped, and new connections are accepted and kept
  silent — a partition;
- ``cut()``: every open connection is reset at once;
- ``block_callers(names)``: a partition between this node and only those nodes: a
  connection whose caller is one of them (recognised by its name in the first bytes
  it sends, the handshake's hello) is black-holed, open ones from the moment the block
  is set, new ones as soon as the caller is recognised;
- ``heal()``: no faults.

Every byte seen is captured per direction (``captured``). Threads are daemons and
``close`` ends everything.
"""
from __future__ import annotations

import socket
import struct
import threading
import time
from collections import deque

import cbor2

DIRECTIONS = ("in", "out")


SNIFF_BYTES = 16384        # how much of a connection is searched for its caller's name


class _Link:
    """One proxied connection: who called (once recognised)."""

    def __init__(self) -> None:
        self.caller: str | None = None
        self.seen = bytearray()


class _Pump:
    """Forwards one direction of one connection, applying the proxy's faults."""

    def __init__(self, proxy: FaultProxy, direction: str, source: socket.socket,
                 target: socket.socket | None, link: _Link) -> None:
        self.proxy = proxy
        self.link = link
        self.direction = direction
        self.source = source
        self.target = target
        self.queue: deque[tuple[float, bytes]] = deque()
        self.cond = threading.Condition()
        self.done = False
        threading.Thread(target=self.read, daemon=True).start()
        threading.Thread(target=self.write, daemon=True).start()

    def read(self) -> None:
        try:
            while True:
                chunk = self.source.recv(65536)
                if not chunk:
                    break
                self.proxy.capture(self.direction, chunk)
                if self.direction == "in":
                    self.proxy.recognise(self.link, chunk)
                if self.proxy.dropping(self.direction, self.link) or self.target is None:
                    continue
                with self.cond:
                    self.queue.append((time.monotonic() + self.proxy.delays[self.direction], chunk))
                    self.cond.notify()
        except OSError:
            pass
        with self.cond:
            self.done = True
            self.cond.notify()

    def write(self) -> None:
        try:
            while True:
                with self.cond:
                    while not self.queue and not self.done:
                        self.cond.wait(0.5)
                    if not self.queue and self.done:
                        break
                    due, chunk = self.queue[0]
                    wait = due - time.monotonic()
                    if wait > 0:
                        self.cond.wait(wait)
                        continue
                    self.queue.popleft()
                if self.target is not None and not self.proxy.dropping(self.direction, self.link):
                    self.target.sendall(chunk)
        except OSError:
            pass
        # A closed side is passed on, unless the direction is black-holed: then even
        # the close is lost, as in a real partition.
        if self.target is not None and not self.proxy.dropping(self.direction, self.link):
            try:
                self.target.shutdown(socket.SHUT_WR)
            except OSError:
                pass


class FaultProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.delays = dict.fromkeys(DIRECTIONS, 0.0)
        self.drops = dict.fromkeys(DIRECTIONS, False)
        self.holes = False
        self.blocked: set[str] = set()
        self.known_names: set[str] = set()     # callers to recognise even while not blocked
        self._captured = {d: bytearray() for d in DIRECTIONS}
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    # -- faults
    def delay(self, direction: str, seconds: float) -> None:
        self.delays[direction] = seconds

    def drop(self, direction: str, flag: bool = True) -> None:
        self.drops[direction] = flag

    def blackhole(self, flag: bool = True) -> None:
        self.holes = flag

    def watch_callers(self, names) -> None:
        """Recognise connections from these nodes (so that they can be blocked later)."""
        self.known_names = set(names)

    def block_callers(self, names) -> None:
        self.known_names |= set(names)
        self.blocked = set(names)

    def heal(self) -> None:
        self.holes = False
        self.blocked = set()
        for d in DIRECTIONS:
            self.delays[d] = 0.0
            self.drops[d] = False

    def cut(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
            except OSError:
                pass

    def dropping(self, direction: str, link: _Link | None = None) -> bool:
        if link is not None and link.caller is not None and link.caller in self.blocked:
            return True
        return self.holes or self.drops[direction]

    def recognise(self, link: _Link, chunk: bytes) -> None:
        """Find the caller's name (a CBOR text string in its hello) in the first bytes."""
        if link.caller is not None or len(link.seen) >= SNIFF_BYTES:
            return
        link.seen += chunk[:SNIFF_BYTES]
        for name in sorted(self.blocked | self.known_names, key=len, reverse=True):
            if cbor2.dumps(name) in link.seen:
                link.caller = name
                return

    # -- capture
    def capture(self, direction: str, chunk: bytes) -> None:
        with self._lock:
            self._captured[direction] += chunk

    def captured(self, direction: str | None = None) -> bytes:
        with self._lock:
            if direction is None:
                return bytes(self._captured["in"] + self._captured["out"])
            return bytes(self._captured[direction])

    # -- plumbing
    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            upstream = None
            if not self.holes:
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                    upstream.settimeout(None)
                except OSError:
                    client.close()
                    continue
            with self._lock:
                self._sockets.append(client)
                if upstream is not None:
                    self._sockets.append(upstream)
            link = _Link()
            _Pump(self, "in", client, upstream, link)
            if upstream is not None:
                _Pump(self, "out", upstream, client, link)

    def close(self) -> None:
        try:
            self.listener.close()
        except OSError:
            pass
        self.cut()
