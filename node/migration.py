"""Moving a running process to another node: the protocol between the two nodes, and
the forwarding that keeps the old process reference working.

Rules:
- The source freezes the process at a safe point and sends it (``migrate``: the
  bundle of ``node.bundle``). The target fetches the code it lacks first (code on
  demand holds the frame), thaws the process **held** (it does not run) and answers
  with its new number (``migrate_answer``), or refuses with a reason. Only when the
  source has that answer does it decide: it retires its copy and sends
  ``migrate_commit`` (go), after which the target runs the process. A refusal, or a
  process that ended while frozen, leaves it (or its death) at the source, and the
  target forgets its held copy. So the process never runs twice at once.
- A connection lost during a move leaves the move in doubt for two ticks (``doubt``): if
  the target comes back (the same incarnation) the source asks it (``migrate_query``)
  and finishes the move by its answer; otherwise the source runs the process on and
  the target drops the copy it held — each side decides alone and both decide the
  same way, so exactly one copy runs (a node that was killed takes its copy with it).
- The moved-from process object stays on the source as a **forwarder** (state
  MOVED): messages sent to the old reference — by its node's processes, which hold
  the object itself, and by other nodes, which hold its pid — go to it and are
  forwarded in their order; the messages that came while it was frozen go first,
  right after the commit. Exit signals to it are forwarded (``moved_signal``). Links
  and monitors travel in the bundle and live with the process on the target from the
  commit on (``node.migration_links``: the target installs them and tells every node
  the old pid's new place; the forwarder passes on the link and monitor signals that
  still reach it). When the moved process dies the target tells the source
  (``moved_exit``) and the forwarder dies with the same reason. A process moved again
  (a → b → c → a) makes a chain of forwarders, each passing on in order; each lives
  as long as the process it forwards to, or until its connection to that node is lost
  (it then forwards to where the process went on to, if it was told, or dies with
  #noconnection, as a link would tell).
- Registered names: a local name is taken on the target (if it is free there); a
  global name is moved to the new pid in one transaction (``names.repoint``).

VM thread only; never blocks. Frame handlers raise NeedCode (the runtime holds the
frame until the code has come) or BadFrame; everything else is an answer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smalltalk_vm.node import bundle as MB
from smalltalk_vm.node import frames as F
from smalltalk_vm.node.codeload import CodeUnavailable, NeedCode
from smalltalk_vm.node.migration_links import MovedLinks
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.distribution import RemoteProcess
from smalltalk_vm.vm.errors import SignalException
from smalltalk_vm.vm.process import DEAD, MOVED, RUNNABLE, Process

MOVE_SECONDS = 30.0         # a move with no answer from a connected target is given up
MIN_DOUBT_SECONDS = 2.0     # a move cut off by a lost connection waits two ticks (within these
                            # bounds) for the connection to come back: a reconnect takes 0.25-5 s
REMEMBER_SECONDS = 60.0     # how long a target remembers the moves it took (for queries)
FRAME_OVERHEAD = 64


@dataclass
class Outgoing:
    """A move this node started: the frozen process and who waits for the answer."""
    number: int
    frozen: Any
    view: Any
    refs: Any
    reply: Any                 # None for a process moving itself
    encoded: tuple = ((), {}, {})   # its links, monitors and watchers as the bundle has them
    timer: Any = None
    in_doubt: bool = False


@dataclass
class Held:
    """A process thawed here, waiting for its source's commit."""
    proc: Process
    view: Any
    old_pid: int
    thawed: Any = None         # its links, monitors and watchers: installed at the commit
    timer: Any = None


