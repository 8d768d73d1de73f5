"""Links and monitors move with the process (real nodes): a process that moved keeps
the links it made before the move in ``links``, and its ``unlink:`` and ``demonitor:``
of a link or monitor made before the move take effect — no Exit and no Down come for
them — while the monitor it kept still gets its Down."""
from __future__ import annotations

from cluster_support import write_class

WATCHED = """Watched = (
    run = (
        | m |
        (Global register: #watched as: Process current) ifFalse: [ ^ self error: 'name taken' ].
        [ true ] whileTrue: [
            m := Process receive.
            m == #crash ifTrue: [ self error: 'crashed on ' + Node current name ] ] )
)"""

MOVER = """Mover = (
    a = ( ^ self node: #a )
    node: name = ( | n | [ (n := Node named: name) isNil ] whileTrue: [ Process sleep: 10 ]. ^ n )
    await: name = ( | p | [ (p := Global named: name) isNil ] whileTrue: [ Process sleep: 10 ]. ^ p )
    run = (
        | b w me dropped kept got |
        b := self node: #b.
        w := self await: #watched.
        me := Process current.
        me trapExit: true.
        me link: w.
        dropped := me monitor: w.
        kept := me monitor: w.
        (me migrateTo: b) wait.
        BACK
        ('on ' + Node current name + ' links ' + (Process current links includes: w) printString
            + ' ' + Process current links size printString) println.
        Process current unlink: w.
        Process current demonitor: dropped.
        ('links after unlink ' + Process current links size printString) println.
        Process sleep: 500.
        w send: #crash.
        got := Process receive: [ :m | m isKindOf: Down ] within: 10000 ifTimeout: [ nil ].
        ('kept down ' + (got ref = kept) printString + ' ' + (got ref == kept) printString) println.
        Process sleep: 1000.
        got := Process receive: [ :m | (m isKindOf: Exit) or: [ m isKindOf: Down ] ] within: 0 ifTimeout: [ nil ].
        ('after: ' + got printString) println )
)"""


def run(cluster, tmp_path, back):
    code = tmp_path / "code"
    write_class(code, WATCHED)
    write_class(code, MOVER.replace("BACK", "(Process current migrateTo: self a) wait." if back else ""))
    c = cluster.start("c", classpath=[code], program="Watched")
    b = cluster.start("b", join=[c], classpath=[code])
    a = cluster.start("a", join=[c], classpath=[code], program="Mover")
    ends = a if back else b
    ends.wait_out(r"^after: ", timeout=60)
    return ends.out.text(), ends.name


def test_unlink_and_demonitor_after_a_move_take_effect(cluster, tmp_path):
    check(*run(cluster, tmp_path, back=False))


def test_unlink_and_demonitor_through_a_chain_of_forwarders(cluster, tmp_path):
    check(*run(cluster, tmp_path, back=True))          # a -> b -> a: through b's forwarder to a's


def check(out, name):
    assert f"on {name} links true 1" in out, out         # the link made before the move moved with it
    assert "links after unlink 0" in out, out
    assert "kept down true " in out, out           # the monitor it kept still gets its Down (ref = kept)
    assert "after: nil" in out, out                # no Exit for the unlinked, no Down for the demonitored
