"""Hot code benchmark (issue 15): the time from `Cluster load:` to the last node's
acknowledgement (the promise fulfilled), p50 and p99 over many pushes on a local
cluster of real `vm node` processes — goal p99 <= 50 ms on 5 nodes — against two
references measured in the same run on the same nodes:

- the same definition loaded on one node alone (`system evaluate:`), the compile and
  install cost a push pays twice on every node (once to check, once to install);
- one ping of every other node at once (eventual sends, all awaited), the network
  round trip a push pays twice (prepare, then commit).

Run: ``python -m bench.hotload [--nodes N] [--pushes N] [--json FILE]`` (or
``vm bench --hotload ...``). The hosted program on the last node measures with
`system ticks` (microseconds) and prints every figure; this script sorts them.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile

from smalltalk_vm.bench.remote import LISTENING, _Node
from smalltalk_vm.bench.results import save_json

DRIVER = """HotBench = (
    say: text = ( text println )
    source: i = ( ^ 'Pushed = ( | a b | value = ( ^ ' + i printString + ' ) twice = ( ^ self value * 2 ) )' )
    run: args = (
        | peers pushes t0 |
        peers := (args at: 2) asInteger. pushes := (args at: 3) asInteger.
        [ Node all size < peers ] whileTrue: [ Process sleep: 20 ].
        1 to: 10 do: [ :i | (Cluster load: (self source: i)) wait ].
        1 to: pushes do: [ :i |
            t0 := system ticks.
            (Cluster load: (self source: 1000 + i)) wait.
            self say: 'push_us ' + (system ticks - t0) printString ].
        Pushed new value = (1000 + pushes) ifFalse: [ self say: 'wrong version here' ].
        1 to: pushes do: [ :i |
            t0 := system ticks.
            system evaluate: (self source: 5000 + i).
            self say: 'local_us ' + (system ticks - t0) printString ].
        1 to: pushes do: [ :i | | promises |
            t0 := system ticks.
            promises := Node all collect: [ :n | n ~> ping ].
            promises do: [ :p | p wait ].
            self say: 'ping_all_us ' + (system ticks - t0) printString ].
        self say: 'done'.
        Process receive )
)"""


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measure(nodes: int, pushes: int) -> dict[str, list[float]]:
    vm = [sys.executable, "-m", "smalltalk_vm.cli.main", "node", "--cookie", "bench-cookie", "--tick", "5000"]
    with tempfile.TemporaryDirectory() as folder:
        with open(os.path.join(folder, "HotBench.som"), "w", encoding="utf-8") as handle:
            handle.write(DRIVER)
        started: list[_Node] = []
        try:
            first = _Node([*vm, "--name", "n1"], folder)
            started.append(first)
            address = LISTENING.search(first.wait_for("listening on", 60)[1]).group(2)
            for i in range(2, nodes):
                node = _Node([*vm, "--name", f"n{i}", "--join", address], folder)
                started.append(node)
                node.wait_for("listening on", 60)
            driver = _Node([*vm, "--name", f"n{nodes}", "--join", address, "-cp", folder, "HotBench",
                            str(nodes - 1), str(pushes)], folder)
            started.append(driver)
            driver.wait_for("^done$", 600)
            text = "\n".join(driver.out)
            if "wrong version here" in text:
                raise RuntimeError("the last push is not what the driver runs:\n" + text)
        finally:
            for node in started:
                node.kill()
    figures: dict[str, list[float]] = {"push_us": [], "local_us": [], "ping_all_us": []}
    for key, value in re.findall(r"^(\w+) (\d+)$", text, re.M):
        figures[key].append(float(value))
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--pushes", type=int, default=100)
    parser.add_argument("--json", help="write the results to this file")
    options = parser.parse_args(argv)
    if options.nodes < 2 or options.pushes < 1:
        parser.error("needs at least 2 nodes and 1 push")
    figures = measure(options.nodes, options.pushes)
    summary = {key: {"p50_ms": percentile(values, 0.5) / 1000, "p99_ms": percentile(values, 0.99) / 1000}
               for key, values in figures.items()}
    push, local, ping = summary["push_us"], summary["local_us"], summary["ping_all_us"]
    results = {"nodes": options.nodes, "pushes": options.pushes, "cluster_load": push,
               "local_load": local, "ping_all": ping,
               "ratio_p50_to_local_load": push["p50_ms"] / local["p50_ms"],
               "ratio_p50_to_ping_all": push["p50_ms"] / ping["p50_ms"], "goal": "p99 <= 50 ms on 5 nodes"}
    print(f"Cluster load: to the last acknowledgement on {options.nodes} nodes ({options.pushes} pushes): "
          f"p50 {push['p50_ms']:.1f} ms, p99 {push['p99_ms']:.1f} ms (goal p99 <= 50 ms)")
    print(f"  the same load on one node: p50 {local['p50_ms']:.1f} ms, p99 {local['p99_ms']:.1f} ms "
          f"(push p50 = {results['ratio_p50_to_local_load']:.1f}x)")
    print(f"  one ping of every other node at once: p50 {ping['p50_ms']:.1f} ms, p99 {ping['p99_ms']:.1f} ms "
          f"(push p50 = {results['ratio_p50_to_ping_all']:.1f}x)")
    save_json(options.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
