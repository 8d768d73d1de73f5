"""Erlang's process rules as the hosted language sees them: links, exit signals,
trapExit, kill, monitors, #noproc, registered names, crashes and ensure:, preemption,
receive/selective receive/sleep, introspection, and how `vm run` ends (main returns,
deadlock). Each test is a small program whose printed lines are checked.

Every program terminates by itself: receives that might not be answered have
timeouts, and helper processes give up after a bounded wait, so a regression fails
quickly instead of hanging the suite.
"""
from __future__ import annotations

from pathlib import Path

from conftest import VMSession, run_vm

PROGRAMS = Path(__file__).parent / "processes"

# Helpers shared by the programs below (instance methods of the program class).
SUPPORT = """
    "A process parked in receive; any message (or 2 s without one) ends it normally."
    waiter = ( ^ [ Process receiveWithin: 2000 ifTimeout: [ #gaveUp ] ] spawn )

    "A process that links itself to target, tells main, then waits like a waiter."
    linkedTo: target tell: main = (
        ^ [ Process current link: target.
            main send: #linked.
            Process receiveWithin: 2000 ifTimeout: [ #gaveUp ] ] spawn )

    "A process trapping exits, linked to target, that forwards the first message it
    gets to main and then stays parked (so its liveness can be checked)."
    trapperLinkedTo: target tell: main = (
        ^ [ Process current trapExit: true.
            target isNil ifFalse: [ Process current link: target ].
            main send: #linked.
            main send: (Process receiveWithin: 2000 ifTimeout: [ #noSignal ]).
            Process receiveWithin: 2000 ifTimeout: [ #gaveUp ] ] spawn )

    expect: aSymbol = (
        ^ Process receive: [ :m | m == aSymbol ] within: 1000 ifTimeout: [ #timedOut ] )
    nextExit = (
        ^ Process receive: [ :m | m isKindOf: Exit ] within: 1000 ifTimeout: [ #noExit ] )
    downFor: ref = (
        ^ Process receive: [ :m | (m isKindOf: Down) and: [ m ref == ref ] ]
                   within: 1000 ifTimeout: [ #noDown ] )
    nothingWithin: ms = ( ^ Process receiveWithin: ms ifTimeout: [ #nothing ] )

    "Poll (bounded, 1 ms naps) until aBlock answers true; answer its last value."
    eventually: aBlock = (
        | tries |
        tries := 0.
        [ aBlock value or: [ tries >= 500 ] ] whileFalse: [
            tries := tries + 1. Process sleep: 1 ].
        ^ aBlock value )
"""


def run_program(vm: VMSession, body: str, extra: str = "") -> list[str]:
    """Define a class whose `run` is ``body`` (plus the SUPPORT helpers), run it in
    the VM, and answer the printed lines."""
    vm.define(f"ProcessProgram = Object (\n{SUPPORT}\n{extra}\n    run = ( {body} )\n)")
    outcome = vm.run("ProcessProgram new run")
    assert outcome.status == "value", (outcome.status, outcome.error_text, vm.errors)
    return vm.printed().splitlines()


# ---------------------------------------------------------------------- links

def test_link_death_of_the_linked_to_process_kills_the_linker(vm: VMSession) -> None:
    lines = run_program(vm, """
        | main a b ref |
        main := Process current.
        a := self waiter.
        b := self linkedTo: a tell: main.
        (self expect: #linked) println.
        ref := main monitor: b.
        a exit: #boom.
        (self downFor: ref) reason println.
        b exitReason println.
        a exitReason println """)
    assert lines == ["#linked", "#boom", "#boom", "#boom"]


def test_link_is_bidirectional_death_of_the_linker_kills_the_other(vm: VMSession) -> None:
    lines = run_program(vm, """
        | main a b ref |
        main := Process current.
        a := self waiter.
        b := self linkedTo: a tell: main.
        (self expect: #linked) println.
        ref := main monitor: a.
        b exit: #boom.
        (self downFor: ref) reason println.
        a exitReason println """)
    assert lines == ["#linked", "#boom", "#boom"]


