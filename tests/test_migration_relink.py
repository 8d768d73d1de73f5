"""Links and monitors live with a moved process on its new node (real nodes): the
source node may die (``kill -9``) after the move and every watcher and linked process
— on a third node and on the target — still gets the real reason when the process
crashes later; ``demonitor:`` on the new node is final even while a Down is on its way
through the old node (a slow link, the fault proxy); ``unlink:``/``demonitor:`` of a
partner on the new node are honoured; an explicit ``exit:`` from a linked process
keeps the link (and a linked process's messages arrive before its Exit); the Down
names the very Reference the process holds; a link or monitor asked of the old pid
after the move, and a chain a -> b -> c, outlive the nodes the process left; a node
being drained refuses new spawns, naming the drain; hostile relink frames are ignored
or close that connection, never the node."""
from __future__ import annotations

import threading

from cluster_support import COOKIE, write_class
from conftest import run_vm

HELPERS = """
    describe: r = (
        r isNil ifTrue: [ ^ 'nothing' ].
        (r isKindOf: Exception) ifTrue: [ ^ r class name + ': ' + r messageText ].
        ^ r printString )
    node: name = ( | n | [ (n := Node named: name) isNil ] whileTrue: [ Process sleep: 10 ]. ^ n )
    await: name = ( | p | [ (p := Global named: name) isNil ] whileTrue: [ Process sleep: 10 ]. ^ p )
    watch: p = ( Process current trapExit: true; link: p. ^ Process current monitor: p )
    report: p ref: ref = (
        | e d |
        e := Process receive: [ :m | m isKindOf: Exit ] within: 30000 ifTimeout: [ nil ].
        d := Process receive: [ :m | m isKindOf: Down ] within: 5000 ifTimeout: [ nil ].
        ('exit ' + (e notNil and: [ e from == p ]) printString + ' ' + (self describe: e reason)) println.
        ('down ' + (d notNil and: [ d ref == ref ]) printString + ' '
            + (d notNil and: [ d process == p ]) printString + ' ' + (self describe: d reason)) println )
    awaitSynced = (
        | got |
        got := Process receive: [ :m | m == #synced ] within: 30000 ifTimeout: [ nil ].
        ('synced ' + got notNil printString) println )
"""

# ---------------------------------------------------------------- the source dies after the move

SURVIVOR = """Survivor = (
    run = (
        (Global register: #w as: Process current) ifFalse: [ ^ self error: 'name taken' ].
        [ Node current name = 'a' ] whileTrue: [ Process sleep: 20 ].
        ('on ' + Node current name) println.
        "each watcher's pid, answered from here: the answer comes after this node's
        moved_here on the same connection, so the watcher's node knows the move"
        [ (Node named: #a) notNil ] whileTrue: [
            (Process receive: [ :m | true ] within: 50 ifTimeout: [ nil ]) ifNotNil: [ :m | m send: #synced ] ].
        Process sleep: 300.
        self error: 'crashed after a died' )
)"""

SOURCE = """Source = (
""" + HELPERS + """
    run = (
        | w b |
        (Global register: #src as: Process current) ifFalse: [ ^ self error: 'name taken' ].
        b := self node: #b.
        w := [ Survivor new run ] spawn.
        Process receive: [ :m | m == #ready ].
        Process receive: [ :m | m == #ready ].
        (w migrateTo: b) wait.
        'moved' println )
)"""

WATCHER = """Watcher = (
""" + HELPERS + """
    run = (
        | p ref |
        p := self await: #w.
        ref := self watch: p.
        (self await: #src) send: #ready.
        p send: Process current.
        self awaitSynced.
        self report: p ref: ref )
)"""


def test_watchers_keep_their_link_and_monitor_when_the_source_dies(cluster, tmp_path):
    code = tmp_path / "code"
    for source in (SURVIVOR, SOURCE, WATCHER):
        write_class(code, source)
    b = cluster.start("b", classpath=[code], program="Watcher")               # the target
    c = cluster.start("c", join=[b], classpath=[code], program="Watcher")     # a third node
    a = cluster.start("a", join=[b], classpath=[code], program="Source")      # the source
    a.wait_out(r"^moved$", timeout=60)
    b.wait_out(r"^on b$", timeout=30)            # the move is committed: it runs on b
    for node in (b, c):                           # each knows the move (the answer came after b's moved_here)
        assert node.wait_out(r"^synced ", timeout=30) == "synced true", node.name
    a.kill()                                      # kill -9: no drain, no goodbye
    for node in (b, c):
        exit_line = node.wait_out(r"^exit ", timeout=30)
        down_line = node.wait_out(r"^down ", timeout=10)
        assert exit_line == "exit true Error: crashed after a died", (node.name, exit_line)
        assert down_line == "down true true Error: crashed after a died", (node.name, down_line)


