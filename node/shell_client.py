"""The tools' end of the ``smalltalk.vm.Shell`` service: dial a node, pass its handshake
as a caller that is not a member, open a Session stream, and make calls on it — for
the remote REPL (``repl.remote_session``) and the cluster view (``cli.cluster_command``).

Rules:
- The handshake is the node handshake (``node.handshake.Caller``), under a name of its
  own (``shell-PID``), with the cookie and TLS files of the node options; a refusal
  raises ``ShellRefused`` with its reason, a node that cannot be reached
  ``ShellUnavailable``. Every network wait has a deadline (``timeout``).
- A reader thread takes the node's messages: answers settle the calls' futures, output
  goes to ``on_output`` (called on the reader thread), and the end of the stream —
  the node killed, stopped, or the network gone — settles every pending call with
  ``ConnectionLost`` and calls ``on_lost(reason)`` once.
- ``call`` never blocks; the caller waits on the future it answers.
"""
from __future__ import annotations

import itertools
import os
import queue
import random
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import grpc

from smalltalk_vm.node import shell_protocol as P
from smalltalk_vm.node.handshake import Caller, Identity, Refusal
from smalltalk_vm.node.transport import open_channel, rpc_text

CONNECT_TIMEOUT = 10.0          # seconds for the handshake and the session to open


class ShellRefused(Exception):
    """The node refused: wrong cookie, another build, `--no-shell`. One line."""


class ShellUnavailable(Exception):
    """No node answered at that address. One line."""


class ConnectionLost(Exception):
    """The session's stream ended; the text says why."""


class ShellClient:
    """One connection to one node's Shell service. Thread-safe; ``connect`` blocks
    (at most ``timeout``) and raises ShellRefused or ShellUnavailable."""

    def __init__(self, address: str, cookie: bytes, tls: Any = None, max_frame: int = 16 * 1024 * 1024,
                 vm_version: str = "", on_output: Callable[[str, bool], None] | None = None,
                 on_lost: Callable[[str], None] | None = None) -> None:
        self.address = address
        self.cookie = cookie
        self.tls = tls
        self.max_frame = max_frame
        self.vm_version = vm_version
        self.on_output = on_output
        self.on_lost = on_lost
        self.node = ""                       # the node's name, once connected
        self.node_address = ""
        self.lost: str | None = None         # why the connection ended, once it has
        self._channel: grpc.Channel | None = None
        self._stream: Any = None
        self._requests: queue.Queue = queue.Queue()
        self._numbers = itertools.count(1)
        self._pending: dict[int, Future] = {}
        self._lock = threading.Lock()
        self._opened: Future = Future()

    # ------------------------------------------------------------------ connecting

    def connect(self, kind: str, timeout: float = CONNECT_TIMEOUT) -> None:
        """Handshake and open a session of ``kind`` ('repl' or 'view')."""
        self._channel = open_channel(self.address, self.tls, self.max_frame)
        try:
            session = self._handshake(timeout)
            self._stream = self._channel.stream_stream(P.SESSION, request_serializer=_raw,
                                                       response_deserializer=_raw)(
                self._outgoing(), metadata=((P.SESSION_KEY, session.hex()),))
            threading.Thread(target=self._read, name="shell-reader", daemon=True).start()
            self._send(["open", kind])
            try:
                opened = self._opened.result(timeout=timeout)
            except TimeoutError:
                raise ShellUnavailable(f"{self.address} did not open a session in time") from None
            if isinstance(opened, Exception):
                raise opened
            self.node, self.node_address = opened
        except BaseException:
            self.close()
            raise

    def _handshake(self, timeout: float) -> bytes:
        identity = Identity(f"shell-{os.getpid()}", random.SystemRandom().randrange(1, 1 << 32), "",
                            vm_version=self.vm_version)
        caller = Caller(identity, self.cookie)
        handshake = self._channel.unary_unary(P.HANDSHAKE, request_serializer=_raw, response_deserializer=_raw)
        try:
            caller.on_welcome(handshake(caller.hello(), timeout=timeout))
            caller.on_accepted(handshake(caller.proof(), timeout=timeout))
        except grpc.RpcError as error:
            raise ShellUnavailable(f"cannot reach {self.address}: {rpc_text(error)}") from None
        except Refusal as refusal:
            raise ShellRefused(f"refused by {self.address}: {refusal}") from None
        return caller.session

    def close(self) -> None:
        self._lose("closed")                  # first: the cancel below is not a loss
        self._requests.put(None)
        if self._stream is not None:
            self._stream.cancel()
        if self._channel is not None:
            self._channel.close()

    # ------------------------------------------------------------------ calls

    def call(self, method: str, *args: Any) -> Future:
        """Ask the node; the future answers the value, or raises ConnectionLost."""
        future: Future = Future()
        with self._lock:
            if self.lost is not None:
                future.set_exception(ConnectionLost(self.lost))
                return future
            number = next(self._numbers)
            self._pending[number] = future
        self._send(["call", number, method, list(args)])
        return future

    def interrupt(self) -> None:
        self._send(["interrupt"])

    def _send(self, message: list) -> None:
        self._requests.put(P.encode(message))

    def _outgoing(self) -> Any:
        while True:
            message = self._requests.get()
            if message is None:
                return
            yield message

    # ------------------------------------------------------------------ the reader thread

    def _read(self) -> None:
        reason = "the node closed the connection"
        try:
            for raw in self._stream:
                message = P.decode(raw)
                handler = _HANDLERS.get(message[0])
                if handler is None:
                    raise P.ProtocolError(f"unknown message {message[0][:40]!r}")
                ended = handler(self, message)
                if ended is not None:
                    reason = ended
                    break
        except grpc.RpcError as error:
            reason = "cancelled" if error.code() == grpc.StatusCode.CANCELLED else rpc_text(error)
        except (P.ProtocolError, ValueError, TypeError, IndexError) as error:
            reason = f"the node sent a bad message: {error}"
        self._lose(reason)

    def _lose(self, reason: str) -> None:
        with self._lock:
            if self.lost is not None:
                return
            self.lost = reason
            pending, self._pending = list(self._pending.values()), {}
        for future in pending:
            if not future.done():
                future.set_exception(ConnectionLost(reason))
        if not self._opened.done():
            self._opened.set_result(ShellUnavailable(f"{self.address}: {reason}"))
        if self.on_lost is not None and reason != "closed":
            self.on_lost(reason)

    def _on_opened(self, message: list) -> None:
        if not self._opened.done():
            self._opened.set_result((str(message[1]), str(message[2])))

    def _on_refused(self, message: list) -> str:
        reason = str(message[1])
        if not self._opened.done():
            self._opened.set_result(ShellRefused(f"refused by {self.address}: {reason}"))
        return reason

    def _on_answer(self, message: list) -> None:
        with self._lock:
            future = self._pending.pop(message[1], None)
        if future is not None and not future.done():
            future.set_result(message[2])

    def _on_output(self, message: list) -> None:
        if self.on_output is not None and type(message[1]) is str:
            self.on_output(message[1], bool(message[2]))

    def _on_ended(self, message: list) -> str:
        return str(message[1])


_HANDLERS: dict[str, Callable[[ShellClient, list], str | None]] = {
    "opened": ShellClient._on_opened,
    "refused": ShellClient._on_refused,
    "answer": ShellClient._on_answer,
    "output": ShellClient._on_output,
    "ended": ShellClient._on_ended,
}


def _raw(data: bytes) -> bytes:
    return data