def test_linking_twice_then_unlinking_once_removes_the_link(vm: VMSession) -> None:
    lines = run_program(vm, """
        | main a b ref |
        main := Process current.
        a := self waiter.
        b := [ Process current link: a; link: a; unlink: a.
               main send: #unlinked.
               Process receiveWithin: 2000 ifTimeout: [ #gaveUp ] ] spawn.
        (self expect: #unlinked) println.
        ref := main monitor: a.
        a exit: #boom.
        (self downFor: ref) reason println.
        (self nothingWithin: 20) println.
        b isAlive println.
        b status println.
        b links size println """)
    assert lines == ["#unlinked", "#boom", "#nothing", "true", "#waiting", "0"]


def test_two_links_to_the_same_process_give_one_exit_signal(vm: VMSession) -> None:
    lines = run_program(vm, """
        | a exit |
        Process current trapExit: true.
        a := self waiter.
        Process current link: a.
        Process current link: a.
        a exit: #boom.
        exit := self nextExit.
        exit reason println.
        (exit from == a) println.
        (self nothingWithin: 40) println """)
    assert lines == ["#boom", "true", "#nothing"]


def test_an_abnormal_exit_signal_kills_a_linked_process_with_the_same_reason(vm: VMSession) -> None:
    """The reason is passed on as it is: an exception object stays the same object."""
    lines = run_program(vm, """
        | main a b ref |
        main := Process current.
        a := [ (Process receiveWithin: 2000 ifTimeout: [ nil ]) == #crash
                   ifTrue: [ 1 / 0 ] ] spawn.
        b := self linkedTo: a tell: main.
        (self expect: #linked) println.
        ref := main monitor: b.
        a send: #crash.
        (self downFor: ref) reason class println.
        (b exitReason == a exitReason) println """)
    assert lines == ["#linked", "ZeroDivide", "true"]


def test_normal_exit_is_ignored_by_a_non_trapping_linked_process(vm: VMSession) -> None:
    lines = run_program(vm, """
        | main a b ref |
        main := Process current.
        a := self waiter.
        b := self linkedTo: a tell: main.
        (self expect: #linked) println.
        ref := main monitor: a.
        a send: #finish.
        (self downFor: ref) reason println.
        (self nothingWithin: 20) println.
        b isAlive println.
        b status println """)
    assert lines == ["#linked", "#normal", "#nothing", "true", "#waiting"]


def test_normal_exit_reaches_a_trapping_linked_process_as_an_exit_message(vm: VMSession) -> None:
    lines = run_program(vm, """
        | main a t exit |
        main := Process current.
        a := self waiter.
        t := self trapperLinkedTo: a tell: main.
        (self expect: #linked) println.
        a send: #finish.
        exit := self nextExit.
        exit class println.
        exit reason println.
        (exit from == a) println.
        t isAlive println """)
    assert lines == ["#linked", "Exit", "#normal", "true", "true"]


def test_exit_normal_sent_to_an_unlinked_non_trapping_process_is_ignored(vm: VMSession) -> None:
    lines = run_program(vm, """
        | a |
        a := self waiter.
        a exit: #normal.
        (self eventually: [ a status == #waiting ]) println.
        a isAlive println.
        a exitReason println """)
    assert lines == ["true", "true", "nil"]


# ---------------------------------------------------------------------- trapExit and kill

def test_a_trapping_process_gets_exit_from_and_reason_and_survives(vm: VMSession) -> None:
    lines = run_program(vm, """
        | main a t exit |
        main := Process current.
        a := self waiter.
        t := self trapperLinkedTo: a tell: main.
        (self expect: #linked) println.
        a exit: #boom.
        exit := self nextExit.
        exit reason println.
        (exit from == a) println.
        (self eventually: [ t status == #waiting ]) println.
        t isTrappingExits println.
        t exitReason println """)
    assert lines == ["#linked", "#boom", "true", "true", "true", "nil"]


def test_kill_cannot_be_trapped_and_the_reason_becomes_killed(vm: VMSession) -> None:
    lines = run_program(vm, """
        | main t ref |
        main := Process current.
        t := self trapperLinkedTo: nil tell: main.
        (self expect: #linked) println.
        ref := main monitor: t.
        t kill.
        (self downFor: ref) reason println.
        t isAlive println.
        t exitReason println.
        (self nothingWithin: 20) println """)
    assert lines == ["#linked", "#killed", "false", "#killed", "#nothing"]


