"""Membership and failure detection (DISTRIBUTION §4) with real nodes: joining through
any member gives a full mesh within a tick; the hosted Node API; NodeUp/NodeDown;
kill -9, SIGSTOP/SIGCONT and a black-holed link detected within the tick bound;
rejoining by itself; joins retried with backoff.

Timing assertions measure against the tick of the nodes (1000 ms here). The spec's
bound for a silent node is 0.75..1.25 ticks; the detector checks every tick/8, so
the expected window is [0.75, 1.125] ticks plus the time for the log line to reach
this process. On this shared 2-core machine a line can lag by a scheduling slice or
two, so the upper assertions allow 1.25 ticks + 250 ms, and every figure is printed.
"""
from __future__ import annotations

import signal
import time

import pytest
from cluster_support import write_class
from faultproxy import FaultProxy

TICK = 1.0

API_PROGRAM = """NodeApi = (
    say: aString = ( aString println )
    run = (
        | a m d downs |
        [ (Node named: #a) isNil ] whileTrue: [ Process sleep: 10 ].
        a := Node named: #a.
        self say: 'current ' + Node current name printString.
        self say: 'named ' + a printString.
        self say: 'canonical ' + (a == (Node named: #a)) printString.
        self say: 'all ' + (Node all collect: [ :n | n name ]) printString.
        self say: 'connected ' + a isConnected printString.
        self say: 'ping ' + a ping printString.
        self say: 'self ping ' + Node current ping printString.
        self say: 'missing ' + (Node named: #zz) printString.
        self say: 'previous ' + (Node monitorNodes: true) printString.
        self say: 'early ' + (Process receiveWithin: 300 ifTimeout: [ #nothing ]) printString.
        self say: 'ready'.
        m := Process receive: [ :x | x isKindOf: NodeUp ] within: 30000 ifTimeout: [ nil ].
        self say: 'up ' + m node name printString + ' ' + (m node == (Node named: m node name)) printString.
        Process current monitorNode: m node; monitorNode: m node.
        self say: 'watching'.
        downs := 0.
        [ downs < 3 ] whileTrue: [
            d := Process receive: [ :x | x isKindOf: NodeDown ] within: 30000 ifTimeout: [ nil ].
            d isNil ifTrue: [ downs := 99 ] ifFalse: [
                downs := downs + 1.
                self say: 'down ' + d node name printString + ' ' + d reason printString ] ].
        self say: 'extra ' + (Process receive: [ :x | x isKindOf: NodeDown ] within: 300
                                   ifTimeout: [ #none ]) printString.
        Process current monitorNode: m node.
        d := Process receive: [ :x | x isKindOf: NodeDown ] within: 1000 ifTimeout: [ nil ].
        self say: 'at once ' + d reason printString + ' ' + m node isConnected printString
                  + ' ' + m node ping printString.
        self say: 'all now ' + (Node all collect: [ :n | n name ]) printString.
        system exit: 0 )
)"""


def test_joining_through_any_member_gives_a_full_mesh_within_one_tick(cluster) -> None:
    a = cluster.start("a")
    b = cluster.start("b", join=[a])
    b.wait_err(r"nodeup a ")
    c = cluster.start("c", join=[b])
    listening = time.monotonic()
    seen = {}
    for node, others in ((a, "bc"), (b, "ac"), (c, "ab")):
        for other in others:
            seen[(node.name, other)] = node.when_err(rf"nodeup {other} ", timeout=10)
    last = max(t for (name, _), t in seen.items() if "c" in name or _ == "c")
    print(f"full mesh {last - listening:.3f} s after c listened (tick {TICK} s)")
    assert last - listening <= TICK


def test_the_hosted_node_api(cluster, tmp_path) -> None:
    a = cluster.start("a")
    write_class(tmp_path / "p", API_PROGRAM)
    b = cluster.start("b", join=[a], classpath=[tmp_path / "p"], program="NodeApi")
    b.wait_out("^ready$")
    c = cluster.start("c", join=[a])
    b.wait_out("^watching$")
    c.stop()
    assert b.wait_exit(30) == 0, b.report()
    lines = b.out.text().splitlines()[1:]
    assert lines == [
        "current #b", "named a Node(#a)", "canonical true", "all #(#a)", "connected true",
        "ping true", "self ping true", "missing nil", "previous false",
        "early #nothing",                 # no NodeUp for a node that was up before the call
        "ready", "up #c true", "watching",
        "down #c #shutdown", "down #c #shutdown", "down #c #shutdown",
        "extra #none",                    # exactly once per watcher
        "at once #noconnection false false",
        "all now #(#a)",
    ], b.report()


