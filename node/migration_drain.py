"""Draining a node (`vm node drain HOST:PORT`): every process that can move is moved to
the other nodes, the references to them are re-pointed there, and the node stops.

Rules:
- The processes are moved one by one (as ``p migrateTo:`` moves them) to the first
  connected node of their drain placement (a supervised child's ``nodes:``, given by
  ``ChildSpec>>onDrain:`` through the launcher), else spread over the connected nodes
  in name order, preferring one other than the nodes its links and monitors live on
  (so that a watcher keeps a reference of another node). A child whose spec says
  ``onDrain: #restart`` stays, ends with the node, and is restarted by its supervisor.
  A process that cannot move (the bundle names why) stays and ends with the node.
- Forwarders cannot outlive the node, so a drain re-points instead of relaying: every
  peer is told each old pid and its new one (``relink``). A peer re-points its
  reference object to the new place (``RemoteProcesses.repoint``: every variable,
  link set, monitor table, supervisor record and global name that held it now means
  the moved process, ``==`` still holds), and sets up its links and monitors again
  there (the ordinary ``link`` and ``monitor`` frames, with the same monitor
  reference). Links between two processes of the drained node are made again
  between the moved processes (``drain_link``). So a supervisor of another node sees
  no exit and counts no restart; an Exit or Down later names the reference it holds.
- From the start of the drain the node refuses new processes: a remote spawn and a
  move to it are answered with the reason (``refusal``), as a stopping node would.
- The node stops (as ``system exit: 0``: its peers see NodeDown #shutdown) once every
  peer has acknowledged (``relinked``) and the global names have moved, or after
  ``DRAIN_SECONDS``.

VM thread only; never blocks: the drain is a chain of callbacks and timers.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smalltalk_vm.node import frames as F
from smalltalk_vm.node.codeload import BadFrame
from smalltalk_vm.vm.distribution import RemoteProcess
from smalltalk_vm.vm.process import MOVED, Process

DRAIN_SECONDS = 60.0
CHECK_SECONDS = 0.05
STOP_DELAY = 0.5


@dataclass
class Drain:
    """One drain of this node in progress."""
    done: Callable[[dict], None]
    pending: int = 0
    moved: list[tuple[Process, RemoteProcess]] = field(default_factory=list)
    stayed: list[str] = field(default_factory=list)
    waiting: set[str] = field(default_factory=set)     # peers yet to acknowledge the relinks
    deadline_timer: Any = None
    finished: bool = False


class Drainer:
    """The drain side of one node runtime. VM thread only; never blocks; frame
    handlers raise BadFrame for frames that break the protocol."""

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime
        self.vm = runtime.vm
        self.scheduler = runtime.scheduler
        self.migration = runtime.migration
        self.drain: Drain | None = None
        self.placements: dict[int, Any] = {}      # pid -> node names, or "restart" (ChildSpec onDrain:)
        self.scheduler.on_death.append(lambda proc, reason: self.placements.pop(proc.pid, None))

    def refusal(self) -> str | None:
        """Why this node takes no new process now (a spawn or a move to it), or None."""
        if self.drain is None:
            return None
        return f"node {self.rt.name} is draining: it takes no new processes"

    # ------------------------------------------------------------------ the drained node

    def start(self, done: Callable[[dict], None]) -> None:
        """Drain this node; ``done`` gets a summary once it is about to stop (or why
        it cannot drain)."""
        if self.drain is not None:
            done({"error": "this node is draining already"})
            return
        targets = self.rt.connected_nodes()
        if not targets:
            done({"error": "no other node is connected: there is nowhere to move the processes"})
            return
        drain = Drain(done)
        self.drain = drain
        drain.deadline_timer = self.scheduler.add_timer(DRAIN_SECONDS, lambda: self._stop(drain, "timeout"))
        processes = []
        for proc in self.migration.movable():
            if self.placements.get(proc.pid) == "restart":
                drain.stayed.append(f"process {proc.pid} stays: its child spec says onDrain: #restart")
            else:
                processes.append(proc)
        drain.pending = len(processes)
        for index, proc in enumerate(processes):
            node = self._target_for(proc, targets, index)
            self.migration.migrate(proc, node, lambda answer, p=proc: self._moved(drain, p, answer))
        if not processes:
            self._relink(drain)

    def _target_for(self, proc: Process, targets: list, index: int) -> Any:
        wanted = self.placements.get(proc.pid)
        if isinstance(wanted, list):
            for name in wanted:
                for node in targets:
                    if self.rt.nodes.identify(node)[0] == name:
                        return node
        partners = {p.node for p in (proc.links or ()) if type(p) is RemoteProcess}
        partners |= {w.node for w in (proc.monitored_by or {}).values() if type(w) is RemoteProcess}
        ordered = targets[index % len(targets):] + targets[:index % len(targets)]
        for node in ordered:
            if self.rt.nodes.identify(node)[0] not in partners:
                return node
        return ordered[0]

    def _moved(self, drain: Drain, proc: Process, answer: Any) -> None:
        drain.pending -= 1
        if type(answer) is RemoteProcess:
            drain.moved.append((proc, answer))
        else:
            drain.stayed.append(self.migration._message_text(answer))
        if drain.pending == 0:
            self._relink(drain)

    def _relink(self, drain: Drain) -> None:
        rt = self.rt
        # The forwarders left here by earlier moves go too: their pids are re-pointed
        # like those of the processes this drain moved.
        pairs = list(drain.moved) + [(proc, target) for pid, target in self.migration.forwards.items()
                                     if (proc := self.scheduler.processes.get(pid)) is not None
                                     and proc.state == MOVED and all(proc is not p for p, _ in drain.moved)]
        moved = dict(pairs)
        for old, new in pairs:
            self._relink_local_links(old, new, moved)
        for view in list(rt.peers.values()):
            for old, new in pairs:
                view.conn.send(F.frame("relink", old.pid, rt.encode(new, "a process", view)))
            view.conn.send(F.frame("relink_end"))
            drain.waiting.add(view.name)
        self._check(drain)

    def _relink_local_links(self, old: Process, new: RemoteProcess, moved: dict) -> None:
        """Links between ``old`` and processes of this node: made again at the new place
        (with the moved partner's new pid, or this node's pid of one that stays)."""
        for partner in list(old.links or ()):
            if type(partner) is not Process:
                continue
            far = moved.get(partner)
            if far is not None and partner.pid < old.pid:
                continue                               # the pair is linked once, from its lower pid
            other = far if far is not None else partner
            view, _ = self.rt.remote.reach(new)
            if view is not None:
                view.conn.send(F.frame("drain_link", new.number, self.rt.encode(other, "a process", view)))

    def _check(self, drain: Drain) -> None:
        if drain.finished:
            return
        drain.waiting &= set(self.rt.peers)
        if drain.waiting or self.rt.names.repoints:
            self.scheduler.add_timer(CHECK_SECONDS, lambda: self._check(drain))
            return
        self._stop(drain, "done")

    def _stop(self, drain: Drain, how: str) -> None:
        if drain.finished:
            return
        drain.finished = True
        if drain.deadline_timer is not None:
            self.scheduler.cancel_timer(drain.deadline_timer)
        summary = {"moved": len(drain.moved), "stayed": drain.stayed,
                   "complete": how == "done"}
        self.rt.log(f"drained: {len(drain.moved)} processes moved, {len(drain.stayed)} stayed"
                    + ("" if how == "done" else " (the peers did not all acknowledge in time)"))
        drain.done(summary)
        if "error" not in summary:    # a moment for the answer to reach the tool, then stop
            self.scheduler.add_timer(STOP_DELAY, self._exit)

    def _exit(self) -> None:
        if self.vm.exit_status is None:
            self.vm.exit_status = 0

    def on_relinked(self, view: Any) -> None:
        if self.drain is not None:
            self.drain.waiting.discard(view.name)

    # ------------------------------------------------------------------ the other nodes

    def on_relink(self, view: Any, old: int, new: bytes) -> None:
        target = self.rt.decode(view, new)
        if type(target) is not RemoteProcess and type(target) is not Process:
            raise BadFrame("relink names a process")
        reference = self.rt.pids.repoint(view.name, view.creation, old, target)
        if reference is None:
            return                                     # nobody here holds the old pid
        self.migration.rehome(reference, target)
        for proc in list(self.scheduler.processes.values()):
            if proc.state == MOVED or not proc.alive:
                continue
            if proc.links and reference in proc.links:
                self._link_again(proc, reference, target)
            for ref, watched in list((proc.monitors or {}).items()):
                if watched is reference:
                    self._monitor_again(proc, ref, reference, target)

    def _link_again(self, proc: Process, reference: Any, target: Any) -> None:
        if type(target) is Process:                    # it came here: an ordinary local link
            proc.links.discard(reference)
            self.vm.signals.link(proc, target)
            return
        view, _ = self.rt.remote.reach(reference)
        if view is not None:
            view.conn.send(F.frame("link", proc.pid, reference.number))

    def _monitor_again(self, proc: Process, ref: Any, reference: Any, target: Any) -> None:
        if type(target) is Process:
            del proc.monitors[ref]
            if target.monitored_by is None:
                target.monitored_by = {}
            proc.monitors[ref] = target
            target.monitored_by[ref] = proc
            return
        view, _ = self.rt.remote.reach(reference)
        if view is not None:
            view.conn.send(F.frame("monitor", proc.pid, reference.number, self.vm.int_of(ref.fields[0])))

    def on_relink_end(self, view: Any) -> None:
        view.conn.send(F.frame("relinked"))

    def on_drain_link(self, view: Any, number: int, other: bytes) -> None:
        proc = self.scheduler.processes.get(number)
        partner = self.rt.decode(view, other)
        if type(partner) is not RemoteProcess and type(partner) is not Process:
            raise BadFrame("drain_link names a process")
        if proc is not None and proc.alive:
            self.vm.signals.link(proc, partner)
