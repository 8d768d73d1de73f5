"""The VM side of the debugger (vm/debugger.py, vm/primitives/debug.py, lib/Process.som),
in-process: a held process stops at an unhandled exception with its stack intact;
frames and their variables; restart (in the newest method definition), return, proceed
and abandon; suspending and letting go of a live process; exit signals still reach a
stopped process; and the frame do-it compiler (compiler/frame_doit.py)."""
from __future__ import annotations

import time

import pytest

from smalltalk_vm.compiler.frame_doit import compile_in_frame
from smalltalk_vm.compiler.front import compile_input
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.debugger import DebugError
from smalltalk_vm.vm.errors import SmalltalkSyntaxError
from smalltalk_vm.vm.primitives.context import describe_context
from smalltalk_vm.vm.process import DEAD, WAIT_DEBUG, WAITING

ACCOUNT = """Account = Object (
    | balance log |
    balance: b = ( balance := b )
    log = ( ^ log )
    take: n = (
        | left |
        left := balance - n.
        ^ left )
    guarded: n = ( ^ [ self take: n ] ensure: [ log := #unwound ] )
)"""


@pytest.fixture
def account(vm):
    vm.define(ACCOUNT)
    return vm


def spawn(vm, source: str):
    compiled = compile_input(vm.universe, source, "<test>", workspace=True)
    return vm.machine.spawn_method(V.NIL, compiled.method)


def start(vm, source: str, held: bool = True):
    """Spawn the statements ``source``; run until the process stops or ends."""
    proc = spawn(vm, source)
    stops: list = []
    if held:
        vm.machine.debugger.hold(proc, stops.append)
    run(vm, lambda: bool(stops) or not proc.alive)
    return proc, stops


def run(vm, done, seconds: float = 10.0) -> None:
    """Run the scheduler until ``done()``, for at most ``seconds``."""
    deadline = time.monotonic() + seconds
    vm.machine.scheduler.run_until(lambda: done() or time.monotonic() > deadline)
    assert done(), "the condition never held"


def where(frames) -> list[str]:
    return [describe_context(ctx).split(" (")[0] for ctx in frames]


def frame_named(vm, proc, name: str):
    return next(ctx for ctx in vm.machine.debugger.frames(proc) if describe_context(ctx).startswith(name))


def value_in(vm, ctx, text: str):
    debugger = vm.machine.debugger
    universe = vm.universe
    block = compile_in_frame(universe, text, "<eval>", universe.all_field_names(universe.class_of(ctx.receiver)),
                             debugger.scopes(ctx), ctx.method.home_method.holder)
    outcome = vm.machine.send(debugger.closure_in(ctx, block), "value")
    assert outcome.status == "value", outcome.error_text
    return outcome.value


def test_a_held_process_stops_with_its_stack_and_its_exception(account):
    proc, stops = start(account, "Account new guarded: 2")
    debugger = account.machine.debugger
    assert stops == [proc]
    assert (proc.state, proc.wait_mode, proc.suspended) == (WAITING, WAIT_DEBUG, True)
    assert account.universe.class_of(debugger.stopped_exception(proc)).name == "MessageNotUnderstood"
    # The frames start at the signaller: the stopping machinery above is left out.
    assert where(debugger.frames(proc)) == [
        "Object>>doesNotUnderstand:", "Object>>doesNotUnderstand:arguments:", "Account>>take:",
        "[] in Account>>guarded:", "Block>>ensure:", "Account>>guarded:", "Nil>>doIt"]
    take = frame_named(account, proc, "Account>>take:")
    roles = [(role, name) for role, name, _ in debugger.variables(take)]
    assert roles == [("argument", "n"), ("temporary", "left")]
    # Nothing has been unwound: the ensure: block has not run.
    assert account.machine.print_string(value_in(account, take, "log")) == "nil"


def test_restart_runs_the_newest_definition_of_the_method(account):
    proc, _ = start(account, "(Account new balance: 5) take: 2; take: nil")
    take = frame_named(account, proc, "Account>>take:")
    account.define("Account >> take: n = ( ^ (n ifNil: [ 0 ]) * 10 )")
    account.machine.debugger.restart(proc, take)
    run(account, lambda: not proc.alive)
    assert proc.exit_reason == account.universe.symbol("normal")
    assert account.machine.print_string(proc.result) == "0"


def test_return_from_a_frame_answers_its_sender(account):
    proc, _ = start(account, "((Account new balance: 5) take: nil) + 1")
    account.machine.debugger.return_from(proc, frame_named(account, proc, "Account>>take:"),
                                         account.universe.make_int(41))
    run(account, lambda: not proc.alive)
    assert account.machine.print_string(proc.result) == "42"


def test_proceed_resumes_the_exception_with_a_value(vm):
    proc, _ = start(vm, "(Warning signal: 'w') + 1")
    vm.machine.debugger.proceed(proc, vm.universe.make_int(9))
    run(vm, lambda: not proc.alive)
    assert vm.machine.print_string(proc.result) == "10"


def test_abandon_runs_the_ensure_blocks_and_ends_with_the_exception(account):
    proc, _ = start(account, "victim := Account new. victim guarded: 2")
    watcher, _ = start(account, "[ Process receive ] spawn", held=False)
    monitor = watcher.result
    account.machine.signals.link(proc, monitor)
    account.machine.debugger.abandon(proc)
    run(account, lambda: not proc.alive)
    reason = proc.exit_reason
    assert account.universe.class_of(reason).name == "MessageNotUnderstood"
    assert monitor.state == DEAD and monitor.exit_reason is reason       # linked: the same reason
    assert account.eval("victim log") == "#unwound"
    with pytest.raises(DebugError, match="has ended"):
        account.machine.debugger.frames(proc)


