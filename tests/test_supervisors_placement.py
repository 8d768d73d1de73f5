"""Supervisor features for clusters, checked in one VM (which is not a node, so it is a
cluster of one): children given by class, selector and arguments; the names a child
takes as it starts (and again after a restart); restart backoff (doubling to a cap,
reset after a quiet period); a child placed on a node that is not connected (its start
fails; a restart that cannot find a node is retried and counted, so it escalates);
supervisors with a global name; and the configuration errors of all of it. The same
features across real nodes are in tests/test_supervision_cluster.py."""
from __future__ import annotations

import pytest
from supervisor_support import PROBE, run

WORKER = """
SpecWorker = (
    echo: tag to: aProcess = ( aProcess send: tag. Process receive )
    names = (
        ('names ' + ((Process named: #specLocal) == Process current) printString + ' '
            + ((Global named: #specGlobal) == Process current) printString) println.
        Process receive )
    crash = ( self error: 'crash' )
)
"""

BACKOFF = """
Flaky = (
    | starts log |
    initialize = ( starts := 0. log := Vector new )
    log = ( ^ log )
    "Starts 1-4 crash at once, start 5 runs quietly for 700 ms first, later ones wait."
    start = (
        starts := starts + 1.
        log append: #start -> system time.
        starts = 5 ifTrue: [ Process sleep: 700 ].
        starts <= 5 ifTrue: [ log append: #crash -> system time. ^ self error: 'flaky' ].
        Process receive )
    ----
    new = ( ^ super new initialize )
)
"""


@pytest.fixture
def sv(vm):
    vm.define(PROBE)
    vm.define(WORKER)
    vm.define(BACKOFF)
    return vm


def test_a_child_given_by_class_runs_its_selector_with_its_arguments(sv):
    lines = run(sv, """
        | sup child |
        sup := Supervisor new.
        sup addChild: (ChildSpec id: #w class: SpecWorker selector: #echo:to:
            arguments: { #hello. Process current }).
        sup start.
        (Process receiveWithin: 2000 ifTimeout: [ #none ]) println.
        child := sup childNamed: #w.
        child isLocal println.
        child kill.
        (Process receiveWithin: 2000 ifTimeout: [ #none ]) println.
        ((sup childNamed: #w) ~~ child) println.
        sup stop.
    """)
    assert lines == ["#hello", "true", "#hello", "true"]


def test_a_child_takes_its_names_at_every_start(sv):
    lines = run(sv, """
        | sup child ref |
        sup := Supervisor new.
        sup addChild: ((ChildSpec id: #w class: SpecWorker selector: #names arguments: #())
            localName: #specLocal; globalName: #specGlobal; yourself).
        sup addChild: ((ChildSpec id: #b start: [ Process receive ]) localName: #specBlock; yourself).
        sup start.
        Process sleep: 50.
        child := sup childNamed: #w.
        ((Process named: #specBlock) == (sup childNamed: #b)) println.
        ref := Process current monitor: child.
        child kill.
        Process receive: [ :m | (m isKindOf: Down) and: [ m ref = ref ] ].
        Process sleep: 50.
        ((Global named: #specGlobal) == (sup childNamed: #w)) println.
        sup stop.
        (Global named: #specGlobal) printString println.
    """)
    assert lines == ["names true true", "true", "names true true", "true", "nil"]


def test_a_child_whose_name_is_taken_fails_to_start_and_escalates(sv):
    lines = run(sv, """
        | sup holder ref |
        holder := [ Process receive ] spawn.
        Global register: #specTaken as: holder.
        sup := Supervisor strategy: #oneForOne intensity: 2 period: 5000.
        sup addChild: ((ChildSpec id: #w start: [ Process receive ]) globalName: #specTaken; yourself).
        sup start.
        ref := Process current monitor: sup process.
        (Process receive: [ :m | (m isKindOf: Down) and: [ m ref = ref ] ] within: 3000 ifTimeout: [ nil ])
            reason println.
        holder kill.
    """)
    assert lines == ["#shutdown"]


def test_backoff_doubles_to_its_cap_and_resets_after_a_quiet_run(sv):
    lines = run(sv, """
        | flaky sup log gaps |
        flaky := Flaky new.
        sup := Supervisor strategy: #oneForOne intensity: 100 period: 10000.
        sup addChild: ((ChildSpec id: #f start: [ flaky start ]) backoff: 100 max: 400 quiet: 600; yourself).
        sup start.
        Process sleep: 2600.
        (sup childNamed: #f) isNil printString println.
        log := flaky log.
        gaps := Vector new.
        2 to: log size do: [ :i |
            ((log at: i) key == #start) ifTrue: [ gaps append: (log at: i) value - (log at: i - 1) value ] ].
        gaps asArray printString println.
        sup stop.
    """)
    assert lines[0] == "false", lines
    assert lines[1].startswith("#("), lines
    gaps = [int(g) for g in lines[1].strip("#()").split()]
    print(f"delays before each restart (ms): {gaps}; expected at least 100 200 400 400, then 100 again")
    assert len(gaps) == 5
    assert [g >= d for g, d in zip(gaps, [100, 200, 400, 400, 100])] == [True] * 5, gaps
    assert gaps[1] >= gaps[0] + 80 and gaps[2] >= gaps[1] + 150      # it doubles
    assert gaps[4] < 350, gaps                                        # reset: not 400 (nor 800)


