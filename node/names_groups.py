"""Which nodes share global names: this node's group, how groups merge when nodes
connect, how they split when a connection is lost, and the NodeUp that waits for it.

Rules (the argument for them is in docs/distribution.md, "Global names"):
- A group is a set of nodes all connected to each other that share one name table.
  Names are only ever agreed among the nodes of a group.
- Two groups merge when one of their nodes connect: the lower-named node of the pair
  drives it. It takes the whole-table lock on every node of both groups (in node-name
  order), checks from their reports that the union is still a group (every node
  connected to every other; otherwise it tries again later), combines the tables,
  lets a resolver decide each name registered on both sides — exactly once, the merge
  holding every table meanwhile — and commits the merged table and group to all.
- ``NodeUp`` for a new connection is delivered once the two nodes share names (after
  the merge), or after ``gate_timeout`` if they cannot (an overlapping partition).
- When a node of the group is lost through a fault, the node that lost it tells its
  group (``global_lost``, passed on once by each node); every node that still sees the
  lost node leaves it out of its group and tells it (``global_ungroup``): a broken
  connection inside a group takes its ends out of the group, so a group stays a set
  of nodes that all see each other (Erlang's ``prevent_overlapping_partitions``, which
  disconnects; here only the names are parted, connections stay). Nodes parted this
  way try to merge again, and succeed once they are all connected again.
- Those reports and ungroupings wait while a merge holds this node's table.

VM thread only; never blocks.
"""
from __future__ import annotations

import random
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from smalltalk_vm.node import frames as F
from smalltalk_vm.node.names_locks import WHOLE
from smalltalk_vm.node.names_resolve import DEFAULT
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.distribution import RemoteProcess
from smalltalk_vm.vm.globalnames import Entry

FIRST_RETRY = 0.05
MAX_RETRY = 2.0
LOST_MEMORY = 1024


@dataclass
class Pending:
    """A higher-named peer this node must merge with."""
    view: Any
    due: float = 0.0
    backoff: float = FIRST_RETRY
    failures: int = 0


@dataclass
class Gate:
    view: Any
    timer: Any


