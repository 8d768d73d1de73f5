"""A move cut off by a fault (real nodes, the fault proxy, kill -9): exactly one copy
of the process runs afterwards, and which one follows from how far the move got.

The process prints numbered heartbeats with the name of the node it runs on, so the
beats of both nodes together must count 1, 2, 3, ... with no number twice (two
copies would repeat numbers) and no gap after the move (a lost copy would stop)."""
from __future__ import annotations

import re
import signal
import time

from cluster_support import write_class
from grpc_capture import node_frames

BEATER = """Beater = (
    run = (
        | n |
        n := 0.
        [ n < 100000 ] whileTrue: [
            n := n + 1.
            ('beat ' + n printString + ' on ' + Node current name) println.
            Process sleep: 40 ] )
)"""

FAULT_MAIN = """FaultMain = (
    run = (
        | b p answer |
        [ (b := Node named: #b) isNil ] whileTrue: [ Process sleep: 10 ].
        p := [ Beater new run ] spawn.
        'ready' println.
        Process sleep: 800.
        'moving' println.
        answer := [ (p migrateTo: b) wait. 'moved' ] on: Error do: [ :e | 'stayed: ' + e messageText ].
        answer println )
)"""

BEAT = re.compile(r"^beat (\d+) on (\w+)$")


def _beats(*nodes) -> list[tuple[int, str]]:
    found = []
    for node in nodes:
        for line in node.out.text().splitlines():
            match = BEAT.match(line)
            if match:
                found.append((int(match.group(1)), match.group(2)))
    return sorted(found)


def _start(cluster, tmp_path):
    code = tmp_path / "code"
    write_class(code, BEATER)
    write_class(code, FAULT_MAIN)
    b, proxy = cluster.proxied("b", classpath=[code])      # no code to fetch: it thaws at once
    a = cluster.start("a", join=[proxy.address], classpath=[code], program="FaultMain")
    a.wait_out(r"^ready$", timeout=60)
    return a, b, proxy


def _one_copy(a, b, since: int, where: str) -> None:
    """Beats 1..n, each once, and after the move only on ``where``."""
    beats = _beats(a, b)
    numbers = [n for n, _ in beats]
    assert numbers == list(range(1, len(numbers) + 1)), beats       # no number twice, no gap
    assert {node for n, node in beats if n > since} == {where}, beats
    print(f"beats: {len(numbers)}, after the move on {where} only")


def _frame_seen(proxy, direction: str, name: str, timeout: float = 30):
    """The first node frame ``name`` the proxy read in ``direction`` (it captures what it
    then drops too), waiting at most ``timeout``: the move got that far."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for frame in node_frames(proxy.chunks(direction)):
            if frame.name == name:
                return frame
        time.sleep(0.05)
    raise AssertionError(f"no {name} frame {direction} within {timeout} s")


def _last_beat(node) -> int:
    beats = _beats(node)
    return beats[-1][0] if beats else 0


def test_a_bundle_lost_with_the_connection_leaves_the_process_at_the_source(cluster, tmp_path):
    a, b, proxy = _start(cluster, tmp_path)
    proxy.drop("in")                             # the bundle will not reach b
    a.wait_out(r"^moving$")
    _frame_seen(proxy, "in", "migrate")          # sent, and lost: only then heal
    proxy.heal()
    proxy.cut()
    stayed = a.wait_out(r"^(stayed|moved)", timeout=30)
    assert stayed.startswith("stayed: "), stayed
    frozen_at = _last_beat(a)
    a.wait_out(rf"^beat {frozen_at + 5} on a$", timeout=30)       # it runs on at the source
    _one_copy(a, b, 0, "a")


def test_a_bundle_accepted_before_the_cut_runs_only_on_the_target(cluster, tmp_path):
    a, b, proxy = _start(cluster, tmp_path)
    proxy.drop("out")                            # b gets the bundle; its answer is lost
    a.wait_out(r"^moving$")
    answer = _frame_seen(proxy, "out", "migrate_answer")
    assert answer.fields[2] is None, answer      # b accepted it before the cut
    proxy.heal()
    proxy.cut()
    assert a.wait_out(r"^(stayed|moved)", timeout=30) == "moved"   # asked again after the reconnect
    moved_at = _last_beat(a)
    b.wait_out(rf"^beat {moved_at + 5} on b$", timeout=30)
    time.sleep(0.3)
    _one_copy(a, b, moved_at, "b")


def test_a_target_killed_during_the_move_leaves_the_process_at_the_source(cluster, tmp_path):
    a, b, proxy = _start(cluster, tmp_path)
    proxy.drop("in")
    a.wait_out(r"^moving$")
    time.sleep(0.3)
    b.signal(signal.SIGKILL)
    stayed = a.wait_out(r"^(stayed|moved)", timeout=30)
    assert stayed.startswith("stayed: "), stayed
    frozen_at = _last_beat(a)
    a.wait_out(rf"^beat {frozen_at + 5} on a$", timeout=30)
    _one_copy(a, b, 0, "a")
