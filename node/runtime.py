"""The node on the VM side: what the VM's primitives call (``vm.distribution``), the
VM's view of its peers, and the dispatch of the frames that reach the VM.

Rules:
- Everything here runs on the VM thread. The transport side calls only ``peer_up``,
  ``peer_frames`` and ``peer_down``, which post to the scheduler's inbox; the VM
  thread sends by putting bytes in a connection's queue and never waits for the
  network.
- Frames are decoded here (their wire values make symbols, classes, processes) and
  dispatched through the frame table (``node.frames``): each VM-side kind names its
  handler, found once at start on the remote-signal, code-loading, hot-loading or
  this object.
  Frames from a connection that is no longer the peer's current one are ignored.
- A frame whose value does not decode, or that breaks the protocol, closes that
  connection with the reason logged; a frame that waits for code holds back the
  later frames of that peer until the code has come (order is kept).
- Processes and Nodes travel as references (``NodeRefs`` for the wire codec): a pid
  of this node decodes to the local process itself (a stand-in that is dead if it
  has ended), others to canonical ``RemoteProcess`` objects.
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from smalltalk_vm.node import frames as F
from smalltalk_vm.node import wire
from smalltalk_vm.node.codeload import BadFrame, CodeLoader, CodeUnavailable, NeedCode
from smalltalk_vm.node.config import NodeConfig
from smalltalk_vm.node.globalnames import ClusterNames
from smalltalk_vm.node.hotload import HotLoader
from smalltalk_vm.node.load import LoadGossip
from smalltalk_vm.node.migration import Migrations
from smalltalk_vm.node.migration_drain import Drainer
from smalltalk_vm.node.objects import RemoteObjectTable
from smalltalk_vm.node.peer import Connection
from smalltalk_vm.node.remote import RemoteSignals
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.distribution import Distribution, NodeTable, RemoteProcess, RemoteProcesses
from smalltalk_vm.vm.errors import SignalException
from smalltalk_vm.vm.process import DEAD, Process

FRAME_OVERHEAD = 64        # what a frame adds around its value, at most


@dataclass
class PeerView:
    """The VM's view of one connected peer."""
    name: str
    creation: int
    node: Any
    conn: Connection
    held: deque | None = None                 # frames waiting for code, in order
    requested: set = field(default_factory=set)   # classes asked of this peer
    pings: set = field(default_factory=set)
    announced: bool = False                   # NodeUp delivered (once names are shared)


