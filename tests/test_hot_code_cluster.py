"""Cluster load: with real nodes (node/hotload.py). Five nodes a..e, every one with
HotServer v1 on its classpath; a driver on e starts 5 callers on each node, which call
HotServer in a loop, then pushes v2 with `Cluster load:`. No call fails, every node
reports the new version, and every caller's next call after the push answers v2 (its
loop method was never entered again). Then a push with a syntax error is refused by
every node and changes nothing; then a node f started after the push, with v1 on its
classpath too, answers v2 at its first use."""
from __future__ import annotations

import re
import signal
import time

from cluster_support import write_class

SERVER_V1 = """HotServer = (
    answer = ( ^ #v1 )
)"""

CALLER = """HotCaller = (
    loopFor: driver = (
        | calls failures last regress request |
        calls := 0. failures := 0. regress := false.
        driver send: { #ready. Process current }.
        [ request isNil ] whileTrue: [ | a |
            a := [ HotServer new answer ] on: Error do: [ :e | failures := failures + 1. nil ].
            (last == #v2 and: [ a == #v1 ]) ifTrue: [ regress := true ].
            a isNil ifFalse: [ last := a ].
            calls := calls + 1.
            request := Process receiveWithin: 2 ifTimeout: [ nil ] ].
        last := HotServer new answer.
        (request at: 2) send: { Node current name. calls. failures. regress. last. HotServer version } )
    reportTo: driver = ( driver send: { Node current name. HotServer new answer. HotServer version } )
)"""

DRIVER = """HotDriver = (
    say: text = ( text println )
    collect: n = ( ^ (1 to: n) collect: [ :i | Process receiveWithin: 30000 ifTimeout: [ #timeout ] ] )
    run = (
        | me nodes callers version started refused late |
        me := Process current.
        [ Node all size < 4 ] whileTrue: [ Process sleep: 20 ].
        nodes := Node all extendedWith: Node current.
        callers := Vector new.
        nodes do: [ :n | 5 timesRepeat: [
            callers append: (n spawn: HotCaller selector: #loopFor: arguments: { me }) ] ].
        25 timesRepeat: [ Process receive: [ :m | (m isKindOf: Array) and: [ (m at: 1) == #ready ] ] ].
        Process sleep: 300.
        started := system time.
        version := (Cluster load: 'HotServer = ( answer = ( ^ #v2 ) )') wait.
        self say: 'pushed ' + version + ' in ' + (system time - started) printString + ' ms'.
        callers do: [ :c | c send: { #report. me } ].
        (self collect: 25) do: [ :r | self say: 'caller ' + r printString ].
        refused := Cluster load: 'HotServer = ( answer = ( ^ #v3 ) '.
        [ refused wait. self say: 'not refused' ]
            on: LoadRefused
            do: [ :e | e refusals keys asSortedArray do: [ :k |
                    self say: 'refusal ' + k + ': ' + (e refusals at: k) ] ].
        nodes do: [ :n | n spawn: HotCaller selector: #reportTo: arguments: { me } ].
        (self collect: 5) do: [ :r | self say: 'after refusal ' + r printString ].
        self say: 'waiting for f'.
        [ (late := Node named: #f) isNil ] whileTrue: [ Process sleep: 20 ].
        late spawn: HotCaller selector: #reportTo: arguments: { me }.
        self say: 'late ' + (self collect: 1) first printString.
        system exit: 0 )
)"""

NODES = ("a", "b", "c", "d")


def test_cluster_load_under_calls_a_refused_push_and_a_late_node(cluster, tmp_path) -> None:
    code = tmp_path / "code"
    for source in (SERVER_V1, CALLER, DRIVER):
        write_class(code, source)
    a = cluster.start("a", classpath=[code], tick=5000)
    others = [cluster.start(name, join=[a], classpath=[code], tick=5000) for name in NODES[1:]]
    e = cluster.start("e", join=[a], classpath=[code], tick=5000, program="HotDriver")
    e.wait_out("^waiting for f$", timeout=90)
    f = cluster.start("f", join=[a], classpath=[code], tick=5000)
    assert e.wait_exit(60) == 0, e.report()
    out = e.out.text()
    pushed = re.search(r"^pushed (\w+) in (\d+) ms$", out, re.M)
    assert pushed, e.report()
    version = pushed.group(1)
    print(f"Cluster load to 5 nodes under 25 calling processes: {pushed.group(2)} ms")

    callers = re.findall(r"^caller #\(#(\w) (\d+) (\d+) (\w+) #(\w+) '(\w+)'\)$", out, re.M)
    assert len(callers) == 25, e.report()
    assert sorted(node for node, *_ in callers) == sorted(list("abcde") * 5)
    for node, calls, failures, regress, last, seen in callers:
        assert int(calls) > 0 and failures == "0" and regress == "false", (node, calls, failures, regress)
        assert last == "v2" and seen == version, (node, last, seen)

    refusals = re.findall(r"^refusal (\w): (.*)$", out, re.M)
    assert [node for node, _ in refusals] == list("abcde"), e.report()
    for _, reason in refusals:
        assert reason.startswith("<Cluster load>:1:") and "unexpected end of input" in reason
    after = re.findall(r"^after refusal #\(#(\w) #(\w+) '(\w+)'\)$", out, re.M)
    assert sorted(after) == [(node, "v2", version) for node in "abcde"], e.report()
    for node in [a, *others, e]:
        assert len(node.err.matching("hot loaded class HotServer")) == 1, node.report()

    assert re.search(rf"^late #\(#f #v2 '{version}'\)$", out, re.M), e.report() + f.report()
    assert f.err.matching(f"loaded class HotServer version {version} from . \\(Cluster load of e\\)"), f.report()


