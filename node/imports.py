"""The references this node holds to objects of other nodes: one proxy per reference,
its renewals, its release when the proxy is collected, and the references it passes
on to third nodes.

Rules (DISTRIBUTION §6):
- The import table holds each proxy through a weak reference only, so a proxy nobody
  uses is freed by CPython (``vm.proxies``). The weakref callback may run on any
  thread: it only posts to the scheduler's inbox; the VM thread then releases the
  reference (if no newer proxy replaced it meanwhile) with the number of times it was
  received. Releases to one peer go in one frame.
- Every lease/3 each peer gets one ``renew`` frame naming every handle held from it;
  every peer gets an empty one as soon as it is up, which tells it this node's lease.
- A reference is registered (counted as received, and acquired from its exporter if
  it came from a third node) only once its message has decoded completely
  (``Incoming.commit`` in ``node.objects``): a frame decoded again after its code came
  counts once.
- Passing a reference on to a third node keeps the proxy (so the import) alive until
  the exporter confirms that node's acquire (``handoff_done``), or either node is lost.
- When a node is lost its proxies are broken for good (E's rule): they stay broken if
  the node comes back, and their calls fail with ``#noconnection``. A reference to a
  node that is not connected, or to an old incarnation, is broken on arrival.

VM thread only, except the weakref callbacks (any thread: they only post). Never
blocks.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

from smalltalk_vm.node import frames as F
from smalltalk_vm.vm.proxies import NOCONNECTION, NOOBJECT, RemoteObject

Key = tuple[str, int, bytes]          # (node, creation, handle)


@dataclass(eq=False)
class Import:
    key: Key
    ref: weakref.ref
    received: int = 0


@dataclass(eq=False)
class Handoff:
    proxy: RemoteObject       # held, so the import stays until the recipient has it
    recipient: str
    exporter: str


class Imports:
    """The import table of one node runtime (``runtime``). VM thread only (the weakref
    callbacks it installs only post); never blocks; ignores what a peer sends that
    matches nothing."""

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime
        self.vm = runtime.vm
        self.entries: dict[Key, Import] = {}
        self.broken: weakref.WeakValueDictionary = weakref.WeakValueDictionary()   # canonical broken proxies
        self.handoffs: dict[int, Handoff] = {}
        self.next_handoff = 1
        self.pending_releases: dict[tuple[str, int], list] = {}
        self.flush_posted = False

    def _reach(self, node: str, creation: int) -> Any:
        view = self.rt.peers.get(node)
        return view if view is not None and view.creation == creation else None

    # ------------------------------------------------------------------ proxies

    def proxy(self, node: str, creation: int, handle: bytes, class_name: str) -> RemoteObject:
        """The proxy for a reference that arrived: the live one if there is one, a
        fresh one if its node is reachable (registered later), else a broken one."""
        key = (node, creation, handle)
        entry = self.entries.get(key)
        if entry is not None:
            found = entry.ref()
            if found is not None:
                return found
        cls = self.vm.kernel_class("RemoteProxy")
        view = self.rt.peers.get(node)
        if view is not None and view.creation == creation:
            return RemoteObject(cls, node, creation, handle, class_name)
        found = self.broken.get(key)
        if found is None:
            found = RemoteObject(cls, node, creation, handle, class_name)
            found.broken = NOCONNECTION if view is None else NOOBJECT
            self.broken[key] = found
        return found

    def dead_reference(self, node: str, creation: int, handle: bytes, class_name: str) -> RemoteObject:
        """A reference to this node that names nothing exported (any more): a broken
        proxy, whose calls fail with #noobject."""
        key = (node, creation, handle)
        found = self.broken.get(key)
        if found is None:
            found = RemoteObject(self.vm.kernel_class("RemoteProxy"), node, creation, handle, class_name)
            found.broken = NOOBJECT
            self.broken[key] = found
        return found

    def register(self, proxy: RemoteObject, sender: str, handoff: int) -> None:
        """Count one reception of ``proxy``'s reference, from ``sender``."""
        key = (proxy.node, proxy.creation, proxy.handle)
        entry = self.entries.get(key)
        if entry is None:
            entry = self.entries[key] = Import(key, weakref.ref(proxy, self._on_collected(key)))
        elif entry.ref() is not proxy:          # the old proxy was collected: a new one takes over
            entry.ref = weakref.ref(proxy, self._on_collected(key))
        entry.received += 1
        if sender != proxy.node:
            exporter = self._reach(proxy.node, proxy.creation)
            if exporter is not None:
                exporter.conn.send(F.frame("acquire", proxy.handle, sender, handoff))

    def _on_collected(self, key: Key) -> Any:
        post = self.rt.scheduler.post

        def collected(ref: weakref.ref) -> None:      # any thread: only post
            post(lambda: self._release(key, ref))
        return collected

    def _release(self, key: Key, ref: weakref.ref) -> None:
        entry = self.entries.get(key)
        if entry is None or entry.ref is not ref:
            return                                  # broken meanwhile, or a newer proxy took over
        del self.entries[key]
        node, creation, handle = key
        self.pending_releases.setdefault((node, creation), []).append([handle, entry.received])
        if not self.flush_posted:
            self.flush_posted = True
            self.rt.scheduler.post(self.flush_releases)

    def flush_releases(self) -> None:
        self.flush_posted = False
        pending, self.pending_releases = self.pending_releases, {}
        for (node, creation), releases in pending.items():
            view = self._reach(node, creation)
            if view is not None:
                view.conn.send(F.frame("release", releases))

    # ------------------------------------------------------------------ leases

    def renew(self) -> None:
        """One renew frame per peer, naming every handle held from it."""
        per_node: dict[tuple[str, int], list] = {}
        for node, creation, handle in self.entries:
            per_node.setdefault((node, creation), []).append(handle)
        for (node, creation), handles in per_node.items():
            view = self._reach(node, creation)
            if view is not None:
                view.conn.send(F.frame("renew", self.rt.config.lease_ms, handles))

    def announce(self, view: Any) -> None:
        view.conn.send(F.frame("renew", self.rt.config.lease_ms, []))

    # ------------------------------------------------------------------ passing references on

    def handoff_number(self) -> int:
        number = self.next_handoff
        self.next_handoff += 1
        return number

    def hold(self, number: int, proxy: RemoteObject, recipient: str) -> None:
        """Keep ``proxy`` alive until its exporter confirms that ``recipient`` holds it."""
        self.handoffs[number] = Handoff(proxy, recipient, proxy.node)

    def on_handoff_done(self, view: Any, handoff: int) -> None:
        held = self.handoffs.get(handoff)
        if held is not None and held.exporter == view.name:
            del self.handoffs[handoff]

    # ------------------------------------------------------------------ losses

    def node_lost(self, name: str) -> None:
        for key in [k for k in self.entries if k[0] == name]:
            proxy = self.entries.pop(key).ref()
            if proxy is not None:
                proxy.broken = NOCONNECTION
                self.broken[key] = proxy
        for number in [n for n, h in self.handoffs.items() if name in (h.recipient, h.exporter)]:
            del self.handoffs[number]
        for pending in [p for p in self.pending_releases if p[0] == name]:
            del self.pending_releases[pending]

    def report(self) -> tuple[int, dict[str, int]]:
        per_node: dict[str, int] = {}
        for node, _, _ in self.entries:
            per_node[node] = per_node.get(node, 0) + 1
        return len(self.entries), per_node
