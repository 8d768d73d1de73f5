"""The objects this node exports: the handle of each, which peers import it and until
when (leases), and dropping what nobody holds any more.

Rules (DISTRIBUTION §6):
- A handle is 128 random bits from ``secrets``, a swiss number: unguessable, so
  holding it is the capability. An object exported twice has one handle.
- An object is exported when a reference to it is first sent; the peer it is sent to
  becomes an importer, counting the times it was sent there. Counting happens once the
  message is completely encoded (``Outgoing.commit`` in ``node.objects``): a message
  that cannot be sent counts nothing and leaves no export behind.
- Each importer's lease runs, from the last renewal or sending, for the longer of this
  node's lease and the one the importer announces in its renewals; the lapse check
  runs every lease/3.
- A release subtracts the times the importer received the reference, so a reference
  still in flight keeps its importer. An acquire (a third node got the reference from
  an importer) counts one for that node and tells the node that passed it on.
- An export is dropped when no importer is left: released, lapsed, or its node down.
  A call on a dropped or unknown handle fails with ``#noobject`` (``node.calls``).

VM thread only; never blocks. Frame handlers take the peer's view first.
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from smalltalk_vm.node import frames as F


@dataclass
class Importer:
    count: int = 0          # times the reference was sent (or handed) to it, not yet released
    expires: float = 0.0    # time.monotonic() when its lease lapses


@dataclass(eq=False)
class Export:
    handle: bytes
    obj: Any
    class_name: str
    importers: dict[str, Importer] = field(default_factory=dict)


class Exports:
    """The export table of one node runtime (``runtime``). VM thread only; never
    blocks; raises nothing for what a peer sends (unknown handles are ignored)."""

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime
        self.vm = runtime.vm
        self.by_handle: dict[bytes, Export] = {}
        self.by_object: dict[int, Export] = {}        # id() of the object, which its Export holds
        self.peer_leases: dict[str, float] = {}       # seconds, as announced in renewals

    def lease_for(self, peer: str) -> float:
        return max(self.rt.config.lease_ms / 1000.0, self.peer_leases.get(peer, 0.0))

    # ------------------------------------------------------------------ exporting

    def export(self, obj: Any) -> tuple[Export, bool]:
        """The export of ``obj`` and whether it was made now."""
        found = self.by_object.get(id(obj))
        if found is not None:
            return found, False
        handle = secrets.token_bytes(F.HANDLE_SIZE)
        while handle in self.by_handle:            # 2^-128: but a handle names one object
            handle = secrets.token_bytes(F.HANDLE_SIZE)
        export = Export(handle, obj, self.vm.class_of(obj).name)
        self.by_handle[handle] = export
        self.by_object[id(obj)] = export
        return export, True

    def count_sent(self, export: Export, peer: str, now: float) -> None:
        importer = export.importers.get(peer)
        if importer is None:
            importer = export.importers[peer] = Importer()
        importer.count += 1
        importer.expires = now + self.lease_for(peer)

    def forget_if_unheld(self, export: Export) -> None:
        if not export.importers and self.by_handle.get(export.handle) is export:
            del self.by_handle[export.handle]
            del self.by_object[id(export.obj)]

    def lookup(self, handle: bytes) -> Export | None:
        return self.by_handle.get(handle)

    # ------------------------------------------------------------------ frames from importers

    def on_renew(self, view: Any, lease_ms: int, handles: list) -> None:
        self.peer_leases[view.name] = min(lease_ms, 1 << 40) / 1000.0
        expires = time.monotonic() + self.lease_for(view.name)
        for handle in handles:
            export = self.by_handle.get(handle)
            importer = export.importers.get(view.name) if export is not None else None
            if importer is not None:
                importer.expires = expires

    def on_release(self, view: Any, releases: list) -> None:
        for handle, count in releases:
            export = self.by_handle.get(handle)
            importer = export.importers.get(view.name) if export is not None else None
            if importer is None:
                continue
            importer.count -= count
            if importer.count <= 0:
                del export.importers[view.name]
                self.forget_if_unheld(export)

    def on_acquire(self, view: Any, handle: bytes, via: str, handoff: int) -> None:
        export = self.by_handle.get(handle)
        if export is not None:
            self.count_sent(export, view.name, time.monotonic())
        if handoff and via not in (view.name, self.rt.name):
            passer = self.rt.peers.get(via)
            if passer is not None:
                passer.conn.send(F.frame("handoff_done", handoff))

    # ------------------------------------------------------------------ leases and losses

    def lapse(self, now: float) -> None:
        """Drop the importers whose lease lapsed, and the exports nobody holds."""
        for export in list(self.by_handle.values()):
            lapsed = [peer for peer, importer in export.importers.items() if importer.expires < now]
            for peer in lapsed:
                del export.importers[peer]
            if lapsed:
                self.forget_if_unheld(export)

    def node_lost(self, name: str) -> None:
        self.peer_leases.pop(name, None)
        for export in list(self.by_handle.values()):
            if export.importers.pop(name, None) is not None:
                self.forget_if_unheld(export)

    def report(self) -> tuple[int, dict[str, int]]:
        per_node: dict[str, int] = {}
        for export in self.by_handle.values():
            for peer in export.importers:
                per_node[peer] = per_node.get(peer, 0) + 1
        return len(self.by_handle), per_node
