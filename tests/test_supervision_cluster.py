"""Supervisors across nodes (lib/Supervisor*.som, lib/ChildSpec.som, lib/ChildLauncher.som)
with real nodes: a child placed on a preference list of nodes is restarted on the next
live one when its node is killed (kill -9), with its local and global names; #transient
children are restarted after #noconnection and #temporary ones are not (OTP); a
supervisor placed on another node and killed with it is restarted elsewhere by its
parent, under its global name; a restart storm on a remote node escalates exactly as
the intensities say; #roundRobin and #leastLoaded spread children over the nodes."""
from __future__ import annotations

import signal
import time

from cluster_support import free_port, write_class

TICK = 1.0

WORKERS = ["""Worker = (
    "Serves forever; tells where it runs and which names it holds when it starts."
    serve = (
        ('worker ' + Node current name + ' local ' + ((Process named: #worker) == Process current) printString
            + ' global ' + ((Global named: #worker) == Process current) printString) println.
        [ true ] whileTrue: [ Process receive ] )
    wait = ( Process receive )
    crashSoon = (
        ('crasher started on ' + Node current name) println.
        Process sleep: 100.
        self error: 'crash' )
    busy: n = ( n timesRepeat: [ [ Process receive ] spawn ]. Process receive )
    job: n = ( Process receive )
    "Waits until someone registers #storm, then crashes (every start, from then on)."
    stormy = (
        [ (Global named: #storm) isNil ] whileTrue: [ Process sleep: 20 ].
        ('crashing on ' + Node current name) println.
        Process sleep: 100.
        self error: 'storm' )
)"""]

KILL = """KillTest = (
    "On a: a supervisor with children placed on #(#b #c) and one here; prints where
    each runs, and the moment the globally named worker is seen on another node."
    describe: sup = (
        ^ (sup whichChildren collect: [ :pair |
            pair key printString + '=' + (pair value isNil ifTrue: [ 'none' ] ifFalse: [ pair value node name ]) ])
            asArray printString )
    run = (
        | sup last |
        [ Node all size < 2 ] whileTrue: [ Process sleep: 20 ].
        sup := Supervisor strategy: #oneForOne intensity: 5 period: 10000.
        sup addChild: (((ChildSpec id: #w class: Worker selector: #serve arguments: #()) nodes: #(#b #c))
            localName: #worker; globalName: #worker; yourself).
        sup addChild: (((ChildSpec id: #t class: Worker selector: #wait arguments: #()) nodes: #(#b #c))
            restart: #transient; yourself).
        sup addChild: (((ChildSpec id: #tmp class: Worker selector: #wait arguments: #()) nodes: #(#b #c))
            restart: #temporary; yourself).
        sup addChild: (ChildSpec id: #here class: Worker selector: #wait arguments: #()).
        sup start.
        ('children ' + (self describe: sup)) println.
        [ true ] whileTrue: [
            | p |
            p := Global named: #worker.
            (p notNil and: [ p ~~ last ]) ifTrue: [ ('worker seen on ' + p node name) println. last := p.
                Process sleep: 300. ('children ' + (self describe: sup)) println ].
            Process sleep: 10 ] )
)"""


def start_mesh(cluster, names, program_node, **program):
    """Start the nodes at once, the first on a port chosen here (so the others can be
    told where to join before it listens)."""
    port = free_port()
    first = f"127.0.0.1:{port}"
    nodes = {}
    for index, name in enumerate(names):
        options = dict(program) if name == program_node else {}
        extra = ("--listen", first) if index == 0 else ()
        nodes[name] = cluster.start(name, *extra, join=[] if index == 0 else [first], wait=False, **options)
    for node in nodes.values():
        node.wait_listening()
    return nodes


def test_a_child_on_a_killed_node_is_restarted_on_the_next_one_with_its_names(cluster, tmp_path) -> None:
    for source in [*WORKERS, KILL]:
        write_class(tmp_path / "prog", source)
    nodes = start_mesh(cluster, ["a", "b", "c"], "a", classpath=[tmp_path / "prog"], program="KillTest")
    a, b, c = nodes["a"], nodes["b"], nodes["c"]
    a.wait_out(r"^worker seen on b$", timeout=30)
    assert a.wait_out(r"^children ") == "children #('#w=b' '#t=b' '#tmp=b' '#here=a')", a.report()
    b.wait_out(r"^worker b local true global true$")
    killed = time.monotonic()
    b.signal(signal.SIGKILL)
    seen = a.out.wait(r"^worker seen on c$", timeout=10)[0]
    print(f"worker running on c, under its names, {seen - killed:.3f} s after kill -9 of b (tick {TICK} s)")
    assert seen - killed < TICK + 1.0
    c.wait_out(r"^worker c local true global true$", timeout=5)
    # The transient child came back after #noconnection; the temporary one is gone.
    assert a.wait_out(r"^children ", count=2) == "children #('#w=c' '#t=c' '#here=a')", a.report()