def test_a_placed_child_whose_nodes_are_not_connected_does_not_start(sv):
    lines = run(sv, """
        | sup |
        sup := Supervisor new.
        sup addChild: ((ChildSpec id: #w class: SpecWorker selector: #names arguments: #()) nodes: #(#nowhere)).
        [ sup start ] on: SupervisorError do: [ :e | e messageText println ].
        sup := Supervisor new.
        sup addChild: ((ChildSpec id: #w class: SpecWorker selector: #echo:to: arguments: { #here. Process current })
            nodes: { #nowhere. Node current }).
        sup start.
        (Process receiveWithin: 2000 ifTimeout: [ #none ]) println.
        (sup childNamed: #w) isLocal println.
        sup stop.
    """)
    assert lines == ["child #w could not be started: no node of its list is connected", "#here", "true"]


def test_a_restart_that_finds_no_node_is_retried_and_counted(sv):
    lines = run(sv, """
        | sup spec ref |
        spec := (ChildSpec id: #w class: SpecWorker selector: #echo:to: arguments: { #up. Process current })
            nodes: { Node current }.
        sup := Supervisor strategy: #oneForOne intensity: 3 period: 5000.
        sup addChild: spec.
        sup start.
        (Process receiveWithin: 2000 ifTimeout: [ #none ]) println.
        ref := Process current monitor: sup process.
        spec nodes: #(#nowhere).
        (sup childNamed: #w) kill.
        (Process receive: [ :m | (m isKindOf: Down) and: [ m ref = ref ] ] within: 3000 ifTimeout: [ nil ])
            reason println.
    """)
    assert lines == ["#up", "#shutdown"]


def test_a_supervisor_with_a_global_name_takes_it_or_does_not_start(sv):
    lines = run(sv, """
        | one two |
        one := (Supervisor new) global: #specSup; yourself.
        one addChild: (ChildSpec id: #a start: [ Process receive ]).
        one start.
        ((Global named: #specSup) == one process) println.
        two := (Supervisor new) global: #specSup; yourself.
        two addChild: (ChildSpec id: #a start: [ Process receive ]).
        [ two start ] on: SupervisorError do: [ :e |
            (e messageText beginsWith: 'the global name #specSup is taken') println ].
        one countChildren println.
        one stop.
        (Global named: #specSup) printString println.
        one printString println.
    """)
    assert lines[:4] == ["true", "true", "1", "nil"], lines
    assert lines[4].startswith("a Supervisor(#oneForOne ") and lines[4].endswith(" #specSup)"), lines


def test_placement_configuration_errors(sv):
    lines = run(sv, """
        | try inner |
        try := [ :block | [ block value. 'accepted' println ] on: SupervisorError do: [ :e | e messageText println ] ].
        try value: [ (ChildSpec id: #a start: [ 1 ]) nodes: #(#b) ].
        try value: [ (ChildSpec id: #a start: [ 1 ]) placement: #roundRobin ].
        try value: [ (ChildSpec id: #a class: SpecWorker selector: #names arguments: #()) placement: #random ].
        try value: [ (ChildSpec id: #a class: SpecWorker selector: #names arguments: #()) nodes: #() ].
        try value: [ (ChildSpec id: #a class: SpecWorker selector: #names arguments: #()) nodes: #(3) ].
        try value: [ ChildSpec id: #a class: 3 selector: #names arguments: #() ].
        try value: [ ChildSpec id: #a class: SpecWorker selector: #nothing arguments: #() ].
        try value: [ ChildSpec id: #a class: SpecWorker selector: #names arguments: 3 ].
        try value: [ (ChildSpec id: #a start: [ 1 ]) backoff: 0 ].
        try value: [ (ChildSpec id: #a start: [ 1 ]) backoff: 100 max: 50 ].
        try value: [ (ChildSpec id: #a start: [ 1 ]) backoff: '100' ].
        try value: [ (ChildSpec id: #a start: [ 1 ]) globalName: 'x' , 3 printString; localName: 4 ].
        try value: [ Supervisor new global: 5 ].
        inner := Supervisor new.
        inner addChild: (ChildSpec id: #blocky start: [ 1 ]).
        try value: [ (ChildSpec id: #sub supervisor: inner) nodes: #(#b) ].
        inner := Supervisor new.
        inner addChild: (ChildSpec id: #w class: SpecWorker selector: #names arguments: #()).
        try value: [ (ChildSpec id: #sub supervisor: inner) nodes: #(#b) ].
    """)
    blocks = ("child #a is given by a block, which cannot travel: "
              "give it by class, selector and arguments to place it on other nodes")
    assert lines == [
        blocks,
        blocks,
        "placement must be #roundRobin or #leastLoaded, not #random",
        "nodes: takes a non-empty Array of nodes or node names",
        "not a node or a node name: 3",
        "the class of child #a must be a class, not 3",
        "SpecWorker does not understand #nothing (child #a)",
        "the arguments of child #a must be an Array",
        "backoff takes milliseconds > 0, a maximum no smaller, and a quiet period >= 0 (Integers), not 0, 0 and 0",
        "backoff takes milliseconds > 0, a maximum no smaller, and a quiet period >= 0 (Integers), not 100, 50 and 50",
        ("backoff takes milliseconds > 0, a maximum no smaller, and a quiet period >= 0 (Integers), "
         "not '100', '100' and '100'"),
        "a child's name is a Symbol, not 'x3'",
        "a global name is a Symbol, not 5",
        ("a supervisor placed on another node travels there, but its child #blocky is given by a block, "
         "which cannot: give it by class"),
        "accepted",
    ]
