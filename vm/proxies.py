"""What the VM knows of objects that live on other nodes: the proxy (``RemoteObject``)
and the interface through which the remote-object primitives reach the node layer.

Rules:
- A proxy is pure data: (node, creation, handle, the far object's class name), its
  call timeout, and — once its node is lost, or its reference was dead on arrival —
  why it is broken. Its class is the VM's ``RemoteProxy`` (superclass nil), so every
  message it does not implement reaches ``doesNotUnderstand:arguments:`` and the node
  layer forwards it.
- A proxy refers to no VM object but its class, so nothing reachable from it can make
  a cycle: when the last reference to it goes, CPython frees it at once. The node
  layer's import table holds proxies weakly; a weakref callback may run on any thread
  (a collection can start on a gRPC thread), so the node layer's callbacks only post
  to the scheduler's inbox.
- The VM never imports the node layer: ``universe.distribution.objects`` is a
  ``RemoteObjects``, the node layer's on a node and ``NoRemoteObjects`` elsewhere.
- VM thread only; nothing here blocks: what waits for another node is answered later
  through a callback, on the VM thread.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from smalltalk_vm.vm import value as V

DEFAULT_CALL_TIMEOUT_MS = 30_000.0

# What a proxy's broken state may say (the RemoteError reason its calls fail with).
NOCONNECTION = "noconnection"
NOOBJECT = "noobject"

# ``done(ok, value)``: ok True with the answer, or False with the exception to signal.
Done = Callable[[bool, Any], None]


class RemoteObject:
    """A reference to an object of another node (see the module rules). Pure data;
    made only by the node layer."""
    __slots__ = ("__weakref__", "broken", "class_name", "cls", "creation", "handle", "ihash", "node",
                 "timeout_ms")

    def __init__(self, cls: Any, node: str, creation: int, handle: bytes, class_name: str) -> None:
        self.cls = cls
        self.node = node
        self.creation = creation
        self.handle = handle
        self.class_name = class_name
        self.timeout_ms: float | None = DEFAULT_CALL_TIMEOUT_MS   # None: wait for ever
        self.broken: str | None = None
        self.ihash = 0

    def __repr__(self) -> str:
        return f"<RemoteObject {self.class_name} on {self.node}/{self.creation} {self.handle.hex()[:8]}>"


def article(name: str) -> str:
    """'an' before a vowel, as Class>>article says."""
    return "an" if name[:1] in "AEIOU" and name else "a"


def describe(proxy: RemoteObject) -> str:
    """A proxy's printString: local knowledge only (no round trip)."""
    state = f", broken: #{proxy.broken}" if proxy.broken else ""
    return f"a RemoteProxy({article(proxy.class_name)} {proxy.class_name} on #{proxy.node}{state})"


class RemoteObjects(ABC):
    """What the remote-object primitives ask of the node layer. VM thread only; no
    method blocks. A problem the calling program caused (an argument that cannot be
    sent) is raised as ``SignalException``; everything that happens later answers
    through ``done`` or settles a Promise."""

    @abstractmethod
    def call(self, proc: Any, proxy: RemoteObject, selector: str, args: list, done: Done) -> None:
        """Send ``selector`` with ``args`` to the far object; ``done`` gets the answer."""

    @abstractmethod
    def eventual(self, receiver: Any, selector: str, args: list) -> Any:
        """``receiver ~> selector args`` when it must cross to another node (a proxy, a
        Promise of a remote answer, a Promise fulfilled with a proxy): the Promise of
        its answer. None when the send is local (the library then queues it)."""

    @abstractmethod
    def node_of(self, proxy: RemoteObject) -> Any:
        """The Node the far object lives on."""

    @abstractmethod
    def next_call(self, proc: Any) -> Any:
        """For a serving process: the next call to run, as an Array {receiver.
        selector. arguments. ticket}, or nil when there is none (the process ends)."""

    @abstractmethod
    def answer(self, ticket: int, value: Any) -> bool:
        """The call of ``ticket`` answered ``value``; False for an unknown ticket."""

    @abstractmethod
    def fail(self, ticket: int, class_name: str, text: str, trace: str) -> bool:
        """The call of ``ticket`` signalled an exception of ``class_name`` with the
        messageText ``text`` at ``trace`` (or the promise it answered broke)."""

    @abstractmethod
    def report(self, what: str) -> tuple[int, dict[str, int]]:
        """``exports`` or ``imports``: the total and the count per peer node."""


class NoRemoteObjects(RemoteObjects):
    """A VM that is not a node: nothing is exported or imported, no proxy exists, and
    every eventual send is local."""

    def call(self, proc: Any, proxy: RemoteObject, selector: str, args: list, done: Done) -> None:
        raise AssertionError("a proxy on a VM that is not a node")   # none can be made

    def eventual(self, receiver: Any, selector: str, args: list) -> Any:
        return None

    def node_of(self, proxy: RemoteObject) -> Any:
        return V.NIL

    def next_call(self, proc: Any) -> Any:
        return V.NIL

    def answer(self, ticket: int, value: Any) -> bool:
        return False

    def fail(self, ticket: int, class_name: str, text: str, trace: str) -> bool:
        return False

    def report(self, what: str) -> tuple[int, dict[str, int]]:
        return 0, {}
