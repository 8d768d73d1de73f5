"""Primitives of Process: spawning blocks, mailboxes and receiving, sleeping and
yielding, links, monitors, exit signals, registered names, introspection. Anything
that can park or end the current process is a control primitive, so the interpreter
leaves the process when it must."""
from __future__ import annotations

from typing import Any

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.distribution import RemoteProcess
from smalltalk_vm.vm.errors import PrimitiveFailed
from smalltalk_vm.vm.objects import Closure, Context, LargeInt, new_block_context
from smalltalk_vm.vm.primitives.context import trace_lines, user_context
from smalltalk_vm.vm.primitives.double import type_name
from smalltalk_vm.vm.primitives.registry import control, primitive
from smalltalk_vm.vm.process import DEAD, FOREVER_MS, SLEEPING, WAIT_BEYOND, WAIT_RECEIVE, WAIT_WAKE, WAITING, Process
from smalltalk_vm.vm.semantics import nils


def _proc(value: Any) -> Process:
    if type(value) is not Process:
        if type(value) is RemoteProcess:
            raise PrimitiveFailed(f"a process of node {value.node}: only its own node knows that")
        raise PrimitiveFailed("not a process")
    return value


def _any_proc(value: Any) -> Process | RemoteProcess:
    """A process of this node or of another one."""
    if type(value) is not Process and type(value) is not RemoteProcess:
        raise PrimitiveFailed("not a process")
    return value


def _milliseconds(vm, value, what: str, nil_means_forever: bool = True,
                  negative_means_now: bool = True) -> float | None:
    """A timeout in milliseconds; None for "forever": nil (where allowed), infinity, or
    anything too long to ever fire (a huge Integer or Double must not overflow the
    clock). Negative means now (as Erlang's receive/after 0), unless refused, for a
    setting where a negative value can only be a mistake. Anything else is an Error in
    the caller."""
    kind = type(value)
    if kind is float:
        if value != value:
            raise vm.signal("Error", f"{what} needs a number of milliseconds, not NaN")
        ms = value
    elif (kind is int and V.INT_LO <= value < V.INT_HI) or kind is LargeInt:
        ms = vm.int_of(value)
    elif value == V.NIL and nil_means_forever:
        return None
    else:
        raise vm.signal("Error", f"{what} needs a number of milliseconds, not {type_name(vm, value)}")
    if ms < 0 and not negative_means_now:
        raise vm.signal("Error", f"{what} needs a number of milliseconds >= 0, not {ms}")
    if ms >= FOREVER_MS:
        return None
    return float(max(ms, 0))


def _leave_if_dead(interp, ctx):
    """After an exit signal: continue in ``ctx`` unless the current process died."""
    return ctx if interp.process.alive else None


# ---------------------------------------------------------------- spawning

def _spawn(vm, closure) -> Process:
    if type(closure) is not Closure or closure.code.num_args != 0:
        raise PrimitiveFailed("spawn needs a block of no arguments")
    ctx = new_block_context(vm.block_context_class, closure, list(nils(closure.code.num_temps)), None)
    return vm.scheduler.spawn(ctx)


@primitive("Block1", "spawn")
def block_spawn(vm, rcv):
    return _spawn(vm, rcv)


@primitive("Block1", "spawnLink")
def block_spawn_link(vm, rcv):
    proc = _spawn(vm, rcv)
    vm.signals.link(vm.scheduler.current, proc)
    return proc


# ---------------------------------------------------------------- messages

@primitive("Process", "send:")
def process_send(vm, rcv, message):
    if type(rcv) is Process:
        vm.scheduler.deliver(rcv, message)
    elif type(rcv) is RemoteProcess:
        vm.distribution.send(rcv, message)
    else:
        raise PrimitiveFailed("not a process")
    return rcv


@control("Process class", "receive")
def process_receive(interp, ctx, argc):
    ctx.stack.pop()
    proc = interp.process
    if proc.mailbox:
        ctx.stack.append(proc.mailbox.popleft())
        return ctx
    interp.vm.scheduler.park(proc, ctx, WAITING, WAIT_RECEIVE)
    return None


@control("Process class", "primReceiveWithin:")
def process_receive_within(interp, ctx, argc):
    """The first message, or the timeout marker after the given milliseconds."""
    vm = interp.vm
    timeout = _milliseconds(vm, ctx.stack.pop(), "Process receiveWithin:ifTimeout:")
    ctx.stack.pop()
    proc = interp.process
    if proc.mailbox:
        ctx.stack.append(proc.mailbox.popleft())
        return ctx
    if timeout is not None and timeout <= 0:
        ctx.stack.append(vm.timeout_marker)
        return ctx
    vm.scheduler.park(proc, ctx, WAITING, WAIT_RECEIVE, timeout_ms=timeout, on_timeout=vm.timeout_marker)
    return None