LATE_SOURCE = """LateSource = (
""" + HELPERS + """
    run = (
        | w b m |
        (Global register: #src as: Process current) ifFalse: [ ^ self error: 'name taken' ].
        b := self node: #b.
        w := [ Survivor new run ] spawn.
        self await: #w.                           "registered: no longer waiting for the names"
        Process sleep: 100.
        (w migrateTo: b) wait.
        'moved' println.
        [ true ] whileTrue: [ m := Process receive. m send: w ] )
)"""

LATE_WATCHER = """LateWatcher = (
""" + HELPERS + """
    run = (
        | p ref |
        (self await: #src) send: Process current.
        p := Process receive.
        ref := self watch: p.
        ('watching ' + p node name) println.
        p send: Process current.                 "after the requests, on their way: c -> a -> b"
        self awaitSynced.
        self report: p ref: ref )
)"""


def test_a_link_and_monitor_asked_of_the_old_pid_after_the_move_reach_the_process(cluster, tmp_path):
    """c joins after the move and links and monitors the old pid (through a's
    forwarder, which passes the requests on to b); then a is killed: they go on."""
    code = tmp_path / "code"
    for source in (SURVIVOR, LATE_SOURCE, LATE_WATCHER):
        write_class(code, source)
    b = cluster.start("b", classpath=[code])
    a = cluster.start("a", join=[b], classpath=[code], program="LateSource")
    b.wait_out(r"^on b$", timeout=60)
    c = cluster.start("c", join=[b], classpath=[code], program="LateWatcher")
    c.wait_out(r"^watching a$", timeout=60)       # the old pid, of a
    assert c.wait_out(r"^synced ", timeout=30) == "synced true"   # b has the requests, c the alias
    a.kill()
    assert c.wait_out(r"^exit ", timeout=30) == "exit true Error: crashed after a died"
    assert c.wait_out(r"^down ", timeout=10) == "down true true Error: crashed after a died"


CHAINED = """Chained = (
    run = (
        | m watchers |
        (Global register: #w as: Process current) ifFalse: [ ^ self error: 'name taken' ].
        watchers := Vector new.
        [ true ] whileTrue: [
            m := Process receive.
            (m isKindOf: Symbol) ifFalse: [ watchers append: m ].
            m == #where ifTrue: [
                ('on ' + Node current name) println.
                watchers do: [ :each | each send: #synced ] ].
            m == #crash ifTrue: [ self error: 'crashed on ' + Node current name ] ] )
)"""

CHAIN_SOURCE = """ChainSource = (
""" + HELPERS + """
    run = (
        | w moved |
        (Global register: #src as: Process current) ifFalse: [ ^ self error: 'name taken' ].
        self node: #b. self node: #c.
        w := [ Chained new run ] spawn.
        Process receive: [ :m | m == #ready ].
        moved := (w migrateTo: (self node: #b)) wait.
        (moved migrateTo: (self node: #c)) wait.
        w send: #where )
)"""

CHAIN_WATCHER = """ChainWatcher = (
""" + HELPERS + """
    run = (
        | p ref |
        p := self await: #w.
        ref := self watch: p.
        p send: Process current.
        (self await: #src) send: #ready.
        self awaitSynced.
        [ (Node named: #a) notNil or: [ (Node named: #b) notNil ] ] whileTrue: [ Process sleep: 20 ].
        p send: #crash.                         "the old pid: straight to c now"
        self report: p ref: ref )
)"""


