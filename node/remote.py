"""Processes across nodes: messages, links, monitors and exit signals to processes of
other nodes, what a lost node means for them, and remote spawn.

Rules (Erlang's, as ``vm.signals`` applies them locally):
- A signal to a process of a node that is not connected, or of another incarnation
  of it, does not travel: a message or an exit signal is dropped silently; linking
  gives an exit signal and monitoring a Down at once, with ``#noconnection`` (node not
  connected) or ``#noproc`` (old creation). The far node answers ``#noproc`` for a
  process that is gone.
- Links are recorded on both sides; an exit signal caused by a link is applied only
  while the link exists. Monitors are recorded by the watcher (ref -> process) and by
  the target (``(node, ref id)`` -> watcher); Downs name the Reference the watcher holds.
- When a node is lost every link to its processes delivers an exit with
  ``#noconnection``, every monitor a Down with ``#noconnection``, and their far halves
  are forgotten; spawns waiting for it fail.
- Remote spawn starts ``AClass new perform: selector withArguments: args`` there,
  after code on demand if that node lacks the class; link or monitor are set up by the
  far node before the process runs, so nothing is missed.

VM thread only; never blocks (every answer is a frame, handled when it comes).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smalltalk_vm.node import frames as F
from smalltalk_vm.node.codeload import CodeUnavailable
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.distribution import SPAWN_LAUNCH, RemoteProcess, spawn_here
from smalltalk_vm.vm.objects import VArray
from smalltalk_vm.vm.process import Process
from smalltalk_vm.vm.versions import class_version


@dataclass
class PendingSpawn:
    proc: Process
    node: str
    option: str
    ref: Any
    reply: Any


class RemoteSignals:
    """The signal and spawn side of one node runtime (``runtime``). VM thread only;
    never blocks. A message that cannot be sent raises ``SignalException``
    (``WireError``) into the sending process; frame handlers raise NeedCode,
    CodeUnavailable or BadFrame, which the runtime handles."""

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime
        self.vm = runtime.vm
        self.scheduler = runtime.vm.scheduler
        self.signals = runtime.vm.signals
        self.spawns: dict[int, PendingSpawn] = {}
        self.next_request = 1

    def sym(self, name: str) -> int:
        return self.vm.symbol(name)

    def reach(self, target: RemoteProcess) -> tuple[Any, str | None]:
        """The connection view for ``target``'s node, or None and why not."""
        if target.node == self.rt.name:
            return None, "noproc"              # an earlier incarnation of this node
        view = self.rt.peers.get(target.node)
        if view is None:
            return None, "noconnection"
        if view.creation != target.creation:
            return None, "noproc"
        return view, None

    def _ref_id(self, ref: Any) -> int:
        return self.vm.int_of(ref.fields[0])

    def _local(self, number: int) -> Process | None:
        proc = self.scheduler.processes.get(number)
        return proc if proc is not None and proc.alive else None

    def _pid(self, view: Any, number: int) -> RemoteProcess:
        return self.rt.pids.get(view.name, view.creation, number)

    # ------------------------------------------------------------------ outgoing signals

    def _route(self, target: RemoteProcess) -> tuple[Any, Any]:
        """(view, number) to send a signal for ``target`` on; (Process, None) when it
        moved here; (None, why) when it cannot be reached (``MovedLinks.route``)."""
        return self.rt.migration.links.route(target)

    def _apply_here(self, proc: Process, kind: str, partner: Any, ref: int = 0, reason: Any = None) -> None:
        self.rt.migration.links.apply(proc, kind, partner, ref, reason, self.rt.name)

    def send(self, target: RemoteProcess, message: Any) -> None:
        view, number = self._route(target)
        if type(view) is Process:
            self.scheduler.deliver(view, message)
            return
        if view is None:
            return
        data = self.rt.encode(message, f"a message for a process of node {view.name}", to=view)
        view.conn.send(F.frame("send", number, data))

    def link(self, proc: Process, target: RemoteProcess) -> None:
        view, number = self._route(target)
        if view is None:
            self.signals.exit_signal(proc, target, self.sym(number))
            return
        if proc.links is None:
            proc.links = set()
        if target in proc.links:
            return
        proc.links.add(target)
        if type(view) is Process:
            self._apply_here(view, "link", proc)
            return
        view.conn.send(F.frame("link", proc.pid, number))

    def unlink(self, proc: Process, target: RemoteProcess) -> None:
        if not proc.links or target not in proc.links:
            return
        proc.links.discard(target)
        view, number = self._route(target)
        if type(view) is Process:
            self._apply_here(view, "unlink", proc)
        elif view is not None:
            view.conn.send(F.frame("unlink", proc.pid, number))

    def exit(self, target: RemoteProcess, sender: Any, reason: Any) -> None:
        view, number = self._route(target)
        if type(view) is Process:
            self.signals.exit_signal(view, sender, reason)
            return
        if view is None:
            return
        data = self.rt.encode_reason(reason, view)
        from_number = sender.pid if type(sender) is Process else 0
        view.conn.send(F.frame("exit", from_number, number, data))

    def monitor(self, watcher: Process, target: RemoteProcess) -> Any:
        ref = self.signals.new_ref()
        view, number = self._route(target)
        if view is None:
            self.scheduler.deliver(watcher, self.signals.make("Down", ref=ref, process=target,
                                                              reason=self.sym(number)))
            return ref
        if watcher.monitors is None:
            watcher.monitors = {}
        watcher.monitors[ref] = target
        if type(view) is Process:
            self._apply_here(view, "monitor", watcher, self._ref_id(ref))
        else:
            view.conn.send(F.frame("monitor", watcher.pid, number, self._ref_id(ref)))
        return ref

    def demonitor(self, watcher: Process, ref: Any, target: RemoteProcess) -> None:
        self.forget_monitor(target, ref, watcher)

    def forget_monitor(self, target: RemoteProcess, ref: Any, watcher: Process) -> None:
        view, number = self._route(target)
        if type(view) is Process:
            self._apply_here(view, "demonitor", watcher, self._ref_id(ref))
        elif view is not None:
            view.conn.send(F.frame("demonitor", watcher.pid, number, self._ref_id(ref)))

    def link_exit(self, target: RemoteProcess, dead: Process, reason: Any) -> None:
        view, number = self._route(target)
        if type(view) is Process:
            self._apply_here(view, "link_exit", dead, 0, reason)
        elif view is not None:
            view.conn.send(F.frame("link_exit", dead.pid, number, self.rt.encode_reason(reason, view)))

    def down(self, watcher: RemoteProcess, ref_key: Any, dead: Process, reason: Any) -> None:
        view, number = self._route(watcher)
        if type(view) is Process:
            self._apply_here(view, "down", dead, ref_key[1], reason)
        elif view is not None:
            view.conn.send(F.frame("down", ref_key[1], number, dead.pid, self.rt.encode_reason(reason, view)))

    # ------------------------------------------------------------------ incoming signals

    def _relayed(self, view: Any, kind: str, to: int, other: int, ref: int = 0, reason: bytes | None = None) -> bool:
        """A link or monitor signal for a process that moved away: its forwarder here
        passes it on (``MovedLinks.relay_frame``); True if it did."""
        return self.rt.migration.links.relay_frame(view, kind, to, other, ref, reason)

    def on_send(self, view: Any, to: int, message: bytes) -> None:
        try:
            value = self.rt.decode(view, message)     # even for a process that is gone: bad bytes
        except CodeUnavailable as error:              # close the connection whoever they were for
            self.rt.log(f"dropped a message from {view.name}: {error}")
            return
        proc = self._local(to)
        if proc is not None:
            self.scheduler.deliver(proc, value)

    def on_link(self, view: Any, sender: int, to: int) -> None:
        if self._relayed(view, "link", to, sender):
            return
        remote = self._pid(view, sender)
        proc = self._local(to)
        if proc is None:
            view.conn.send(F.frame("link_exit", to, sender, self.rt.encode(self.sym("noproc"), "a reason")))
            return
        if proc.links is None:
            proc.links = set()
        proc.links.add(remote)

    def _held(self, entries: Any, remote: RemoteProcess) -> Any:
        return self.rt.migration.links.held_name(entries, remote)

    def on_unlink(self, view: Any, sender: int, to: int) -> None:
        if self._relayed(view, "unlink", to, sender):
            return
        proc = self._local(to)
        if proc is None or not proc.links:
            return
        held = self._held(proc.links, self._pid(view, sender))
        if held is None:
            return
        proc.links.discard(held)
        if type(held) is Process and held.links:       # a forwarder here: its copy of the link
            held.links.discard(proc)

    def on_exit(self, view: Any, sender: int, to: int, reason: bytes) -> None:
        proc = self._local(to)
        if proc is None:
            return
        origin = self._pid(view, sender) if sender else V.NIL
        if origin is not V.NIL and proc.links:
            origin = self._held(proc.links, origin) or origin     # the pid it linked, if it did
        self.signals.exit_signal(proc, origin, self.rt.decode_reason(view, reason))

    def on_link_exit(self, view: Any, sender: int, to: int, reason: bytes) -> None:
        if self._relayed(view, "link_exit", to, sender, 0, reason):
            return
        proc = self._local(to)
        if proc is None:
            return
        held = self._held(proc.links, self._pid(view, sender))
        if held is None:
            return                          # unlinked meanwhile: the signal no longer applies
        proc.links.discard(held)
        if type(held) is Process and held.links:       # a forwarder here: its copy of the link
            held.links.discard(proc)
        self.signals.exit_signal(proc, held, self.rt.decode_reason(view, reason))

    def on_monitor(self, view: Any, watcher: int, target: int, ref: int) -> None:
        if self._relayed(view, "monitor", target, watcher, ref):
            return
        proc = self._local(target)
        if proc is None:
            view.conn.send(F.frame("down", ref, watcher, target, self.rt.encode(self.sym("noproc"), "a reason")))
            return
        if proc.monitored_by is None:
            proc.monitored_by = {}
        proc.monitored_by[(view.name, ref)] = self._pid(view, watcher)

    def on_demonitor(self, view: Any, watcher: int, target: int, ref: int) -> None:
        if self._relayed(view, "demonitor", target, watcher, ref):
            return
        proc = self._local(target)
        if proc is None or not proc.monitored_by:
            return
        if proc.monitored_by.pop((view.name, ref), None) is not None:
            return
        remote = self._pid(view, watcher)              # a watcher that moved to view's node
        current = self.rt.migration.links.current
        for key, held in list(proc.monitored_by.items()):
            key_id = key[1] if type(key) is tuple else self._ref_id(key)
            if key_id == ref and held is not remote and current(held) is remote:
                del proc.monitored_by[key]
                if type(held) is Process and held.monitors:    # a forwarder here: its copy
                    held.monitors.pop(key, None)
                return

    def on_down(self, view: Any, ref: int, watcher: int, target: int, reason: bytes) -> None:
        if self._relayed(view, "down", watcher, target, ref, reason):
            return
        proc = self._local(watcher)
        if proc is None or not proc.monitors:
            return
        remote = self._pid(view, target)
        current = self.rt.migration.links.current
        for key, watched in proc.monitors.items():
            if self._ref_id(key) == ref and (watched is remote or current(watched) is remote):
                del proc.monitors[key]
                if type(watched) is Process and watched.monitored_by:   # a forwarder here: its copy
                    watched.monitored_by.pop(key, None)
                self.scheduler.deliver(proc, self.signals.make(
                    "Down", ref=key, process=watched, reason=self.rt.decode_reason(view, reason)))
                return

    # ------------------------------------------------------------------ a lost node

    def node_lost(self, view: Any) -> None:
        noconnection = self.sym("noconnection")

        current = self.rt.migration.links.current

        def gone(p: Any) -> bool:            # where it runs now: an old pid of a moved process may live on
            p = current(p) if type(p) is RemoteProcess else p
            return type(p) is RemoteProcess and p.node == view.name and p.creation == view.creation
        for proc in list(self.scheduler.processes.values()):
            if proc.monitored_by:
                for key in [k for k, w in proc.monitored_by.items() if type(k) is tuple and gone(w)]:
                    del proc.monitored_by[key]
            if proc.monitors:
                for ref, target in [(r, t) for r, t in proc.monitors.items() if gone(t)]:
                    del proc.monitors[ref]
                    self.scheduler.deliver(proc, self.signals.make(
                        "Down", ref=ref, process=target, reason=noconnection))
            if proc.links:
                for target in [p for p in proc.links if gone(p)]:
                    proc.links.discard(target)
                    self.signals.exit_signal(proc, target, noconnection)
        for request, pending in list(self.spawns.items()):
            if pending.node == view.name:
                del self.spawns[request]
                pending.reply(self.vm.make_exception(
                    "Error", f"spawn on node {view.name}: the connection was lost (#noconnection)"))

    # ------------------------------------------------------------------ remote spawn

    def spawn(self, proc: Process, node: Any, cls: Any, selector: str, args: list, option: str,
              reply: Any) -> None:
        name, creation = self.rt.nodes.identify(node)
        if name == self.rt.name and creation == self.rt.creation:
            reply(spawn_here(self.vm, proc, cls, selector, args, option))
            return
        view = self.rt.peers.get(name)
        if view is None or view.creation != creation:
            reply(self.vm.make_exception("Error", f"spawn on node {name}: it is not connected (#noconnection)"))
            return
        try:
            data = self.rt.encode(self.vm.new_array(args), "spawn arguments", to=view)
        except Exception as error:
            reply(self.vm.make_exception("Error", f"spawn on node {name}: {getattr(error, 'message_text', error)}"))
            return
        request = self.next_request
        self.next_request += 1
        ref = self.signals.new_ref() if option == "monitor" else None
        self.spawns[request] = PendingSpawn(proc, name, option, ref, reply)
        view.conn.send(F.frame("spawn", request, proc.pid, cls.name, class_version(self.vm, cls), selector,
                               data, option, self._ref_id(ref) if ref is not None else 0))

    def on_spawn(self, view: Any, request: int, requester: int, class_name: str, version: str,
                 selector: str, arguments: bytes, option: str, ref: int) -> None:
        refusal = self.rt.drainer.refusal()
        if refusal is not None:                       # it is moving its processes away to stop
            view.conn.send(F.frame("spawned", request, 0, refusal))
            return
        try:
            cls = self.rt.code.ensure(view, class_name, version)
            args = self.rt.decode(view, arguments)
            if type(args) is not VArray or option not in ("none", "link", "monitor"):
                raise CodeUnavailable("a malformed spawn request")
        except CodeUnavailable as error:
            view.conn.send(F.frame("spawned", request, 0, str(error)))
            return
        node_class = self.vm.globals["Node"]
        proc = self.scheduler.spawn_send(node_class, SPAWN_LAUNCH, [cls, self.sym(selector), args])
        origin = self._pid(view, requester)
        if option == "link":
            proc.links = {origin}
        elif option == "monitor":
            proc.monitored_by = {(view.name, ref): origin}
        view.conn.send(F.frame("spawned", request, proc.pid, None))

    def on_spawned(self, view: Any, request: int, number: int, error: str | None) -> None:
        pending = self.spawns.pop(request, None)
        if pending is None:
            return
        if error is not None:
            pending.reply(self.vm.make_exception("Error", f"spawn on node {view.name}: {error}"))
            return
        remote = self._pid(view, number)
        requester = pending.proc
        if pending.option == "link":
            if requester.alive:
                if requester.links is None:
                    requester.links = set()
                requester.links.add(remote)
            else:
                reason = requester.exit_reason if requester.exit_reason is not None else self.sym("noproc")
                view.conn.send(F.frame("link_exit", requester.pid, number, self.rt.encode_reason(reason, view)))
        elif pending.option == "monitor":
            if requester.alive:
                if requester.monitors is None:
                    requester.monitors = {}
                requester.monitors[pending.ref] = remote
            else:
                view.conn.send(F.frame("demonitor", requester.pid, number, self._ref_id(pending.ref)))
            pending.reply(self.vm.new_array([remote, pending.ref]))
            return
        pending.reply(remote)
