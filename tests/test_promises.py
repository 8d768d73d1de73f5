"""Promises and eventual sends as the hosted language sees them: then:/catch: chains,
wait (value, or the original exception), messages queued on an unresolved promise
and delivered in order, promises broken by the death of their computing process, and
`x ~> msg` answering at once and running in another process. Each test is a small
program whose printed lines are checked; every wait is bounded (a watchdog process
rejects or kills what hangs), so a regression fails instead of hanging.
"""
from __future__ import annotations

from conftest import VMSession

HELPERS = """
Recorder = Object (
    | log |
    log = ( ^ log )
    initialize = ( log := Vector new )
    note: x = ( log append: x. ^ x )
    whereAmI = ( ^ Process current )
    noteLater: x = ( log append: x. ^ x * 10 )
    fail: text = ( ^ Error signal: text )
    divide: n = ( ^ 10 / n )
    dieKilled = ( Process current kill. ^ #notReached )
    dieWith: reason = ( Process current exit: reason. ^ #notReached )
    ----
    new = ( ^ super new initialize )
)
"""

SUPPORT = """
    "Wait for aPromise, but if it is still pending after a second, a watchdog breaks
    it with the reason #hung (so wait signals BrokenPromise instead of hanging)."
    bounded: aPromise = (
        | watchdog value |
        watchdog := [ Process sleep: 1000.
                      aPromise isPending ifTrue: [ aPromise reject: #hung ] ] spawn.
        value := aPromise wait.
        watchdog kill.
        ^ value )
    "Yield (bounded) until aPromise is no longer pending; answer whether it settled."
    settle: aPromise = (
        | tries |
        tries := 0.
        [ aPromise isPending and: [ tries < 500 ] ] whileTrue: [
            tries := tries + 1. Process sleep: 1 ].
        ^ aPromise isPending not )
"""


def run_program(vm: VMSession, body: str) -> list[str]:
    """Define Recorder and a program class whose `run` is ``body``; run it and answer
    the printed lines."""
    vm.define(HELPERS)
    vm.define(f"PromiseProgram = Object (\n{SUPPORT}\n    run = ( {body} )\n)")
    outcome = vm.run("PromiseProgram new run")
    assert outcome.status == "value", (outcome.status, outcome.error_text, vm.errors)
    return vm.printed().splitlines()


# ---------------------------------------------------------------------- then: and catch:

def test_values_flow_along_a_chain_of_then(vm: VMSession) -> None:
    lines = run_program(vm, """
        | pr last |
        pr := Promise new.
        last := ((pr then: [ :v | v + 1 ]) then: [ :v | v * 10 ]) then: [ :v | v printString , '?' ].
        last isPending println.
        pr resolve: 4.
        (self bounded: last) println.
        last isFulfilled println """)
    assert lines == ["true", "50?", "true"]


def test_then_on_an_already_fulfilled_promise_runs_its_block(vm: VMSession) -> None:
    lines = run_program(vm, """
        | pr |
        pr := Promise new.
        pr resolve: 20.
        pr isFulfilled println.
        (self bounded: (pr then: [ :v | v + 1 ])) println """)
    assert lines == ["true", "21"]


def test_an_error_in_a_then_block_breaks_the_next_promise(vm: VMSession) -> None:
    lines = run_program(vm, """
        | pr next ran |
        ran := Vector new.
        pr := Promise new.
        next := pr then: [ :v | ran append: #first. Error signal: 'bad step' ].
        (next then: [ :v | ran append: #second. v ]) then: [ :v | ran append: #third ].
        pr resolve: 1.
        (self settle: next) println.
        next isBroken println.
        next reason class println.
        next reason messageText println.
        Process sleep: 10.
        ran printString println """)
    assert lines == ["true", "true", "Error", "bad step", "a Vector(#first)"]


def test_a_broken_promise_skips_then_blocks_until_catch_recovers(vm: VMSession) -> None:
    lines = run_program(vm, """
        | pr ran recovered after |
        ran := Vector new.
        pr := Promise new.
        recovered := ((pr then: [ :v | 10 / v ])
                        then: [ :v | ran append: #skipped. v ])
                        catch: [ :e | ran append: e class name. -1 ].
        after := recovered then: [ :v | v * 2 ].
        pr resolve: 0.
        (self bounded: after) println.
        recovered isFulfilled println.
        ran printString println """)
    assert lines == ["-2", "true", "a Vector(#ZeroDivide)"]


def test_catch_passes_a_fulfilled_value_through_untouched(vm: VMSession) -> None:
    lines = run_program(vm, """
        | pr ran |
        ran := Vector new.
        pr := Promise new.
        pr resolve: 7.
        (self bounded: (pr catch: [ :e | ran append: #ran. 0 ])) println.
        ran isEmpty println """)
    assert lines == ["7", "true"]


def test_catch_receives_the_reason_given_to_reject(vm: VMSession) -> None:
    lines = run_program(vm, """
        | pr |
        pr := Promise new.
        pr reject: (Error new messageText: 'no').
        pr isBroken println.
        (self bounded: (pr catch: [ :e | e messageText + '!' ])) println """)
    assert lines == ["true", "no!"]


