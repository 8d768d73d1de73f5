"""Shared helpers of the supervisor tests (lib/Supervisor.som and friends, issue 4):
``Probe``, a hosted-language class the test programs use, and ``run``, which runs a
program in an in-process VM under a watchdog and answers its printed lines. Imported by
tests/test_supervisors*.py.

Children made by ``probe worker: #id`` record their start in ``probe events`` and then
obey one command (#normal: return, #shutdown: exit with #shutdown, #error: an unhandled
Error). ``probe end: p how: k under: sup`` answers once ``p`` is dead and the supervisor
has dealt with it (the supervisor gets the child's Exit before our next request, which
we then make). Every receive is bounded, so a broken supervisor fails a test instead of
hanging it.
"""
from __future__ import annotations

import threading

from conftest import VMSession

PROBE = r"""
Probe = (
    | events |
    initialize = ( events := Vector new )
    events = ( ^ events )
    eventsFrom: index = (
        | words |
        words := Vector new.
        index to: events size do: [ :i | words append: (events at: i) asString ].
        ^ words isEmpty ifTrue: [ '-' ] ifFalse: [ words join: ' ' ] )

    "A start block: record the start, then obey one command."
    worker: id = ( ^ [ events append: id. self obey ] )
    "The same for a #simpleOneForOne spec: the argument is recorded."
    argumentWorker = ( ^ [ :argument | events append: argument. self obey ] )
    obey = (
        | command |
        command := Process receive.
        command == #error ifTrue: [ ^ Error signal: 'boom' ].
        command == #shutdown ifTrue: [ Process current exit: #shutdown ].
        ^ command )
    "A child that traps exits and ignores them; records the Exits it gets."
    stubborn: id = ( ^ [ Process current trapExit: true. events append: id.
        [ true ] whileTrue: [ | m | m := Process receive. (m isKindOf: Exit) ifTrue: [ events append: #ignored ] ] ] )
    "A child that traps exits, and on one records its id and ends normally."
    polite: id = ( ^ [ Process current trapExit: true. events append: id.
        Process receive: [ :m | m isKindOf: Exit ]. events append: 'bye' + id ] )

    end: process how: kind under: sup = (
        | ref |
        ref := Process current monitor: process.
        process send: kind.
        self awaitDown: ref.
        sup countChildren.
        Process sleep: 20 )
    awaitDown: ref = (
        ^ Process receive: [ :m | (m isKindOf: Down) and: [ m ref = ref ] ]
            within: 3000 ifTimeout: [ self error: 'no Down within 3 s' ] )
    "Monitor process; answer the reason it ends with."
    reasonOf: process = ( ^ self nameOf: (self awaitDown: (Process current monitor: process)) reason )
    nameOf: reason = (
        (reason isKindOf: Exception) ifTrue: [ ^ reason class name asString ].
        ^ reason asString )

    "What became of each child of before (Pairs of id and process) in after."
    report: before against: after = (
        before do: [ :old |
            | now fate |
            now := after detect: [ :pair | pair key = old key ] ifNone: [ nil ].
            fate := now isNil
                ifTrue: [ 'removed:' + (self nameOf: old value exitReason) ]
                ifFalse: [ now value isNil
                    ifTrue: [ 'stopped:' + (self nameOf: old value exitReason) ]
                    ifFalse: [ now value == old value
                        ifTrue: [ old value isAlive ifTrue: [ 'same' ] ifFalse: [ 'dead-but-listed' ] ]
                        ifFalse: [ 'restarted:' + (self nameOf: old value exitReason) ] ] ].
            (old key asString + '=' + fate) println ] )
    "The same for #simpleOneForOne children, which have no names: by position."
    reportDynamic: before against: after = (
        before doWithIndex: [ :old :i |
            (i asString + '=' + ((after anySatisfy: [ :pair | pair value == old value ])
                ifTrue: [ 'same' ]
                ifFalse: [ 'gone:' + (self nameOf: old value exitReason) ])) println ] )

    ----
    new = ( ^ super new initialize )
)
"""

STRATEGIES = ["oneForOne", "oneForAll", "restForOne", "simpleOneForOne"]
RESTART_TYPES = ["permanent", "transient", "temporary"]
EXIT_KINDS = ["normal", "shutdown", "error"]
REASON_NAME = {"normal": "normal", "shutdown": "shutdown", "error": "Error"}

WATCHDOG_SECONDS = 10
WATCHDOG_EXIT = 97


def run(session: VMSession, source: str) -> list[str]:
    """Run statements; answer the printed lines (the program must end normally). A
    watchdog ends a program that hangs (as `system exit:` would), so that a broken
    supervisor fails the test instead of blocking the suite."""
    universe = session.universe

    def stop_the_program() -> None:
        if universe.exit_status is None:
            universe.exit_status = WATCHDOG_EXIT

    watchdog = threading.Timer(WATCHDOG_SECONDS,
                               lambda: session.machine.scheduler.post(stop_the_program))
    watchdog.start()
    try:
        outcome = session.run(source)
    finally:
        watchdog.cancel()
    assert outcome.status == "value", \
        f"{outcome.status} {outcome.exit_code}: {outcome.error_text}\n{session.printed()}"
    return session.printed().splitlines()