def test_exit_with_reason_kill_cannot_be_trapped_either(vm: VMSession) -> None:
    lines = run_program(vm, """
        | main t ref |
        main := Process current.
        t := self trapperLinkedTo: nil tell: main.
        (self expect: #linked) println.
        ref := main monitor: t.
        t exit: #kill.
        (self downFor: ref) reason println.
        t exitReason println """)
    assert lines == ["#linked", "#killed", "#killed"]


def test_processes_linked_to_a_killed_process_get_the_trappable_reason_killed(vm: VMSession) -> None:
    lines = run_program(vm, """
        | main victim plain trapper ref exit |
        main := Process current.
        victim := self waiter.
        plain := self linkedTo: victim tell: main.
        trapper := self trapperLinkedTo: victim tell: main.
        (self expect: #linked) println.
        (self expect: #linked) println.
        ref := main monitor: plain.
        victim kill.
        (self downFor: ref) reason println.
        exit := self nextExit.
        exit reason println.
        (exit from == victim) println.
        trapper isAlive println """)
    assert lines == ["#linked", "#linked", "#killed", "#killed", "true", "true"]


def test_exit_shutdown_kills_an_unlinked_process_unless_it_traps_exits(vm: VMSession) -> None:
    lines = run_program(vm, """
        | main plain trapper ref exit |
        main := Process current.
        plain := self waiter.
        trapper := self trapperLinkedTo: nil tell: main.
        (self expect: #linked) println.
        ref := main monitor: plain.
        plain exit: #shutdown.
        (self downFor: ref) reason println.
        plain exitReason println.
        trapper exit: #shutdown.
        exit := self nextExit.
        exit reason println.
        (exit from == main) println.
        trapper isAlive println """)
    assert lines == ["#linked", "#shutdown", "#shutdown", "#shutdown", "true", "true"]


# ---------------------------------------------------------------------- noproc

def test_monitoring_a_dead_process_gives_down_noproc_at_once(vm: VMSession) -> None:
    lines = run_program(vm, """
        | a first second down |
        a := [ 3 + 4 ] spawn.
        first := Process current monitor: a.
        (self downFor: first) reason println.
        second := Process current monitor: a.
        down := Process receiveWithin: 0 ifTimeout: [ #notYet ].
        down class println.
        down reason println.
        (down ref == second) println.
        (down process == a) println """)
    assert lines == ["#normal", "Down", "#noproc", "true", "true"]


def test_a_trapping_process_linking_to_a_dead_process_gets_exit_noproc_at_once(vm: VMSession) -> None:
    lines = run_program(vm, """
        | a exit |
        a := [ 3 + 4 ] spawn.
        (self downFor: (Process current monitor: a)) reason println.
        Process current trapExit: true.
        Process current link: a.
        exit := Process receiveWithin: 0 ifTimeout: [ #notYet ].
        exit class println.
        exit reason println.
        (exit from == a) println """)
    assert lines == ["#normal", "Exit", "#noproc", "true"]


def test_a_non_trapping_process_linking_to_a_dead_process_dies_with_noproc(vm: VMSession) -> None:
    lines = run_program(vm, """
        | main a b ref |
        main := Process current.
        a := [ 3 + 4 ] spawn.
        (self downFor: (Process current monitor: a)) reason println.
        b := [ Process current link: a.
               main send: #survived ] spawn.
        ref := main monitor: b.
        (self downFor: ref) reason println.
        b exitReason println.
        (self nothingWithin: 20) println """)
    assert lines == ["#normal", "#noproc", "#noproc", "#nothing"]


# ---------------------------------------------------------------------- monitors

def test_monitors_are_one_way(vm: VMSession) -> None:
    """The watcher dying does not touch the watched process."""
    lines = run_program(vm, """
        | main a w ref |
        main := Process current.
        a := self waiter.
        w := [ Process current monitor: a.
               main send: #watching.
               Process receiveWithin: 2000 ifTimeout: [ #gaveUp ] ] spawn.
        (self expect: #watching) println.
        ref := main monitor: w.
        w exit: #boom.
        (self downFor: ref) reason println.
        (self nothingWithin: 20) println.
        a isAlive println.
        a status println """)
    assert lines == ["#watching", "#boom", "#nothing", "true", "#waiting"]


