"""Timeouts: `Process sleep:`, `receiveWithin:ifTimeout:` and selective receive with
durations too long to ever fire (huge Integers, 1e300, infinity) wait for ever instead of
overflowing the clock; a non-number is an Error in the caller; and cancelled timers
(a receive that got its message, a killed sleeper) do not pile up in the timer heap.
"""
from __future__ import annotations

import pytest
from conftest import VMSession, run_vm

from smalltalk_vm.vm.process import SLEEPING, WAITING
from smalltalk_vm.vm.scheduler import COMPACT_AT

FOREVER = ["(2 raisedTo: 100)", "(2 raisedTo: 5000)", "1e300", "Double PositiveInfinity"]


def live_timers(vm: VMSession) -> int:
    return sum(1 for timer in vm.machine.scheduler.timers if not timer.cancelled)


@pytest.mark.parametrize("duration", FOREVER)
def test_sleeping_for_ever(vm, duration):
    proc = vm.value(f"[ Process sleep: {duration}. #woke ] spawn")
    assert vm.eval("Process sleep: 5. 1") == "1"
    assert proc.state == SLEEPING
    assert live_timers(vm) == 0                      # no timer at all: it never fires
    vm.machine.signals.exit_signal(proc, None, vm.universe.symbol("kill"))
    assert not proc.alive


@pytest.mark.parametrize("duration", FOREVER)
def test_receive_within_for_ever_still_gets_its_message(vm, duration):
    proc = vm.value(f"[ Process receiveWithin: {duration} ifTimeout: [ #timedOut ] ] spawn")
    assert vm.eval("Process sleep: 5. 1") == "1"
    assert proc.state == WAITING
    assert live_timers(vm) == 0
    vm.machine.scheduler.deliver(proc, vm.universe.symbol("hello"))
    assert vm.eval("Process sleep: 5. 1") == "1"
    assert not proc.alive and vm.machine.print_string(proc.result) == "#hello"


@pytest.mark.parametrize("duration", FOREVER)
def test_selective_receive_for_ever_still_gets_its_message(vm, duration):
    proc = vm.value(f"[ Process receive: [ :m | m = 2 ] within: {duration} ifTimeout: [ #timedOut ] ] spawn")
    assert vm.eval("Process sleep: 5. 1") == "1"
    assert proc.state == WAITING
    for n in (1, 2):
        vm.machine.scheduler.deliver(proc, vm.universe.make_int(n))
    assert vm.eval("Process sleep: 5. 1") == "1"
    assert not proc.alive and vm.machine.print_string(proc.result) == "2"


@pytest.mark.parametrize(("send", "text"), [
    ("Process sleep: 'soon'", "Process sleep: needs a number of milliseconds, not an instance of String"),
    ("Process sleep: nil", "Process sleep: needs a number of milliseconds, not an instance of Nil"),
    ("Process sleep: Double NaN", "Process sleep: needs a number of milliseconds, not NaN"),
    ("Process receiveWithin: #later ifTimeout: [ 0 ]",
     "Process receiveWithin:ifTimeout: needs a number of milliseconds, not an instance of Symbol"),
    ("Process receiveWithin: Object new ifTimeout: [ 0 ]",
     "Process receiveWithin:ifTimeout: needs a number of milliseconds, not an instance of Object"),
])
def test_a_non_number_is_an_error_in_the_caller(vm, send, text):
    assert vm.value(f"[ {send} ] on: Error do: [ :e | e messageText ]").chars == text
    assert vm.eval(f"[ {send}. #notHere ] on: Error do: [ :e | e return: #caught ]") == "#caught"


def test_selective_receive_with_a_non_number(vm):
    assert vm.eval("[ Process receive: [ :m | true ] within: 'x' ifTimeout: [ 0 ] ] "
                   "on: Error do: [ :e | #caught ]") == "#caught"


def test_short_and_negative_durations_still_work(vm):
    assert vm.eval("Process sleep: -5. Process sleep: 0. Process sleep: 1.5. "
                   "Process receiveWithin: -1 ifTimeout: [ #none ]") == "#none"
    assert vm.eval("Process receiveWithin: 2 ifTimeout: [ #none ]") == "#none"
    assert vm.eval("Process receive: [ :m | true ] within: 2 ifTimeout: [ #none ]") == "#none"


def test_the_cli_waits_for_ever_instead_of_crashing():
    done = run_vm(["eval", "Process sleep: (2 raisedTo: 100)"], timeout=60)
    assert "Traceback" not in done.stderr and "OverflowError" not in done.stderr
    assert done.stderr.strip() == "deadlock: 1 processes waiting" and done.returncode == 1


# ---------------------------------------------------------------------- the heap

SERVER = """
    [ | count | count := 0.
      [ (Process receiveWithin: 3600000 ifTimeout: [ #idle ]) == #stop ]
          whileFalse: [ count := count + 1 ].
      count ] spawn"""


def test_a_server_with_a_long_receive_timeout_keeps_the_heap_flat(vm, monkeypatch):
    scheduler = vm.machine.scheduler
    sizes = []
    add_timer = scheduler.add_timer

    def counting_add_timer(delay, action):
        sizes.append(len(scheduler.timers))
        return add_timer(delay, action)
    monkeypatch.setattr(scheduler, "add_timer", counting_add_timer)
    # The client yields after each message, so the server parks (with a fresh
    # hour-long timer) before the next one arrives: 4000 timers, each cancelled.
    count = vm.eval(f"""| server |
        server := {SERVER}.
        1 to: 4000 do: [ :i | server send: i. Process yield ].
        server send: #stop.
        [ server isAlive ] whileTrue: [ Process yield ].
        server exitReason""")
    assert count == "#normal"
    assert len(sizes) >= 4000
    assert max(sizes) <= 2 * COMPACT_AT + 4, max(sizes)


def test_killed_sleepers_leave_the_heap(vm):
    scheduler = vm.machine.scheduler
    sleepers = vm.value("(1 to: 3000) collect: [ :i | [ Process sleep: 3600000 ] spawn ]")
    vm.run("Process yield")
    assert live_timers(vm) == 3000
    for proc in sleepers.items:
        vm.machine.signals.exit_signal(proc, None, vm.universe.symbol("kill"))
    assert live_timers(vm) == 0
    assert len(scheduler.timers) <= 2 * COMPACT_AT + 4
