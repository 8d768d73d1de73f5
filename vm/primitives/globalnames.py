"""Primitives of ``Global`` (lib/Global.som): registering, unregistering and looking up
names shared by the nodes of a group (``vm.globalnames``).

They check their arguments and ask ``universe.distribution.names``: a name that is not a
non-empty Symbol or String is an Error in every one of them (as Erlang's ``whereis`` of
a non-atom is a badarg), never a lookup that answers nil. Registering and
unregistering may wait for the other nodes, so they park the calling process until
the answer comes (never blocking the VM thread). Lookups answer from this node's
table at once.
"""
from __future__ import annotations

from typing import Any

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.errors import SignalException
from smalltalk_vm.vm.globalnames import is_process
from smalltalk_vm.vm.objects import Closure, VString
from smalltalk_vm.vm.primitives.node import _park_for_reply
from smalltalk_vm.vm.primitives.registry import control, primitive

NOT_A_NAME = "a global name is a Symbol (not empty)"


def name_text(vm: Any, value: Any) -> str | None:
    """The name a Symbol (or String) gives; None for anything else, or the empty name."""
    if V.is_symbol(value) or type(value) is VString:
        text = vm.str_of(value)
        return text or None
    return None


def _resolver_problem(vm: Any, resolver: Any) -> str | None:
    if resolver == V.NIL:
        return None
    if type(resolver) is not Closure or resolver.code.num_args != 3:
        return "a resolver is a block of three arguments: [ :name :p1 :p2 | the survivor, or nil ]"
    return None


@control("Global class", "primRegister:as:resolve:")
def global_register(interp, ctx, argc):
    stack = ctx.stack
    resolver, target, name, _ = stack.pop(), stack.pop(), stack.pop(), stack.pop()
    vm = interp.vm
    text = name_text(vm, name)
    problem = None
    if text is None:
        problem = NOT_A_NAME
    elif not is_process(target):
        problem = "only a process can be registered under a global name"
    else:
        problem = _resolver_problem(vm, resolver)
    if problem is not None:
        return interp.signal_exception(ctx, "Error", problem)
    return _park_for_reply(interp, ctx, lambda reply: vm.distribution.names.register(text, target, resolver, reply))


@control("Global class", "primUnregister:")
def global_unregister(interp, ctx, argc):
    stack = ctx.stack
    name, _ = stack.pop(), stack.pop()
    vm = interp.vm
    text = name_text(vm, name)
    if text is None:
        return interp.signal_exception(ctx, "Error", NOT_A_NAME)
    return _park_for_reply(interp, ctx, lambda reply: vm.distribution.names.unregister(text, reply))


@primitive("Global class", "named:")
def global_named(vm, rcv, name):
    text = name_text(vm, name)
    if text is None:
        raise SignalException("Error", NOT_A_NAME)
    return vm.distribution.names.named(text)


@primitive("Global class", "names")
def global_names(vm, rcv):
    return vm.new_array([vm.symbol(name) for name in vm.distribution.names.names()])
