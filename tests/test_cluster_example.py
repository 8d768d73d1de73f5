"""examples/cluster/README.md: the commands it shows for the service that survives the
loss of any node are run here as written (with this checkout's `vm`, and free ports
for the ones its first line sets), and the node running the supervision tree, then
the one running the counter, are killed with kill -9: each time a new tree or counter
comes up on a live node and the client is served again."""
from __future__ import annotations

import os
import re
import shlex
import signal
import sys
import time

from cluster_support import ROOT, NodeProcess, free_port, node_environment

README = os.path.join(ROOT, "examples", "cluster", "README.md")


def service_commands() -> list[list[str]]:
    """The `vm node` commands of the README's block that starts the service, with free
    ports in place of the ones its first line sets (so a busy port, or a second run,
    does not fail the test)."""
    with open(README, encoding="utf-8") as handle:
        blocks = re.findall(r"```sh\n(.*?)```", handle.read(), re.S)
    block = next(b for b in blocks if "Keeper" in b)
    settings, *lines = block.strip().splitlines()
    ports = dict(word.split("=") for word in shlex.split(settings, comments=True))
    assert sorted(ports) == ["A", "B", "C"], settings
    ports = {name: str(free_port()) for name in ports}
    commands = []
    for line in lines:
        words = shlex.split(line.rstrip("& "))
        assert words[0] == ".venv/bin/vm", line
        words = [re.sub(r"\$([ABC])\b", lambda m: ports[m.group(1)], word) for word in words[1:]]
        assert "$" not in " ".join(words), line
        commands.append([sys.executable, "-m", "smalltalk_vm.cli.main", *words])
    return commands


def served_after(client: NodeProcess, moment: float, live: set[str], timeout: float = 20.0) -> str:
    """The first answer the client got after ``moment`` from one of ``live``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for t, line in client.out.matching(r"^request \d+: count \d+ from node \w+$"):
            if t > moment and line.rsplit(" ", 1)[1] in live:
                return line
        time.sleep(0.1)
    raise AssertionError("the client was not served again:\n" + client.report())


def test_the_service_of_the_cluster_example_survives_killing_any_node(cluster) -> None:
    commands = service_commands()
    assert [c[c.index("--name") + 1] for c in commands] == ["a", "b", "c", "client"]
    nodes = {}
    for argv in commands:
        name = argv[argv.index("--name") + 1]
        node = NodeProcess(name, argv, node_environment(), ROOT)
        cluster.nodes.append(node)
        nodes[name] = node
    for node in nodes.values():
        node.wait_listening()
    client = nodes["client"]
    keepers = {name: nodes[name] for name in "abc"}

    def latest(pattern: str, among: set[str]) -> str:
        """The keeper (of ``among``) that printed ``pattern`` last."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = sorted((t, n) for n in among for t, _ in keepers[n].out.matching(pattern))
            if found:
                return found[-1][1]
            time.sleep(0.05)
        raise AssertionError(f"no {pattern}:\n" + "\n".join(k.report() for k in keepers.values()))

    live = set("abc")
    tree = latest(r"^tree started on ", live)
    counter = latest(r"^counter up on ", live)
    print(f"tree on {tree}, counter on {counter}: {served_after(client, 0, live)}")
    assert tree != counter                          # the counter goes to another node
    victim = tree                                   # first the tree's node, then the counter's
    for _ in range(2):
        killed = time.monotonic()
        keepers[victim].signal(signal.SIGKILL)
        live.discard(victim)
        answer = served_after(client, killed, live)
        tree = latest(r"^tree started on ", live)
        served_by = answer.rsplit(" ", 1)[1]
        print(f"kill -9 of {victim}: {answer}; tree on {tree}")
        assert tree in live and served_by in live
        victim = served_by
