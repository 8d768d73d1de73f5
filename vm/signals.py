"""Erlang's rules for links, monitors and exit signals, over the scheduler's processes.

- Links are bidirectional and idempotent. When a process dies, every linked process
  gets an exit signal with its reason: a trapping process receives an ``Exit`` (from,
  reason) message; otherwise a non-``#normal`` reason kills it with the same reason and
  ``#normal`` is ignored.
- ``exit: #kill`` (and ``kill``) cannot be trapped; the victim's reason becomes
  ``#killed`` (which spreads along its links as an ordinary, trappable reason).
- Monitors are one-way and independent: each ``monitor:`` makes a new reference, and
  the watcher gets a ``Down`` (ref, process, reason) message when the process dies.
- Linking to or monitoring a dead process gives ``#noproc`` at once.
- A registered name is gone before links and monitors are told (see
  ``Scheduler.terminate``).
- A process that moved to another node (state MOVED) is a forwarder: its links and
  monitors live with the moved process on its new node. A link or monitor of this
  node's processes with it is recorded here too (they hold the forwarder object) and
  passed on (``universe.distribution.moved_signal``); an exit signal to it is
  forwarded (``forward_exit``); it dies with the moved process. A moved process may be
  held by its partners under an old pid: Exits and Downs name the one they hold
  (``distribution.held_name``, and a Down the watched process the watcher's table has).
- A process of another node (``RemoteProcess``) may be linked or monitored like a
  local one; what crosses to its node goes through ``universe.distribution``, which
  applies the same rules on the far side (and #noconnection when the node is lost).

This module decides what signals do; it does not schedule or run code.
"""
from __future__ import annotations

from typing import Any

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.distribution import RemoteProcess
from smalltalk_vm.vm.process import MOVED, Process


