"""Load across real nodes: 10 processes on each of 3 nodes exchange messages (every
worker sends ``per_pair`` messages to each of the 20 workers on the other two nodes, round
robin), and every worker checks that nothing was lost and that each sender's messages
came in order. The workers' class is only on c's classpath: a and b fetch it when c
spawns them. CI sends 10,200 messages; the 100,200 of the full run are behind
``-m slow`` (the same program, only more of it)."""
from __future__ import annotations

import time

import pytest
from cluster_support import write_class

WORKERS = 30

DRIVER = """LoadDriver = (
    run: args = (
        | n nodes workers me total ok r |
        n := (args at: 2) asInteger.
        me := Process current.
        [ Node all size < 2 ] whileTrue: [ Process sleep: 20 ].
        nodes := { Node named: #a. Node named: #b. Node current }.
        workers := Array new: 30.
        1 to: 30 do: [ :i |
            workers at: i put: ((nodes at: i - 1 % 3 + 1)
                spawn: LoadWorker selector: #runAs:perPair:driver: arguments: { i. n. me }) ].
        workers do: [ :w | w send: workers ].
        total := 0.
        ok := true.
        30 timesRepeat: [
            r := Process receiveWithin: 150000 ifTimeout: [ nil ].
            r isNil
                ifTrue: [ ok := false ]
                ifFalse: [ total := total + (r at: 2). ok := ok and: [ r at: 3 ] ] ].
        ('received ' + total printString + ' in order ' + ok printString) println.
        system exit: 0 )
)"""

WORKER = """LoadWorker = (
    runAs: index perPair: n driver: driver = (
        | all others last received expected ok m |
        all := Process receive: [ :x | (x isKindOf: Array) and: [ x size = 30 ] ].
        others := Vector new.
        1 to: all size do: [ :j | (j - index) % 3 = 0 ifFalse: [ others append: j ] ].
        1 to: n do: [ :seq | others do: [ :j | (all at: j) send: { index. seq } ] ].
        last := Array new: all size withAll: 0.
        expected := others size * n.
        received := 0.
        ok := true.
        [ received < expected ] whileTrue: [
            m := Process receiveWithin: 120000 ifTimeout: [ nil ].
            m isNil
                ifTrue: [ ok := false. expected := 0 ]
                ifFalse: [
                    (last at: (m at: 1)) + 1 = (m at: 2) ifFalse: [ ok := false ].
                    last at: (m at: 1) put: (m at: 2).
                    received := received + 1 ] ].
        driver send: { index. received. ok } )
)"""


@pytest.mark.parametrize("per_pair", [17, pytest.param(167, marks=pytest.mark.slow)])
def test_many_messages_between_three_nodes_none_lost_none_out_of_order(cluster, tmp_path, per_pair) -> None:
    only_c = tmp_path / "c"
    write_class(only_c, DRIVER)
    write_class(only_c, WORKER)
    a = cluster.start("a", tick=5000)
    b = cluster.start("b", join=[a], tick=5000)
    started = time.monotonic()
    c = cluster.start("c", join=[b], tick=5000, classpath=[only_c], program="LoadDriver", args=[str(per_pair)])
    assert c.wait_exit(170) == 0, c.report()
    total = WORKERS * 20 * per_pair
    print(f"{total} messages across 3 nodes in {time.monotonic() - started:.1f} s (from c's start)")
    assert f"received {total} in order true" in c.out.text(), c.report()
    for node in (a, b, c):
        assert not node.err.matching("nodedown (a|b|c): (timeout|noconnection)"), node.report()