# ---------------------------------------------------------------------- wait

def test_wait_on_a_fulfilled_promise_answers_its_value(vm: VMSession) -> None:
    lines = run_program(vm, """
        | pr |
        pr := Promise new.
        pr resolve: #done.
        pr wait println.
        (self bounded: (Recorder new ~> noteLater: 4)) println """)
    assert lines == ["#done", "40"]


def test_wait_blocks_until_another_process_resolves_the_promise(vm: VMSession) -> None:
    lines = run_program(vm, """
        | pr |
        pr := Promise new.
        [ Process sleep: 10. pr resolve: 99 ] spawn.
        (self bounded: pr) println """)
    assert lines == ["99"]


def test_wait_on_a_broken_promise_signals_the_original_exception(vm: VMSession) -> None:
    lines = run_program(vm, """
        | pr caught |
        pr := Recorder new ~> fail: 'original text'.
        caught := [ self bounded: pr. #noError ] on: Error do: [ :e | e ].
        caught class println.
        caught messageText println.
        (caught == pr reason) println.
        pr := Recorder new ~> divide: 0.
        ([ self bounded: pr. #noError ] on: ZeroDivide do: [ :e | e class name ]) println """)
    assert lines == ["Error", "original text", "true", "#ZeroDivide"]


# ---------------------------------------------------------------------- eventual sends

def test_x_eventual_send_answers_a_pending_promise_at_once(vm: VMSession) -> None:
    lines = run_program(vm, """
        | r pr |
        r := Recorder new.
        pr := r ~> note: 5.
        pr class println.
        pr isPending println.
        r log isEmpty println.
        (self bounded: pr) println.
        r log printString println """)
    assert lines == ["Promise", "true", "true", "5", "a Vector(5)"]


def test_an_eventual_send_runs_in_a_different_process(vm: VMSession) -> None:
    lines = run_program(vm, """
        | where |
        where := self bounded: (Recorder new ~> whereAmI).
        (where isKindOf: Process) println.
        (where == Process current) println.
        (Recorder new whereAmI == Process current) println """)
    assert lines == ["true", "false", "true"]


def test_eventual_sends_to_an_unresolved_promise_are_delivered_in_order(vm: VMSession) -> None:
    lines = run_program(vm, """
        | r pr results |
        r := Recorder new.
        pr := Promise new.
        results := (1 to: 6) collect: [ :i | pr ~> noteLater: i ].
        Process sleep: 10.
        r log isEmpty println.
        (results allSatisfy: [ :each | each isPending ]) println.
        pr resolve: r.
        (results collect: [ :each | self bounded: each ]) printString println.
        r log printString println """)
    assert lines == ["true", "true", "#(10 20 30 40 50 60)", "a Vector(1 2 3 4 5 6)"]


def test_eventual_send_to_a_promise_goes_to_its_value(vm: VMSession) -> None:
    lines = run_program(vm, """
        | pr |
        pr := Promise new.
        [ Process sleep: 5. pr resolve: 41 ] spawn.
        (self bounded: (pr ~> + 1)) println """)
    assert lines == ["42"]


def test_eventual_send_to_a_broken_promise_is_broken_with_the_same_reason(vm: VMSession) -> None:
    lines = run_program(vm, """
        | pr next |
        pr := Promise new.
        next := pr ~> + 1.
        pr reject: #noWay.
        (self settle: next) println.
        next isBroken println.
        next reason println """)
    assert lines == ["true", "true", "#noWay"]


# ---------------------------------------------------------------------- broken by death

def test_a_promise_is_broken_when_its_delivering_process_is_killed(vm: VMSession) -> None:
    lines = run_program(vm, """
        | pr caught |
        pr := Recorder new ~> dieKilled.
        pr isPending println.
        caught := [ self bounded: pr. #noError ] on: BrokenPromise do: [ :e | e ].
        pr isBroken println.
        pr reason println.
        caught class println.
        caught reason println """)
    assert lines == ["true", "true", "#killed", "BrokenPromise", "#killed"]


def test_a_promise_is_broken_with_the_exit_reason_of_its_process(vm: VMSession) -> None:
    lines = run_program(vm, """
        | pr |
        pr := Recorder new ~> dieWith: #shutdown.
        ([ self bounded: pr. #noError ] on: BrokenPromise do: [ :e | e reason ]) println.
        pr isBroken println """)
    assert lines == ["#shutdown", "true"]


def test_a_promise_resolved_with_itself_is_refused_and_stays_pending(vm: VMSession) -> None:
    """It was fulfilled with itself: a cycle whose printString nests without end, and a
    value no wait can ever use. A block answering its own promise breaks it."""
    lines = run_program(vm, """
        | pr own |
        pr := Promise new.
        ([ pr resolve: pr ] on: Error do: [ :e | e messageText ]) println.
        pr isPending println.
        pr resolve: 3.
        (self bounded: pr) println.
        own := Promise new.
        Promise run: [ own ] into: own.
        (self settle: own) println.
        own isBroken println.
        own reason messageText println """)
    assert lines == ["a promise cannot be resolved with itself", "true", "3", "true", "true",
                     "a promise cannot be resolved with itself"]