class Groups:
    """The group of one node (``names.group``), its merges, splits and NodeUp gates
    (``names`` is the node's ClusterNames). VM thread only; never blocks."""

    def __init__(self, names: Any) -> None:
        self.names = names
        self.rt = names.rt
        self.vm = names.vm
        self.scheduler = names.scheduler
        self.gates: dict[str, Gate] = {}
        self.pending: dict[str, Pending] = {}
        self.known: dict[str, set[str]] = {}       # the group each peer last reported
        self.merging: Any = None                   # the merge transaction in progress
        self.kick_timer: Any = None
        self.lost_seen: set[tuple] = set()
        self.lost_order: deque = deque()
        self.lost_seq = 0

    def gate_timeout(self) -> float:
        return max(10.0, 2 * self.rt.config.tick)

    # ------------------------------------------------------------------ connections

    def peer_up(self, view: Any) -> None:
        timer = self.scheduler.add_timer(self.gate_timeout(), lambda: self._open(view, timed_out=True))
        self.gates[view.name] = Gate(view, timer)
        if self.rt.name < view.name:
            self.pending[view.name] = Pending(view)
        self.kick()

    def peer_down(self, view: Any, reason: str) -> None:
        gate = self.gates.pop(view.name, None)
        if gate is not None:
            self.scheduler.cancel_timer(gate.timer)
        self.pending.pop(view.name, None)
        self.known.pop(view.name, None)
        names = self.names
        was_grouped = view.name in names.group
        names.group.discard(view.name)
        names.drop_names_of(view.name, view.creation)
        names.txns.peer_gone(view)
        names.resolvers.peer_gone(view)
        if was_grouped and reason != "shutdown":
            self._report_lost(view.name, view.creation)
        self.kick()

    def _open(self, view: Any, timed_out: bool = False) -> None:
        gate = self.gates.get(view.name)
        if gate is None or gate.view is not view:
            return
        del self.gates[view.name]
        self.scheduler.cancel_timer(gate.timer)
        if timed_out:
            self.rt.log(f"names not shared with {view.name} after {self.gate_timeout():g} s "
                        f"(not every node of both groups is connected): NodeUp delivered anyway")
        self.rt.announce_up(view)

    def _grouped(self, name: str) -> None:
        self.pending.pop(name, None)
        gate = self.gates.get(name)
        if gate is not None:
            self._open(gate.view)

    # ------------------------------------------------------------------ splitting

    def _report_lost(self, lost: str, creation: int) -> None:
        self.lost_seq += 1
        key = (self.rt.name, self.rt.creation, lost, creation, self.lost_seq)
        self._remember(key)
        frame = F.frame("global_lost", *key)
        for name in sorted(self.names.group):
            self.rt.peers[name].conn.send(frame)

    def _remember(self, key: tuple) -> None:
        self.lost_seen.add(key)
        self.lost_order.append(key)
        if len(self.lost_order) > LOST_MEMORY:
            self.lost_seen.discard(self.lost_order.popleft())

    def on_global_lost(self, view: Any, origin: str, origin_creation: int, lost: str,
                       lost_creation: int, seq: int) -> None:
        key = (origin, origin_creation, lost, lost_creation, seq)
        if key in self.lost_seen or view.name not in self.names.group:
            return
        self._remember(key)
        self.names.when_table_free(lambda: self._lost(view, key))

    def _lost(self, sender: Any, key: tuple) -> None:
        origin, _, lost, lost_creation, _ = key
        frame = F.frame("global_lost", *key)
        for name in sorted(self.names.group - {sender.name, lost, origin}):
            self.rt.peers[name].conn.send(frame)
        view = self.rt.peers.get(lost)
        if lost in self.names.group and view is not None and view.creation == lost_creation:
            self.ungroup(view, tell=True)

    def on_global_ungroup(self, view: Any) -> None:
        self.names.when_table_free(lambda: self._ungrouped_by(view))

    def _ungrouped_by(self, view: Any) -> None:
        if self.rt.peers.get(view.name) is view and view.name in self.names.group:
            self.ungroup(view, tell=False)

    def ungroup(self, view: Any, tell: bool) -> None:
        """Stop sharing names with ``view``'s node (it stays connected)."""
        names = self.names
        names.group.discard(view.name)
        names.drop_names_of(view.name, view.creation)
        names.release_owner(lambda key: key[0] == view.name)
        names.txns.node_gone(view.name)
        if tell:
            view.conn.send(F.frame("global_ungroup"))
        self.rt.log(f"names no longer shared with {view.name}")
        if self.rt.name < view.name:
            self.pending[view.name] = Pending(view, due=time.monotonic() + FIRST_RETRY)
        self.kick()

    # ------------------------------------------------------------------ merging

    def kick(self) -> None:
        """Start the next due merge, or wake up when one is due."""
        if self.kick_timer is not None:
            self.scheduler.cancel_timer(self.kick_timer)
            self.kick_timer = None
        if self.merging is not None:
            return
        now = time.monotonic()
        earliest = None
        for name in sorted(self.pending):
            pending = self.pending[name]
            if self.rt.peers.get(name) is not pending.view:
                del self.pending[name]
                continue
            if name in self.names.group:
                self._grouped(name)
                continue
            if pending.due <= now:
                self._merge(pending)
                return
            earliest = pending.due if earliest is None else min(earliest, pending.due)
        if earliest is not None:
            self.kick_timer = self.scheduler.add_timer(earliest - now, self._kicked)

    def _kicked(self) -> None:
        self.kick_timer = None
        self.kick()

    def _members(self, pending: Pending) -> set[str]:
        """Both groups, as far as this node knows the other (its reports will tell)."""
        theirs = self.known.get(pending.view.name, set()) & set(self.rt.peers)
        return self.names.group | {self.rt.name, pending.view.name} | theirs

    def _merge(self, pending: Pending) -> None:
        members = self._members(pending)
        unreachable = members - {self.rt.name} - set(self.rt.peers)
        if unreachable:
            self._retry_later(pending)
            return
        self.merging = self.names.txns.begin(
            WHOLE, V.NIL, members, self.names.internal_timeout(),
            lambda txn: self._locked(pending, txn), lambda why: self._failed(pending))

    def _retry_later(self, pending: Pending) -> None:
        pending.failures += 1
        pending.due = time.monotonic() + pending.backoff * random.uniform(0.8, 1.2)
        pending.backoff = min(pending.backoff * 2, MAX_RETRY)

    def _failed(self, pending: Pending) -> None:
        self.merging = None
        self._retry_later(pending)
        self.kick()

    def _give_up(self, pending: Pending, txn: Any, retry_now: bool = False) -> None:
        self.names.txns.release(txn)
        self.merging = None
        if retry_now:
            pending.failures += 1
            pending.due = time.monotonic()
        else:
            self._retry_later(pending)
        self.kick()

    def _locked(self, pending: Pending, txn: Any) -> None:
        if self.rt.peers.get(pending.view.name) is not pending.view:
            self._give_up(pending, txn)
            return
        members = set(txn.nodes)
        reports = txn.reports
        for name, report in reports.items():
            if name != self.rt.name:
                self.known[name] = report.group
        extra = members.union(*(r.group for r in reports.values())) - members
        if txn.departed or extra:
            # A node of the other group this node cannot reach: the union is no group.
            reachable = not txn.departed and not (extra - set(self.rt.peers))
            self._give_up(pending, txn, retry_now=reachable and pending.failures < 8)
            return
        if pending.view.name in self.names.group:
            self._give_up(pending, txn)
            return
        for x in members:
            for y in members:
                if x < y and (y not in reports[x].peers or x not in reports[y].peers):
                    self._give_up(pending, txn)
                    return
        merged, conflicts = self._combine(reports)
        outcomes: dict[str, Any] = {}

        def decided(name: str, first: Entry, second: Entry, answer: Any) -> None:
            outcomes[name] = (first, second, answer)
            if len(outcomes) == len(conflicts):
                self._commit(pending, txn, merged, outcomes)
        if not conflicts:
            self._commit(pending, txn, merged, outcomes)
        for name, (first, second) in sorted(conflicts.items()):
            self.names.resolvers.resolve(
                name, first, second, lambda answer, n=name, f=first, s=second: decided(n, f, s, answer))

    def _combine(self, reports: dict) -> tuple[dict[str, Entry], dict[str, tuple[Entry, Entry]]]:
        """The entries every side agrees on, and the names held by two processes: for
        each, the registration this node's group holds first."""
        mine = reports[self.rt.name].entries
        merged: dict[str, Entry] = {}
        conflicts: dict[str, tuple[Entry, Entry]] = {}
        for name in sorted(set().union(*(r.entries for r in reports.values()))):
            valid: list[Entry] = []
            for report in reports.values():
                entry = report.entries.get(name)
                if entry is None or any(entry.pid is v.pid for v in valid):
                    continue
                home = reports.get(self.names.node_name_of(entry.pid))
                held = home.entries.get(name) if home is not None else None
                if held is not None and held.pid is entry.pid:
                    valid.append(held)
            if not valid:
                continue
            ours = mine.get(name)
            valid.sort(key=lambda e: (not (ours is not None and e.pid is ours.pid), e.registrar))
            merged[name] = valid[0]
            if len(valid) > 1:
                conflicts[name] = (valid[0], valid[1])
        return merged, conflicts

    def _commit(self, pending: Pending, txn: Any, merged: dict[str, Entry], outcomes: dict) -> None:
        if txn.state != "locked":
            return                          # it ran out of time: _failed has run
        losers = []
        for name, (first, second, answer) in sorted(outcomes.items()):
            if answer is DEFAULT:
                keep, lose = (first, second) if first.registrar <= second.registrar else (second, first)
                merged[name] = keep
                losers.append(lose.pid)
                how = "the default rule"
            elif answer is None:
                merged.pop(name, None)
                keep = None
                how = "its resolver"
            else:
                keep = first if answer is first.pid else second
                merged[name] = keep
                how = "its resolver"
            kept = "neither keeps it" if keep is None else f"{self._describe(keep.pid)} keeps it"
            self.rt.log(f"name #{name} was registered by {self._describe(first.pid)} and "
                        f"{self._describe(second.pid)}: {kept} ({how})")
        members = set(txn.nodes) - txn.departed
        ops = [self.names.codec.merge_op(members, merged)]
        self.names.txns.commit(txn, ops, lambda: self._merged(pending))
        conflict = self.vm.symbol("nameConflict")
        for pid in losers:
            self.vm.signals.exit_signal(pid, V.NIL, conflict)

    def _describe(self, pid: Any) -> str:
        number = pid.number if type(pid) is RemoteProcess else pid.pid
        return f"process {number} on {self.names.node_name_of(pid)}"

    def _merged(self, pending: Pending) -> None:
        self.merging = None
        self.kick()

    def apply_merge(self, members: set[str], entries: dict[str, Entry]) -> None:
        """A merge committed: ``members`` share ``entries`` now (each node keeps those it
        is connected to)."""
        names = self.names
        old = names.group
        new = (members - {self.rt.name}) & set(self.rt.peers)
        for name in sorted(old - new):
            view = self.rt.peers.get(name)
            if view is not None:
                view.conn.send(F.frame("global_ungroup"))
            names.txns.node_gone(name)
        names.group = new
        names.replace_table(entries)
        for name in sorted(new - old):
            self._grouped(name)
