"""Primitives of remote objects: the proxy's own few (identity, description, node,
call timeout, the forwarding of every other message), the eventual-send hook of
Promise, and the class side of Remote (the operator counts, and the loop of the
processes that serve calls to exported objects).

They only ask ``universe.distribution.objects`` (``vm.proxies``). A forwarded call
parks the calling process until the far node answers; the VM thread never waits. A
failed call wakes the process by signalling the RemoteError at the send it waits in,
as if the send itself had signalled it (its handlers, its trace).
"""
from __future__ import annotations

from typing import Any

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.errors import PrimitiveFailed, SignalException
from smalltalk_vm.vm.objects import KIND_IDENTICAL, Context, Instance, VArray, VString, new_method_context
from smalltalk_vm.vm.primitives.context import trace_lines
from smalltalk_vm.vm.primitives.object import identical
from smalltalk_vm.vm.primitives.process import _milliseconds
from smalltalk_vm.vm.primitives.registry import control, primitive
from smalltalk_vm.vm.process import DEAD, WAITING
from smalltalk_vm.vm.proxies import RemoteObject, describe


def _proxy(value: Any) -> RemoteObject:
    if type(value) is not RemoteObject:
        raise PrimitiveFailed("not a proxy (proxies are made by the node layer)")
    return value


def _objects(vm: Any) -> Any:
    return vm.distribution.objects


def wake_signalling(vm: Any, proc: Any, exception: Any) -> None:
    """Wake a parked process by signalling ``exception`` at the send it is parked in:
    a launcher context (hidden from traces) sending ``signal`` goes on top of it, so
    the handlers around that send see the exception, and whatever ``signal`` answers
    becomes the value of the send."""
    if proc.state == DEAD:
        return
    scheduler = vm.scheduler
    launcher = scheduler.launcher("signal", 0)
    proc.ctx = new_method_context(vm.method_context_class, launcher, [], exception, proc.ctx)
    scheduler.make_runnable(proc, V.NIL)      # the launcher's stack gets the nil, then signals


# ---------------------------------------------------------------- the proxy

@primitive("RemoteProxy", "==")
def proxy_identical(vm, rcv, other):
    return V.TRUE if identical(rcv, other) else V.FALSE


proxy_identical.inline_kind = KIND_IDENTICAL


@control("RemoteProxy class", "call:selector:arguments:")
def proxy_call(interp, ctx, argc):
    """Forward a message to the far object and park until it answers."""
    stack = ctx.stack
    args, selector, proxy = stack.pop(), stack.pop(), stack.pop()
    stack.pop()
    vm = interp.vm
    if type(proxy) is not RemoteObject or not V.is_symbol(selector) or type(args) is not VArray:
        return interp.signal_exception(ctx, "Error", "call:selector:arguments: needs a proxy, a Symbol "
                                                     "and an Array")
    proc = interp.process
    early: list = []
    parked = False

    def done(ok: bool, value: Any) -> None:
        if not parked:
            if not early:
                early.append((ok, value))
        elif ok:
            vm.scheduler.make_runnable(proc, value)
        else:
            wake_signalling(vm, proc, value)
    try:
        _objects(vm).call(proc, proxy, vm.symbol_name(selector), list(args.items), done)
    except SignalException as error:
        return interp.signal_exception(ctx, error.class_name, error.message_text, **error.fields)
    if early:
        ok, value = early[0]
        if ok:
            stack.append(value)
            return ctx
        return interp.push_and_send(ctx, value, "signal", [])
    parked = True
    vm.scheduler.park(proc, ctx, WAITING)          # only the answer (or its timeout) wakes it
    return None


@primitive("RemoteProxy class", "describe:")
def proxy_describe(vm, rcv, proxy):
    return vm.new_string(describe(_proxy(proxy)))


@primitive("RemoteProxy class", "nodeOf:")
def proxy_node(vm, rcv, proxy):
    return _objects(vm).node_of(_proxy(proxy))


