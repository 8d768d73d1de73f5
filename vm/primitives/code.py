"""Primitives of ``Code`` (hot code versions, old processes, purging) and of
``Cluster load:``. The machinery is ``vm.codeversions`` (and, across nodes, the
distribution); these only check their arguments and convert answers to Smalltalk
values. ``Cluster primLoad:`` parks its caller and never blocks the VM thread.
"""
from __future__ import annotations

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


@control("Code class", "oldProcesses:")
def code_old_processes(interp, ctx, argc):
    cls = ctx.stack.pop()
    ctx.stack.pop()
    interp.process.ctx = ctx                 # the caller's own activations count too
    found = interp.vm.code_versions.old_processes(_class(interp.vm, cls, "oldProcesses:"))
    ctx.stack.append(interp.vm.new_array(found))
    return ctx


@control("Code class", "softPurge:")
def code_soft_purge(interp, ctx, argc):
    cls = ctx.stack.pop()
    ctx.stack.pop()
    interp.process.ctx = ctx
    purged = interp.vm.code_versions.soft_purge(_class(interp.vm, cls, "softPurge:"))
    ctx.stack.append(V.TRUE if purged else V.FALSE)
    return ctx


@control("Code class", "purge:")
def code_purge(interp, ctx, argc):
    """Ends the processes running old code — the caller too, if it is one of them."""
    cls = ctx.stack.pop()
    ctx.stack.pop()
    interp.process.ctx = ctx
    victims = interp.vm.code_versions.purge(_class(interp.vm, cls, "purge:"))
    if not interp.process.alive:
        return None
    ctx.stack.append(V.TRUE if victims else V.FALSE)
    return ctx


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