class Signals:
    """Links, monitors and exit signals of one VM (the rules above). VM thread only;
    never blocks. A signal to a process of another node is handed to the universe's
    distribution, which only queues it."""

    def __init__(self, universe: Any, scheduler: Any) -> None:
        self.vm = universe
        self.scheduler = scheduler
        scheduler.on_death.append(self.process_died)
        universe.signals = self
        self.next_ref = 1
        self.crash_reporter: Any = None       # called with (process, reason) for unhandled errors

    # ------------------------------------------------------------------ symbols

    def sym(self, name: str) -> int:
        return self.vm.symbol(name)

    def is_normal(self, reason: Any) -> bool:
        return reason == self.sym("normal")

    # ------------------------------------------------------------------ messages

    def make(self, class_name: str, **fields: Any) -> Any:
        vm = self.vm
        cls = vm.kernel_class(class_name)
        obj = vm.new_instance(cls)
        names = vm.all_field_names(cls)
        for key, val in fields.items():
            obj.fields[names.index(key)] = val
        return obj

    def new_ref(self) -> Any:
        ref = self.make("Reference", id=self.vm.make_int(self.next_ref))
        self.next_ref += 1
        return ref

    def peek_ref(self) -> int:
        return self.next_ref

    def restart_refs(self, next_ref: int) -> None:
        self.next_ref = next_ref

    # ------------------------------------------------------------------ links

    def link(self, proc: Process, other: Process | RemoteProcess) -> None:
        if other is proc:
            return
        if type(other) is RemoteProcess:
            self.vm.distribution.link(proc, other)
            return
        if not other.alive:
            self.exit_signal(proc, other, self.sym("noproc"))
            return
        if proc.links is None:
            proc.links = set()
        if other.links is None:
            other.links = set()
        proc.links.add(other)
        other.links.add(proc)
        if other.state == MOVED:
            self.vm.distribution.moved_signal("link", other, proc, None, None)

    def unlink(self, proc: Process, other: Process | RemoteProcess) -> None:
        if type(other) is RemoteProcess:
            self.vm.distribution.unlink(proc, other)
            return
        if proc.links:
            proc.links.discard(other)
        if other.links:
            name = self.vm.distribution.held_name(other.links, proc)    # the pid it linked
            if name is not None:
                other.links.discard(name)
        if other.state == MOVED:
            self.vm.distribution.moved_signal("unlink", other, proc, None, None)

    # ------------------------------------------------------------------ monitors

    def monitor(self, watcher: Process, target: Process | RemoteProcess) -> Any:
        if type(target) is RemoteProcess:
            return self.vm.distribution.monitor(watcher, target)
        ref = self.new_ref()
        if not target.alive:
            self.scheduler.deliver(watcher, self.make(
                "Down", ref=ref, process=target, reason=self.sym("noproc")))
            return ref
        if watcher.monitors is None:
            watcher.monitors = {}
        if target.monitored_by is None:
            target.monitored_by = {}
        watcher.monitors[ref] = target
        target.monitored_by[ref] = watcher
        if target.state == MOVED:
            self.vm.distribution.moved_signal("monitor", target, watcher, ref, None)
        return ref

    def demonitor(self, watcher: Process, ref: Any) -> bool:
        target = watcher.monitors.pop(ref, None) if watcher.monitors else None
        if target is None:
            return False
        if type(target) is RemoteProcess:
            self.vm.distribution.demonitor(watcher, ref, target)
        else:
            if target.monitored_by:
                target.monitored_by.pop(ref, None)
            if target.state == MOVED:
                self.vm.distribution.moved_signal("demonitor", target, watcher, ref, None)
        return True

    # ------------------------------------------------------------------ exit signals

    def exit_signal(self, target: Process | RemoteProcess, sender: Any, reason: Any) -> None:
        """Deliver an exit signal from ``sender`` (a process, or nil) to ``target``."""
        if type(target) is RemoteProcess:
            self.vm.distribution.exit(target, sender, reason)
            return
        if not target.alive:
            return
        if target.state == MOVED:
            self.vm.distribution.forward_exit(target, sender, reason)
            return
        if reason == self.sym("kill"):
            self.scheduler.terminate(target, self.sym("killed"))
        elif target.trap_exit:
            self.scheduler.deliver(target, self.make("Exit", **{"from": sender, "reason": reason}))
        elif self.is_normal(reason):
            if sender is target:            # `Process current exit: #normal` ends it
                self.scheduler.terminate(target, reason)
        else:
            self.scheduler.terminate(target, reason)

    def process_died(self, proc: Process, reason: Any) -> None:
        links, proc.links = proc.links, None
        for other in links or ():
            if type(other) is RemoteProcess:
                self.vm.distribution.link_exit(other, proc, reason)
                continue
            if other.state == MOVED:
                if other.links:
                    other.links.discard(proc)
                self.vm.distribution.moved_signal("link_exit", other, proc, None, reason)
                continue
            name = self.vm.distribution.held_name(other.links, proc)    # the pid it linked
            if name is None:
                name = proc
            if other.links:
                other.links.discard(name)
            self.exit_signal(other, name, reason)
        watchers, proc.monitored_by = proc.monitored_by, None
        for ref, watcher in (watchers or {}).items():
            if type(watcher) is RemoteProcess:
                self.vm.distribution.down(watcher, ref, proc, reason)
                continue
            held = watcher.monitors.pop(ref, None) if watcher.monitors else None
            if watcher.state == MOVED:
                self.vm.distribution.moved_signal("down", watcher, proc, ref, reason)
                continue
            self.scheduler.deliver(watcher, self.make("Down", ref=ref, process=proc if held is None else held,
                                                      reason=reason))
        watched, proc.monitors = proc.monitors, None
        for ref, target in (watched or {}).items():
            if type(target) is RemoteProcess:
                self.vm.distribution.forget_monitor(target, ref, proc)
            elif target.monitored_by:
                target.monitored_by.pop(ref, None)
        promises, proc.on_exit = proc.on_exit, None
        if not self.is_normal(reason):
            for promise in promises or ():
                self.scheduler.spawn_send(promise, "breakWith:", [reason]).report_crash = False
            if proc.report_crash and self.crash_reporter is not None and proc.crash_trace is not None:
                self.crash_reporter(proc, reason)

    # ------------------------------------------------------------------ names

    def register(self, proc: Process, name: str) -> bool:
        """Erlang's register/2: false if the name is taken or the process is dead."""
        holder = self.scheduler.registry.get(name)
        if (holder is not None and holder.alive) or not proc.alive or proc.name is not None:
            return False
        self.scheduler.registry[name] = proc
        proc.name = name
        return True

    def unregister(self, name: str) -> bool:
        proc = self.scheduler.registry.pop(name, None)
        if proc is None:
            return False
        proc.name = None
        return True

    def named(self, name: str) -> Any:
        proc = self.scheduler.registry.get(name)
        return proc if proc is not None and proc.alive else V.NIL
