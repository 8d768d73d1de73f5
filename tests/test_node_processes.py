"""Processes across nodes (DISTRIBUTION §5) with real nodes: send, links, monitors,
exit:, kill and trapExit follow the local (Erlang) rules; pids travel and a pid that
returns home is the local process; a lost node gives #noconnection, an old creation
#noproc; a 200 ms delay on the link keeps messages complete and in order.

The programs run on node b; the processes they talk to run on node a, started with
remote spawn from a class on b's classpath only (so a fetches it: code on demand)."""
from __future__ import annotations

import signal

from cluster_support import write_class

WORKER = """Worker = (
    crashAfter: ms = ( Process sleep: ms. self error: 'worker crashed' )
    exitNormallyAfter: ms = ( Process sleep: ms )
    waitForever = ( Process receive )
    trapAndForwardTo: p = (
        | m |
        Process current trapExit: true.
        p send: #trapping.
        m := Process receive.
        p send: { #got. m from. m reason }.
        Process receive )
    linkTo: l tell: p = ( Process current link: l. p send: #linked. Process receive )
    echo = ( | m | [ true ] whileTrue: [ m := Process receive. (m at: 1) send: (m at: 2) ] )
)"""

HELPERS = """
    say: text = ( text println )
    describe: r = (
        (r isKindOf: Exception) ifTrue: [ ^ r class name + ': ' + r messageText ].
        ^ r printString )
    nextExit = ( ^ Process receive: [ :m | m isKindOf: Exit ] within: 5000 ifTimeout: [ nil ] )
    downFor: ref = (
        ^ Process receive: [ :m | (m isKindOf: Down) and: [ m ref == ref ] ] within: 5000 ifTimeout: [ nil ] )
    expect: aSymbol = ( ^ Process receive: [ :m | m == aSymbol ] within: 5000 ifTimeout: [ #timedOut ] )
    nodeA = ( | a | [ (a := Node named: #a) isNil ] whileTrue: [ Process sleep: 10 ]. ^ a )
"""

RULES = """RemoteRules = (
""" + HELPERS + """
    run = (
        | a me p e ref d x q l |
        a := self nodeA.
        me := Process current.
        me trapExit: true.
        p := a spawnLink: Worker selector: #crashAfter: arguments: #(100).
        self say: 'remote ' + p printString + ' ' + (p node == a) printString + ' ' + p isLocal printString.
        self say: 'isAlive ' + ([ p isAlive. 'answered' ] on: Error do: [ :err | err messageText ]).
        e := self nextExit.
        self say: 'crash ' + (e from == p) printString + ' ' + (self describe: e reason).
        p := a spawnLink: Worker selector: #exitNormallyAfter: arguments: #(100).
        e := self nextExit.
        self say: 'normal ' + (e from == p) printString + ' ' + (self describe: e reason).
        p := a spawnLink: Worker selector: #waitForever arguments: #().
        p kill.
        e := self nextExit.
        self say: 'kill ' + (e from == p) printString + ' ' + (self describe: e reason).
        p := a spawn: Worker selector: #crashAfter: arguments: #(100).
        ref := me monitor: p.
        d := self downFor: ref.
        self say: 'down ' + (d process == p) printString + ' ' + (self describe: d reason).
        x := a spawnMonitor: Worker selector: #exitNormallyAfter: arguments: #(50).
        d := self downFor: (x at: 2).
        self say: 'spawnMonitor ' + ((x at: 1) == d process) printString + ' ' + (self describe: d reason).
        q := a spawn: Worker selector: #trapAndForwardTo: arguments: { me }.
        self expect: #trapping.
        q exit: #shutdown.
        x := Process receive: [ :m | (m isKindOf: Array) and: [ (m at: 1) == #got ] ] within: 5000 ifTimeout: [ nil ].
        self say: 'trapped ' + ((x at: 2) == me) printString + ' ' + (self describe: (x at: 3)).
        ref := me monitor: q.
        q exit: #kill.
        d := self downFor: ref.
        self say: 'untrappable ' + (self describe: d reason).
        l := [ Process receive. self error: 'local crash' ] spawn.
        q := a spawn: Worker selector: #linkTo:tell: arguments: { l. me }.
        self expect: #linked.
        ref := me monitor: q.
        l send: #go.
        d := self downFor: ref.
        self say: 'propagated ' + (self describe: d reason).
        q := a spawn: Worker selector: #echo arguments: #().
        q exit: #normal.
        q send: { me. #ping }.
        self say: 'ignored ' + (self expect: #ping) printString.
        q send: { me. me }.
        x := Process receive: [ :m | m isKindOf: Process ] within: 5000 ifTimeout: [ nil ].
        self say: 'home ' + (x == me) printString + ' ' + x isLocal printString.
        q send: { me. { 1. 'two'. #three. 4.5. (2 raisedTo: 80). Node current. a } }.
        x := Process receive: [ :m | m isKindOf: Array ] within: 5000 ifTimeout: [ nil ].
        self say: 'values ' + x printString + ' ' + ((x at: 6) == Node current) printString.
        p := a spawn: Worker selector: #exitNormallyAfter: arguments: #(0).
        Process sleep: 300.
        ref := me monitor: p.
        d := self downFor: ref.
        self say: 'noproc monitor ' + (self describe: d reason).
        me link: p.
        e := self nextExit.
        self say: 'noproc link ' + (e from == p) printString + ' ' + (self describe: e reason).
        p := a spawnLink: Worker selector: #crashAfter: arguments: #(300).
        me unlink: p.
        x := Process receive: [ :m | m isKindOf: Exit ] within: 800 ifTimeout: [ #none ].
        self say: 'unlinked ' + x printString.
        p := a spawn: Worker selector: #crashAfter: arguments: #(300).
        ref := me monitor: p.
        me demonitor: ref.
        x := Process receive: [ :m | m isKindOf: Down ] within: 800 ifTimeout: [ #none ].
        self say: 'demonitored ' + x printString.
        self say: 'unsendable ' + ([ q send: [ 1 ]. 'sent' ] on: WireError do: [ :err | err messageText ]).
        system exit: 0 )
)"""

