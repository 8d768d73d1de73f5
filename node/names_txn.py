"""Transactions on the global name table: taking a lock on every node involved, in
ascending order of node name, then committing changes everywhere (and waiting until
every node has applied them) or releasing unchanged; and the other side of it, the
locks this node grants to the transactions of its peers.

Rules:
- A transaction locks one scope (a name, or the whole table for a merge) on a fixed
  list of nodes, one after the other in name order; with first-come grants at each
  node (``node.names_locks``) no two transactions wait for each other in a circle.
- Each grant carries the granting node's report (what it knows of the scope), made
  when the lock is granted, so reports cannot be overtaken by a change.
- A node that goes away (its connection lost, or ungrouped) is skipped: its grant is
  forgotten, its acknowledgement no longer awaited, and it is told to release the
  lock it granted or was asked for. A lost node released our locks when it lost us;
  an ungrouped one is still connected and may grant the request after it was
  skipped (or hold the whole table, so that its own ungrouping, which waits for the
  table, never runs): without the release its lock would be held for ever.
- Commit: the changes are applied here, then sent to every node that granted; the
  transaction is done when each of them has answered ``global_done`` (or gone, or the
  deadline passed). So when ``Global register:`` answers true, every node of the group
  has the name.
- Every transaction has a deadline; one that cannot get its locks in time is released
  everywhere and fails (its owner decides whether to try again).
- The locks this node grants are held for (node, creation, transaction number) and
  released by the commit or release frame, or when that node goes away.

VM thread only; never blocks (every answer is a frame or a timer).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smalltalk_vm.node import frames as F
from smalltalk_vm.node.codeload import BadFrame, CodeUnavailable, NeedCode

LOCKING, LOCKED, COMMITTING, FINISHED = "locking", "locked", "committing", "finished"


@dataclass
class Txn:
    number: int
    scope: str | None
    probe: Any
    nodes: list[str]                       # to lock, in ascending name order (this node included)
    on_locked: Callable[[Txn], None]
    on_failed: Callable[[str], None]
    position: int = 0
    asked: str | None = None               # the node whose grant is awaited
    reports: dict[str, Any] = field(default_factory=dict)    # node -> its report (this node's too)
    departed: set[str] = field(default_factory=set)
    acks: set[str] = field(default_factory=set)
    on_done: Callable[[], None] | None = None
    state: str = LOCKING
    timer: Any = None

    def granted_by(self) -> set[str]:
        return set(self.reports)


class Transactions:
    """The transactions of one node and the locks it grants (``names`` is the node's
    ClusterNames: its table, locks, reports and the application of changes). VM
    thread only; never blocks; a malformed frame raises BadFrame."""

    def __init__(self, names: Any) -> None:
        self.names = names
        self.rt = names.rt
        self.scheduler = names.rt.scheduler
        self.txns: dict[int, Txn] = {}
        self.next_number = 1

    def local_key(self, number: int) -> tuple[str, int, int]:
        return self.rt.name, self.rt.creation, number

    # ------------------------------------------------------------------ driving a transaction

    def begin(self, scope: str | None, probe: Any, nodes: set[str], timeout: float,
              on_locked: Callable[[Txn], None], on_failed: Callable[[str], None]) -> Txn:
        txn = Txn(self.next_number, scope, probe, sorted(nodes | {self.rt.name}), on_locked, on_failed)
        self.next_number += 1
        self.txns[txn.number] = txn
        txn.timer = self.scheduler.add_timer(timeout, lambda: self._expired(txn))
        self._advance(txn)
        return txn

    def _advance(self, txn: Txn) -> None:
        while txn.state == LOCKING and txn.asked is None:
            if txn.position >= len(txn.nodes):
                txn.state = LOCKED
                txn.on_locked(txn)
                return
            node = txn.nodes[txn.position]
            if node == self.rt.name:
                txn.asked = node
                self.names.request_lock(self.local_key(txn.number), txn.scope,
                                        lambda: self._granted_here(txn))
                return
            view = self.rt.peers.get(node)
            if view is None or node in txn.departed:
                txn.departed.add(node)
                txn.position += 1
                continue
            txn.asked = node
            view.conn.send(F.frame("global_lock", txn.number, txn.scope,
                                   self.rt.encode(txn.probe, "a global name request")))
            return

    def _granted_here(self, txn: Txn) -> None:
        if txn.state != LOCKING or txn.asked != self.rt.name:
            self.names.release_lock(self.local_key(txn.number))
            return
        txn.reports[self.rt.name] = self.names.report(txn.scope, txn.probe)
        self._next(txn)

    def _next(self, txn: Txn) -> None:
        txn.asked = None
        txn.position += 1
        self._advance(txn)

    def on_global_granted(self, view: Any, number: int, report: bytes) -> None:
        txn = self.txns.get(number)
        if txn is None or txn.state != LOCKING or txn.asked != view.name:
            return                    # an aborted transaction: our release follows the request there
        txn.reports[view.name] = self.names.read_report(txn.scope, self._decode(view, report))
        self._next(txn)

    def node_gone(self, name: str) -> None:
        """``name`` is no longer involved (lost, or ungrouped): skip it everywhere."""
        for txn in list(self.txns.values()):
            if name not in txn.nodes or name == self.rt.name:
                continue
            asked = txn.state == LOCKING and txn.asked == name
            if txn.state in (LOCKING, LOCKED) and (asked or name in txn.reports):
                self._release_at(name, txn)
            txn.departed.add(name)
            txn.reports.pop(name, None)
            if asked:
                self._next(txn)
            elif txn.state == COMMITTING:
                txn.acks.discard(name)
                if not txn.acks:
                    self._finish(txn)

    # ------------------------------------------------------------------ ending a transaction

    def commit(self, txn: Txn, ops: list, on_done: Callable[[], None]) -> None:
        """Apply ``ops`` (change values) here and on every node that granted."""
        if txn.state != LOCKED:
            return
        txn.state = COMMITTING
        txn.on_done = on_done
        ops_value = self.rt.vm.new_array(ops)
        data = self.rt.encode(ops_value, "global name changes")
        if self.rt.name in txn.reports:
            self.names.apply(self.names.codec.read_ops(ops_value), origin=self.rt.name)
            self.names.release_lock(self.local_key(txn.number))
        for node in sorted(txn.granted_by() - {self.rt.name}):
            view = self.rt.peers.get(node)
            if view is not None:
                view.conn.send(F.frame("global_commit", txn.number, data))
                txn.acks.add(node)
        if not txn.acks:
            self._finish(txn)

    def release(self, txn: Txn) -> None:
        """End the transaction without changes."""
        self._release_everywhere(txn)
        self._end(txn)

    def abort(self, txn: Txn) -> None:
        """Release everything (also the lock still asked for); the owner is not called."""
        if txn.state in (LOCKING, LOCKED):
            self._release_everywhere(txn)
            self._end(txn)

    def _release_everywhere(self, txn: Txn) -> None:
        asked = {txn.asked} if txn.state == LOCKING and txn.asked is not None else set()
        for node in sorted(txn.granted_by() | asked):
            self._release_at(node, txn)

    def _release_at(self, node: str, txn: Txn) -> None:
        if node == self.rt.name:
            self.names.release_lock(self.local_key(txn.number))
            return
        view = self.rt.peers.get(node)
        if view is not None:
            view.conn.send(F.frame("global_release", txn.number))

    def on_global_done(self, view: Any, number: int) -> None:
        txn = self.txns.get(number)
        if txn is not None and txn.state == COMMITTING:
            txn.acks.discard(view.name)
            if not txn.acks:
                self._finish(txn)

    def _finish(self, txn: Txn) -> None:
        on_done = txn.on_done
        self._end(txn)
        if on_done is not None:
            on_done()

    def _end(self, txn: Txn) -> None:
        txn.state = FINISHED
        self.txns.pop(txn.number, None)
        if txn.timer is not None:
            self.scheduler.cancel_timer(txn.timer)
            txn.timer = None

    def _expired(self, txn: Txn) -> None:
        txn.timer = None
        if txn.state == COMMITTING:
            self._finish(txn)             # the changes are out; a silent node will be declared down
        elif txn.state in (LOCKING, LOCKED):
            self._release_everywhere(txn)
            self._end(txn)
            txn.on_failed("timeout")

    # ------------------------------------------------------------------ locks granted to peers

    def _key(self, view: Any, number: int) -> tuple[str, int, int]:
        return view.name, view.creation, number

    def on_global_lock(self, view: Any, number: int, scope: str | None, probe: bytes) -> None:
        value = self._decode(view, probe)
        key = self._key(view, number)

        def grant() -> None:
            if self.rt.peers.get(view.name) is not view:
                self.names.release_lock(key)
                return
            report = self.names.report_value(scope, value)
            view.conn.send(F.frame("global_granted", number, self.rt.encode(report, "a global name report")))
        self.names.request_lock(key, scope, grant)

    def on_global_commit(self, view: Any, number: int, ops: bytes) -> None:
        changes = self.names.codec.read_ops(self._decode(view, ops))
        key = self._key(view, number)
        if self.names.locks.holds(key):
            self.names.apply(changes, origin=view.name)
            self.names.release_lock(key)
        view.conn.send(F.frame("global_done", number))

    def on_global_release(self, view: Any, number: int) -> None:
        self.names.release_lock(self._key(view, number))

    def peer_gone(self, view: Any) -> None:
        """A peer's connection is gone: its locks here are released, and it is skipped."""
        self.names.release_owner(lambda key: key[0] == view.name and key[1] == view.creation)
        self.node_gone(view.name)

    def _decode(self, view: Any, data: bytes) -> Any:
        try:
            return self.rt.decode(view, data)
        except (CodeUnavailable, NeedCode) as error:   # these values name no class: one that names a class is broken
            raise BadFrame(str(error)) from None
