"""`vm node drain HOST:PORT` on a node running a supervised service (real nodes): the
child moves to another node with its state, its supervisor (on a third node) sees no
exit and counts no restart — the pid it holds now names the moved child — the
service's clients get every answer, and the drained node stops. A child whose spec
says ``onDrain: #restart`` stays, and its supervisor restarts it on the next node."""
from __future__ import annotations

import re

from cluster_support import COOKIE, write_class
from conftest import run_vm

SERVICE = """Service = (
    serve = (
        | m served |
        served := 0.
        [ true ] whileTrue: [
            m := Process receive.
            served := served + 1.
            (m at: 1) send: { #reply. (m at: 2). served. Node current name } ] )
)"""

SUP_MAIN = """SupMain = (
    run = (
        | sup first now fresh |
        [ Node all size < 3 ] whileTrue: [ Process sleep: 10 ].
        sup := Supervisor strategy: #oneForOne intensity: 1 period: 60000.
        sup addChild: ((ChildSpec id: #svc class: Service selector: #serve arguments: #())
            nodes: #(#b #c); globalName: #svc; yourself).
        sup addChild: ((ChildSpec id: #fresh class: Service selector: #serve arguments: #())
            nodes: #(#b #c); onDrain: #restart; yourself).
        sup start.
        first := sup childNamed: #svc.
        fresh := sup childNamed: #fresh.
        ('child on ' + first node name) println.
        [ first node name = 'b' ] whileTrue: [ Process sleep: 20 ].
        now := sup childNamed: #svc.
        ('child now on ' + now node name + ' same ' + (now == first) printString) println.
        Process receive: [ :m | false ] within: 1500 ifTimeout: [ nil ].
        now := sup childNamed: #svc.
        ('after the stop on ' + now node name + ' same ' + (now == first) printString
            + ' running ' + sup isRunning printString) println.
        now := sup childNamed: #fresh.
        ('fresh restarted on ' + now node name + ' ' + (now == fresh) not printString) println )
)"""

CLIENT = """Client = (
    run = (
        | me answer errors last nodes |
        me := Process current.
        [ (Global named: #svc) isNil ] whileTrue: [ Process sleep: 20 ].
        errors := 0.
        nodes := Vector new.
        1 to: 150 do: [ :i |
            [ (Global named: #svc) send: { me. i }.
              answer := Process receive: [ :m | (m isKindOf: Array) and: [ (m at: 2) = i ] ] within: 5000
                  ifTimeout: [ nil ].
              answer isNil
                  ifTrue: [ errors := errors + 1 ]
                  ifFalse: [
                      last := answer at: 3.
                      (nodes includes: (answer at: 4)) ifFalse: [ nodes append: (answer at: 4) ] ] ]
                on: Error do: [ :e | errors := errors + 1. ('client error ' + e messageText) println ].
            i = 20 ifTrue: [ 'client busy' println ].
            Process sleep: 30 ].
        ('client done errors ' + errors printString + ' served ' + last printString + ' by '
            + nodes asArray printString) println )
)"""


def test_drain_moves_a_supervised_child_with_no_restart_and_stops_the_node(cluster, tmp_path):
    code = tmp_path / "code"
    for source in (SERVICE, SUP_MAIN, CLIENT):
        write_class(code, source)
    a = cluster.start("a", classpath=[code])
    b = cluster.start("b", join=[a], classpath=[code])
    c = cluster.start("c", join=[a], classpath=[code], program="Client")
    a2 = cluster.start("a2", join=[a], classpath=[code], program="SupMain")
    a2.wait_out(r"^child on b$", timeout=60)
    c.wait_out(r"^client busy$", timeout=60)
    drained = run_vm(["node", "drain", b.address, "--cookie", COOKIE], timeout=120)
    assert drained.returncode == 0, drained.stdout + drained.stderr + b.report()
    assert f"drained {b.address}: 1 processes moved, 1 stayed" in drained.stdout
    assert "stays: its child spec says onDrain: #restart" in drained.stdout
    assert b.wait_exit(timeout=30) == 0
    moved = a2.wait_out(r"^child now on ", timeout=30)
    assert moved == "child now on c same true", moved      # the next node of its spec's nodes:
    where = "c"
    a2.wait_out(rf"^after the stop on {where} same true running true$", timeout=30)   # no restart
    done = c.wait_out(r"^client done ", timeout=60)
    assert done == f"client done errors 0 served 150 by #(#b #{where})", done       # state moved with it
    assert "client error" not in c.out.text()
    a2.wait_out(r"^fresh restarted on c true$")            # onDrain: #restart: a new process