LOSS = """RemoteLoss = (
""" + HELPERS + """
    run = (
        | a me p1 p2 ref e d n |
        a := self nodeA.
        me := Process current.
        me trapExit: true.
        p1 := a spawnLink: Worker selector: #waitForever arguments: #().
        p2 := a spawn: Worker selector: #waitForever arguments: #().
        ref := me monitor: p2.
        Node monitorNodes: true.
        self say: 'ready'.
        e := self nextExit.
        self say: 'link ' + (e from == p1) printString + ' ' + (self describe: e reason).
        d := self downFor: ref.
        self say: 'monitor ' + (d process == p2) printString + ' ' + (self describe: d reason).
        n := Process receive: [ :m | m isKindOf: NodeDown ] within: 5000 ifTimeout: [ nil ].
        self say: 'nodedown ' + n node name printString + ' ' + (self describe: n reason).
        ref := me monitor: p2.
        self say: 'gone monitor ' + (self describe: (self downFor: ref) reason).
        me link: p2.
        self say: 'gone link ' + (self describe: self nextExit reason).
        p2 send: #dropped.
        self say: 'restart'.
        n := Process receive: [ :m | m isKindOf: NodeUp ] within: 60000 ifTimeout: [ nil ].
        self say: 'new incarnation ' + (n node creation ~= p2 node creation) printString
                  + ' ' + (n node == p2 node) printString.
        ref := me monitor: p2.
        self say: 'old monitor ' + (self describe: (self downFor: ref) reason).
        me link: p2.
        self say: 'old link ' + (self describe: self nextExit reason).
        p2 send: #dropped.
        p1 := n node spawnLink: Worker selector: #crashAfter: arguments: #(50).
        self say: 'new ' + (self describe: self nextExit reason).
        system exit: 0 )
)"""

ORDERED = """InOrder = (
""" + HELPERS + """
    run: args = (
        | a q n got expected ok |
        a := self nodeA.
        n := (args at: 2) asInteger.
        q := a spawn: Worker selector: #echo arguments: #().
        1 to: n do: [ :i | q send: { Process current. { i. 'payload ' + i printString } } ].
        expected := 1.
        ok := true.
        [ expected <= n ] whileTrue: [
            got := Process receiveWithin: 10000 ifTimeout: [ nil ].
            got isNil ifTrue: [ ok := false. expected := n + 1 ] ifFalse: [
                ((got at: 1) = expected and: [ (got at: 2) = ('payload ' + expected printString) ])
                    ifFalse: [ ok := false ].
                expected := expected + 1 ] ].
        self say: 'in order ' + ok printString + ' ' + (expected - 1) printString.
        system exit: 0 )
)"""


def _programs(tmp_path):
    folder = tmp_path / "b"
    write_class(folder, WORKER)
    for source in (RULES, LOSS, ORDERED):
        write_class(folder, source)
    return folder