def test_a_chain_of_moves_outlives_the_nodes_it_passed_through(cluster, tmp_path):
    """a -> b -> c, then a and b are killed: the watcher on d, which holds a's pid,
    still reaches the process and gets its Exit and Down from c."""
    code = tmp_path / "code"
    for source in (CHAINED, CHAIN_SOURCE, CHAIN_WATCHER):
        write_class(code, source)
    d = cluster.start("d", classpath=[code], program="ChainWatcher")
    c = cluster.start("c", join=[d], classpath=[code])
    b = cluster.start("b", join=[d], classpath=[code])
    a = cluster.start("a", join=[d], classpath=[code], program="ChainSource")
    c.wait_out(r"^on c$", timeout=60)             # through the forwarders on a and b
    assert d.wait_out(r"^synced ", timeout=30) == "synced true"   # sent from c after its moved_here to d
    a.kill()
    b.kill()
    assert d.wait_out(r"^exit ", timeout=30) == "exit true Error: crashed on c"
    assert d.wait_out(r"^down ", timeout=10) == "down true true Error: crashed on c"


# ---------------------------------------------------------------- on the new node

MOVER = """Mover = (
""" + HELPERS + """
    run = (
        | b t x rt rx got e d seen |
        b := self node: #b.
        t := self await: #t.
        x := self await: #x.
        Process current trapExit: true.
        Process current link: t.
        rt := Process current monitor: t.
        Process current link: x.
        rx := Process current monitor: x.
        x send: { #old. Process current }.
        (Process current migrateTo: b) wait.
        ('on ' + Node current name) println.
        Process current unlink: t.
        ('demonitor ' + (Process current demonitor: rt) printString) println.
        t send: #crash.
        got := Process receive: [ :m | (m isKindOf: Exit) or: [ m isKindOf: Down ] ] within: 1500
            ifTimeout: [ nil ].
        ('after unlink: ' + got printString) println.
        x send: #exit.
        e := Process receive: [ :m | m isKindOf: Exit ] within: 10000 ifTimeout: [ nil ].
        ('explicit exit ' + (self describe: e reason) + ' from x '
            + (e notNil and: [ e from == x ]) printString) println.
        ('still linked ' + (Process current links includes: x) printString) println.
        x send: #crash.
        seen := Vector new.
        [ e := Process receive: [ :m | (m isKindOf: Exit) or: [ m isKindOf: Array ] ] within: 10000
              ifTimeout: [ nil ].
          e isKindOf: Array ] whileTrue: [ seen append: (e at: 2) ].
        ('before the exit ' + seen asArray printString) println.     "its messages, then its death"
        ('crash exit ' + (self describe: e reason)) println.
        d := Process receive: [ :m | m isKindOf: Down ] within: 10000 ifTimeout: [ nil ].
        ('down same ref ' + (d notNil and: [ d ref == rx ]) printString + ' ' + (self describe: d reason)) println )
)"""

PARTNER = """Partner = (
    run = (
        | m old |
        (Global register: (Node current name = 'b' ifTrue: [ #t ] ifFalse: [ #x ])
                as: Process current) ifFalse: [ ^ self error: 'name taken' ].
        [ true ] whileTrue: [
            m := Process receive.
            m == #crash ifTrue: [
                old notNil ifTrue: [ 1 to: 50 do: [ :i | old send: { #n. i } ] ].
                self error: 'crashed on ' + Node current name ].
            m == #exit ifTrue: [ old exit: #hello ].
            ((m isKindOf: Array) and: [ (m at: 1) == #old ]) ifTrue: [ old := m at: 2 ] ] )
)"""


def test_links_and_monitors_on_the_new_node_follow_the_moved_process(cluster, tmp_path):
    code = tmp_path / "code"
    for source in (MOVER, PARTNER):
        write_class(code, source)
    b = cluster.start("b", classpath=[code], program="Partner")      # the target
    cluster.start("c", join=[b], classpath=[code], program="Partner")
    a = cluster.start("a", join=[b], classpath=[code], program="Mover")
    b.wait_out(r"^down same ref ", timeout=60)
    out = b.out.text()
    assert "on b" in out
    assert "demonitor true" in out
    assert "after unlink: nil" in out, out         # the unlink and demonitor of t (on b) held
    assert "explicit exit #hello from x true" in out, out
    assert "still linked true" in out, out         # an explicit exit: does not undo the link
    assert "before the exit " + str(tuple(range(1, 51))).replace(",", "").replace("(", "#(") in out, out
    assert "crash exit Error: crashed on c" in out, out
    assert "down same ref true Error: crashed on c" in out, out     # the very Reference it holds
    del a


# ---------------------------------------------------------------- demonitor: is final

