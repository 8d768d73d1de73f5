"""What the VM knows of other nodes: remote process references, canonical Node
objects, and the interface through which primitives reach the node layer.

Rules:
- The VM never imports the node layer. A machine that is a node is handed an object
  implementing ``Distribution`` (``universe.distribution``) by whoever builds it;
  every other machine has ``Standalone``, which answers what Erlang's
  ``nonode@nohost`` would: no other nodes, nothing remote.
- A process of another node is a ``RemoteProcess``: (node name, creation, number),
  canonical while it is referenced (one object per triple), so ``==`` compares it
  and it can sit in link sets and monitor tables beside local processes.
- ``Node`` objects are canonical too: one per (name, creation), made by ``NodeTable``.
- Everything here runs on the VM thread and never blocks; what has to wait for the
  network answers through a callback the node layer calls later on the VM thread.
"""
from __future__ import annotations

import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.codeversions import load_answer, load_definition
from smalltalk_vm.vm.proxies import NoRemoteObjects, RemoteObjects
from smalltalk_vm.vm.versions import class_version

STANDALONE_NODE = "nonode@nohost"


class RemoteProcess:
    """A process of another node (or of an earlier incarnation of this one). Pure
    data; its class is the VM's Process class, so the Process protocol applies and
    the primitives route it to the distribution."""
    __slots__ = ("__weakref__", "cls", "creation", "ihash", "node", "number")

    def __init__(self, cls: Any, node: str, creation: int, number: int) -> None:
        self.cls = cls
        self.node = node
        self.creation = creation
        self.number = number
        self.ihash = 0

    @property
    def alive(self) -> bool:
        """Unknown here: signals treat a remote process as alive and let its node
        answer (with #noproc, or #noconnection when the node is gone)."""
        return True

    def __repr__(self) -> str:
        return f"<RemoteProcess {self.number} on {self.node}/{self.creation}>"


class RemoteProcesses:
    """The canonical RemoteProcess objects of one VM."""

    def __init__(self, universe: Any) -> None:
        self.vm = universe
        self._known: weakref.WeakValueDictionary = weakref.WeakValueDictionary()

    def get(self, node: str, creation: int, number: int) -> RemoteProcess:
        key = (node, creation, number)
        found = self._known.get(key)
        if found is None:
            found = RemoteProcess(self.vm.Process, node, creation, number)
            self._known[key] = found
        return found

    def find(self, node: str, creation: int, number: int) -> RemoteProcess | None:
        """The reference object of (node, creation, number) if something here holds it."""
        return self._known.get((node, creation, number))

    def repoint(self, node: str, creation: int, number: int, target: Any) -> RemoteProcess | None:
        """The process (node, creation, number) moved to ``target`` (a drain,
        ``node.migration_drain``): the one reference object of it here, if any, now
        names ``target`` — every holder of it follows, and ``==`` still holds. A
        ``target`` of this node leaves the object as it was (the caller re-links to the
        local process). Answers the object, or None if nobody here holds the old pid."""
        key = (node, creation, number)
        found = self._known.get(key)
        if found is None:
            return None
        if type(target) is RemoteProcess:
            del self._known[key]
            found.node, found.creation, found.number = target.node, target.creation, target.number
            self._known[(target.node, target.creation, target.number)] = found
        return found


class NodeTable:
    """Canonical Node objects (instances of lib/Node.som with fields name and
    creation), one per node name and creation."""

    def __init__(self, universe: Any) -> None:
        self.vm = universe
        self._nodes: dict[tuple[str, int], Any] = {}

    def get(self, name: str, creation: int) -> Any:
        key = (name, creation)
        node = self._nodes.get(key)
        if node is None:
            vm = self.vm
            cls = vm.kernel_class("Node")
            node = vm.new_instance(cls)
            names = vm.all_field_names(cls)
            node.fields[names.index("name")] = vm.symbol(name)
            node.fields[names.index("creation")] = vm.make_int(creation)
            self._nodes[key] = node
        return node

    def identify(self, node: Any) -> tuple[str, int]:
        """(name, creation) of a Node object; ValueError for anything else."""
        vm = self.vm
        cls = vm.globals.get("Node")
        if getattr(node, "cls", None) is not cls or cls is None:
            raise ValueError("not a Node")
        names = vm.all_field_names(cls)
        return (vm.symbol_name(node.fields[names.index("name")]),
                vm.int_of(node.fields[names.index("creation")]))


SPAWN_LAUNCH = "runInstanceOf:selector:arguments:"


def spawn_here(vm: Any, requester: Any, cls: Any, selector: str, args: list, option: str) -> Any:
    """Remote spawn's meaning on this node: a process evaluating ``cls new perform:
    selector withArguments: args`` (through ``Node class>>runInstanceOf:...``), linked
    or monitored by ``requester`` as ``option`` says; answers the process, or
    ``{ process. ref }`` for a monitor."""
    proc = vm.scheduler.spawn_send(vm.globals["Node"], SPAWN_LAUNCH, [cls, vm.symbol(selector), vm.new_array(args)])
    if option == "link":
        vm.signals.link(requester, proc)
    elif option == "monitor":
        return vm.new_array([proc, vm.signals.monitor(requester, proc)])
    return proc


