"""Primitives of the distributed API: Node (current, named:, all, monitorNodes:,
isConnected, ping, remote spawn), the node side of Process (node, isLocal,
monitorNode:) and Class>>version.

They only ask ``universe.distribution`` (``vm.distribution``): whether this VM is a
node, and how anything crosses to another node, is the node layer's business.
Primitives that wait for another node (ping, spawn) park the calling process; the
distribution wakes it with the answer. They never block the VM thread.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.distribution import RemoteProcess
from smalltalk_vm.vm.errors import PrimitiveFailed, SignalException
from smalltalk_vm.vm.objects import VArray, VClass
from smalltalk_vm.vm.primitives.registry import control, primitive
from smalltalk_vm.vm.process import WAITING, Process
from smalltalk_vm.vm.versions import class_version

SPAWN_OPTIONS = ("none", "link", "monitor")


def _node(vm, value) -> Any:
    try:
        vm.distribution.nodes.identify(value)
    except ValueError:
        raise PrimitiveFailed("not a Node") from None
    return value


def _park_for_reply(interp, ctx, start: Callable[[Callable[[Any], None]], None]):
    """Run ``start(reply)``; the process waits until ``reply(value)`` is called (at once
    or later, on the VM thread), and ``value`` is the primitive's result."""
    proc = interp.process
    scheduler = interp.vm.scheduler
    early: list = []
    parked = False

    def reply(value: Any) -> None:
        if parked:
            scheduler.make_runnable(proc, value)
        elif not early:
            early.append(value)
    try:
        start(reply)
    except SignalException as error:
        return interp.signal_exception(ctx, error.class_name, error.message_text, **error.fields)
    if early:
        ctx.stack.append(early[0])
        return ctx
    parked = True
    # Mode 0: only the reply wakes it (not a message, not a promise's wake).
    scheduler.park(proc, ctx, WAITING)
    return None


# ---------------------------------------------------------------- Node, class side

@primitive("Node class", "current")
def node_current(vm, rcv):
    return vm.distribution.current_node()


@primitive("Node class", "named:")
def node_named(vm, rcv, name):
    return vm.distribution.node_named(vm.str_of(name))


@primitive("Node class", "all")
def node_all(vm, rcv):
    return vm.new_array(vm.distribution.connected_nodes())


@primitive("Node class", "monitorNodes:")
def node_monitor_nodes(vm, rcv, flag):
    if flag not in (V.TRUE, V.FALSE):
        raise PrimitiveFailed("monitorNodes: needs true or false")
    return V.TRUE if vm.distribution.monitor_nodes(vm.scheduler.current, flag == V.TRUE) else V.FALSE


# ---------------------------------------------------------------- Node, instance side

@primitive("Node", "isConnected")
def node_is_connected(vm, rcv):
    return V.TRUE if vm.distribution.is_connected(_node(vm, rcv)) else V.FALSE


@primitive("Node", "load")
def node_load(vm, rcv):
    load = vm.distribution.load_of(_node(vm, rcv))
    return V.NIL if load is None else vm.make_int(load)


@control("Node", "ping")
def node_ping(interp, ctx, argc):
    node = ctx.stack.pop()
    vm = interp.vm
    try:
        _node(vm, node)
    except PrimitiveFailed:
        return interp.signal_exception(ctx, "Error", "ping needs a Node")
    return _park_for_reply(interp, ctx, lambda reply: vm.distribution.ping(node, reply))


@control("Node", "primSpawn:selector:arguments:option:")
def node_spawn(interp, ctx, argc):
    stack = ctx.stack
    option, args, selector, cls, node = stack.pop(), stack.pop(), stack.pop(), stack.pop(), stack.pop()
    vm = interp.vm
    problem = None
    if type(cls) is not VClass or cls.is_meta:
        problem = "spawn: needs a class (its instance side runs)"
    elif not V.is_symbol(selector):
        problem = "spawn: needs a selector Symbol"
    elif type(args) is not VArray:
        problem = "spawn: needs an Array of arguments"
    elif not V.is_symbol(option) or vm.symbol_name(option) not in SPAWN_OPTIONS:
        problem = "spawn: unknown option"
    if problem is None:
        try:
            _node(vm, node)
        except PrimitiveFailed:
            problem = "spawn: the receiver is not a Node"
    if problem is not None:
        return interp.signal_exception(ctx, "Error", problem)
    proc = interp.process
    return _park_for_reply(interp, ctx, lambda reply: vm.distribution.spawn(
        proc, node, cls, vm.symbol_name(selector), list(args.items), vm.symbol_name(option), reply))


# ---------------------------------------------------------------- Process

@primitive("Process", "node")
def process_node(vm, rcv):
    if type(rcv) is not Process and type(rcv) is not RemoteProcess:
        raise PrimitiveFailed("not a process")
    return vm.distribution.node_of(rcv)


@primitive("Process", "isLocal")
def process_is_local(vm, rcv):
    return V.TRUE if type(rcv) is Process else V.FALSE


@primitive("Process", "monitorNode:")
def process_monitor_node(vm, rcv, node):
    if type(rcv) is not Process:
        raise PrimitiveFailed("only a process of this node can monitor a node")
    vm.distribution.monitor_node(rcv, _node(vm, node))
    return rcv


# ---------------------------------------------------------------- Class

@primitive("Class", "version")
def class_version_primitive(vm, rcv):
    if type(rcv) is not VClass:
        raise PrimitiveFailed("receiver is not a class")
    cls = rcv
    if cls.is_meta:
        cls = vm.globals.get(cls.name[:-len(" class")], cls)
    return vm.new_string(class_version(vm, cls))