@primitive("RemoteProxy class", "timeoutOf:is:")
def proxy_set_timeout(vm, rcv, proxy, milliseconds):
    """The wait bound of the proxy's synchronous sends (nil: for ever); answers it."""
    target = _proxy(proxy)
    target.timeout_ms = _milliseconds(vm, milliseconds, "callTimeout:", negative_means_now=False)
    return target


# ---------------------------------------------------------------- eventual sends

@primitive("Remote class", "eventual:to:with:")
def remote_eventual(vm, rcv, selector, receiver, args):
    """The Promise of ``receiver ~> selector args`` when it crosses to another node;
    nil when it is local."""
    if not V.is_symbol(selector) or type(args) is not VArray:
        raise PrimitiveFailed("eventual:to:with: needs a Symbol and an Array")
    promise = _objects(vm).eventual(receiver, vm.symbol_name(selector), list(args.items))
    return V.NIL if promise is None else promise


@primitive("Remote class", "isPromise:")
def remote_is_promise(vm, rcv, value):
    """Whether ``value`` is a Promise, without sending it anything (it may be a proxy)."""
    promise = vm.kernel_class("Promise")
    cls = getattr(value, "cls", None) if type(value) is Instance else None
    while cls is not None:
        if cls is promise:
            return V.TRUE
        cls = cls.superclass
    return V.FALSE


# ---------------------------------------------------------------- operators

@primitive("Remote class", "primExports")
def remote_exports(vm, rcv):
    """{ total. { node name. count. ... } }: the library makes the Dictionary."""
    return _counts(vm, "exports")


@primitive("Remote class", "primImports")
def remote_imports(vm, rcv):
    return _counts(vm, "imports")


def _counts(vm, what: str) -> VArray:
    total, per_node = _objects(vm).report(what)
    flat: list = []
    for name in sorted(per_node):
        flat.extend((vm.symbol(name), vm.make_int(per_node[name])))
    return vm.new_array([vm.make_int(total), vm.new_array(flat)])


# ---------------------------------------------------------------- serving calls

@primitive("Remote class", "nextCall")
def remote_next_call(vm, rcv):
    return _objects(vm).next_call(vm.scheduler.current)


def _ticket(vm, ticket: Any) -> int:
    if not (type(ticket) is int and V.INT_LO <= ticket < V.INT_HI):
        raise PrimitiveFailed("a call's ticket is a SmallInteger")
    return vm.int_of(ticket)


@primitive("Remote class", "answer:with:")
def remote_answer(vm, rcv, ticket, value):
    return V.TRUE if _objects(vm).answer(_ticket(vm, ticket), value) else V.FALSE


@primitive("Remote class", "fail:with:")
def remote_fail(vm, rcv, ticket, error):
    """The call signalled ``error`` (an exception, whose trace is taken now, while its
    signal context is still there) or its promise broke with ``error``."""
    number = _ticket(vm, ticket)
    class_name, text, trace = error_record(vm, error)
    return V.TRUE if _objects(vm).fail(number, class_name, text, trace) else V.FALSE


def error_record(vm: Any, error: Any) -> tuple[str, str, str]:
    """(class name, messageText, trace) of what a far call failed with: an exception
    (its messageText, or its class name when it has none), or the reason a promise
    broke with."""
    exception_class = vm.kernel_class("Exception")
    cls = error.cls if type(error) is Instance else None
    walker = cls
    while walker is not None and walker is not exception_class:
        walker = walker.superclass
    if cls is None or walker is None:
        text = vm.symbol_name(error) if V.is_symbol(error) else vm.class_of(error).name
        return "BrokenPromise", f"promise broken: {text}", ""
    names = vm.all_field_names(cls)
    fields = dict(zip(names, error.fields))
    message = fields.get("messageText", V.NIL)
    if type(message) is VString:
        text = message.chars
    elif V.is_symbol(message):
        text = vm.symbol_name(message)
    else:
        text = cls.name
    start = fields.get("signalContext")
    start = start if isinstance(start, Context) else None
    while start is not None and start.receiver is error:
        start = start.sender
    return cls.name, text, "\n".join(trace_lines(start))
