"""Resolving a name two groups registered apart, when they merge: the resolver block of a
registration is kept on the node where ``register:as:resolve:`` was called (blocks do
not travel), and run there, in a process of its own, when the node driving the merge
asks for it.

Rules:
- The answer is the survivor: one of the two processes, or nil for neither. A resolver
  that answers anything else, fails, or takes longer than ``RESOLVE_TIMEOUT`` counts
  as nil (and is logged); its process is killed at the deadline.
- A node asked to run a resolver it does not have (the registration changed meanwhile)
  answers ``#default``: the default rule applies. So does a registration made without
  a resolver, without asking anyone.
- The blocks are kept while the registration they belong to is in this node's table.

VM thread only; never blocks (a resolver runs as a process; a remote one answers by
frame).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smalltalk_vm.node import frames as F
from smalltalk_vm.node.codeload import BadFrame, CodeUnavailable, NeedCode
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.globalnames import Entry, is_process

RESOLVE_TIMEOUT = 5.0
DEFAULT = "default"        # the answer: apply the default rule


class Resolvers:
    """The resolver blocks kept on this node, the resolvers running here, and the
    requests this node made to others (``names`` is the node's ClusterNames). VM thread
    only; never blocks; a malformed frame raises BadFrame."""

    def __init__(self, names: Any) -> None:
        self.names = names
        self.rt = names.rt
        self.vm = names.vm
        self.scheduler = names.scheduler
        self.blocks: dict[tuple[str, Any], Any] = {}
        self.running: dict[Any, tuple[Callable, Any, Any, Any]] = {}
        self.requests: dict[int, tuple[str, Callable, Any]] = {}
        self.next_request = 1

    # ------------------------------------------------------------------ the blocks kept here

    def keep(self, name: str, pid: Any, block: Any) -> None:
        self.blocks[(name, pid)] = block

    def prune(self) -> None:
        """Forget the blocks of registrations no longer in the table."""
        table = self.names.table
        for key in [k for k in self.blocks if (table.get(k[0]) is None or table.get(k[0]).pid is not k[1])]:
            del self.blocks[key]

    # ------------------------------------------------------------------ running one

    def resolve(self, name: str, first: Entry, second: Entry, done: Callable[[Any], None]) -> None:
        """Decide between ``first`` (the registration of the driving node's group) and
        ``second``: ``done`` gets the survivor, None for neither, or DEFAULT."""
        if not first.custom:
            done(DEFAULT)
            return
        if first.registrar == self.rt.name:
            block = self.blocks.get((name, first.pid))
            if block is None:
                done(DEFAULT)
            else:
                self._spawn(block, name, first.pid, second.pid, done)
            return
        view = self.rt.peers.get(first.registrar)
        if view is None:
            done(DEFAULT)
            return
        number = self.next_request
        self.next_request += 1
        timer = self.scheduler.add_timer(RESOLVE_TIMEOUT + 1.0, lambda: self._answered(number, None))
        self.requests[number] = (view.name, done, timer)
        view.conn.send(F.frame("global_resolve", number, name, self.rt.encode(first.pid, "a process"),
                               self.rt.encode(second.pid, "a process")))

    def _spawn(self, block: Any, name: str, first: Any, second: Any, done: Callable[[Any], None]) -> None:
        global_class = self.vm.globals.get("Global") or self.vm.load_class("Global")
        proc = self.scheduler.spawn_send(global_class, "runResolver:name:first:second:",
                                         [block, self.vm.symbol(name), first, second])
        timer = self.scheduler.add_timer(RESOLVE_TIMEOUT, lambda: self._too_slow(proc, name))
        self.running[proc] = (done, first, second, timer)

    def _too_slow(self, proc: Any, name: str) -> None:
        if proc in self.running:
            self.rt.log(f"the resolver of #{name} took longer than {RESOLVE_TIMEOUT:g} s: neither process keeps it")
            self.vm.signals.exit_signal(proc, V.NIL, self.vm.symbol("kill"))

    def died(self, proc: Any, reason: Any) -> None:
        entry = self.running.pop(proc, None)
        if entry is None:
            return
        done, first, second, timer = entry
        self.scheduler.cancel_timer(timer)
        if reason != self.vm.symbol("normal"):
            done(None)
            return
        answer = proc.result
        if answer is first or answer is second:
            done(answer)
            return
        if answer != V.NIL:
            self.rt.log("a resolver answered something other than one of its two processes or nil: "
                        "neither keeps the name")
        done(None)

    # ------------------------------------------------------------------ frames

    def on_global_resolve(self, view: Any, number: int, name: str, first: bytes, second: bytes) -> None:
        p1, p2 = self._decode(view, first), self._decode(view, second)
        if not is_process(p1) or not is_process(p2):
            raise BadFrame("a resolve request names two processes")
        block = self.blocks.get((name, p1))

        def answer(survivor: Any) -> None:
            value = self.vm.symbol("default") if survivor is DEFAULT else (V.NIL if survivor is None else survivor)
            if self.rt.peers.get(view.name) is view:
                view.conn.send(F.frame("global_resolved", number, self.rt.encode(value, "a survivor")))
        if block is None:
            answer(DEFAULT)
        else:
            self._spawn(block, name, p1, p2, answer)

    def on_global_resolved(self, view: Any, number: int, survivor: bytes) -> None:
        value = self._decode(view, survivor)
        request = self.requests.get(number)
        if request is None or request[0] != view.name:
            return
        if value == self.vm.symbol("default"):
            self._answered(number, DEFAULT)
        elif value == V.NIL or is_process(value):
            self._answered(number, None if value == V.NIL else value)
        else:
            raise BadFrame("a survivor is a process, nil or #default")

    def _answered(self, number: int, survivor: Any) -> None:
        request = self.requests.pop(number, None)
        if request is None:
            return
        _, done, timer = request
        self.scheduler.cancel_timer(timer)
        done(survivor)

    def peer_gone(self, view: Any) -> None:
        for number, (node, _, _) in list(self.requests.items()):
            if node == view.name:
                self._answered(number, DEFAULT)

    def _decode(self, view: Any, data: bytes) -> Any:
        try:
            return self.rt.decode(view, data)
        except (CodeUnavailable, NeedCode) as error:
            raise BadFrame(str(error)) from None