def test_kill_9_reaches_every_link_monitor_and_watcher_once_within_the_tick(cluster, tmp_path) -> None:
    write_class(tmp_path / "p", """Victim = ( wait = ( Process receive ) )""")
    write_class(tmp_path / "p", """Watch = (
        "Three linked processes, three monitors, three node watchers: each says what it
        heard, then that nothing else came."
        run = (
            | a victims |
            [ (a := Node named: #a) isNil ] whileTrue: [ Process sleep: 10 ].
            victims := (1 to: 3) collect: [ :i | a spawn: Victim selector: #wait arguments: #() ].
            victims do: [ :v | | p |
                p := [ | e | Process current trapExit: true; link: v.
                       e := Process receive: [ :m | m isKindOf: Exit ] within: 5000 ifTimeout: [ nil ].
                       ('link ' + e reason printString) println.
                       ('link then ' + (Process receive: [ :m | m isKindOf: Exit ] within: 1500
                            ifTimeout: [ #none ]) printString) println ] spawn.
                p := [ | ref d | ref := Process current monitor: v.
                       d := Process receive: [ :m | m isKindOf: Down ] within: 5000 ifTimeout: [ nil ].
                       ('monitor ' + (d ref = ref) printString + ' ' + d reason printString) println.
                       ('monitor then ' + (Process receive: [ :m | m isKindOf: Down ] within: 1500
                            ifTimeout: [ #none ]) printString) println ] spawn ].
            1 to: 3 do: [ :i | [ | d | Node monitorNodes: true.
                       d := Process receive: [ :m | m isKindOf: NodeDown ] within: 5000 ifTimeout: [ nil ].
                       ('nodedown ' + d reason printString) println.
                       ('nodedown then ' + (Process receive: [ :m | m isKindOf: NodeDown ] within: 1500
                            ifTimeout: [ #none ]) printString) println ] spawn ].
            Process sleep: 500.
            'ready' println.
            Process sleep: 4000.
            system exit: 0 )
    )""")
    a = cluster.start("a")
    b = cluster.start("b", join=[a], classpath=[tmp_path / "p"], program="Watch")
    b.wait_out("^ready$")
    killed = time.monotonic()
    a.signal(signal.SIGKILL)
    assert b.wait_exit(30) == 0, b.report()
    for label, reason in (("link", "#noconnection"), ("monitor", "true #noconnection"),
                          ("nodedown", "#noconnection")):
        events = b.out.matching(rf"^{label} {reason}$")
        assert len(events) == 3, b.report()
        latest = max(t for t, _ in events) - killed
        print(f"{label}: all 3 heard {latest:.3f} s after kill -9 (tick {TICK} s)")
        assert latest < TICK
        assert len(b.out.matching(rf"^{label} then #none$")) == 3, b.report()


def test_a_stopped_node_is_declared_down_within_the_tick_bound_and_rejoins(cluster) -> None:
    a = cluster.start("a")
    b = cluster.start("b", join=[a])
    b.wait_err(r"nodeup a ")
    a.wait_err(r"nodeup b ")
    time.sleep(0.5)
    stopped = time.monotonic()
    a.signal(signal.SIGSTOP)
    try:
        down = b.when_err(r"nodedown a: timeout", timeout=10)
    finally:
        a.signal(signal.SIGCONT)
    elapsed = down - stopped
    print(f"SIGSTOP detected after {elapsed:.3f} s = {elapsed / TICK:.2f} ticks")
    assert 0.75 * TICK <= elapsed <= 1.25 * TICK + 0.25
    a.wait_err(r"nodedown b: ", timeout=10)           # it noticed the silence too, once resumed
    b.wait_err(r"nodeup a ", count=2, timeout=20)      # and the two reconnect by themselves
    a.wait_err(r"nodeup b ", count=2, timeout=20)
    assert len(b.err.matching("nodedown a")) == 1