ESCALATE = """EscalateTest = (
    "On a: top (intensity 2) supervises #sub, a supervisor placed on #(#b #c) with the
    global name #sub, whose children are a worker and a crasher (intensity 2)."
    run = (
        | top sub topRef storm |
        [ Node all size < 2 ] whileTrue: [ Process sleep: 20 ].
        sub := (Supervisor strategy: #oneForOne intensity: 2 period: 30000) global: #sub; yourself.
        sub addChild: ((ChildSpec id: #w class: Worker selector: #wait arguments: #()) localName: #subworker; yourself).
        sub addChild: (ChildSpec id: #crasher class: Worker selector: #stormy arguments: #()).
        top := Supervisor strategy: #oneForOne intensity: 2 period: 30000.
        top addChild: ((ChildSpec id: #sub supervisor: sub) nodes: #(#b #c)).
        top start.
        topRef := Process current monitor: top process.
        ('sub on ' + sub process node name + ' worker on ' + (sub childNamed: #w) node name) println.
        [ sub process isNil or: [ sub process node name = #b ] ] whileTrue: [ Process sleep: 10 ].
        ('sub on ' + sub process node name + ' worker on ' + (sub childNamed: #w) node name) println.
        storm := [ Process receive ] spawn.
        Global register: #storm as: storm.
        ('top ended ' + (Process receive: [ :m | (m isKindOf: Down) and: [ m ref = topRef ] ]) reason printString)
            println.
        ('sub ' + (Global named: #sub) printString) println )
)"""


def test_a_supervisor_dies_with_its_node_and_a_restart_storm_escalates_by_the_intensities(cluster, tmp_path) -> None:
    for source in [*WORKERS, ESCALATE]:
        write_class(tmp_path / "prog", source)
    nodes = start_mesh(cluster, ["a", "b", "c"], "a", classpath=[tmp_path / "prog"], program="EscalateTest")
    a, b, c = nodes["a"], nodes["b"], nodes["c"]
    assert a.wait_out(r"^sub on ", timeout=30) == "sub on b worker on b", a.report()
    b.signal(signal.SIGKILL)
    # The parent restarted the supervisor on c, with its children, under its global name.
    assert a.wait_out(r"^sub on ", count=2, timeout=10) == "sub on c worker on c", a.report()
    # The storm: sub restarts the crasher twice and gives up (#shutdown); top restarts
    # sub (its second restart: the first was the move to c), which gives up again; the
    # third restart is over top's intensity of 2, so top ends with #shutdown.
    a.wait_out(r"^top ended #shutdown$", timeout=20)
    assert a.wait_out(r"^sub (nil|a )") == "sub nil", a.report()     # its name went with it
    time.sleep(0.5)
    crashes = c.out.matching(r"^crashing on c$")
    print(f"{len(crashes)} crashes on c before top ended")
    assert len(crashes) == 6, c.report()


PLACE = """PlaceTest = (
    "On a: b is made busy (300 processes); a #simpleOneForOne supervisor places six
    jobs #roundRobin, another four children #leastLoaded."
    nodesOf: sup = ( ^ (sup whichChildren collect: [ :pair | pair value node name ]) asArray )
    run = (
        | rr ll b |
        [ Node all size < 2 ] whileTrue: [ Process sleep: 20 ].
        b := Node named: #b.
        b spawn: Worker selector: #busy: arguments: #(300).
        [ (b load ifNil: [ 0 ]) < 300 ] whileTrue: [ Process sleep: 50 ].
        rr := Supervisor strategy: #simpleOneForOne.
        rr addChild: ((ChildSpec id: #job class: Worker selector: #job: arguments: #()) placement: #roundRobin).
        rr start.
        1 to: 6 do: [ :i | rr startChild: i ].
        ('round robin ' + (self nodesOf: rr) printString) println.
        ll := Supervisor new.
        1 to: 4 do: [ :i |
            ll addChild: ((ChildSpec id: i class: Worker selector: #wait arguments: #()) placement: #leastLoaded) ].
        ll start.
        ('least loaded ' + (self nodesOf: ll) printString) println.
        ('loads ' + ({ Node current. b. Node named: #c } collect: [ :n | n load ]) printString) println.
        system exit: 0 )
)"""


def test_round_robin_and_least_loaded_placement(cluster, tmp_path) -> None:
    for source in [*WORKERS, PLACE]:
        write_class(tmp_path / "prog", source)
    nodes = start_mesh(cluster, ["a", "b", "c"], "a", classpath=[tmp_path / "prog"], program="PlaceTest")
    a = nodes["a"]
    assert a.wait_out(r"^round robin ", timeout=30) == "round robin #(#a #b #c #a #b #c)", a.report()
    least = a.wait_out(r"^least loaded ")
    print(least, "|", a.wait_out(r"^loads "))
    placed = least.removeprefix("least loaded #(").removesuffix(")").split()
    assert len(placed) == 4 and "#b" not in placed, a.report()