def test_two_monitors_on_one_process_give_two_downs_with_different_refs(vm: VMSession) -> None:
    lines = run_program(vm, """
        | a r1 r2 d1 d2 |
        a := self waiter.
        r1 := Process current monitor: a.
        r2 := Process current monitor: a.
        (r1 == r2) println.
        (r1 = r2) println.
        a exit: #boom.
        d1 := Process receiveWithin: 1000 ifTimeout: [ #none ].
        d2 := Process receiveWithin: 1000 ifTimeout: [ #none ].
        d1 reason println.
        d2 reason println.
        (((d1 ref == r1) and: [ d2 ref == r2 ]) or: [ (d1 ref == r2) and: [ d2 ref == r1 ] ]) println.
        (self nothingWithin: 20) println """)
    assert lines == ["false", "false", "#boom", "#boom", "true", "#nothing"]


def test_demonitor_removes_only_that_monitor(vm: VMSession) -> None:
    lines = run_program(vm, """
        | a r1 r2 down |
        a := self waiter.
        r1 := Process current monitor: a.
        r2 := Process current monitor: a.
        (Process current demonitor: r1) println.
        a exit: #boom.
        down := Process receiveWithin: 1000 ifTimeout: [ #none ].
        down reason println.
        (down ref == r2) println.
        (self nothingWithin: 20) println """)
    assert lines == ["true", "#boom", "true", "#nothing"]


# ---------------------------------------------------------------------- registered names

def test_a_registered_name_is_gone_before_links_and_monitors_hear_of_the_death(vm: VMSession) -> None:
    """Both a trapping linked process (on its Exit) and a monitor (on its Down) find
    the name unbound; afterwards the name can be taken again."""
    lines = run_program(vm, """
        | main a t ref b |
        main := Process current.
        a := self waiter.
        Process register: a as: #worker.
        ((Process named: #worker) == a) println.
        t := [ Process current trapExit: true; link: a.
               main send: #linked.
               Process receiveWithin: 1000 ifTimeout: [ nil ].
               main send: (Process named: #worker) isNil ] spawn.
        (self expect: #linked) println.
        ref := main monitor: a.
        a exit: #boom.
        (self downFor: ref) reason println.
        (Process named: #worker) isNil println.
        (Process receiveWithin: 1000 ifTimeout: [ #none ]) println.
        b := self waiter.
        Process register: b as: #worker.
        ((Process named: #worker) == b) println """)
    assert lines == ["true", "#linked", "#boom", "true", "true", "true"]


# ---------------------------------------------------------------------- crashes

def test_an_unhandled_error_ends_the_process_with_the_exception_as_reason(vm: VMSession) -> None:
    lines = run_program(vm, """
        | a ref down |
        a := [ Error signal: 'disk on fire' ] spawn.
        ref := Process current monitor: a.
        down := self downFor: ref.
        down reason class println.
        down reason messageText println.
        (a exitReason == down reason) println """)
    assert lines == ["Error", "disk on fire", "true"]


def test_ensure_blocks_run_when_an_unhandled_error_ends_a_process(vm: VMSession) -> None:
    lines = run_program(vm, """
        | main a ref |
        main := Process current.
        a := [ [ [ 1 / 0 ] ensure: [ main send: #inner ] ]
                 ensure: [ main send: #outer ] ] spawn.
        ref := main monitor: a.
        (Process receiveWithin: 1000 ifTimeout: [ #none ]) println.
        (Process receiveWithin: 1000 ifTimeout: [ #none ]) println.
        (self downFor: ref) reason class println """)
    assert lines == ["#inner", "#outer", "ZeroDivide"]


# ---------------------------------------------------------------------- scheduling

def test_a_busy_loop_cannot_starve_another_process() -> None:
    # A subprocess: were preemption broken, the spinner would hang an in-process VM.
    result = run_vm(["run", str(PROGRAMS / "BusyLoop.som")], timeout=30)
    assert (result.returncode, result.stdout, result.stderr) == (
        0, "#hello\n#runnable\n#dead\n", "")


def test_a_busy_main_process_is_preempted_too(vm: VMSession) -> None:
    lines = run_program(vm, """
        | done deadline |
        done := false.
        [ done := true ] spawn.
        deadline := system time + 3000.
        [ done or: [ system time > deadline ] ] whileFalse: [ ].
        done println """)
    assert lines == ["true"]