def test_a_black_holed_link_is_down_within_the_tick_on_both_sides(cluster) -> None:
    a, proxy_a = cluster.proxied("a")
    b, proxy_b = cluster.proxied("b", join=[proxy_a.address])
    b.wait_err(r"nodeup a ")
    a.wait_err(r"nodeup b ")
    time.sleep(0.5)
    cut = time.monotonic()
    proxy_a.blackhole()
    proxy_b.blackhole()
    downs = [node.when_err(r"nodedown \w: timeout", timeout=10) - cut for node in (a, b)]
    print(f"black hole detected after {downs[0]:.3f} s (a) and {downs[1]:.3f} s (b)")
    assert all(0.75 * TICK <= t <= 1.25 * TICK + 0.25 for t in downs)
    proxy_a.heal()
    proxy_b.heal()
    b.wait_err(r"nodeup a ", count=2, timeout=20)      # the healed partition rejoins by itself
    a.wait_err(r"nodeup b ", count=2, timeout=20)


def test_a_join_that_fails_is_retried_with_backoff_while_the_node_runs(cluster) -> None:
    a = cluster.start("a")
    proxy = FaultProxy(a.host, a.port)
    try:
        proxy.blackhole()
        b = cluster.start("b", join=[proxy.address])
        b.wait_err(r"join 127\.0\.0\.1:\d+ failed: .*retrying with backoff")
        assert len(b.err.matching("join .* failed")) == 1    # logged once, retried quietly
        time.sleep(1.0)
        proxy.heal()
        b.wait_err(r"nodeup a ", timeout=20)
        assert proxy.connections >= 2
    finally:
        proxy.close()


def test_a_restarted_node_is_a_new_incarnation(cluster) -> None:
    a = cluster.start("a")
    b = cluster.start("b", join=[a])
    first = b.wait_err(r"nodeup a ")
    a.signal(signal.SIGKILL)
    b.wait_err(r"nodedown a: noconnection")
    again = cluster.start("a", join=[b])
    second = b.wait_err(r"nodeup a ", count=2)
    creation = lambda line: line.split("creation ")[1].split(")")[0]
    assert creation(first) != creation(second)
    again.wait_err(r"nodeup b ")


@pytest.mark.parametrize("order", ["ab", "ba"])
def test_two_nodes_dialling_each_other_at_once_keep_one_connection(cluster, order) -> None:
    a = cluster.start("a")
    b = cluster.start("b")
    first, second = (a, b) if order == "ab" else (b, a)
    # both join each other: simultaneous connects are resolved by name
    c = cluster.start("c", join=[first, second])
    for node, others in ((a, "bc"), (b, "ac"), (c, "ab")):
        for other in others:
            node.wait_err(rf"nodeup {other} ", timeout=10)
    time.sleep(1.5)
    for node in (a, b, c):
        assert not node.err.matching("nodedown"), node.report()
        for other in "abc":
            assert len(node.err.matching(rf"nodeup {other} ")) <= 1, node.report()


def test_cut_connections_are_noticed_at_once_and_the_nodes_reconnect(cluster) -> None:
    a, proxy_a = cluster.proxied("a")
    b, proxy_b = cluster.proxied("b", join=[proxy_a.address])
    b.wait_err(r"nodeup a ")
    a.wait_err(r"nodeup b ")
    cut = time.monotonic()
    proxy_a.cut()
    proxy_b.cut()
    noticed = [node.when_err(r"nodedown \w: noconnection") - cut for node in (a, b)]
    print(f"reset connections noticed after {noticed[0]:.3f} s (a) and {noticed[1]:.3f} s (b)")
    assert all(t < TICK for t in noticed)
    b.wait_err(r"nodeup a ", count=2, timeout=20)
    a.wait_err(r"nodeup b ", count=2, timeout=20)


def test_a_one_way_partition_brings_the_link_down_on_both_sides(cluster) -> None:
    a, proxy_a = cluster.proxied("a")
    b = cluster.start("b", join=[proxy_a.address])
    b.wait_err(r"nodeup a ")
    a.wait_err(r"nodeup b ")
    time.sleep(0.3)
    dropped = time.monotonic()
    proxy_a.drop("out")                  # a's frames no longer reach b; b's still reach a
    down_b = b.when_err(r"nodedown a: timeout", timeout=10) - dropped
    a.wait_err(r"nodedown b: ", timeout=10)
    print(f"one-way partition: b declared a down after {down_b:.3f} s")
    assert 0.75 * TICK <= down_b <= 1.25 * TICK + 0.25
