"""A moved process keeps its identity (real nodes): a process linked to it on the old
node gets its Exit when it crashes on the new one, monitors set before the move (on
the old node and on a third) get their Down naming the pid they used, exit signals
sent to the old pid reach it, and its global name resolves to the new location.
Refusals leave it running where it was, with the reason in the broken promise."""
from __future__ import annotations

import re

from cluster_support import write_class

WATCHED = """Watched = (
    run = (
        | m |
        (Global register: #watched as: Process current) ifFalse: [ ^ self error: 'name taken' ].
        Process register: Process current as: #watchedHere.
        [ true ] whileTrue: [
            m := Process receive.
            m == #crash ifTrue: [ self error: 'crashed on ' + Node current name ].
            (m isKindOf: Array) ifTrue: [
                (m at: 1) send: { #echo. (m at: 2). Node current name.
                                  (Process named: #watchedHere) == Process current } ] ] )
)"""

HELPERS = """
    describe: r = (
        (r isKindOf: Exception) ifTrue: [ ^ r class name + ': ' + r messageText ].
        ^ r printString )
    node: name = ( | n | [ (n := Node named: name) isNil ] whileTrue: [ Process sleep: 10 ]. ^ n )
    await: name = ( | p | [ (p := Global named: name) isNil ] whileTrue: [ Process sleep: 10 ]. ^ p )
"""

SOURCE = """Source = (
""" + HELPERS + """
    run = (
        | b c me p ref moved e d named echo |
        b := self node: #b.
        c := self node: #c.
        me := Process current.
        me trapExit: true.
        (Global register: #source as: me) println.
        p := [ Watched new run ] spawn.
        me link: p.
        ref := me monitor: p.
        self await: #watched.
        Process receive: [ :m | m == #watching ].
        moved := (p migrateTo: b) wait.
        ('moved to ' + moved node name + ' ' + (moved == p) printString) println.
        [ (named := Global named: #watched) node name = 'b' ] whileFalse: [ Process sleep: 10 ].
        ('global resolves to ' + named node name + ' ' + (named == moved) printString) println.
        p send: { me. 1 }.
        echo := Process receive: [ :m | (m isKindOf: Array) and: [ (m at: 1) == #echo ] ].
        ('echo via old pid ' + (echo at: 2) printString + ' from ' + (echo at: 3)
            + ' local name there ' + (echo at: 4) printString
            + ' here ' + (Process named: #watchedHere) printString) println.
        moved := (moved migrateTo: c) wait.
        ('moved on to ' + moved node name) println.
        ('refused: ' + ([ (p migrateTo: c) wait ] on: Error do: [ :err | err messageText ])) println.
        [ (named := Global named: #watched) node name = 'c' ] whileFalse: [ Process sleep: 10 ].
        ('global resolves to ' + named node name + ' ' + (named == moved) printString) println.
        p send: { me. 2 }.
        echo := Process receive: [ :m | (m isKindOf: Array) and: [ (m at: 1) == #echo ] ].
        ('echo via old pid ' + (echo at: 2) printString + ' from ' + (echo at: 3)) println.
        p send: #crash.
        e := Process receive: [ :m | m isKindOf: Exit ] within: 10000 ifTimeout: [ nil ].
        ('exit from old pid ' + (e from == p) printString + ' ' + (self describe: e reason)) println.
        d := Process receive: [ :m | m isKindOf: Down ] within: 10000 ifTimeout: [ nil ].
        ('down ' + (d ref == ref) printString + ' ' + (d process == p) printString + ' '
            + (self describe: d reason)) println.
        [ (Global named: #watched) isNil ] whileFalse: [ Process sleep: 10 ].
        'name gone' println )
)"""

THIRD = """Third = (
""" + HELPERS + """
    run = (
        | p ref d |
        p := self await: #watched.
        ref := Process current monitor: p.
        (self await: #source) send: #watching.
        d := Process receive: [ :m | m isKindOf: Down ] within: 20000 ifTimeout: [ nil ].
        ('third down ' + (d ref == ref) printString + ' ' + (d process == p) printString + ' '
            + p node name + ' ' + (self describe: d reason)) println )
)"""


def test_links_monitors_and_the_global_name_follow_the_moved_process(cluster, tmp_path):
    code = tmp_path / "code"
    for source in (WATCHED, SOURCE, THIRD):
        write_class(code, source)
    a = cluster.start("a", classpath=[code])
    b = cluster.start("b", join=[a], classpath=[code])
    c = cluster.start("c", join=[a], classpath=[code], program="Third")
    a2 = cluster.start("a2", join=[a], classpath=[code], program="Source")
    del a                 # a2 is the source: a is only the node the others join through
    a2.wait_out(r"^name gone$", timeout=60)
    out = a2.out.text()
    assert "moved to b false" in out                       # a new pid, on b
    assert "global resolves to b true" in out
    assert "echo via old pid 1 from b local name there true here nil" in out   # the old pid reaches it
    assert "moved on to c" in out                          # moved by its node, asked from a2
    assert re.search(r"^refused: process \d+ has moved on to node b \(as \d+\): ask that node$", out, re.M), out
    assert "global resolves to c true" in out
    assert "echo via old pid 2 from c" in out              # through two forwarders, a2 -> b -> c
    assert "exit from old pid true Error: crashed on c" in out
    assert "down true true Error: crashed on c" in out
    c.wait_out(r"^third down true true a2 Error: crashed on c$")    # the pid c used, from a2
    c.wait_err(r"process \d+ died: ERROR: crashed on c")
    assert "died" not in b.err.text()                      # b only forwarded: nothing ended there


REFUSALS = """Refusals = (
""" + HELPERS + """
    run = (
        | b me p answer |
        b := self node: #b.
        me := Process current.
        p := [ | pending m | pending := Promise new.
               [ true ] whileTrue: [ m := Process receive. m send: { #alive. Node current name } ] ] spawn.
        Process sleep: 50.
        answer := [ (p migrateTo: b) wait ] on: Error do: [ :e | e messageText ].
        ('refused: ' + answer) println.
        p send: me.
        answer := Process receive: [ :m | (m isKindOf: Array) and: [ (m at: 1) == #alive ] ].
        ('still runs on ' + (answer at: 2)) println.
        answer := [ (p migrateTo: 42) wait ] on: Error do: [ :e | e messageText ].
        ('not a node: ' + answer) println.
        answer := (p migrateTo: Node current) wait.
        ('to its own node: ' + (answer == p) printString) println.
        answer := [ (Process current migrateTo: (Node named: #nosuch)) wait ] on: Error do: [ :e | e messageText ].
        ('self to nil: ' + answer) println )
)"""


def test_a_process_that_cannot_move_is_refused_with_the_reason_and_runs_on(cluster, tmp_path):
    code = tmp_path / "code"
    write_class(code, REFUSALS)
    b = cluster.start("b")
    a = cluster.start("a", join=[b], classpath=[code], program="Refusals")
    a.wait_out(r"^self to nil: ", timeout=60)
    out = a.out.text()
    refused = a.wait_out(r"^refused: ")
    assert "Promise" in refused and "pending" in refused, refused      # names the object and where
    assert "still runs on a" in out
    assert "not a node: migrateTo: needs a Node" in out
    assert "to its own node: true" in out
    assert "self to nil: migrateTo: needs a Node" in out
