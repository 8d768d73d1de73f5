"""Primitives of ``Code`` (hot code versions, old processes, purging) and of
``Cluster load:``. The machinery is ``vm.codeversions`` (and, across nodes, the
distribution); these only check their arguments and convert answers to Smalltalk
values. ``Cluster primLoad:`` parks its caller and never blocks the VM thread.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.objects import VClass, VString
from smalltalk_vm.vm.primitives.double import type_name
from smalltalk_vm.vm.primitives.node import park_for_reply
from smalltalk_vm.vm.primitives.registry import control, primitive
from smalltalk_vm.vm.versions import definition_text


def _class(vm: Any, value: Any, selector: str) -> VClass:
    """The class a ``Code`` message is about; an Error naming the message otherwise."""
    if type(value) is not VClass:
        raise vm.signal("Error", f"Code {selector} needs a class, not {type_name(vm, value)}")
    if value.is_meta:
        raise vm.signal("Error", f"Code {selector} needs a class, not a metaclass (its class side counts with it)")
    return value


@primitive("Code class", "versionsOf:")
def code_versions_of(vm, rcv, cls):
    return vm.new_array([vm.new_string(v) for v in vm.code_versions.versions(_class(vm, cls, "versionsOf:"))])


def _code_control(selector: str, act: Callable[[Any, VClass], Any]) -> None:
    """Register ``Code class>>selector`` as a control primitive answering ``act(vm,
    class)``: a control primitive because the caller's own activations count (its
    context is stored first) and a purge may end the caller itself."""
    @control("Code class", selector)
    def code_primitive(interp, ctx, argc):
        cls = ctx.stack.pop()
        ctx.stack.pop()
        interp.process.ctx = ctx
        answer = act(interp.vm, _class(interp.vm, cls, selector))
        if not interp.process.alive:
            return None
        ctx.stack.append(answer)
        return ctx


def _boolean(flag: Any) -> int:
    return V.TRUE if flag else V.FALSE


_code_control("oldProcesses:", lambda vm, cls: vm.new_array(vm.code_versions.old_processes(cls)))
_code_control("softPurge:", lambda vm, cls: _boolean(vm.code_versions.soft_purge(cls)))
# Ends the processes running old code — the caller too, if it is one of them.
_code_control("purge:", lambda vm, cls: _boolean(vm.code_versions.purge(cls)))


@control("Cluster class", "primLoad:")
def cluster_load(interp, ctx, argc):
    """Parks the caller until every connected node has answered (the distribution
    replies once, with ``codeversions.load_answer``'s value)."""
    what = ctx.stack.pop()
    ctx.stack.pop()
    vm = interp.vm
    if type(what) is VClass:
        if what.is_meta:
            return interp.signal_exception(ctx, "Error", "Cluster load: needs a class, not a metaclass")
        text = definition_text(what)
    elif type(what) is VString:
        text = what.chars
    else:
        return interp.signal_exception(ctx, "Error", "Cluster load: needs a class or a definition String")
    return park_for_reply(interp, ctx, lambda reply: vm.distribution.cluster_load(text, reply))