def test_push_from_a_repl_node_refusal_then_success(cluster) -> None:
    from cluster_support import COOKIE
    from conftest import run_vm

    a = cluster.start("a")
    lines = "\n".join([
        "[ (Node named: #a) isNil ] whileTrue: [ Process sleep: 10 ]. (Node named: #a) ping",
        "Base = ( greeting = ( ^ 'hello' ) )",
        "Greeter = Base ( hi = ( ^ self greeting , ' from r' ) )",
        ":push Greeter",
        ":push Base",
        ":push Greeter",
        ":push Nope",
        ":browse Greeter",
    ]) + "\n"
    result = run_vm(["repl", "--name", "r", "--cookie", COOKIE, "--tick", "1000", "--join", a.address],
                    input=lines, timeout=90)
    assert result.returncode == 1, result.stderr       # piped input that had errors
    assert "push of Greeter refused, nothing changed:\n  a: <Cluster load>:1:1: superclass Base not found" \
        in result.stderr, result.stderr
    pushed = re.findall(r"^pushed (\w+) version (\w+) to 2 nodes$", result.stdout, re.M)
    assert [name for name, _ in pushed] == ["Base", "Greeter"], result.stdout
    assert "no class named Nope" in result.stderr
    assert f'"version {pushed[1][1]}"' in result.stdout
    a.wait_err(f"hot loaded class Greeter version {pushed[1][1]} from r")
    assert len(a.err.matching("hot loaded class Greeter")) == 1, a.report()


def test_the_hotload_benchmark_runs_and_reports_against_its_references() -> None:
    from conftest import run_vm

    result = run_vm(["bench", "--hotload", "--nodes", "2", "--pushes", "3"], timeout=240)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.match(r"Cluster load: to the last acknowledgement on 2 nodes \(3 pushes\): p50 [\d.]+ ms, "
                    r"p99 [\d.]+ ms \(goal p99 <= 50 ms\)$", lines[0]), result.stdout
    assert lines[1].startswith("  the same load on one node: p50 ")
    assert lines[2].startswith("  one ping of every other node at once: p50 ")


LOST_DRIVER = """LostDriver = (
    say: text = ( text println )
    run = (
        | me pr |
        me := Process current.
        [ Node all size < 2 ] whileTrue: [ Process sleep: 20 ].
        self say: 'ready'.
        Process sleep: 1500.
        pr := Cluster load: 'HotServer = ( answer = ( ^ #v2 ) )'.
        [ pr wait. self say: 'not refused' ]
            on: LoadRefused
            do: [ :e | e refusals keys asSortedArray do: [ :k |
                    self say: 'refusal ' + k + ': ' + (e refusals at: k) ] ].
        (Node named: #b) spawn: HotCaller selector: #reportTo: arguments: { me }.
        self say: 'b ' + (Process receiveWithin: 20000 ifTimeout: [ #timeout ]) printString.
        self say: 'here ' + HotServer new answer printString.
        system exit: 0 )
)"""


def test_a_node_lost_during_the_prepare_phase_aborts_the_load_everywhere(cluster, tmp_path) -> None:
    code = tmp_path / "code"
    for source in (SERVER_V1, CALLER, LOST_DRIVER):
        write_class(code, source)
    b = cluster.start("b", classpath=[code], tick=5000)
    c = cluster.start("c", join=[b], classpath=[code], tick=5000)
    a = cluster.start("a", join=[b], classpath=[code], tick=5000, program="LostDriver")
    a.wait_out("^ready$", timeout=60)
    c.signal(signal.SIGSTOP)                        # it will never answer the prepare
    time.sleep(2.5)                                 # the load has started (after 1.5 s)
    c.signal(signal.SIGKILL)                        # still stopped; its connections close
    assert a.wait_exit(60) == 0, a.report()
    out = a.out.text()
    assert re.findall(r"^refusal (\w): (.*)$", out, re.M) == [("c", "connection lost")], a.report()
    assert "b #(#b #v1 '" in out and "here #v1" in out, a.report()
    assert not b.err.matching("hot loaded"), b.report()