LATE = """Late = (
""" + HELPERS + """
    run = (
        | b w ref answer got |
        b := self node: #b.
        w := self await: #w.
        ref := Process current monitor: w.
        (Process current migrateTo: b) wait.
        'moved' println.
        Process sleep: 2000.
        w send: #crash.
        Process sleep: 300.
        answer := Process current demonitor: ref.
        got := Process receive: [ :m | m isKindOf: Down ] within: 4000 ifTimeout: [ nil ].
        ('after demonitor ' + answer printString + ': ' + got printString) println )
)"""

CRASHER = """Crasher = (
    run = (
        (Global register: #w as: Process current) ifFalse: [ ^ self error: 'name taken' ].
        Process receive: [ :m | m == #crash ].
        self error: 'crashed' )
)"""


def test_no_down_after_demonitor_even_through_a_slow_old_node(cluster, tmp_path):
    code = tmp_path / "code"
    for source in (LATE, CRASHER):
        write_class(code, source)
    _source, proxy = cluster.proxied("a", classpath=[code], program="Late")   # the link a-b is slow
    b = cluster.start("b", join=[proxy.address], classpath=[code])
    c = cluster.start("c", join=[b], classpath=[code], program="Crasher")
    b.wait_out(r"^moved$", timeout=60)
    proxy.delay("in", 0.6)
    proxy.delay("out", 0.6)
    line = b.wait_out(r"^after demonitor ", timeout=30)
    assert line == "after demonitor true: nil", line
    c.wait_err(r"died: ERROR: crashed")


# ---------------------------------------------------------------- a drained node takes no spawns

IDLE = """Idle = (
    run = ( Process sleep: 100000 )
)"""

SPAWNER = """Spawner = (
""" + HELPERS + """
    run = (
        | a error |
        a := self node: #a.
        'spawning' println.
        1 to: 1000 do: [ :i |
            error isNil ifTrue: [
                [ a spawn: Idle selector: #run arguments: #() ] on: Error do: [ :e | error := e messageText ].
                Process sleep: 20 ] ].
        ('refused: ' + error printString) println )
)"""


def test_a_node_being_drained_refuses_new_spawns(cluster, tmp_path):
    code = tmp_path / "code"
    for source in (IDLE, SPAWNER):
        write_class(code, source)
    a = cluster.start("a", classpath=[code])
    b = cluster.start("b", join=[a], classpath=[code], program="Spawner")
    b.wait_out(r"^spawning$", timeout=60)
    drained: list = []
    drain = threading.Thread(target=lambda: drained.append(
        run_vm(["node", "drain", a.address, "--cookie", COOKIE], timeout=120)))
    drain.start()
    line = b.wait_out(r"^refused: ", timeout=60)
    drain.join(timeout=120)
    assert drained and drained[0].returncode == 0, drained
    assert line == "refused: 'spawn on node a: node a is draining: it takes no new processes'", line


# ---------------------------------------------------------------- hostile frames

def test_hostile_relink_frames_are_ignored_or_close_that_connection(cluster) -> None:
    from rogue_client import RogueClient
    from test_hot_code_frames import answers

    from smalltalk_vm.node import frames as F
    nil = bytes([0xF6])
    a = cluster.start("a")
    rogue = RogueClient(a.address, COOKIE.encode())
    try:
        caller = rogue.handshake()
        rogue.open_channel(caller.session)
        me = rogue.identity
        for frame in (
            F.frame("moved_here", "nosuch", 7, 3, 4),                        # nobody here holds it
            F.frame("moved_relay", 424242, "unlink", "rogue", 1, 2, 0, nil, "x", 1, 5),
            F.frame("moved_relay", 424242, "link", me.name, me.creation, 2, 0, nil, "x", 1, 5),
            F.frame("ping", 8),
        ):
            rogue.send(frame)
        noproc = answers(rogue, "link_exit", 1)[0]     # a link to a process that is gone: #noproc
        assert noproc[1:3] == [424242, 2], noproc
        assert answers(rogue, "pong", 1)[0][1] == 8
        rogue.send(F.frame("moved_relay", 1, "explode", "rogue", 1, 2, 0, nil, "x", 1, 5))
        assert rogue.ended.wait(10)                                  # that connection is closed
    finally:
        rogue.close()
    a.wait_err(r"bad moved_relay frame: moved_relay of an unknown kind 'explode'")
    assert a.popen.poll() is None                                    # the node goes on
