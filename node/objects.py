"""Remote objects on a node: what the VM's remote-object primitives call
(``vm.proxies.RemoteObjects``), the codec hooks through which references travel in
messages, and the timers of leases — over the export table (``node.exports``), the
import table (``node.imports``) and the calls (``node.calls``).

Rules:
- An object travels by reference when it is a proxy, ``asRemote``'s ByReference
  wrapper, or an instance of a class whose class side answers a literal ``true`` to
  ``passByReference`` (checked without running it: the codec cannot run Smalltalk;
  a computed answer is a WireError naming the class). Everything else travels by
  value.
- References are counted per message, once it has been encoded (``Outgoing``) or
  decoded (``Incoming``) completely; a message that fails counts nothing.
- A reference sent to the node that exports it is just the reference; one sent to a
  third node holds the proxy until that node's acquire is confirmed. A reference
  arriving at its home node is the object itself.
- Every lease/3 this node renews what it imports and drops the importers whose lease
  lapsed; a peer that comes up is told this node's lease at once.

VM thread only; never blocks.
"""
from __future__ import annotations

import time
from typing import Any

from smalltalk_vm.node.calls import Calls
from smalltalk_vm.node.exports import Exports
from smalltalk_vm.node.imports import Imports
from smalltalk_vm.node.wire_tags import WireError
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.objects import KIND_CONSTANT, Instance
from smalltalk_vm.vm.proxies import Done, RemoteObject, RemoteObjects


class Outgoing:
    """The codec's NodeRefs for one message to ``view`` (None: a value that must not
    hold references). A reference asked for again answers what it answered first and
    counts nothing more: a faster writer that gives up partway leaves the message to
    the next, which meets the same references (one count and one handoff per object and
    message). VM thread only."""
    __slots__ = ("answered", "created", "holds", "node_class", "rt", "sent", "table", "view")

    def __init__(self, table: RemoteObjectTable, view: Any) -> None:
        self.table = table
        self.rt = table.rt
        self.view = view
        self.node_class = table.rt.node_class
        self.sent: list = []
        self.created: list = []
        self.holds: list = []
        self.answered: dict[int, tuple] = {}     # id of each object referred to -> its record

    def process_identity(self, proc: Any) -> tuple[str, int, int]:
        return self.rt.process_identity(proc)

    def node_identity(self, node: Any) -> tuple[str, int]:
        return self.rt.node_identity(node)

    def process(self, node: str, creation: int, number: int) -> Any:
        return self.rt.process(node, creation, number)

    def node(self, name: str, creation: int) -> Any:
        return self.rt.node(name, creation)

    def by_reference(self, value: Any) -> bool:
        return self.table.by_reference(value)

    def remote_object(self, node: str, creation: int, handle: bytes, class_name: str, handoff: int) -> Any:
        raise WireError("a reference is not decoded by an outgoing message")

    def reference(self, value: Any) -> tuple[str, int, bytes, str, int]:
        if self.view is None:
            raise WireError("a reference to an object cannot travel here")
        obj = self.table.unwrap(value)
        found = self.answered.get(id(obj))
        if found is not None:
            return found
        if type(obj) is RemoteObject:
            handoff = 0
            if obj.node != self.view.name and not obj.broken:
                handoff = self.table.imports.handoff_number()
                self.holds.append((handoff, obj))
            found = (obj.node, obj.creation, obj.handle, obj.class_name, handoff)
        elif type(obj) is int or type(obj) is float:
            raise WireError("an immediate value has no identity to travel by reference")
        else:
            export, made = self.table.exports.export(obj)
            if made:
                self.created.append(export)
            self.sent.append(export)
            found = (self.rt.name, self.rt.creation, export.handle, export.class_name, 0)
        self.answered[id(obj)] = found
        return found

    def commit(self) -> None:
        if self.sent:
            now = time.monotonic()
            exports = self.table.exports
            for export in self.sent:
                exports.count_sent(export, self.view.name, now)
        for number, proxy in self.holds:
            self.table.imports.hold(number, proxy, self.view.name)

    def abort(self) -> None:
        for export in self.created:
            self.table.exports.forget_if_unheld(export)


