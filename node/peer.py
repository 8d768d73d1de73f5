"""One connection to one peer: the single Channel stream between two nodes.

Rules:
- Outgoing frames go into a thread-safe queue (``send`` never blocks, from any
  thread); the stream's writer (gRPC's request consumer on the dialling side, the
  server's handler thread on the accepting side) takes them out in ``outgoing`` and
  sends as many as fit in one gRPC message (batching), never more than
  ``fragment_size`` bytes unless one frame is bigger — and a frame bigger than that was
  already cut into fragment frames by ``send``.
- ``read`` runs on the connection's reader thread over the incoming messages. It
  stamps ``last_received`` (the failure detector reads it), checks every frame
  against the frame table, handles the connection's own frames (tick, fragment,
  goodbye, gossip) here and hands the others, as checked Python lists, to
  ``on_frames`` — it never touches VM objects. A message that does not read, or a
  reassembled frame over ``max_frame``, closes the connection with the reason.
- ``close`` is idempotent and may be called from any thread; ``on_closed`` is called
  exactly once, with the first reason.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from smalltalk_vm.node import frames as F
from smalltalk_vm.node.handshake import Identity

_STOP = None


class Connection:
    """A Channel stream with ``peer`` (its handshake identity). ``opened_by`` is the
    name of the node that dialled. Thread-safe; nothing here blocks except the
    writer's and reader's own loops, on their own threads."""

    def __init__(self, peer: Identity, opened_by: str, max_frame: int,
                 transport_handler: Any, on_frames: Callable[[Connection, list], None],
                 on_closed: Callable[[Connection, str], None]) -> None:
        self.peer = peer
        self.opened_by = opened_by
        self.max_frame = max_frame
        self.fragment_size = min(F.FRAGMENT_SIZE, max(1024, max_frame // 2))
        self.transport_handler = transport_handler     # has on_tick, on_goodbye, ...
        self.on_frames = on_frames
        self.on_closed = on_closed
        self.cancel: Callable[[], Any] = lambda: None    # set by the transport
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        now = time.monotonic()
        self.last_sent = now
        self.last_received = now
        self.closed = threading.Event()
        self.close_reason = ""
        self.said_goodbye = False          # the peer sent goodbye
        self.down_reason = "noconnection"  # what NodeDown will say: or timeout, shutdown
        self.protocol_error = False        # closed because the peer broke the protocol
        self._lock = threading.Lock()
        self._partial: list[bytes] = []
        self._partial_size = 0

    @property
    def name(self) -> str:
        return self.peer.name

    def __repr__(self) -> str:
        return f"<Connection {self.peer.name}/{self.peer.creation} opened by {self.opened_by}>"

    # ------------------------------------------------------------------ sending

    def send(self, data: bytes) -> bool:
        """Queue one encoded frame; answer False if the connection is closed."""
        if self.closed.is_set():
            return False
        if len(data) > self.fragment_size:
            for piece in F.fragments(data, self.fragment_size):
                self.queue.put(piece)
        else:
            self.queue.put(data)
        return True

    def outgoing(self) -> Iterator[bytes]:
        """The stream's messages: each a batch of queued frames. Ends when closed."""
        get = self.queue.get
        get_nowait = self.queue.get_nowait
        limit = self.fragment_size + F.FRAGMENT_OVERHEAD
        carried = None                    # taken from the queue, but for the next message
        while True:
            first = carried if carried is not None else get()
            carried = None
            if first is _STOP or self.closed.is_set():
                return
            batch = [first]
            size = len(first)
            stop = False
            while size < limit:
                try:
                    more = get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop = True
                    break
                if size + len(more) > limit:
                    carried = more
                    break
                batch.append(more)
                size += len(more)
            self.last_sent = time.monotonic()
            yield batch[0] if len(batch) == 1 else b"".join(batch)
            if stop:
                return

    def pending(self) -> bool:
        """Whether frames are still waiting to be written."""
        return not self.queue.empty()

    # ------------------------------------------------------------------ receiving

    def read(self, messages: Iterable[bytes]) -> None:
        """The reader thread's loop over the stream's incoming messages."""
        reason = "the connection closed"
        try:
            for message in messages:
                self.last_received = time.monotonic()
                if self.closed.is_set():
                    return
                self._take(message)
        except F.FrameError as error:
            reason = f"bad frame: {error}"
            self.protocol_error = True
        except Exception as error:              # gRPC ends a stream with an RpcError
            reason = _describe_stream_end(error)
        self.close(reason)

    def _take(self, message: bytes) -> None:
        for_vm = []
        for spec, item in F.read_frames(message):
            if spec.name == "fragment":
                assembled = self._fragment(item[1], item[2])
                if assembled is None:
                    continue
                for inner_spec, inner in F.read_frames(assembled):
                    if inner_spec.name == "fragment":
                        raise F.FrameError("a fragment inside a fragmented frame")
                    self._dispatch(inner_spec, inner, for_vm)
            else:
                self._dispatch(spec, item, for_vm)
        if for_vm:
            self.on_frames(self, for_vm)

    def _dispatch(self, spec: F.FrameKind, item: list, for_vm: list) -> None:
        if self._partial and spec.name != "tick":
            raise F.FrameError("a frame between the fragments of another")
        if spec.side == "vm":
            for_vm.append((spec, item))
        else:
            getattr(self.transport_handler, spec.handler)(self, *item[1:])

    def _fragment(self, more: bool, chunk: bytes) -> bytes | None:
        self._partial_size += len(chunk)
        if self._partial_size > self.max_frame:
            raise F.FrameError(f"a fragmented frame over the {self.max_frame}-byte limit")
        self._partial.append(chunk)
        if more:
            return None
        assembled = b"".join(self._partial)
        self._partial = []
        self._partial_size = 0
        return assembled

    # ------------------------------------------------------------------ closing

    def finish(self) -> None:
        """End the outgoing stream after what is queued (a graceful half-close)."""
        self.queue.put(_STOP)

    def close(self, reason: str) -> None:
        with self._lock:
            if self.closed.is_set():
                return
            self.close_reason = reason
            self.closed.set()
        self.queue.put(_STOP)
        try:
            self.cancel()
        except Exception:
            pass                           # the stream is gone either way
        self.on_closed(self, reason)


def _describe_stream_end(error: Exception) -> str:
    code = getattr(error, "code", None)
    details = getattr(error, "details", None)
    if callable(code) and callable(details):
        try:
            return f"the stream ended: {code().name} {details() or ''}".rstrip()
        except Exception:
            pass
    return f"the stream ended: {type(error).__name__}"