Reply = Callable[[Any], None]


class Distribution(ABC):
    """What the VM's primitives ask of the node layer. Called on the VM thread only;
    no method blocks. Methods taking ``reply`` call it later, on the VM thread, with
    the answer (or an exception object to signal). Errors a Smalltalk program can
    cause are raised as ``SignalException`` (through ``universe.signal``).
    ``nodes`` is the VM's NodeTable; ``names`` its global names
    (``vm.globalnames.GlobalNames``); ``objects`` the remote objects (``vm.proxies``)."""

    nodes: NodeTable
    names: Any
    objects: RemoteObjects

    # -- nodes
    @abstractmethod
    def current_node(self) -> Any: ...

    @abstractmethod
    def node_named(self, name: str) -> Any: ...

    @abstractmethod
    def connected_nodes(self) -> list: ...

    @abstractmethod
    def is_connected(self, node: Any) -> bool: ...

    @abstractmethod
    def ping(self, node: Any, reply: Reply) -> None: ...

    @abstractmethod
    def monitor_nodes(self, proc: Any, flag: bool) -> bool: ...

    @abstractmethod
    def monitor_node(self, proc: Any, node: Any) -> None: ...

    @abstractmethod
    def node_of(self, proc: Any) -> Any: ...

    def load_of(self, node: Any) -> int | None:
        """How many processes ``node`` runs, as last heard (None: not known)."""
        if node is self.current_node():
            return len(self.vm.scheduler.processes)
        return None

    # -- signals to processes of other nodes
    @abstractmethod
    def send(self, target: RemoteProcess, message: Any) -> None: ...

    @abstractmethod
    def link(self, proc: Any, target: RemoteProcess) -> None: ...

    @abstractmethod
    def unlink(self, proc: Any, target: RemoteProcess) -> None: ...

    @abstractmethod
    def monitor(self, watcher: Any, target: RemoteProcess) -> Any: ...

    @abstractmethod
    def demonitor(self, watcher: Any, ref: Any, target: RemoteProcess) -> None: ...

    @abstractmethod
    def exit(self, target: RemoteProcess, sender: Any, reason: Any) -> None: ...

    # -- what a dying local process owes its remote links and watchers
    @abstractmethod
    def link_exit(self, target: RemoteProcess, dead: Any, reason: Any) -> None: ...

    @abstractmethod
    def down(self, watcher: RemoteProcess, ref: Any, dead: Any, reason: Any) -> None: ...

    @abstractmethod
    def forget_monitor(self, target: RemoteProcess, ref: Any, watcher: Any) -> None: ...

    # -- remote spawn
    @abstractmethod
    def spawn(self, proc: Any, node: Any, cls: Any, selector: str, args: list, option: str,
              reply: Reply) -> None: ...

    # -- hot code: a class or method definition loaded on every connected node
    @abstractmethod
    def cluster_load(self, text: str, reply: Reply) -> None: ...

    # -- moving a process to another node (node.migration); a VM that is not a node
    #    has no other node to move to, and never holds a moved (MOVED) process
    def migrate(self, proc: Any, node: Any, reply: Reply) -> None:
        """Move ``proc`` (not the current process; one of another node is moved by its
        node) to ``node``; ``reply`` gets the moved process, or an Error saying why it
        stayed."""
        if node is self.current_node() and type(proc) is not RemoteProcess:
            reply(proc)
            return
        number = proc.number if type(proc) is RemoteProcess else proc.pid
        reply(self.vm.make_exception("Error", f"process {number} cannot move to node "
                                              f"{self.nodes.identify(node)[0]}: this VM is not a node"))

    def migrate_self(self, interp: Any, ctx: Any, node: Any) -> Any:
        """``Process current migrateTo: node`` from a control primitive: answers what the
        primitive returns. Its result, where the process goes on, is
        ``{ true. theProcess }`` or ``{ false. 'why it stayed' }``."""
        vm = self.vm
        if node is self.current_node():
            ctx.stack.append(vm.new_array([V.TRUE, interp.process]))
        else:
            ctx.stack.append(vm.new_array([V.FALSE, vm.new_string(
                f"process {interp.process.pid} cannot move: this VM is not a node")]))
        return ctx

    @abstractmethod
    def set_drain_placement(self, proc: Any, placement: list[str] | str | None) -> None:
        """What a drain of this node does with ``proc``: node names to move it to (in
        order), None (anywhere), or ``"restart"`` (it stays and ends with the node)."""

    @abstractmethod
    def forward(self, proc: Any, message: Any) -> None:
        """A message for a process that moved away (state MOVED)."""

    @abstractmethod
    def forward_exit(self, proc: Any, sender: Any, reason: Any) -> None:
        """An exit signal for a process that moved away (state MOVED)."""

    @abstractmethod
    def moved_signal(self, kind: str, forwarder: Any, partner: Any, ref: Any, reason: Any) -> None:
        """A process of this node (``partner``) linked, unlinked, monitored (``ref``),
        demonitored, or died linked to or watched by a process that moved away
        (``forwarder``, state MOVED): pass it on to where that process runs. ``kind`` is
        link, unlink, monitor, demonitor, link_exit or down."""

    @abstractmethod
    def held_name(self, entries: Any, proc: Any) -> Any:
        """The member of ``entries`` (a link set) that names ``proc`` — itself, or an
        old pid it had before it moved here — or None."""