class Incoming:
    """The codec's NodeRefs for one message from ``view``. VM thread only."""
    __slots__ = ("local", "node_class", "received", "references", "rt", "table", "view")

    def __init__(self, table: RemoteObjectTable, view: Any) -> None:
        self.table = table
        self.rt = table.rt
        self.view = view
        self.node_class = table.rt.node_class
        self.local: dict = {}
        self.received: list = []
        self.references: list = []          # (home node, the value it decoded to)

    def process_identity(self, proc: Any) -> tuple[str, int, int]:
        return self.rt.process_identity(proc)

    def node_identity(self, node: Any) -> tuple[str, int]:
        return self.rt.node_identity(node)

    def process(self, node: str, creation: int, number: int) -> Any:
        return self.rt.process(node, creation, number)

    def node(self, name: str, creation: int) -> Any:
        return self.rt.node(name, creation)

    def by_reference(self, value: Any) -> bool:
        return False

    def reference(self, value: Any) -> tuple[str, int, bytes, str, int]:
        raise WireError("an incoming message encodes nothing")

    def remote_object(self, node: str, creation: int, handle: bytes, class_name: str, handoff: int) -> Any:
        rt = self.rt
        imports = self.table.imports
        if node == rt.name:
            export = self.table.exports.lookup(handle) if creation == rt.creation else None
            found = export.obj if export is not None else imports.dead_reference(node, creation, handle, class_name)
            self.references.append((node, found))
            return found
        key = (node, creation, handle)
        proxy = self.local.get(key)
        if proxy is None:
            proxy = self.local[key] = imports.proxy(node, creation, handle, class_name)
        if not proxy.broken:
            self.received.append((proxy, handoff))
        self.references.append((node, proxy))
        return proxy

    def commit(self) -> None:
        sender = self.view.name
        for proxy, handoff in self.received:
            self.table.imports.register(proxy, sender, handoff)

    def reference_node(self, value: Any) -> str | None:
        """The home node of ``value`` if the message's value was a reference."""
        for node, found in self.references:
            if found is value:
                return node
        return None


class RemoteObjectTable(RemoteObjects):
    """Remote objects of one node runtime (``runtime``): the VM's interface
    (``vm.proxies.RemoteObjects``), the codec adapters, and peer events. VM thread
    only; never blocks; raises SignalException into a program that sends what cannot
    travel."""

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime
        self.vm = runtime.vm
        self.exports = Exports(runtime)
        self.imports = Imports(runtime)
        self.calls = Calls(self)
        self.frame_handlers = (self.calls, self.exports, self.imports)
        self._by_reference: dict[Any, tuple[Any, bool]] = {}
        self._timers_started = False

    # ------------------------------------------------------------------ the codec

    def outgoing(self, view: Any) -> Outgoing:
        return Outgoing(self, view)

    def incoming(self, view: Any) -> Incoming:
        return Incoming(self, view)

    def unwrap(self, value: Any) -> Any:
        wrapper = self.vm.kernel_class("ByReference")
        while type(value) is Instance and value.cls is wrapper:
            value = value.fields[self.vm.field_index(wrapper, "object")]
        return value

    def by_reference(self, value: Any) -> bool:
        vm = self.vm
        cls = value.cls
        if cls is vm.kernel_class("ByReference"):
            inner = self.unwrap(value)
            return not (type(inner) is int or type(inner) is float)
        meta = cls.cls
        cached = self._by_reference.get(cls)
        if cached is not None and cached[0] is meta.token:
            return cached[1]
        method = vm.lookup(meta, "passByReference")
        if method is None:
            answer = False
        elif method.kind == KIND_CONSTANT and method.trivial in (V.TRUE, V.FALSE):
            answer = method.trivial == V.TRUE
        else:
            raise WireError(f"{cls.name} class>>passByReference must answer a literal true or false")
        self._by_reference[cls] = (meta.token, answer)
        return answer

    # ------------------------------------------------------------------ the VM's interface

    def call(self, proc: Any, proxy: RemoteObject, selector: str, args: list, done: Done) -> None:
        self.calls.call(proc, proxy, selector, args, done)

    def eventual(self, receiver: Any, selector: str, args: list) -> Any:
        return self.calls.eventual(receiver, selector, args)

    def node_of(self, proxy: RemoteObject) -> Any:
        return self.rt.nodes.get(proxy.node, proxy.creation)

    def next_call(self, proc: Any) -> Any:
        return self.calls.next_call(proc)

    def answer(self, ticket: int, value: Any) -> bool:
        return self.calls.answer(ticket, value)

    def fail(self, ticket: int, class_name: str, text: str, trace: str) -> bool:
        return self.calls.fail(ticket, class_name, text, trace)

    def report(self, what: str) -> tuple[int, dict[str, int]]:
        return self.exports.report() if what == "exports" else self.imports.report()

    # ------------------------------------------------------------------ peers and leases

    def peer_up(self, view: Any) -> None:
        if not self._timers_started:
            self._timers_started = True
            period = self.rt.config.lease_ms / 3000.0
            self._every(period, self.imports.renew)
            self._every(period, lambda: self.exports.lapse(time.monotonic()))
        self.imports.announce(view)

    def _every(self, seconds: float, action: Any) -> None:
        scheduler = self.vm.scheduler

        def run() -> None:
            try:
                action()
            finally:
                scheduler.add_timer(seconds, run)
        scheduler.add_timer(seconds, run)

    def node_lost(self, view: Any) -> None:
        self.calls.node_lost(view.name)
        self.imports.node_lost(view.name)
        self.exports.node_lost(view.name)