class NodeRuntime(Distribution):
    """The distribution of a VM that is a node. ``peer_up``, ``peer_frames`` and
    ``peer_down`` may be called from any thread (they only post to the scheduler's
    inbox); everything else runs on the VM thread and never blocks. Errors a program
    causes (a message that cannot be sent) are raised as ``SignalException``; a peer
    that breaks the protocol has its connection closed, nothing is raised."""

    def __init__(self, machine: Any, config: NodeConfig, log: Any) -> None:
        self.machine = machine
        self.vm = machine.universe
        self.scheduler = machine.scheduler
        self.config = config
        self.name = config.name
        self.creation = config.creation
        self.log = log
        self.nodes = NodeTable(self.vm)
        self.pids = RemoteProcesses(self.vm)
        self.peers: dict[str, PeerView] = {}
        self.node_watchers: list[Process] = []
        self.node_monitors: dict[str, list[Process]] = {}
        self.pings: dict[int, tuple[Any, Any]] = {}
        self.next_ping = 1
        self.remote = RemoteSignals(self)
        self.code = CodeLoader(self)
        self.names = ClusterNames(self)
        self.load = LoadGossip(self)
        self.hotload = HotLoader(self)
        self.objects = RemoteObjectTable(self)
        self.migration = Migrations(self)
        self.drainer = Drainer(self)
        self.handlers: dict[int, Any] = {}
        owners = (self.remote, self.code, self.names, self.load, self.hotload, *self.objects.frame_handlers,
                  self.migration, self.drainer, self)
        for spec in F.FRAMES:
            if spec.side != "vm":
                continue
            owner = next((o for o in owners if hasattr(o, spec.handler)), None)
            if owner is None:
                raise RuntimeError(f"no handler for frame kind {spec.name}")
            self.handlers[spec.kind] = getattr(owner, spec.handler)
        self.scheduler.on_death.append(self._process_died)

    @property
    def node_class(self) -> Any:
        return self.vm.globals["Node"]

    def current_node(self) -> Any:
        return self.nodes.get(self.name, self.creation)

    # ------------------------------------------------------------------ events (any thread)

    def peer_up(self, conn: Connection) -> None:
        self.scheduler.post(lambda: self._up(conn))

    def peer_frames(self, conn: Connection, frames: list) -> None:
        self.scheduler.post(lambda: self._frames(conn, frames))

    def peer_down(self, conn: Connection, reason: str) -> None:
        self.scheduler.post(lambda: self._down(conn, reason))

    # ------------------------------------------------------------------ peers (VM thread)

    def _up(self, conn: Connection) -> None:
        old = self.peers.get(conn.name)
        if old is not None and old.conn is not conn:
            self._down(old.conn, "noconnection")
        node = self.nodes.get(conn.name, conn.peer.creation)
        view = PeerView(conn.name, conn.peer.creation, node, conn)
        self.peers[conn.name] = view
        self.hotload.peer_up(view)         # classes loaded by Cluster load: go first
        self.load.start()
        self.objects.peer_up(view)
        self.names.peer_up(view)           # NodeUp waits until the two share global names
        self.migration.peer_up(view)       # moves cut off by the lost connection are asked about

    def announce_up(self, view: PeerView) -> None:
        """Deliver NodeUp for ``view``'s node (the global names call it when they are shared)."""
        if self.peers.get(view.name) is not view or view.announced:
            return
        view.announced = True
        for watcher in list(self.node_watchers):
            self.scheduler.deliver(watcher, self.vm.signals.make("NodeUp", node=view.node))

    def _down(self, conn: Connection, reason: str) -> None:
        view = self.peers.get(conn.name)
        if view is None or view.conn is not conn:
            return
        del self.peers[conn.name]
        view.held = None
        self.names.peer_down(view, reason)   # its names go before links and monitors are told
        self.load.peer_down(view)
        self.remote.node_lost(view)
        self.migration.node_lost(view)
        self.hotload.node_lost(view)
        self.objects.node_lost(view)
        for ping in list(view.pings):
            self._ping_answered(ping, V.FALSE)
        message = self.vm.signals.make("NodeDown", node=view.node, reason=self.vm.symbol(reason))
        if view.announced:                   # no NodeDown for a NodeUp never delivered
            for watcher in list(self.node_watchers):
                self.scheduler.deliver(watcher, message)
        for watcher in self.node_monitors.pop(view.name, ()):
            self.scheduler.deliver(watcher, message)

    def close(self, view: PeerView, reason: str) -> None:
        """Close a connection whose peer broke the protocol, from the VM thread (gRPC's
        cancel may take a moment, so on a thread of its own)."""
        view.conn.protocol_error = True
        threading.Thread(target=view.conn.close, args=(reason,), daemon=True).start()

    # ------------------------------------------------------------------ frames (VM thread)

    def _frames(self, conn: Connection, frames: list) -> None:
        view = self.peers.get(conn.name)
        if view is None or view.conn is not conn:
            return
        if view.held is not None:
            code_kind = F.KIND["code"]
            for item in frames:
                if item[0].kind == code_kind:
                    self._dispatch(view, deque([item]))
                elif view.held is not None:
                    view.held.append(item)
                else:
                    self._dispatch(view, deque([item]))
            return
        self._dispatch(view, deque(frames))

    def _dispatch(self, view: PeerView, queue: deque) -> None:
        handlers = self.handlers
        while queue:
            spec, item = queue.popleft()
            try:
                handlers[spec.kind](view, *item[1:])
            except NeedCode as need:
                queue.appendleft((spec, item))
                if view.held is not None:          # frames that came meanwhile go after
                    queue.extend(view.held)
                else:
                    self.code.request(view, need)
                view.held = queue
                return
            except BadFrame as error:
                self.close(view, f"bad {spec.name} frame: {error}")
                return
            except Exception as error:       # a bug must close one connection, not end the VM
                self.close(view, f"internal error on a {spec.name} frame: {type(error).__name__}: {error}")
                return
            if self.peers.get(view.name) is not view:
                return

    def replay(self, view: PeerView) -> None:
        """The code a held frame waited for has come (or cannot): run what was held."""
        held, view.held = view.held, None
        if held:
            self._dispatch(view, held)

    # ------------------------------------------------------------------ values

    def encode(self, value: Any, what: str, to: PeerView | None = None) -> bytes:
        """Wire bytes of ``value`` for the peer ``to`` (the references in it are counted
        for that peer; without one, a reference cannot travel); a WireError for the
        sending process if it cannot go."""
        refs = self.objects.outgoing(to)
        try:
            data = wire.encode(self.vm, value, node_refs=refs)
        except wire.WireError as error:
            refs.abort()
            raise SignalException("WireError", f"{what} cannot be sent: {error}") from None
        if len(data) + FRAME_OVERHEAD > self.config.max_frame:
            refs.abort()
            raise SignalException("WireError", f"{what} is {len(data)} bytes, over the "
                                               f"{self.config.max_frame}-byte frame limit")
        refs.commit()
        return data

    def encode_reason(self, reason: Any, to: PeerView | None = None) -> bytes:
        """An exit reason must travel whatever it is: one that cannot is described."""
        try:
            return self.encode(reason, "an exit reason", to)
        except SignalException as error:
            return wire.encode(self.vm, self.vm.make_exception("Error", error.message_text))

    def decode(self, view: PeerView, data: bytes, refs: Any = None) -> Any:
        """A value from ``view``'s peer (its references counted once it decoded
        completely): NeedCode if it names a class to fetch, CodeUnavailable for one
        that cannot be had, BadFrame for bytes that do not decode."""
        if refs is None:
            refs = self.objects.incoming(view)
        try:
            value = wire.decode(self.vm, data, max_bytes=self.config.max_frame, node_refs=refs)
        except wire.MissingClass as missing:
            raise self.code.missing(view, missing.class_name) from None
        except wire.WireError as error:
            raise BadFrame(str(error)) from None
        refs.commit()
        return value

    def decode_reason(self, view: PeerView, data: bytes) -> Any:
        try:
            return self.decode(view, data)
        except CodeUnavailable as error:
            return self.vm.make_exception("Error", f"an exit reason from node {view.name}: {error}")

    # NodeRefs, for the wire codec
    def process_identity(self, proc: Any) -> tuple[str, int, int]:
        if type(proc) is Process:
            return self.name, self.creation, proc.pid
        return proc.node, proc.creation, proc.number

    def node_identity(self, node: Any) -> tuple[str, int]:
        return self.nodes.identify(node)

    def process(self, node: str, creation: int, number: int) -> Any:
        if node == self.name and creation == self.creation:
            proc = self.scheduler.processes.get(number)
            if proc is None:                 # ended: a dead stand-in answers #noproc
                proc = Process(self.vm.Process, number, None)
                proc.state = DEAD
                proc.exit_reason = self.vm.symbol("noproc")
            return proc
        return self.pids.get(node, creation, number)

    def node(self, name: str, creation: int) -> Any:
        return self.nodes.get(name, creation)

    def by_reference(self, value: Any) -> bool:
        return self.objects.by_reference(value)

    def reference(self, value: Any) -> tuple[str, int, bytes, str, int]:
        raise wire.WireError("a reference to an object travels only in a message to a peer")

    def remote_object(self, node: str, creation: int, handle: bytes, class_name: str, handoff: int) -> Any:
        raise wire.WireError("a reference to an object arrives only in a message from a peer")

    # ------------------------------------------------------------------ the hosted API

    def _view_of(self, node: Any) -> PeerView | None:
        name, creation = self.nodes.identify(node)
        view = self.peers.get(name)
        return view if view is not None and view.creation == creation else None

    def node_named(self, name: str) -> Any:
        if name == self.name:
            return self.current_node()
        view = self.peers.get(name)
        return view.node if view is not None else V.NIL

    def connected_nodes(self) -> list:
        return [self.peers[name].node for name in sorted(self.peers)]

    def is_connected(self, node: Any) -> bool:
        return node is self.current_node() or self._view_of(node) is not None

    def node_of(self, proc: Any) -> Any:
        if type(proc) is RemoteProcess:
            return self.nodes.get(proc.node, proc.creation)
        return self.current_node()

    def ping(self, node: Any, reply: Any) -> None:
        if node is self.current_node():
            reply(V.TRUE)
            return
        view = self._view_of(node)
        if view is None:
            reply(V.FALSE)
            return
        ping = self.next_ping
        self.next_ping += 1
        timer = self.scheduler.add_timer(self.config.tick, lambda: self._ping_answered(ping, V.FALSE))
        self.pings[ping] = (view, reply, timer)
        view.pings.add(ping)
        view.conn.send(F.frame("ping", ping))

    def _ping_answered(self, ping: int, answer: int) -> None:
        entry = self.pings.pop(ping, None)
        if entry is None:
            return
        view, reply, timer = entry
        self.scheduler.cancel_timer(timer)
        view.pings.discard(ping)
        reply(answer)

    def on_ping(self, view: PeerView, ping: int) -> None:
        view.conn.send(F.frame("pong", ping))

    def on_pong(self, view: PeerView, ping: int) -> None:
        entry = self.pings.get(ping)
        if entry is not None and entry[0] is view:
            self._ping_answered(ping, V.TRUE)

    def load_of(self, node: Any) -> int | None:
        return self.load.load_of(*self.nodes.identify(node))

    def monitor_nodes(self, proc: Any, flag: bool) -> bool:
        was = proc in self.node_watchers
        if flag and not was:
            self.node_watchers.append(proc)
        elif not flag and was:
            self.node_watchers.remove(proc)
        return was

    def monitor_node(self, proc: Any, node: Any) -> None:
        if node is self.current_node():
            return                           # this node does not go down while proc lives
        view = self._view_of(node)
        if view is None:
            self.scheduler.deliver(proc, self.vm.signals.make(
                "NodeDown", node=node, reason=self.vm.symbol("noconnection")))
            return
        self.node_monitors.setdefault(view.name, []).append(proc)

    def _process_died(self, proc: Any, reason: Any) -> None:
        if proc in self.node_watchers:
            self.node_watchers.remove(proc)
        for watchers in self.node_monitors.values():
            while proc in watchers:
                watchers.remove(proc)

    # ------------------------------------------------------------------ signals (vm.signals routes here)

    def send(self, target: RemoteProcess, message: Any) -> None:
        self.remote.send(target, message)

    def link(self, proc: Any, target: RemoteProcess) -> None:
        self.remote.link(proc, target)

    def unlink(self, proc: Any, target: RemoteProcess) -> None:
        self.remote.unlink(proc, target)

    def monitor(self, watcher: Any, target: RemoteProcess) -> Any:
        return self.remote.monitor(watcher, target)

    def demonitor(self, watcher: Any, ref: Any, target: RemoteProcess) -> None:
        self.remote.demonitor(watcher, ref, target)

    def exit(self, target: RemoteProcess, sender: Any, reason: Any) -> None:
        self.remote.exit(target, sender, reason)

    def link_exit(self, target: RemoteProcess, dead: Any, reason: Any) -> None:
        self.remote.link_exit(target, dead, reason)

    def down(self, watcher: RemoteProcess, ref: Any, dead: Any, reason: Any) -> None:
        self.remote.down(watcher, ref, dead, reason)

    def forget_monitor(self, target: RemoteProcess, ref: Any, watcher: Any) -> None:
        self.remote.forget_monitor(target, ref, watcher)

    def spawn(self, proc: Any, node: Any, cls: Any, selector: str, args: list, option: str,
              reply: Any) -> None:
        self.remote.spawn(proc, node, cls, selector, args, option, reply)

    def cluster_load(self, text: str, reply: Any) -> None:
        self.hotload.cluster_load(text, reply)

    def migrate(self, proc: Any, node: Any, reply: Any) -> None:
        self.migration.migrate(proc, node, reply)

    def migrate_self(self, interp: Any, ctx: Any, node: Any) -> Any:
        return self.migration.migrate_self(interp, ctx, node)

    def set_drain_placement(self, proc: Any, placement: Any) -> None:
        self.drainer.placements[proc.pid] = placement

    def forward(self, proc: Any, message: Any) -> None:
        self.migration.forward(proc, message)

    def forward_exit(self, proc: Any, sender: Any, reason: Any) -> None:
        self.migration.forward_exit(proc, sender, reason)

    def moved_signal(self, kind: str, forwarder: Any, partner: Any, ref: Any, reason: Any) -> None:
        self.migration.links.local_signal(kind, forwarder, partner, ref, reason)

    def held_name(self, entries: Any, proc: Any) -> Any:
        return self.migration.links.held_name(entries, proc)