def test_links_monitors_exits_and_trap_exit_follow_the_local_rules_across_nodes(cluster, tmp_path) -> None:
    folder = _programs(tmp_path)
    a = cluster.start("a")
    b = cluster.start("b", join=[a], classpath=[folder], program="RemoteRules")
    assert b.wait_exit(60) == 0, b.report()
    lines = b.out.text().splitlines()[1:]
    assert lines[0].startswith("remote a Process(") and lines[0].endswith(" on #a) true false")
    assert lines[1:] == [
        "isAlive isAlive is not known for a process of node a: monitor it instead",
        "crash true Error: worker crashed",
        "normal true #normal",
        "kill true #killed",
        "down true Error: worker crashed",
        "spawnMonitor true #normal",
        "trapped true #shutdown",
        "untrappable #killed",
        "propagated Error: local crash",
        "ignored #ping",
        "home true true",
        "values #(1 'two' #three 4.5 1208925819614629174706176 a Node(#b) a Node(#a)) true",
        "noproc monitor #noproc",
        "noproc link true #noproc",
        "unlinked #none",
        "demonitored #none",
        "unsendable a message for a process of node a cannot be sent: a block cannot be sent: code travels as source",
    ], b.report()
    assert len(a.err.matching(r"loaded class Worker ")) == 1


def test_a_lost_node_gives_noconnection_and_an_old_creation_noproc(cluster, tmp_path) -> None:
    folder = _programs(tmp_path)
    a = cluster.start("a")
    b = cluster.start("b", join=[a], classpath=[folder], program="RemoteLoss")
    b.wait_out("^ready$")
    a.signal(signal.SIGKILL)
    b.wait_out("^restart$", timeout=15)
    cluster.start("a", join=[b])
    assert b.wait_exit(60) == 0, b.report()
    assert b.out.text().splitlines()[2:] == [
        "link true #noconnection",
        "monitor true #noconnection",
        "nodedown #a #noconnection",
        "gone monitor #noconnection",
        "gone link #noconnection",
        "restart",
        "new incarnation true false",
        "old monitor #noproc",
        "old link #noproc",
        "new Error: worker crashed",
    ], b.report()


def test_messages_through_a_200_ms_delay_arrive_complete_and_in_order(cluster, tmp_path) -> None:
    folder = _programs(tmp_path)
    a, proxy_a = cluster.proxied("a", tick=3000)
    proxy_a.delay("in", 0.2)
    proxy_a.delay("out", 0.2)
    b, proxy_b = cluster.proxied("b", join=[proxy_a.address], tick=3000, classpath=[folder],
                                 program="InOrder", args=["2000"])
    proxy_b.delay("in", 0.2)
    proxy_b.delay("out", 0.2)
    assert b.wait_exit(90) == 0, b.report()
    assert "in order true 2000" in b.out.text(), b.report()
    assert not b.err.matching("nodedown a") and not a.err.matching("nodedown b: (timeout|noconnection)")


BIG = """BigMessages = (
    run = (
        | a echo big back |
        [ (a := Node named: #a) isNil ] whileTrue: [ Process sleep: 10 ].
        echo := a spawn: Worker selector: #echo arguments: #().
        big := 'x'.
        [ big size < 3000000 ] whileTrue: [ big := big + big ].
        echo send: { Process current. { big. 'after' } }.
        back := Process receiveWithin: 30000 ifTimeout: [ nil ].
        ('big ' + (back at: 1) size printString + ' ' + ((back at: 1) = big) printString
            + ' ' + (back at: 2)) println.
        ('over the limit ' + ([ echo send: (big + big + big + big + big + big) ] on: WireError
            do: [ :e | e messageText ])) println.
        system exit: 0 )
)"""


def test_values_over_256_kib_travel_in_fragments_and_over_the_limit_are_refused(cluster, tmp_path) -> None:
    folder = _programs(tmp_path)
    write_class(folder, BIG)
    a = cluster.start("a", "--max-frame", str(8 * 1024 * 1024))
    b = cluster.start("b", "--max-frame", str(8 * 1024 * 1024), join=[a], classpath=[folder],
                      program="BigMessages")
    assert b.wait_exit(60) == 0, b.report()
    lines = b.out.text().splitlines()[1:]
    assert lines[0] == "big 4194304 true after", b.report()
    assert lines[1].startswith("over the limit a message for a process of node a is ")
    assert lines[1].endswith("bytes, over the 8388608-byte frame limit")
