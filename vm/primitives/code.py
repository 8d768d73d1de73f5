"""Primitives of ``Code`` (hot code versions, old processes, purging) and the wait a
loader does for the ``updateFrom:`` migrator. The machinery is ``vm.codeversions``;
these only check their arguments and convert its answers to Smalltalk values.
"""
from __future__ import annotations

from typing import Any

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.errors import PrimitiveFailed
from smalltalk_vm.vm.objects import VClass
from smalltalk_vm.vm.primitives.registry import control, primitive


def _class(value: Any) -> VClass:
    if type(value) is not VClass:
        raise PrimitiveFailed("Code needs a class")
    if value.is_meta:
        raise PrimitiveFailed("Code needs a class, not a metaclass (its class side counts with it)")
    return value


@primitive("Code class", "versionsOf:")
def code_versions_of(vm, rcv, cls):
    return vm.new_array([vm.new_string(v) for v in vm.code_versions.versions(_class(cls))])


@control("Code class", "oldProcesses:")
def code_old_processes(interp, ctx, argc):
    cls = ctx.stack.pop()
    ctx.stack.pop()
    interp.process.ctx = ctx                 # the caller's own activations count too
    try:
        found = interp.vm.code_versions.old_processes(_class(cls))
    except PrimitiveFailed as error:
        return interp.signal_exception(ctx, "Error", str(error))
    ctx.stack.append(interp.vm.new_array(found))
    return ctx


@control("Code class", "softPurge:")
def code_soft_purge(interp, ctx, argc):
    cls = ctx.stack.pop()
    ctx.stack.pop()
    interp.process.ctx = ctx
    try:
        purged = interp.vm.code_versions.soft_purge(_class(cls))
    except PrimitiveFailed as error:
        return interp.signal_exception(ctx, "Error", str(error))
    ctx.stack.append(V.TRUE if purged else V.FALSE)
    return ctx


@control("Code class", "purge:")
def code_purge(interp, ctx, argc):
    """Ends the processes running old code — the caller too, if it is one of them."""
    cls = ctx.stack.pop()
    ctx.stack.pop()
    interp.process.ctx = ctx
    try:
        victims = interp.vm.code_versions.purge(_class(cls))
    except PrimitiveFailed as error:
        return interp.signal_exception(ctx, "Error", str(error))
    if not interp.process.alive:
        return None
    ctx.stack.append(V.TRUE if victims else V.FALSE)
    return ctx
