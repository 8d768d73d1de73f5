"""Moving a running process between real nodes (`p migrateTo:`): it finishes on the
target exactly as an unmoved run would, its messages arrive exactly once and in order
through repeated moves, its links, monitors and global name follow it, and a move cut
off by a fault leaves exactly one copy running.

The classes live in one folder on every node's classpath (same versions), except where
a test checks code on demand."""
from __future__ import annotations

import re
import time

import pytest
from cluster_support import write_class
from conftest import run_vm

LOOPER = """Looper = (
    run: out = (
        | total block |
        total := 0.
        block := [ :i | total := total + (i * i) ].
        [ 1 to: 20 do: [ :i |
              [ block value: i.
                ('step ' + i printString + ' total ' + total printString) println.
                Process sleep: 25 ]
                  ensure: [ i = 20 ifTrue: [ ('inner ensure on ' + Node current name) println ] ] ] ]
            ensure: [ ('outer ensure on ' + Node current name) println ].
        out isNil ifFalse: [ out send: total ].
        ^ total )
)"""

UNMOVED = """Unmoved = (
    run = ( ('result ' + (Looper new run: nil) printString) println )
)"""

MOVE_MIDWAY = """MoveMidway = (
    run = (
        | b p me moved result |
        [ (b := Node named: #b) isNil ] whileTrue: [ Process sleep: 10 ].
        me := Process current.
        p := [ Looper new run: me ] spawn.
        Process sleep: 160.
        moved := (p migrateTo: b) wait.
        ('moved ' + moved isLocal printString + ' ' + moved node name) println.
        result := Process receive.
        ('result ' + result printString) println )
)"""


def _steps(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("step ")]


def test_a_loop_moved_midway_finishes_on_the_target_as_an_unmoved_run(cluster, tmp_path):
    code = tmp_path / "code"
    write_class(code, LOOPER)
    write_class(code, UNMOVED)
    write_class(code, MOVE_MIDWAY)                # only a has these classes: b fetches Looper from a
    reference = run_vm(["run", "-cp", str(code), "Unmoved"])
    assert reference.returncode == 0, reference.stderr
    b = cluster.start("b")
    a = cluster.start("a", join=[b], classpath=[code], program="MoveMidway")
    a.wait_out(r"^result ", timeout=60)
    b.wait_out(r"^outer ensure on b$", timeout=30)
    before, after = _steps(a.out.text()), _steps(b.out.text())
    assert before and after, (a.report(), b.report())                 # moved mid-loop
    assert before + after == _steps(reference.stdout)
    assert a.wait_out(r"^result ") in reference.stdout.splitlines()
    assert "moved false b" in a.out.text()
    assert "inner ensure on b" in b.out.text()                         # the ensure: blocks ran there
    assert "ensure" not in a.out.text()
    b.wait_err(r"loaded class Looper version \w+ from a")              # code on demand before the thaw


SINK = """Sink = (
    | next received hops cycle |
    run: total every: period = (
        | m |
        next := Array new: 3 withAll: 0.
        received := 0.
        hops := 0.
        cycle := #(#b #c #a).
        [ received < total ] whileTrue: [
            m := Process receive.
            (m at: 2) = ((next at: (m at: 1)) + 1) ifFalse: [
                ('out of order: ' + m printString + ' after ' + (next at: (m at: 1)) printString) println ].
            next at: (m at: 1) put: (m at: 2).
            received := received + 1.
            received \\\\ period = 0 ifTrue: [ self hop ] ].
        ('sink done ' + received printString + ' hops ' + hops printString + ' on ' + Node current name
            + ' last ' + next printString) println )
    hop = (
        | promise |
        promise := Process current migrateTo: (Node named: (cycle at: hops \\\\ 3 + 1)).
        promise wait.
        hops := hops + 1 )
)"""

SINK_MAIN = """SinkMain = (
    run: args = (
        | p |
        [ Node all size < 2 ] whileTrue: [ Process sleep: 20 ].
        p := [ Sink new run: (args at: 2) asInteger every: (args at: 3) asInteger ] spawn.
        (Global register: #sink as: p) println )
)"""

SENDERS = """Senders = (
    run: args = (
        | first last count |
        first := (args at: 2) asInteger.
        last := (args at: 3) asInteger.
        count := (args at: 4) asInteger.
        first to: last do: [ :id | [ self send: count as: id ] spawn ] )
    send: count as: id = (
        | sink |
        [ (sink := Global named: #sink) isNil ] whileTrue: [ Process sleep: 20 ].
        1 to: count do: [ :i |
            sink send: { id. i }.
            i \\\\ 25 = 0 ifTrue: [ Process sleep: 2 ] ].
        ('sender ' + id printString + ' sent ' + count printString) println )
)"""


def _messages_through_moves(cluster, tmp_path, per_sender: int, period: int, timeout: float) -> str:
    code = tmp_path / "code"
    for source in (SINK, SINK_MAIN, SENDERS):
        write_class(code, source)
    total = 3 * per_sender
    a = cluster.start("a", classpath=[code], program="SinkMain", args=[str(total), str(period)])
    b = cluster.start("b", join=[a], classpath=[code], program="Senders", args=["1", "2", str(per_sender)])
    c = cluster.start("c", join=[a], classpath=[code], program="Senders", args=["3", "3", str(per_sender)])
    a.wait_out(r"^true$")
    nodes = (a, b, c)
    done = None
    for _ in range(int(timeout * 10)):
        found = [line for node in nodes for line in node.out.text().splitlines() if line.startswith("sink done")]
        if found:
            done = found[0]
            break
        time.sleep(0.1)
    everything = "\n".join(node.report() for node in nodes)
    assert done is not None, everything
    assert "out of order" not in everything
    hops = total // period
    assert done.startswith(f"sink done {total} hops {hops} on ")
    assert done.endswith(f"last #({per_sender} {per_sender} {per_sender})")
    print(f"{total} messages from 3 senders on 2 nodes through {hops} moves: {done}")
    return done


def test_messages_arrive_exactly_once_and_in_order_through_moves_a_b_c_a(cluster, tmp_path):
    _messages_through_moves(cluster, tmp_path, per_sender=300, period=150, timeout=60)


@pytest.mark.slow
def test_ten_thousand_messages_through_moves_a_b_c_a(cluster, tmp_path):
    _messages_through_moves(cluster, tmp_path, per_sender=3334, period=1000, timeout=300)


def test_unmoved_reference_program_prints_what_the_comparison_expects(tmp_path):
    """The comparison above is not vacuous: the unmoved run prints every step."""
    code = tmp_path / "code"
    write_class(code, LOOPER)
    write_class(code, UNMOVED)
    result = run_vm(["run", "-cp", str(code), "Unmoved"])
    assert len(_steps(result.stdout)) == 20
    assert re.search(r"^result 2870$", result.stdout, re.M)