def test_without_a_debugger_an_error_ends_the_process_as_before(account):
    proc, stops = start(account, "Account new guarded: 2", held=False)
    assert stops == [] and proc.state == DEAD
    # The trace starts where the error happened: the VM's own signalling frames
    # (doesNotUnderstand:) are hidden from traces (tests/test_traces.py).
    assert proc.crash_trace[:1] == ["Account>>take: (<test>:7)"]


def test_a_suspended_process_does_not_run_until_let_go(vm):
    proc = spawn(vm, "ticks := 0. [ true ] whileTrue: [ ticks := ticks + 1 ]")
    debugger = vm.machine.debugger
    scheduler = vm.machine.scheduler
    run(vm, lambda: vm.universe.globals.get("ticks", V.NIL) != V.NIL)
    debugger.suspend(proc)
    before = vm.universe.globals["ticks"]
    other = vm.machine.spawn_send(vm.universe.make_int(3), "printString", [])
    run(vm, lambda: not other.alive)                  # the scheduler ran, the suspended one did not
    assert vm.universe.globals["ticks"] == before
    assert vm.eval(f"(Process allProcesses detect: [ :p | p pid = {proc.pid} ] ifNone: [ nil ]) status") \
        == "#suspended"
    debugger.let_go(proc)
    run(vm, lambda: vm.universe.globals["ticks"] != before)
    scheduler.terminate(proc, vm.universe.symbol("killed"))


def test_a_suspended_waiting_process_keeps_its_messages_until_let_go(vm):
    proc = spawn(vm, "got := Process receive")
    run(vm, lambda: proc.state == WAITING)
    debugger = vm.machine.debugger
    debugger.suspend(proc)
    vm.machine.scheduler.deliver(proc, vm.universe.make_int(7))
    other = vm.machine.spawn_send(V.NIL, "yourself", [])
    run(vm, lambda: not other.alive)
    assert vm.universe.globals.get("got", V.NIL) == V.NIL     # woken, but not run while suspended
    debugger.let_go(proc)
    run(vm, lambda: not proc.alive)
    assert vm.eval("got") == "7"


def test_an_exit_signal_still_ends_a_stopped_process(vm):
    proc, _ = start(vm, "nil foo")
    vm.machine.signals.exit_signal(proc, None, vm.universe.symbol("kill"))
    assert proc.state == DEAD
    with pytest.raises(DebugError, match="has ended"):
        vm.machine.debugger.restart(proc, proc.ctx)


def test_let_go_refuses_a_process_stopped_at_an_exception(vm):
    proc, _ = start(vm, "nil foo")
    with pytest.raises(DebugError, match="stopped at an exception"):
        vm.machine.debugger.let_go(proc)


def test_a_frame_no_longer_on_the_stack_is_refused(account):
    proc, _ = start(account, "(Account new balance: 5) take: nil")
    take = frame_named(account, proc, "Account>>take:")
    account.machine.debugger.return_from(proc, take, V.NIL)
    other, _ = start(account, "nil bar")
    with pytest.raises(DebugError, match="no longer on the process's stack"):
        account.machine.debugger.restart(other, take)


# ---------------------------------------------------------------------- frame do-its


def test_frame_do_its_read_and_write_the_frames_variables_and_fields(account):
    proc, _ = start(account, "(Account new balance: 5) take: nil")
    take = frame_named(account, proc, "Account>>take:")
    assert account.machine.print_string(value_in(account, take, "balance + 1")) == "6"
    assert account.machine.print_string(value_in(account, take, "left := 3. n := 4. left + n")) == "7"
    assert [account.machine.print_string(v) for _, _, v in account.machine.debugger.variables(take)] == ["4", "3"]
    assert account.machine.print_string(value_in(account, take, "^ self")) == "an Account"
    assert account.machine.print_string(value_in(account, take, "super printString")) == "'an Account'"
    assert account.machine.print_string(value_in(account, take, "| t | t := [ :x | x + balance ]. t value: 1")) \
        == "6"


def test_a_block_frame_reaches_the_variables_around_it(vm):
    proc, _ = start(vm, "| outer | outer := 10. #(1 2) do: [ :each | | inner | inner := each * outer. nil bar ]")
    debugger = vm.machine.debugger
    block = frame_named(vm, proc, "[] in Nil>>doIt")
    assert [(role, name) for role, name, _ in debugger.variables(block)] == [
        ("argument", "each"), ("temporary", "inner"), ("outer", "outer")]
    assert vm.machine.print_string(value_in(vm, block, "inner + outer + each")) == "21"


@pytest.mark.parametrize(("text", "message"), [
    ("3 +", "unexpected end of input"),
    ("Foo = Object ( )", "only statements can run in a frame"),
    ("self := 3", "cannot assign to 'self'"),
])
def test_frame_do_its_that_do_not_compile_are_refused(account, text, message):
    proc, _ = start(account, "(Account new balance: 5) take: nil")
    take = frame_named(account, proc, "Account>>take:")
    with pytest.raises(SmalltalkSyntaxError, match=message):
        compile_in_frame(account.universe, text, "<eval>", [], account.machine.debugger.scopes(take), None)


@pytest.mark.parametrize("source", ["Warning signal: 'w'", "Warning new signal: 'w'", "Error signal: 'e'",
                                    "Error signal"])
def test_a_stopped_process_frames_leave_out_the_class_side_signal(vm, source):
    """`Warning signal: 'w'` is shorthand for `Warning new signal: 'w'`: the frame list
    starts at the do-it either way, as the trace does."""
    proc, _ = start(vm, source)
    assert where(vm.machine.debugger.frames(proc)) == ["Nil>>doIt"]