@primitive("Process class", "timeoutMarker")
def process_timeout_marker(vm, rcv):
    return vm.timeout_marker


@control("Process class", "waitForMoreThan:deadline:")
def process_wait_beyond(interp, ctx, argc):
    """Selective receive's wait: true once the mailbox holds more than n messages,
    false if the deadline (milliseconds of `system time`, or nil) passes first."""
    vm = interp.vm
    deadline = ctx.stack.pop()
    count = vm.int_of(ctx.stack.pop())
    ctx.stack.pop()
    proc = interp.process
    if proc.message_count() > count:
        ctx.stack.append(V.TRUE)
        return ctx
    timeout = _milliseconds(vm, deadline, "Process receive:within:ifTimeout:")
    if timeout is not None:
        timeout -= vm.clock_ms()
        if timeout <= 0:
            ctx.stack.append(V.FALSE)
            return ctx
    vm.scheduler.park(proc, ctx, WAITING, WAIT_BEYOND, count, timeout_ms=timeout, on_timeout=V.FALSE)
    return None


def _own_mailbox(vm, rcv):
    proc = _proc(rcv)
    if proc is not vm.scheduler.current:
        raise PrimitiveFailed("only a process may read its own mailbox")
    return proc


@primitive("Process", "messageAt:")
def process_message_at(vm, rcv, index):
    proc = _own_mailbox(vm, rcv)
    i = vm.int_of(index)
    if not 1 <= i <= proc.message_count():
        raise vm.signal("SubscriptOutOfBounds",
                        f"Index {i} out of bounds for a mailbox of {proc.message_count()}", index=index)
    return proc.mailbox[i - 1]


@primitive("Process", "removeMessageAt:")
def process_remove_message_at(vm, rcv, index):
    proc = _own_mailbox(vm, rcv)
    i = vm.int_of(index)
    if not 1 <= i <= proc.message_count():
        raise vm.signal("SubscriptOutOfBounds",
                        f"Index {i} out of bounds for a mailbox of {proc.message_count()}", index=index)
    message = proc.mailbox[i - 1]
    del proc.mailbox[i - 1]
    return message


@primitive("Process", "messageCount")
def process_message_count(vm, rcv):
    return vm.make_int(_proc(rcv).message_count())


# ---------------------------------------------------------------- time

@control("Process class", "sleep:")
def process_sleep(interp, ctx, argc):
    vm = interp.vm
    delay = _milliseconds(vm, ctx.stack.pop(), "Process sleep:", nil_means_forever=False)
    ctx.stack.pop()
    # Forever (None) parks with no timer at all: only an exit signal ends that sleep.
    vm.scheduler.park(interp.process, ctx, SLEEPING, timeout_ms=delay, on_timeout=V.NIL)
    return


@control("Process class", "yield")
def process_yield(interp, ctx, argc):
    ctx.stack[-1] = V.NIL
    interp.process.ctx = ctx
    return


@control("Process class", "parkUntilWoken")
def process_park(interp, ctx, argc):
    """Wait for `wake` (promises use it); a wake that came first is not lost."""
    ctx.stack.pop()
    proc = interp.process
    if proc.wake_pending:
        proc.wake_pending = False
        ctx.stack.append(V.TRUE)
        return ctx
    interp.vm.scheduler.park(proc, ctx, WAITING, WAIT_WAKE)
    return None


@primitive("Process", "wake")
def process_wake(vm, rcv):
    vm.scheduler.wake(_proc(rcv))
    return rcv


# ---------------------------------------------------------------- links, monitors, exits

@control("Process", "link:")
def process_link(interp, ctx, argc):
    other = ctx.stack.pop()
    proc = ctx.stack[-1]
    if (type(other) is not Process and type(other) is not RemoteProcess) or type(proc) is not Process:
        del ctx.stack[-1]
        return interp.signal_exception(ctx, "Error", "link: needs a process (the receiver one of this node)")
    interp.process.ctx = ctx
    interp.vm.signals.link(proc, other)
    return _leave_if_dead(interp, ctx)


@primitive("Process", "unlink:")
def process_unlink(vm, rcv, other):
    vm.signals.unlink(_proc(rcv), _any_proc(other))
    return rcv


@primitive("Process", "monitor:")
def process_monitor(vm, rcv, other):
    return vm.signals.monitor(_proc(rcv), _any_proc(other))


@primitive("Process", "demonitor:")
def process_demonitor(vm, rcv, ref):
    return V.TRUE if vm.signals.demonitor(_proc(rcv), ref) else V.FALSE


@primitive("Process", "trapExit:")
def process_trap_exit(vm, rcv, flag):
    proc = _proc(rcv)
    old = proc.trap_exit
    proc.trap_exit = flag == V.TRUE
    return V.TRUE if old else V.FALSE


