"""Supervisors (lib/Supervisor.som and friends, issue 4), checked against Erlang/OTP's
supervisor semantics: the matrix of every restart strategy x child restart type x way a
child ends (normal, shutdown, error), and what a group restart does to a stopped
sibling. The programs use ``Probe`` and ``run`` from tests/supervisor_support.py; the
other behaviours are in tests/test_supervisors.py."""
from __future__ import annotations

import itertools

import pytest
from supervisor_support import EXIT_KINDS, PROBE, REASON_NAME, RESTART_TYPES, STRATEGIES, run


@pytest.fixture
def sv(vm):
    vm.define(PROBE)
    return vm


# --------------------------------------------------------------------------- the matrix

def expected_static(strategy: str, restart: str, kind: str) -> list[str]:
    """OTP's outcome when child b (of a permanent, b, c transient, d temporary) ends."""
    victim = REASON_NAME[kind]
    restarts = restart == "permanent" or (restart == "transient" and kind == "error")
    if not restarts:
        fate_b = f"removed:{victim}" if restart == "temporary" else f"stopped:{victim}"
        return ["started: -", "a=same", f"b={fate_b}", "c=same", "d=same"]
    if strategy == "oneForOne":
        return ["started: b", "a=same", f"b=restarted:{victim}", "c=same", "d=same"]
    if strategy == "oneForAll":
        return ["started: a b c", "a=restarted:shutdown", f"b=restarted:{victim}",
                "c=restarted:shutdown", "d=removed:shutdown"]
    assert strategy == "restForOne"
    return ["started: b c", "a=same", f"b=restarted:{victim}", "c=restarted:shutdown",
            "d=removed:shutdown"]


def expected_simple(restart: str, kind: str) -> list[str]:
    victim = REASON_NAME[kind]
    restarts = restart == "permanent" or (restart == "transient" and kind == "error")
    return [f"started: {'2' if restarts else '-'}", f"children: {3 if restarts else 2}",
            "1=same", f"2=gone:{victim}", "3=same"]


@pytest.mark.parametrize("strategy,restart,kind",
                         list(itertools.product(STRATEGIES, RESTART_TYPES, EXIT_KINDS)))
def test_strategy_restart_type_exit_kind(sv, strategy, restart, kind):
    if strategy == "simpleOneForOne":
        lines = run(sv, f"""
            | probe sup before |
            probe := Probe new.
            sup := Supervisor strategy: #simpleOneForOne intensity: 10 period: 5000.
            sup addChild: (ChildSpec id: #w start: probe argumentWorker restart: #{restart}).
            sup start.
            1 to: 3 do: [ :i | sup startChild: i ].
            Process sleep: 20.
            ('initial: ' + (probe eventsFrom: 1)) println.
            before := sup whichChildren.
            probe end: (before at: 2) value how: #{kind} under: sup.
            ('started: ' + (probe eventsFrom: 4)) println.
            ('children: ' + sup countChildren asString) println.
            probe reportDynamic: before against: sup whichChildren.
            sup stop.
            (before allSatisfy: [ :pair | pair value isAlive not ]) println.
        """)
        assert lines == ["initial: 1 2 3", *expected_simple(restart, kind), "true"]
        return
    lines = run(sv, f"""
        | probe sup before after |
        probe := Probe new.
        sup := Supervisor strategy: #{strategy} intensity: 10 period: 5000.
        sup addChild: (ChildSpec id: #a start: (probe worker: #a)).
        sup addChild: (ChildSpec id: #b start: (probe worker: #b) restart: #{restart}).
        sup addChild: (ChildSpec id: #c start: (probe worker: #c) restart: #transient).
        sup addChild: (ChildSpec id: #d start: (probe worker: #d) restart: #temporary).
        sup start.
        Process sleep: 20.
        ('initial: ' + (probe eventsFrom: 1)) println.
        before := sup whichChildren.
        probe end: (sup childNamed: #b) how: #{kind} under: sup.
        ('started: ' + (probe eventsFrom: 5)) println.
        after := sup whichChildren.
        probe report: before against: after.
        sup stop.
        ((after select: [ :pair | pair value notNil ]) allSatisfy: [ :pair | pair value isAlive not ]) println.
    """)
    assert lines == ["initial: a b c d", *expected_static(strategy, restart, kind), "true"]


def test_group_restart_also_restarts_a_stopped_transient_sibling(sv):
    """OTP: a one_for_all restart starts every non-temporary child, including one that
    had ended normally (its spec was kept)."""
    lines = run(sv, """
        | probe sup |
        probe := Probe new.
        sup := Supervisor strategy: #oneForAll intensity: 10 period: 5000.
        sup addChild: (ChildSpec id: #a start: (probe worker: #a)).
        sup addChild: (ChildSpec id: #c start: (probe worker: #c) restart: #transient).
        sup start.
        probe end: (sup childNamed: #c) how: #normal under: sup.
        (sup childNamed: #c) printString println.
        probe end: (sup childNamed: #a) how: #error under: sup.
        (probe eventsFrom: 1) println.
        (sup childNamed: #c) isAlive println.
        sup stop.
    """)
    assert lines == ["nil", "a c a c", "true"]