class Migrations:
    """The migration side of one node runtime (``runtime``). VM thread only; never
    blocks; raises nothing to its callers (a failed move is an answer)."""

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime
        self.vm = runtime.vm
        self.machine = runtime.machine
        self.scheduler = runtime.scheduler
        self.outgoing: dict[int, Outgoing] = {}
        self.held: dict[tuple[str, int], Held] = {}
        self.taken: dict[tuple[str, int], int] = {}       # (source, move) -> pid here, for queries
        self.forwards: dict[int, RemoteProcess] = {}      # pid of a MOVED process -> where it went
        self.homes: dict[int, tuple[str, int, int]] = {}  # pid moved in -> (node, creation, its old pid)
        self.requests: dict[int, tuple[Any, Any]] = {}   # migrate_request number -> (view, reply)
        self.next_move = 1
        # Both sides wait the same time, so both decide the same way.
        self.doubt = max(MIN_DOUBT_SECONDS, min(2 * runtime.config.tick, MOVE_SECONDS))
        self.links = MovedLinks(self)
        self.scheduler.on_death.append(self._died)

    # ------------------------------------------------------------------ the source

    def migrate(self, proc: Any, node: Any, reply: Any) -> None:
        """Move ``proc`` (not the current process); ``reply`` gets the moved process or
        an Error. With ``reply`` None the process moves itself (it is parked by
        ``MB.park_for_move``) and gets its answer where it goes on. A process of
        another node is moved by its node, asked with ``migrate_request``."""
        if type(proc) is RemoteProcess:
            self._request(proc, node, reply)
            return
        name, creation = self.rt.nodes.identify(node)
        if name == self.rt.name and creation == self.rt.creation:
            self._answer_here(proc, reply, proc)
            return
        if proc.state == MOVED:
            self._refuse(None, proc, reply, self._moved_on(proc))
            return
        view = self.rt.peers.get(name)
        if view is None or view.creation != creation:
            self._refuse(None, proc, reply, f"process {proc.pid} cannot move: node {name} is not connected")
            return
        try:
            frozen = MB.freeze(self.vm, proc)
        except MB.MoveRefused as error:
            self._refuse(None, proc, reply, str(error))
            return
        refs = self.rt.objects.outgoing(view)
        encoded = (set(proc.links or ()), dict(proc.monitors or {}), dict(proc.monitored_by or {}))
        try:
            data = MB.encode(frozen, refs)        # links, monitors and watchers travel with it
        except MB.MoveRefused as error:
            refs.abort()
            self._refuse(frozen, proc, reply, str(error))
            return
        if len(data) + FRAME_OVERHEAD > self.rt.config.max_frame:
            refs.abort()
            self._refuse(frozen, proc, reply, f"process {proc.pid} cannot move: it is {len(data)} bytes, over "
                                              f"the {self.rt.config.max_frame}-byte frame limit")
            return
        move = Outgoing(self.next_move, frozen, view, refs, reply, encoded)
        self.next_move += 1
        self.outgoing[move.number] = move
        move.timer = self.scheduler.add_timer(MOVE_SECONDS, lambda: self._gave_up(move))
        view.conn.send(F.frame("migrate", move.number, proc.pid, data))

    def migrate_self(self, interp: Any, ctx: Any, node: Any) -> Any:
        proc = interp.process
        name, creation = self.rt.nodes.identify(node)
        here = name == self.rt.name and creation == self.rt.creation
        view = self.rt.peers.get(name)
        if here or view is None or view.creation != creation:
            answer = [V.TRUE, proc] if here else [
                V.FALSE, self.vm.new_string(f"process {proc.pid} cannot move: node {name} is not connected")]
            ctx.stack.append(self.vm.new_array(answer))
            return ctx
        MB.park_for_move(interp, ctx)
        self.scheduler.post(lambda: self.migrate(proc, node, None))
        return None

    def _answer_here(self, proc: Process, reply: Any, value: Any) -> None:
        if reply is not None:
            reply(value)
        else:                       # a self-move to this node: it was parked for nothing
            MB.cancel_self_move(self.vm, proc, self.vm.new_array([V.TRUE, proc]))

    def _refuse(self, frozen: Any, proc: Process, reply: Any, text: str) -> None:
        """The process stays (unfrozen, as it was); whoever asked is told why."""
        if reply is not None:
            if frozen is not None:
                MB.unfreeze(frozen)
            reply(self.vm.make_exception("Error", text))
            return
        answer = self.vm.new_array([V.FALSE, self.vm.new_string(text)])
        if frozen is None:        # refused before it was frozen: it goes on from its park
            MB.cancel_self_move(self.vm, proc, answer)
            return
        MB.unfreeze(frozen, answer=answer)

    def _finish(self, move: Outgoing) -> None:
        self.outgoing.pop(move.number, None)
        if move.timer is not None:
            self.scheduler.cancel_timer(move.timer)
            move.timer = None

    def _fail(self, move: Outgoing, text: str) -> None:
        self._finish(move)
        move.refs.abort()
        self._refuse(move.frozen, move.frozen.proc, move.reply, text)

    def _gave_up(self, move: Outgoing) -> None:
        move.timer = None
        if move.number not in self.outgoing:
            return
        view = self.rt.peers.get(move.view.name)
        if view is not None and view.creation == move.view.creation:
            view.conn.send(F.frame("migrate_commit", move.number, False))
        what = "the connection was lost during the move" if move.in_doubt else f"no answer within {MOVE_SECONDS:g} s"
        self._fail(move, f"process {move.frozen.pid} did not move to node {move.view.name}: {what}")

    def on_migrate_answer(self, view: Any, number: int, pid: int, error: str | None) -> None:
        move = self.outgoing.get(number)
        if move is None or move.view.name != view.name or move.view.creation != view.creation:
            if error is None:                  # an answer after we gave up: it must not run
                view.conn.send(F.frame("migrate_commit", number, False))
            return
        if error is not None:
            self._fail(move, f"node {view.name} refused process {move.frozen.pid}: {error}")
            return
        self._finish(move)
        frozen = move.frozen
        proc = frozen.proc
        if not proc.alive:
            move.refs.abort()
            view.conn.send(F.frame("migrate_commit", number, False))
            if move.reply is not None:
                move.reply(self.vm.make_exception(
                    "Error", f"process {frozen.pid} ended while it was moving ({self._reason_text(proc)})"))
            return
        late = list(frozen.late_messages())
        links = set(frozen.links or ())
        monitors = dict(frozen.monitors or {})
        monitored_by = dict(frozen.monitored_by or {})
        on_exit = list(proc.on_exit or ())
        MB.retire(frozen)
        move.refs.commit()
        target = self.rt.pids.get(view.name, view.creation, pid)
        self._become_forwarder(proc, target, on_exit)
        view.conn.send(F.frame("migrate_commit", number, True))
        for message in late:
            self.forward(proc, message)
        self.links.keep_local(proc, move.encoded, links, monitors, monitored_by, target)
        self.rt.names.repoint(proc, target)
        if move.reply is not None:
            move.reply(target)

    def _become_forwarder(self, proc: Process, target: RemoteProcess, on_exit: list) -> None:
        proc.state = MOVED
        proc.ctx = None
        proc.mailbox = None
        proc.on_exit = on_exit or None
        self.scheduler.processes[proc.pid] = proc
        self.forwards[proc.pid] = target

    def _reason_text(self, proc: Process) -> str:
        reason = proc.exit_reason
        if V.is_symbol(reason):
            return "#" + self.vm.symbol_name(reason)
        return "an error" if reason is not None else "no reason"

    # ------------------------------------------------------------------ moves asked of another node

    def _request(self, proc: RemoteProcess, node: Any, reply: Any) -> None:
        view, why = self.rt.remote.reach(proc)
        if view is None:
            reply(self.vm.make_exception("Error", f"process {proc.number} of node {proc.node} cannot move: "
                                                  f"its node is not connected (#{why})"))
            return
        name = self.rt.nodes.identify(node)[0]           # its node knows whether it can reach that one
        request = self.next_move
        self.next_move += 1
        self.requests[request] = (view, reply)
        view.conn.send(F.frame("migrate_request", request, proc.number, name))

    def on_migrate_request(self, view: Any, request: int, number: int, name: str) -> None:
        def answer(value: Any) -> None:
            current = self.rt.peers.get(view.name)
            if current is None or current.creation != view.creation:
                return
            if type(value) is Process or type(value) is RemoteProcess:
                current.conn.send(F.frame("migrate_reply", request, self.rt.encode(value, "a process", current),
                                          None))
            else:
                current.conn.send(F.frame("migrate_reply", request, self.rt.encode(V.NIL, "nil", current),
                                          self._message_text(value)))
        proc = self.scheduler.processes.get(number)
        if proc is None or not proc.alive:
            answer(self.vm.make_exception("Error", f"process {number} of node {self.rt.name} has ended"))
            return
        if proc.state == MOVED:
            answer(self.vm.make_exception("Error", self._moved_on(proc)))
            return
        node = self.rt.current_node() if name == self.rt.name else self.rt.node_named(name)
        if node is V.NIL:
            answer(self.vm.make_exception("Error", f"process {number} cannot move: node {name} is not connected "
                                                   f"to node {self.rt.name}"))
            return
        self.migrate(proc, node, answer)

    def on_migrate_reply(self, view: Any, request: int, process: bytes, error: str | None) -> None:
        pending = self.requests.get(request)
        if pending is None or pending[0].name != view.name:
            return
        del self.requests[request]
        moved = self.rt.decode_reason(view, process)
        if error is not None or (type(moved) is not Process and type(moved) is not RemoteProcess):
            pending[1](self.vm.make_exception("Error", error or "a malformed answer to a move"))
            return
        pending[1](moved)

    def _moved_on(self, proc: Process) -> str:
        target = self.forwards.get(proc.pid)
        where = f"node {target.node} (as {target.number})" if target is not None else "another node"
        return f"process {proc.pid} has moved on to {where}: ask that node"

    def _message_text(self, exception: Any) -> str:
        names = self.vm.all_field_names(exception.cls)
        text = exception.fields[names.index("messageText")] if "messageText" in names else V.NIL
        return self.vm.str_of(text) if text != V.NIL else "it could not move"

    # ------------------------------------------------------------------ forwarding (the source)

    def forward(self, proc: Process, message: Any) -> None:
        target = self.forwards.get(proc.pid)
        if target is None:
            return
        if type(target) is Process:           # a drain brought it back here
            self.scheduler.deliver(target, message)
            return
        try:
            self.rt.remote.send(target, message)
        except SignalException as error:   # deliver never fails: a message that cannot go is dropped
            self.rt.log(f"dropped a message for process {proc.pid}, which moved to node {target.node}: "
                        f"{error.message_text}")

    def forward_exit(self, proc: Process, sender: Any, reason: Any) -> None:
        target = self.forwards.get(proc.pid)
        if target is None:
            return
        if type(target) is Process:
            self.vm.signals.exit_signal(target, sender, reason)
            return
        view, _ = self.rt.remote.reach(target)
        if view is None:
            return
        origin = self.rt.encode(sender if type(sender) in (Process, RemoteProcess) else V.NIL, "a process", view)
        view.conn.send(F.frame("moved_signal", target.number, origin, self.rt.encode_reason(reason, view)))

    def on_moved_exit(self, view: Any, number: int, reason: bytes) -> None:
        proc = self.scheduler.processes.get(number)
        if proc is None or proc.state != MOVED:
            return
        target = self.forwards.get(number)
        if target is None or target.node != view.name or target.creation != view.creation:
            return
        self.scheduler.terminate(proc, self.rt.decode_reason(view, reason))

    # ------------------------------------------------------------------ the target

    def on_migrate(self, view: Any, number: int, old_pid: int, data: bytes) -> None:
        key = (view.name, number)
        if key in self.held or key in self.taken:
            return                                     # a duplicate: the first is being answered
        refusal = self.rt.drainer.refusal()
        if refusal is not None:
            view.conn.send(F.frame("migrate_answer", number, 0, refusal))
            return
        try:
            header = MB.read_header(data)
            for name, version in MB.missing_classes(self.vm, header):
                self.rt.code.ensure(view, name, version)      # NeedCode: held until it has come
        except (MB.BundleError, CodeUnavailable) as error:
            view.conn.send(F.frame("migrate_answer", number, 0, str(error)))
            return
        refs = self.rt.objects.incoming(view)
        answer = self.vm.new_array([V.TRUE, V.NIL])
        try:
            thawed = MB.thaw(self.machine, data, refs, answer=answer)
        except MB.MissingCode as missing:
            name, version = missing.classes[0]
            raise NeedCode(name, version) from None
        except MB.BundleError as error:
            view.conn.send(F.frame("migrate_answer", number, 0, str(error)))
            return
        refs.commit()
        proc = thawed.proc
        answer.items[1] = proc
        proc.suspended = True                      # held: it runs once the source commits
        proc.links = proc.monitors = proc.monitored_by = None    # installed at the commit
        if thawed.name is not None and not self.vm.signals.register(proc, thawed.name):
            self.rt.log(f"process {proc.pid} (moved from {view.name}) did not take the name "
                        f"#{thawed.name}: it is taken here")
        held = Held(proc, view, old_pid, thawed)
        self.held[key] = held
        view.conn.send(F.frame("migrate_answer", number, proc.pid, None))

    def on_migrate_commit(self, view: Any, number: int, go: bool) -> None:
        key = (view.name, number)
        held = self.held.pop(key, None)
        if held is None or held.view.creation != view.creation:
            return
        if held.timer is not None:
            self.scheduler.cancel_timer(held.timer)
        proc = held.proc
        if not go:
            self._drop_held(held)
            return
        self.taken[key] = proc.pid
        self.scheduler.add_timer(REMEMBER_SECONDS, lambda: self.taken.pop(key, None))
        self.homes[proc.pid] = (view.name, view.creation, held.old_pid)
        self.links.install(proc, held.thawed, view, held.old_pid)
        proc.suspended = False
        if proc.state == RUNNABLE and proc not in self.scheduler.run_queue:
            self.scheduler.run_queue.append(proc)

    def _drop_held(self, held: Held) -> None:
        proc = held.proc
        proc.report_crash = False
        self.scheduler.terminate(proc, self.vm.symbol("killed"))

    def on_migrate_query(self, view: Any, number: int) -> None:
        key = (view.name, number)
        held = self.held.get(key)
        if held is not None and held.view.creation == view.creation:
            if held.timer is not None:
                self.scheduler.cancel_timer(held.timer)
                held.timer = None
            held.view = view
            view.conn.send(F.frame("migrate_answer", number, held.proc.pid, None))
            return
        if key in self.taken:
            view.conn.send(F.frame("migrate_answer", number, self.taken[key], None))
            return
        view.conn.send(F.frame("migrate_answer", number, 0, "it did not reach this node"))

    def on_moved_signal(self, view: Any, number: int, origin: bytes, reason: bytes) -> None:
        proc = self.scheduler.processes.get(number)
        if proc is None or not proc.alive:
            return
        sender = self.rt.decode_reason(view, origin)   # an explicit exit: (links come as link_exit)
        self.vm.signals.exit_signal(proc, sender, self.rt.decode_reason(view, reason))

    # ------------------------------------------------------------------ links and monitors (node.migration_links)

    def on_moved_here(self, view: Any, old_node: str, old_creation: int, old: int, number: int) -> None:
        self.links.on_moved_here(view, old_node, old_creation, old, number)

    def on_moved_relay(self, view: Any, number: int, kind: str, origin: str, creation: int, other: int,
                       ref: int, reason: bytes, via: str, via_creation: int, via_number: int) -> None:
        self.links.on_moved_relay(view, number, kind, origin, creation, other, ref, reason, via, via_creation,
                                  via_number)

    # ------------------------------------------------------------------ forwarders re-pointed by a drain

    def rehome(self, reference: RemoteProcess, target: Any) -> None:
        """A drain re-pointed ``reference`` to ``target``: the forwarders here that
        forwarded to it forward there now, and ``target``'s node is told to report its
        death here (``moved_home``), as the drained node would have."""
        for pid, forwarded in list(self.forwards.items()):
            if forwarded is not reference:
                continue
            if type(target) is Process:
                self.forwards[pid] = target
                self.homes[target.pid] = (self.rt.name, self.rt.creation, pid)
                continue
            view, _ = self.rt.remote.reach(target)
            if view is not None:
                view.conn.send(F.frame("moved_home", target.number, pid))

    def on_moved_home(self, view: Any, number: int, old: int) -> None:
        proc = self.scheduler.processes.get(number)
        if proc is not None and proc.alive:
            self.homes[number] = (view.name, view.creation, old)

    # ------------------------------------------------------------------ deaths and connections

    def _died(self, proc: Any, reason: Any) -> None:
        self.forwards.pop(proc.pid, None)
        home = self.homes.pop(proc.pid, None)
        if home is None:
            return
        if home[0] == self.rt.name and home[1] == self.rt.creation:
            forwarder = self.scheduler.processes.get(home[2])
            if forwarder is not None and forwarder.state == MOVED and self.forwards.get(home[2]) is proc:
                self.scheduler.terminate(forwarder, reason)
            return
        view = self.rt.peers.get(home[0])
        if view is not None and view.creation == home[1]:
            view.conn.send(F.frame("moved_exit", home[2], self.rt.encode_reason(reason, view)))

    def node_lost(self, view: Any) -> None:
        noconnection = self.vm.symbol("noconnection")
        for request, (asked, reply) in list(self.requests.items()):
            if asked.name == view.name:
                del self.requests[request]
                reply(self.vm.make_exception("Error", f"the move asked of node {view.name} is not known: "
                                                      "the connection was lost (#noconnection)"))
        for pid, target in list(self.forwards.items()):
            if type(target) is not RemoteProcess or target.node != view.name or target.creation != view.creation:
                continue
            proc = self.scheduler.processes.get(pid)
            if proc is None or proc.state != MOVED:
                continue
            now = self.links.current(target)       # moved on from the lost node: forward there
            if type(now) is RemoteProcess and now.node != view.name and self.rt.remote.reach(now)[0] is not None:
                self.forwards[pid] = now
                continue
            self.scheduler.terminate(proc, noconnection)
        for move in list(self.outgoing.values()):
            if move.view.name == view.name and not move.in_doubt:
                move.in_doubt = True
                if move.timer is not None:
                    self.scheduler.cancel_timer(move.timer)
                move.timer = self.scheduler.add_timer(self.doubt, lambda m=move: self._gave_up(m))
        for key, held in list(self.held.items()):
            if held.view.name == view.name and held.timer is None:
                held.timer = self.scheduler.add_timer(self.doubt, lambda k=key: self._doubt_over(k))

    def _doubt_over(self, key: tuple[str, int]) -> None:
        held = self.held.pop(key, None)
        if held is not None:
            self.rt.log(f"dropped process {held.proc.pid}, moving from {key[0]}: the connection was lost "
                        "before the move was decided")
            self._drop_held(held)

    def peer_up(self, view: Any) -> None:
        self.links.peer_up(view)
        for move in list(self.outgoing.values()):
            if move.view.name != view.name or not move.in_doubt:
                continue
            if view.creation != move.view.creation:
                self._fail(move, f"process {move.frozen.pid} did not move: node {view.name} restarted")
                continue
            move.view = view
            view.conn.send(F.frame("migrate_query", move.number))

    # ------------------------------------------------------------------ drain (node.migration_drain)

    def movable(self) -> list[Process]:
        """The processes of this node that a drain tries to move."""
        return [p for p in self.scheduler.live_processes()
                if p.state not in (DEAD, MOVED) and not p.suspended and p is not self.scheduler.current]
