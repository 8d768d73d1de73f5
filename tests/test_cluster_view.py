"""`vm cluster status` and `vm cluster processes` against a real 3-node cluster: the
terminal table and the `--json` output, the figures they show (processes, run queue,
mailboxes, last tick, registered names, reductions), `--node`, and the refusals.
"""
from __future__ import annotations

import json
import re
import socket
import subprocess
import sys

from cluster_support import COOKIE, ROOT, node_environment, write_class

HOARDER = """Hoarder = Object (
    run = (
        Process register: Process current as: #hoarder.
        1 to: 3 do: [ :i | Process current send: i ].
        Process sleep: 1000000 )
)
"""
SPINNER = """Spinner = Object (
    run = (
        Process register: Process current as: #spinner.
        [ true ] whileTrue: [ ] )
)
"""
TICK_MS = 1000


def _cluster_command(*args: str, cookie: str = COOKIE) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "smalltalk_vm.cli.main", "cluster", *args, "--cookie", cookie],
                          capture_output=True, text=True, timeout=90, env=node_environment(), cwd=ROOT)


def _three_nodes(cluster, tmp_path):
    folder = tmp_path / "programs"
    write_class(folder, HOARDER)
    write_class(folder, SPINNER)
    a = cluster.start("a", tick=TICK_MS)
    b = cluster.start("b", join=[a], tick=TICK_MS, classpath=[folder], program="Hoarder")
    c = cluster.start("c", "--no-shell", join=[a], tick=TICK_MS, classpath=[folder], program="Spinner")
    for node, others in ((a, "bc"), (b, "ac"), (c, "ab")):
        for other in others:
            node.wait_err(rf"nodeup {other} ", timeout=30)
    return a, b, c


def test_status_and_processes_of_a_three_node_cluster(cluster, tmp_path):
    a, b, c = _three_nodes(cluster, tmp_path)

    table = _cluster_command("status", a.address)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert re.match(r"NAME\s+ADDRESS\s+UP SINCE\s+PROCESSES\s+RUN QUEUE\s+MAILBOXES\s+LAST TICK$", lines[0])
    rows = {line.split()[0]: line for line in lines[1:]}
    assert sorted(rows) == ["a", "b", "c"]
    for node in (a, b, c):
        assert re.match(rf"{node.name}\s+{re.escape(node.address)}\s+\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC\s+\d+\s+\d+"
                        rf"\s+\d+\s+\d+ ms ago$", rows[node.name]), rows[node.name]

    scripted = _cluster_command("status", b.address, "--json")
    assert scripted.returncode == 0, scripted.stderr
    nodes = {n["name"]: n for n in json.loads(scripted.stdout)["nodes"]}
    assert sorted(nodes) == ["a", "b", "c"]
    assert all(n["reachable"] for n in nodes.values())
    assert nodes["b"]["mailbox_total"] == 3                 # the hoarder's three messages
    assert nodes["b"]["processes"] >= 1
    assert nodes["c"]["run_queue"] >= 1                     # the spinner is always runnable
    assert nodes["a"]["processes"] == 0
    ticks = [n["last_tick_ms"] for n in nodes.values()]
    print(f"last tick as seen: {ticks} ms (tick {TICK_MS} ms)")
    # Ticks go out every tick/8 at most tick/4 apart; a loaded machine may add a
    # second of delay before a node is declared down, never more than the tick twice.
    assert all(isinstance(t, int) and 0 <= t <= 2 * TICK_MS for t in ticks)

    listed = _cluster_command("processes", c.address)
    assert listed.returncode == 0, listed.stderr
    head, *process_lines = listed.stdout.splitlines()
    assert re.match(r"NODE\s+PID\s+NAME\s+STATUS\s+METHOD\s+MAILBOX\s+REDUCTIONS$", head)
    assert any(re.match(r"b\s+\d+\s+hoarder\s+sleeping\s+\S+\s+3\s+\d+$", line) for line in process_lines), \
        listed.stdout
    assert any(re.match(r"c\s+\d+\s+spinner\s+runnable\s+Spinner>>run\s+0\s+\d+$", line)
               for line in process_lines), listed.stdout

    only_c = _cluster_command("processes", a.address, "--node", "c", "--json")
    assert only_c.returncode == 0, only_c.stderr
    answer = json.loads(only_c.stdout)
    assert answer["unreachable"] == []
    assert {p["node"] for p in answer["processes"]} == {"c"}
    spinner = next(p for p in answer["processes"] if p["name"] == "spinner")
    assert spinner["status"] == "runnable" and spinner["method"] == "Spinner>>run"
    assert spinner["reductions"] > 2000                     # it has used whole time slices
    assert set(spinner) == {"node", "pid", "name", "status", "method", "mailbox", "reductions"}

    unknown = _cluster_command("processes", a.address, "--node", "zeta")
    assert unknown.returncode == 1
    assert unknown.stderr == f"vm cluster: no node zeta in the cluster of {a.address} (nodes: a, b, c)\n"

    refused = _cluster_command("status", a.address, cookie="wrong-cookie")
    assert refused.returncode == 2
    assert refused.stderr == f"vm cluster: refused by {a.address}: bad cookie\n"
    assert refused.stdout == ""
    a.wait_err(r"refused a shell from .*: bad cookie")


def test_a_node_that_cannot_be_reached_is_one_line_and_status_1(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]                 # bound, never listening: refused at once
        ran = _cluster_command("status", f"127.0.0.1:{port}")
    assert ran.returncode == 1
    assert ran.stderr.startswith(f"vm cluster: cannot reach 127.0.0.1:{port}: ")
    assert ran.stderr.count("\n") == 1