def test_receive_with_timeout_answers_the_timeout_blocks_value(vm: VMSession) -> None:
    lines = run_program(vm, """
        | start value |
        start := system time.
        value := Process receiveWithin: 30 ifTimeout: [ 6 * 7 ].
        value println.
        (system time - start >= 25) println """)
    assert lines == ["42", "true"]


def test_receive_with_timeout_answers_a_message_that_comes_in_time(vm: VMSession) -> None:
    lines = run_program(vm, """
        | main |
        main := Process current.
        [ Process sleep: 10. main send: #arrived ] spawn.
        (Process receiveWithin: 2000 ifTimeout: [ #timedOut ]) println """)
    assert lines == ["#arrived"]


def test_selective_receive_leaves_the_other_messages_in_order(vm: VMSession) -> None:
    lines = run_program(vm, """
        | me |
        me := Process current.
        me send: 1; send: #a; send: 2; send: #b; send: 3.
        (Process receive: [ :m | m isKindOf: Symbol ]) println.
        (Process receive: [ :m | m = 3 ]) println.
        (Process receive: [ :m | m = 99 ] within: 20 ifTimeout: [ #noMatch ]) println.
        me messageCount println.
        Process receive println.
        Process receive println.
        Process receive println """)
    assert lines == ["#a", "3", "#noMatch", "3", "1", "2", "#b"]


def test_selective_receive_waits_for_a_matching_message_that_comes_later(vm: VMSession) -> None:
    lines = run_program(vm, """
        | main |
        main := Process current.
        [ main send: #early. Process sleep: 10. main send: #wanted ] spawn.
        (Process receive: [ :m | m == #wanted ] within: 2000 ifTimeout: [ #timedOut ]) println.
        Process receive println """)
    assert lines == ["#wanted", "#early"]


def test_sleep_parks_only_the_sleeping_process(vm: VMSession) -> None:
    lines = run_program(vm, """
        | main sleeper |
        main := Process current.
        sleeper := [ Process sleep: 2000 ] spawn.
        (self eventually: [ sleeper status == #sleeping ]) println.
        [ 1 to: 3 do: [ :i | main send: i. Process yield ] ] spawn.
        (Process receiveWithin: 1000 ifTimeout: [ #none ]) println.
        sleeper status println.
        Process sleep: 30.
        Process current messageCount println.
        sleeper kill """)
    assert lines == ["true", "1", "#sleeping", "2"]


# ---------------------------------------------------------------------- introspection

def test_all_processes_includes_the_live_ones_only(vm: VMSession) -> None:
    lines = run_program(vm, """
        | a ref |
        a := self waiter.
        (Process allProcesses includes: a) println.
        (Process allProcesses includes: Process current) println.
        ref := Process current monitor: a.
        a send: #finish.
        (self downFor: ref) reason println.
        (Process allProcesses includes: a) println """)
    assert lines == ["true", "true", "#normal", "false"]


def test_status_values_at_each_stage_of_a_life(vm: VMSession) -> None:
    lines = run_program(vm, """
        | a s ref |
        a := self waiter.
        a status println.
        Process current status println.
        (self eventually: [ a status == #waiting ]) println.
        s := [ Process sleep: 2000 ] spawn.
        (self eventually: [ s status == #sleeping ]) println.
        a exitReason println.
        ref := Process current monitor: a.
        a send: #finish.
        (self downFor: ref) reason println.
        a status println.
        a exitReason println.
        s kill.
        s status println """)
    assert lines == ["#runnable", "#runnable", "true", "true", "nil", "#normal", "#dead",
                     "#normal", "#dead"]


# ---------------------------------------------------------------------- vm run

def test_vm_run_exits_when_main_returns_even_with_busy_processes_left() -> None:
    result = run_vm(["run", str(PROGRAMS / "MainReturns.som")], timeout=30)
    assert (result.returncode, result.stdout, result.stderr) == (0, "main done\n", "")


def test_vm_run_reports_a_deadlock_with_the_number_of_waiting_processes() -> None:
    result = run_vm(["run", str(PROGRAMS / "Deadlock.som")], timeout=30)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == "all parked\n"
    assert result.stderr.strip() == "deadlock: 3 processes waiting"
