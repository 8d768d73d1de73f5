"""Primitives of moving a process to another node (``Process>>migrateTo:``, written in
lib/Process.som over these two).

Rules:
- Moving another process parks the caller until the target node has the process
  (or refused it); the answer is the moved process, or an Error saying why it
  stayed where it was. The VM thread never waits.
- A process moving itself (``primMoveSelfTo:``) parks at a safe point; its answer —
  ``{ true. theProcess }`` or ``{ false. 'why' }`` — is the primitive's result where
  it goes on: on the target node after a move, here after a refusal.
- ``drainPlacement:`` tells this node what a drain does with the process: an Array of
  node names (move it to the first connected one), nil (anywhere), or #restart (it
  stays and ends with the node).
- A process of another node is moved by its node (the distribution asks it);
  anything that is not a process, or not a Node, is an Error.

They only check their arguments and ask ``universe.distribution`` (``vm.distribution``).
"""
from __future__ import annotations

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.distribution import RemoteProcess
from smalltalk_vm.vm.errors import PrimitiveFailed
from smalltalk_vm.vm.objects import VArray
from smalltalk_vm.vm.primitives.node import park_for_reply
from smalltalk_vm.vm.primitives.registry import control, primitive
from smalltalk_vm.vm.process import Process


def _problem(vm, proc, node) -> str | None:
    try:
        vm.distribution.nodes.identify(node)
    except ValueError:
        return "migrateTo: needs a Node (Node named: #b)"
    if type(proc) is not Process and type(proc) is not RemoteProcess:
        return "migrateTo: is sent to a process"
    return None


@control("Process", "primMigrateTo:")
def process_migrate_to(interp, ctx, argc):
    node = ctx.stack.pop()
    proc = ctx.stack.pop()
    vm = interp.vm
    problem = _problem(vm, proc, node)
    if problem is None and proc is interp.process:
        problem = "a process moves itself with primMoveSelfTo:"
    if problem is not None:
        return interp.signal_exception(ctx, "Error", problem)
    return park_for_reply(interp, ctx, lambda reply: vm.distribution.migrate(proc, node, reply))


@control("Process", "primMoveSelfTo:")
def process_move_self_to(interp, ctx, argc):
    node = ctx.stack.pop()
    proc = ctx.stack.pop()
    vm = interp.vm
    problem = _problem(vm, proc, node)
    if problem is None and proc is not interp.process:
        problem = "primMoveSelfTo: moves the current process only"
    if problem is None and type(proc) is RemoteProcess:
        problem = "primMoveSelfTo: moves the current process only"
    if problem is not None:
        return interp.signal_exception(ctx, "Error", problem)
    return vm.distribution.migrate_self(interp, ctx, node)


@primitive("Process", "drainPlacement:")
def process_drain_placement(vm, rcv, placement):
    if type(rcv) is not Process:
        raise PrimitiveFailed("only a process of this node has a drain placement")
    if placement == V.NIL:
        value = None
    elif V.is_symbol(placement) and vm.symbol_name(placement) == "restart":
        value = "restart"
    elif type(placement) is VArray and all(V.is_symbol(n) for n in placement.items):
        value = [vm.symbol_name(n) for n in placement.items]
    else:
        raise PrimitiveFailed("drainPlacement: takes an Array of node names, nil or #restart")
    vm.distribution.set_drain_placement(rcv, value)
    return rcv
