"""Global names on a node: the table this node shares with its group, the operations
the ``Global`` primitives ask for, and the dispatch of the global-name frames.

Rules:
- Every change to the table is a transaction (``node.names_txn``) holding the name's
  lock on every node of the group: registering, unregistering, and removing the name
  of a process that died. A registration is decided under those locks from the
  reports of every node: the name is taken if a node names a holder that the holder's
  own node confirms (a process's node is the authority on whether it holds a name);
  the registered process must be alive by its own node's word.
- A process that dies loses its name here at once (before its links and monitors are
  told), its peers are told at once (``global_gone``, ahead of any Down or Exit they
  get), and a transaction then removes it everywhere under the lock (so that a merge
  in progress cannot bring it back).
- The table only holds processes of this node and of the nodes of its group: a change
  naming another node's process is not taken, and the names of a node that is lost or
  leaves the group are dropped.
- Which nodes form the group, merges and splits, and NodeUp: ``node.names_groups``;
  resolvers: ``node.names_resolve``.

VM thread only; never blocks. Operations answer through their ``reply``.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any

from smalltalk_vm.node import frames as F
from smalltalk_vm.node.codeload import BadFrame, CodeUnavailable, NeedCode
from smalltalk_vm.node.names_groups import Groups
from smalltalk_vm.node.names_locks import WHOLE, LockTable
from smalltalk_vm.node.names_resolve import Resolvers
from smalltalk_vm.node.names_txn import Transactions, Txn
from smalltalk_vm.node.names_wire import NameReport, NamesCodec, WholeReport
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.distribution import RemoteProcess
from smalltalk_vm.vm.globalnames import Entry, GlobalNames, NameTable, Reply, is_process
from smalltalk_vm.vm.process import Process

DROP_RETRY = 1.0


class ClusterNames(GlobalNames):
    """The global names of one node (``runtime`` is its NodeRuntime). VM thread only;
    never blocks; frame handlers raise BadFrame for malformed frames."""

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime
        self.vm = runtime.vm
        self.scheduler = runtime.scheduler
        self.codec = NamesCodec(self.vm)
        self.table = NameTable()
        self.locks = LockTable()
        self.group: set[str] = set()
        self.deferred: list[Callable[[], None]] = []
        self.txns = Transactions(self)
        self.groups = Groups(self)
        self.resolvers = Resolvers(self)
        self.repoints = 0                 # names of moved processes being moved to the new pid
        # First, so that the name is gone before links and monitors are told.
        self.scheduler.on_death.insert(0, self._died)

    def call_timeout(self) -> float:
        return max(30.0, 2 * self.rt.config.tick)

    def internal_timeout(self) -> float:
        return max(10.0, 2 * self.rt.config.tick)

    # ------------------------------------------------------------------ who is who

    def node_name_of(self, pid: Any) -> str:
        return pid.node if type(pid) is RemoteProcess else self.rt.name

    def _grouped_process(self, pid: Any) -> bool:
        """A live process of this node, or a process of a node of the group."""
        if type(pid) is Process:
            return pid.alive
        view = self.rt.peers.get(pid.node)
        return pid.node in self.group and view is not None and view.creation == pid.creation

    # ------------------------------------------------------------------ the Global API

    def named(self, name: str) -> Any:
        entry = self.table.get(name)
        return entry.pid if entry is not None else V.NIL

    def names(self) -> list[str]:
        return self.table.names()

    def register(self, name: str, target: Any, resolver: Any, reply: Reply) -> None:
        if not self._grouped_process(target):
            reply(V.FALSE)
            return

        def locked(txn: Txn) -> None:
            if not self._free_for(txn, name, target):
                self.txns.release(txn)
                reply(V.FALSE)
                return
            if resolver != V.NIL:
                self.resolvers.keep(name, target, resolver)
            entry = Entry(target, self.rt.name, resolver != V.NIL)
            self.txns.commit(txn, [self.codec.set_op(name, entry)], lambda: reply(V.TRUE))
        self._transaction(name, target, locked, lambda why: reply(self._busy("register:", name, why)),
                          self.call_timeout())

    def unregister(self, name: str, reply: Reply) -> None:
        def locked(txn: Txn) -> None:
            entry = self.table.get(name)
            if entry is None:
                self.txns.release(txn)
                reply(V.FALSE)
                return
            self.txns.commit(txn, [self.codec.drop_op(name, entry.pid)], lambda: reply(V.TRUE))
        self._transaction(name, V.NIL, locked, lambda why: reply(self._busy("unregister:", name, why)),
                          self.call_timeout())

    def repoint(self, old: Any, new: Any) -> None:
        """The process holding a name moved (``node.migration``): the name now names
        ``new``, on every node of the group, in one transaction (tried again until it
        is done, as long as ``old`` still holds it; until then ``old`` forwards)."""
        name = self.table.name_of(old)
        if name is None:
            return
        self.repoints += 1

        def finished() -> None:
            self.repoints -= 1

        def locked(txn: Txn) -> None:
            entry = self.table.get(name)
            if entry is None or entry.pid is not old:
                self.txns.release(txn)
                finished()
                return
            moved = Entry(new, entry.registrar, entry.custom)
            self.txns.commit(txn, [self.codec.drop_op(name, old), self.codec.set_op(name, moved)], finished)

        def failed(why: str) -> None:
            finished()
            if old.alive:
                self.scheduler.add_timer(DROP_RETRY, lambda: self.repoint(old, new))
        self._transaction(name, V.NIL, locked, failed, self.internal_timeout())

    def _busy(self, selector: str, name: str, why: str) -> Any:
        return self.vm.make_exception(
            "Error", f"Global {selector} #{name}: the nodes of the group did not agree in time ({why})")

    def _transaction(self, name: str, probe: Any, locked: Callable[[Txn], None],
                     failed: Callable[[str], None], timeout: float) -> None:
        """Lock ``name`` on the group; if the group grew while the locks were being
        taken (a merge), start again with the new group."""
        deadline = time.monotonic() + timeout

        def on_locked(txn: Txn) -> None:
            if (self.group | {self.rt.name}) - set(txn.nodes):
                self.txns.abort(txn)
                attempt()
                return
            locked(txn)

        def attempt() -> None:
            left = deadline - time.monotonic()
            if left <= 0:
                failed("timeout")
                return
            self.txns.begin(name, probe, set(self.group), left, on_locked, failed)
        attempt()

    def _free_for(self, txn: Txn, name: str, target: Any) -> bool:
        """Under the locks: may ``target`` take ``name``?"""
        reports: dict[str, NameReport] = txn.reports
        if type(target) is Process:
            alive = target.alive
        else:
            home = reports.get(target.node)
            alive = home is not None and home.probe_alive is True and self._grouped_process(target)
        if not alive or self.table.name_of(target) is not None:
            return False
        holders = [r.holder for r in reports.values() if r.holder is not None]
        entry = self.table.get(name)
        if entry is not None:
            holders.append(entry.pid)
        return not any(self._holds(holder, name, reports) for holder in holders)

    def _holds(self, holder: Any, name: str, reports: dict[str, NameReport]) -> bool:
        home = self.node_name_of(holder)
        if home == self.rt.name:
            entry = self.table.get(name)
            return entry is not None and entry.pid is holder and holder.alive
        report = reports.get(home)
        if report is not None:
            return report.holder is holder
        view = self.rt.peers.get(home)
        # Its node was not asked: if this node can see it (it is not in the group, but
        # connected), assume it holds the name; a node that is gone holds nothing.
        return view is not None and view.creation == holder.creation

    # ------------------------------------------------------------------ deaths

    def _died(self, proc: Any, reason: Any) -> None:
        self.resolvers.died(proc, reason)
        name = self.table.name_of(proc)
        if name is None:
            return
        self.table.drop(name, proc)
        self.resolvers.prune()
        gone = None
        for peer in sorted(self.group):
            if gone is None:
                gone = F.frame("global_gone", name, self.rt.encode(proc, "a process"))
            self.rt.peers[peer].conn.send(gone)
        self._drop_everywhere(name, proc)

    def _drop_everywhere(self, name: str, pid: Any) -> None:
        """Remove ``name`` (if ``pid`` still holds it) from every node of the group,
        under the name's lock; tried again until it is done."""
        if not self.group:
            return

        def locked(txn: Txn) -> None:
            self.txns.commit(txn, [self.codec.drop_op(name, pid)], lambda: None)

        def failed(why: str) -> None:
            self.scheduler.add_timer(DROP_RETRY, lambda: self._drop_everywhere(name, pid))
        self._transaction(name, V.NIL, locked, failed, self.internal_timeout())

    def on_global_gone(self, view: Any, name: str, process: bytes) -> None:
        pid = self._decode(view, process)
        if not is_process(pid) or self.node_name_of(pid) != view.name:
            raise BadFrame("global_gone names a process of its sender")
        if self.table.drop(name, pid) is not None:
            self.resolvers.prune()

    # ------------------------------------------------------------------ locks, reports, changes

    def request_lock(self, key: Hashable, scope: str | None, grant: Callable[[], None]) -> None:
        self.locks.request(key, scope, grant)

    def release_lock(self, key: Hashable) -> None:
        self.locks.release(key)
        self._run_deferred()

    def release_owner(self, owner: Callable[[Hashable], bool]) -> None:
        self.locks.release_owner(owner)
        self._run_deferred()

    def when_table_free(self, action: Callable[[], None]) -> None:
        """Run ``action`` now, or once no merge holds this node's table."""
        if self.locks.whole_held():
            self.deferred.append(action)
        else:
            action()

    def _run_deferred(self) -> None:
        while self.deferred and not self.locks.whole_held():
            self.deferred.pop(0)()

    def report(self, scope: str | None, probe: Any) -> NameReport | WholeReport:
        """What this node knows of ``scope`` (made when its lock is granted)."""
        if scope is WHOLE:
            return WholeReport(dict(self.table.entries), set(self.group), set(self.rt.peers))
        entry = self.table.get(scope)
        alive = probe.alive if type(probe) is Process else None
        return NameReport(entry.pid if entry is not None else None, alive)

    def report_value(self, scope: str | None, probe: Any) -> Any:
        report = self.report(scope, probe)
        if scope is WHOLE:
            return self.codec.whole_report(report.entries, report.group, report.peers)
        return self.codec.name_report(report.holder, report.probe_alive)

    def read_report(self, scope: str | None, value: Any) -> NameReport | WholeReport:
        if scope is WHOLE:
            return self.codec.read_whole_report(value)
        return self.codec.read_name_report(value)

    def apply(self, ops: list[tuple], origin: str) -> None:
        """Apply the changes a transaction committed (here, or from ``origin``)."""
        for op in ops:
            if op[0] == "set":
                self._set(op[1], op[2])
            elif op[0] == "drop":
                self.table.drop(op[1], op[2])
            else:
                self.groups.apply_merge(op[1], op[2])
        self.resolvers.prune()

    def _set(self, name: str, entry: Entry) -> None:
        if self._grouped_process(entry.pid):
            self.table.set(name, entry)
        elif type(entry.pid) is Process:       # it died while its registration was agreed
            self._drop_everywhere(name, entry.pid)

    def replace_table(self, entries: dict[str, Entry]) -> None:
        kept = {}
        for name, entry in entries.items():
            if self._grouped_process(entry.pid):
                kept[name] = entry
            elif type(entry.pid) is Process:
                self._drop_everywhere(name, entry.pid)
        self.table.replace(kept)

    def drop_names_of(self, node: str, creation: int) -> None:
        self.table.drop_where(lambda e: type(e.pid) is RemoteProcess and e.pid.node == node
                              and e.pid.creation == creation)
        self.resolvers.prune()

    # ------------------------------------------------------------------ connections (from the runtime)

    def peer_up(self, view: Any) -> None:
        self.groups.peer_up(view)

    def peer_down(self, view: Any, reason: str) -> None:
        self.groups.peer_down(view, reason)

    # ------------------------------------------------------------------ frames

    def on_global_lock(self, view: Any, txn: int, name: str | None, probe: bytes) -> None:
        self.txns.on_global_lock(view, txn, name, probe)

    def on_global_granted(self, view: Any, txn: int, report: bytes) -> None:
        self.txns.on_global_granted(view, txn, report)

    def on_global_commit(self, view: Any, txn: int, ops: bytes) -> None:
        self.txns.on_global_commit(view, txn, ops)

    def on_global_release(self, view: Any, txn: int) -> None:
        self.txns.on_global_release(view, txn)

    def on_global_done(self, view: Any, txn: int) -> None:
        self.txns.on_global_done(view, txn)

    def on_global_lost(self, view: Any, *fields: Any) -> None:
        self.groups.on_global_lost(view, *fields)

    def on_global_ungroup(self, view: Any) -> None:
        self.groups.on_global_ungroup(view)

    def on_global_resolve(self, view: Any, *fields: Any) -> None:
        self.resolvers.on_global_resolve(view, *fields)

    def on_global_resolved(self, view: Any, *fields: Any) -> None:
        self.resolvers.on_global_resolved(view, *fields)

    def _decode(self, view: Any, data: bytes) -> Any:
        try:
            return self.rt.decode(view, data)
        except (CodeUnavailable, NeedCode) as error:
            raise BadFrame(str(error)) from None
