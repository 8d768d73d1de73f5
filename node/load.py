"""Load gossip: every node tells each peer, a few times a second, how many processes it
runs and how many are runnable, so that a supervisor placing a child with
``placement: #leastLoaded`` can pick the least loaded node without asking anyone.

Rules:
- A ``load`` frame goes to every connected peer every ``interval`` (a quarter of the
  tick, between 100 ms and 1 s): small, and on the channel, so it costs no connection.
- The load of a node is its number of live processes; what a peer last said is kept
  until it is lost. A peer that has not said anything yet has no known load.

VM thread only (a scheduler timer); never blocks.
"""
from __future__ import annotations

from typing import Any

from smalltalk_vm.node import frames as F
from smalltalk_vm.vm.process import RUNNABLE


class LoadGossip:
    """The load this node reports and the loads its peers reported (``runtime`` is
    the NodeRuntime). VM thread only; never blocks; raises nothing."""

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime
        self.scheduler = runtime.scheduler
        self.loads: dict[tuple[str, int], tuple[int, int]] = {}
        self.interval = min(1.0, max(0.1, runtime.config.tick / 4))
        self.timer: Any = None

    def start(self) -> None:
        if self.timer is None:
            self.timer = self.scheduler.add_timer(self.interval, self._tell)

    def own(self) -> tuple[int, int]:
        processes = self.scheduler.processes
        return len(processes), sum(1 for p in processes.values() if p.state == RUNNABLE)

    def _tell(self) -> None:
        self.timer = self.scheduler.add_timer(self.interval, self._tell)
        if self.rt.peers:
            frame = F.frame("load", *self.own())
            for view in list(self.rt.peers.values()):
                view.conn.send(frame)

    def on_load(self, view: Any, processes: int, runnable: int) -> None:
        self.loads[(view.name, view.creation)] = (processes, runnable)

    def peer_down(self, view: Any) -> None:
        self.loads.pop((view.name, view.creation), None)

    def load_of(self, name: str, creation: int) -> int | None:
        if name == self.rt.name and creation == self.rt.creation:
            return self.own()[0]
        known = self.loads.get((name, creation))
        return known[0] if known is not None else None