@primitive("Process", "isTrappingExits")
def process_is_trapping(vm, rcv):
    return V.TRUE if _proc(rcv).trap_exit else V.FALSE


@control("Process", "exit:")
def process_exit(interp, ctx, argc):
    reason = ctx.stack.pop()
    target = ctx.stack[-1]
    if type(target) is not Process and type(target) is not RemoteProcess:
        del ctx.stack[-1]
        return interp.signal_exception(ctx, "Error", "exit: needs a process")
    interp.process.ctx = ctx
    interp.vm.signals.exit_signal(target, interp.process, reason)
    return _leave_if_dead(interp, ctx)


@control("Process", "kill")
def process_kill(interp, ctx, argc):
    target = _any_proc(ctx.stack[-1])          # a process of another node is killed by its node
    interp.process.ctx = ctx
    interp.vm.signals.exit_signal(target, interp.process, interp.vm.symbol("kill"))
    return _leave_if_dead(interp, ctx)


# ---------------------------------------------------------------- names

@primitive("Process class", "register:as:")
def process_register(vm, rcv, proc, name):
    if not vm.signals.register(_proc(proc), vm.str_of(name)):
        raise vm.signal("Error", f"cannot register {vm.str_of(name)}: name taken or process dead")
    return proc


@primitive("Process class", "unregister:")
def process_unregister(vm, rcv, name):
    return V.TRUE if vm.signals.unregister(vm.str_of(name)) else V.FALSE


@primitive("Process class", "named:")
def process_named(vm, rcv, name):
    return vm.signals.named(vm.str_of(name))


# ---------------------------------------------------------------- introspection

@primitive("Process class", "current")
def process_current(vm, rcv):
    return vm.scheduler.current


@primitive("Process class", "allProcesses")
def process_all(vm, rcv):
    return vm.new_array(vm.scheduler.live_processes())


@primitive("Process", "status")
def process_status(vm, rcv):
    proc = _proc(rcv)
    return vm.symbol("suspended" if proc.suspended and proc.state != DEAD else proc.state)


@primitive("Process", "exitReason")
def process_exit_reason(vm, rcv):
    reason = _proc(rcv).exit_reason
    return V.NIL if reason is None else reason


@primitive("Process", "isAlive")
def process_is_alive(vm, rcv):
    if type(rcv) is RemoteProcess:
        raise vm.signal("Error", f"isAlive is not known for a process of node {rcv.node}: "
                                 "monitor it instead")
    return V.TRUE if _proc(rcv).state != DEAD else V.FALSE


@primitive("Process", "pid")
def process_pid(vm, rcv):
    if type(rcv) is RemoteProcess:
        return vm.make_int(rcv.number)
    return vm.make_int(_proc(rcv).pid)


@primitive("Process", "name")
def process_name(vm, rcv):
    name = _proc(rcv).name
    return V.NIL if name is None else vm.symbol(name)


@primitive("Process", "links")
def process_links(vm, rcv):
    return vm.new_array(list(_proc(rcv).links or ()))


@primitive("Process", "reportCrash:")
def process_report_crash(vm, rcv, flag):
    _proc(rcv).report_crash = flag == V.TRUE
    return rcv


@primitive("Process", "breakOnAbnormalExit:")
def process_break_on_exit(vm, rcv, promise):
    """When this process dies with a reason other than #normal, the promise is sent
    breakWith: reason."""
    proc = _proc(rcv)
    if proc.state == DEAD:
        raise PrimitiveFailed("the process is dead")
    if proc.on_exit is None:
        proc.on_exit = []
    proc.on_exit.append(promise)
    return rcv


# ---------------------------------------------------------------- dying

@primitive("Process", "recordCrash:")
def process_record_crash(vm, rcv, exc):
    """Keep the trace from where ``exc`` was signalled, before unwinding destroys it."""
    signal_ctx = V.NIL
    fields = getattr(exc, "fields", None)
    if fields is not None:
        names = vm.all_field_names(exc.cls)
        if "signalContext" in names:
            signal_ctx = fields[names.index("signalContext")]
    start = user_context(signal_ctx, exc) if isinstance(signal_ctx, Context) else None
    _proc(rcv).crash_trace = trace_lines(start)
    return rcv


@control("Process", "primTerminate:")
def process_prim_terminate(interp, ctx, argc):
    """End the receiver with the given reason. Ending the current process leaves the
    interpreter; ending another one just answers it."""
    reason = ctx.stack.pop()
    proc = ctx.stack[-1]
    scheduler = interp.vm.scheduler
    if proc is interp.process:
        proc.ctx = ctx
        scheduler.terminate(proc, reason)
        return None
    scheduler.terminate(_proc(proc), reason)
    return ctx