def test_the_migration_benchmark_runs_and_reports_against_its_references() -> None:
    result = run_vm(["bench", "--migration", "--moves", "3"], timeout=240)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.match(r"migrateTo: a process with 1000 heap objects and 100 queued messages \(3 moves\): "
                    r"p50 [\d.]+ ms, p99 [\d.]+ ms$", lines[0]), result.stdout
    assert lines[1].startswith("  one ping of the other node: p50 ")
    assert lines[2].startswith("  one local spawn that answers: p50 ")


ECHO = """Echo = (
    run = (
        | m |
        [ true ] whileTrue: [
            m := Process receive.
            m == #crash ifTrue: [ self error: 'crashed on ' + Node current name ].
            (m at: 1) send: { #echo. (m at: 2). Node current name } ] )
)"""

CHAIN_MAIN = """ChainMain = (
    run = (
        | b c me p ref moved echo e d |
        [ (b := Node named: #b) isNil or: [ (c := Node named: #c) isNil ] ] whileTrue: [ Process sleep: 10 ].
        me := Process current.
        me trapExit: true.
        p := [ Echo new run ] spawn.
        me link: p.
        ref := me monitor: p.
        moved := (p migrateTo: b) wait.
        moved := (moved migrateTo: c) wait.
        'chained' println.
        [ b isConnected ] whileTrue: [ Process sleep: 20 ].
        p send: { me. 1 }.
        echo := Process receive: [ :m | (m isKindOf: Array) and: [ (m at: 1) == #echo ] ] within: 10000
            ifTimeout: [ #(#none 0 'nowhere') ].
        ('echo ' + (echo at: 2) printString + ' from ' + (echo at: 3)) println.
        p send: #crash.
        e := Process receive: [ :m | m isKindOf: Exit ] within: 10000 ifTimeout: [ nil ].
        ('exit ' + (e from == p) printString + ' ' + e reason messageText) println.
        d := Process receive: [ :m | m isKindOf: Down ] within: 10000 ifTimeout: [ nil ].
        ('down ' + (d ref == ref) printString + ' ' + d reason messageText) println )
)"""


def test_draining_a_node_that_only_forwards_keeps_the_chain_working(cluster, tmp_path):
    """a -> b -> c, then b is drained: a's forwarder now forwards to c directly and c
    reports the death to a, so the old pid still works on a."""
    code = tmp_path / "code"
    write_class(code, ECHO)
    write_class(code, CHAIN_MAIN)
    a = cluster.start("a", classpath=[code])
    b = cluster.start("b", join=[a], classpath=[code])
    c = cluster.start("c", join=[a], classpath=[code])
    a2 = cluster.start("a2", join=[a], classpath=[code], program="ChainMain")
    a2.wait_out(r"^chained$", timeout=60)
    drained = run_vm(["node", "drain", b.address, "--cookie", COOKIE], timeout=120)
    assert drained.returncode == 0, drained.stdout + drained.stderr + b.report()
    assert f"drained {b.address}: 0 processes moved, 0 stayed" in drained.stdout
    assert b.wait_exit(timeout=30) == 0
    a2.wait_out(r"^down ", timeout=60)
    out = a2.out.text()
    assert "echo 1 from c" in out
    assert "exit true crashed on c" in out
    assert "down true crashed on c" in out
    c.wait_err(r"died: ERROR: crashed on c")


def test_drain_refusals_are_one_line_with_their_status(cluster, tmp_path):
    from cluster_support import free_port
    alone = cluster.start("alone")
    result = run_vm(["node", "drain", alone.address, "--cookie", COOKIE], timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.strip() == (f"vm node drain: {alone.address}: no other node is connected: "
                                     "there is nowhere to move the processes")
    assert alone.popen.poll() is None                       # it did not stop
    result = run_vm(["node", "drain", alone.address, "--cookie", "wrong"], timeout=60)
    assert result.returncode == 2 and "bad cookie" in result.stderr, result.stderr
    result = run_vm(["node", "drain", f"127.0.0.1:{free_port()}", "--cookie", COOKIE], timeout=60)
    assert result.returncode == 1 and result.stderr.startswith("vm node drain: "), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