class Standalone(Distribution):
    """The distribution of a VM that is not a node: it is alone, as Erlang's
    ``nonode@nohost``."""

    def __init__(self, universe: Any) -> None:
        from smalltalk_vm.vm.globalnames import LocalNames  # it imports this module
        self.vm = universe
        self.nodes = NodeTable(universe)
        self.names = LocalNames(universe)
        self.objects = NoRemoteObjects()
        self.node_watchers: set[int] = set()     # pids that asked for monitorNodes:

    def _refuse(self, what: str) -> None:
        raise self.vm.signal("Error", f"{what}: this VM is not a node (start it with `vm node`)")

    def current_node(self) -> Any:
        return self.nodes.get(STANDALONE_NODE, 0)

    def node_named(self, name: str) -> Any:
        return self.current_node() if name == STANDALONE_NODE else V.NIL

    def connected_nodes(self) -> list:
        return []

    def is_connected(self, node: Any) -> bool:
        return node is self.current_node()

    def ping(self, node: Any, reply: Reply) -> None:
        reply(V.TRUE if node is self.current_node() else V.FALSE)

    def monitor_nodes(self, proc: Any, flag: bool) -> bool:
        """Nothing will ever come up or go down; answers the previous setting."""
        was = proc.pid in self.node_watchers
        if flag:
            self.node_watchers.add(proc.pid)
        else:
            self.node_watchers.discard(proc.pid)
        return was

    def monitor_node(self, proc: Any, node: Any) -> None:
        """Any other node is not connected: its NodeDown comes at once."""
        if node is not self.current_node():
            self.vm.scheduler.deliver(proc, self.vm.signals.make(
                "NodeDown", node=node, reason=self.vm.symbol("noconnection")))

    def node_of(self, proc: Any) -> Any:
        if type(proc) is RemoteProcess:
            return self.nodes.get(proc.node, proc.creation)
        return self.current_node()

    def send(self, target: RemoteProcess, message: Any) -> None:
        """Dropped, as a send to an unreachable node is."""

    def link(self, proc: Any, target: RemoteProcess) -> None:
        self.vm.signals.exit_signal(proc, target, self.vm.symbol("noconnection"))

    def unlink(self, proc: Any, target: RemoteProcess) -> None:
        if proc.links:
            proc.links.discard(target)

    def monitor(self, watcher: Any, target: RemoteProcess) -> Any:
        signals = self.vm.signals
        ref = signals.new_ref()
        self.vm.scheduler.deliver(watcher, signals.make(
            "Down", ref=ref, process=target, reason=self.vm.symbol("noconnection")))
        return ref

    def demonitor(self, watcher: Any, ref: Any, target: RemoteProcess) -> None:
        """Nothing was set up."""

    def exit(self, target: RemoteProcess, sender: Any, reason: Any) -> None:
        """Dropped: the node is unreachable."""

    def link_exit(self, target: RemoteProcess, dead: Any, reason: Any) -> None:
        """Nobody to tell."""

    def down(self, watcher: RemoteProcess, ref: Any, dead: Any, reason: Any) -> None:
        """Nobody to tell."""

    def forget_monitor(self, target: RemoteProcess, ref: Any, watcher: Any) -> None:
        """Nobody to tell."""

    def spawn(self, proc: Any, node: Any, cls: Any, selector: str, args: list, option: str,
              reply: Reply) -> None:
        if node is not self.current_node():
            self._refuse(f"spawn on node {self.nodes.identify(node)[0]}")
        reply(spawn_here(self.vm, proc, cls, selector, args, option))

    def set_drain_placement(self, proc: Any, placement: list[str] | str | None) -> None:
        """Nothing to do: a VM that is not a node is never drained."""

    def forward(self, proc: Any, message: Any) -> None:
        """Never called: a VM that is not a node has no process that moved."""

    def forward_exit(self, proc: Any, sender: Any, reason: Any) -> None:
        """Never called: a VM that is not a node has no process that moved."""

    def moved_signal(self, kind: str, forwarder: Any, partner: Any, ref: Any, reason: Any) -> None:
        """Never called: a VM that is not a node has no process that moved."""

    def held_name(self, entries: Any, proc: Any) -> Any:
        """Alone, a process has no other name."""
        return proc if entries and proc in entries else None

    def cluster_load(self, text: str, reply: Reply) -> None:
        """Alone, the cluster is this VM: the definition is loaded here."""
        cls, problem = load_definition(self.vm, text)
        name = STANDALONE_NODE
        reply(load_answer(self.vm, None if cls is None else class_version(self.vm, cls),
                          [(name, problem)] if problem is not None else []))
