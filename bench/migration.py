"""Migration benchmark (issue 18): the time `p migrateTo:` takes to move a process with
a private heap of 1,000 objects and 100 messages queued in its mailbox to another node
(from the send to the promise fulfilled: freeze, encode, the frame, thaw on the target,
the commit, the forwarding of nothing more), p50 and p99 over many moves between two
real `vm node` processes, against two references measured in the same run on the same
nodes:

- one ping of the other node (`aNode ping`): the network round trip a move pays
  (twice: the bundle and its answer, then the commit, which is not waited for);
- one local spawn that answers (`[ me send: #up ] spawn. Process receive`): the cost
  of starting a process here, which the move's promise pays once.

Run: ``python -m bench.migration [--moves N] [--objects N] [--messages N] [--json FILE]``
(or ``vm bench --migration ...``). The hosted program on the first node measures with
`system ticks` (microseconds) and prints every figure; this script sorts them.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile

from smalltalk_vm.bench.hotload import percentile
from smalltalk_vm.bench.remote import LISTENING, _Node
from smalltalk_vm.bench.results import save_json

DRIVER = """MoveBench = (
    say: text = ( text println )
    heapOf: size = (
        | heap |
        heap := Array new: size.
        1 to: size do: [ :i | heap at: i put: (Array with: i with: i * 2) ].
        ^ heap )
    subject: objects messages: messages = (
        | heap p |
        heap := self heapOf: objects.
        p := [ | kept | kept := heap. Process sleep: 600000. kept size ] spawn.
        1 to: messages do: [ :i | p send: (Array with: i with: 'queued') ].
        ^ p )
    run: args = (
        | b moves objects messages me p t0 moved |
        moves := (args at: 2) asInteger. objects := (args at: 3) asInteger. messages := (args at: 4) asInteger.
        [ (b := Node named: #m2) isNil ] whileTrue: [ Process sleep: 20 ].
        me := Process current.
        1 to: 5 do: [ :i | ((self subject: objects messages: messages) migrateTo: b) wait kill ].
        1 to: moves do: [ :i |
            p := self subject: objects messages: messages.
            Process yield.
            t0 := system ticks.
            moved := (p migrateTo: b) wait.
            self say: 'move_us ' + (system ticks - t0) printString.
            moved kill ].
        1 to: moves do: [ :i |
            t0 := system ticks.
            b ping.
            self say: 'ping_us ' + (system ticks - t0) printString ].
        1 to: moves do: [ :i |
            t0 := system ticks.
            [ me send: #up ] spawn.
            Process receive.
            self say: 'spawn_us ' + (system ticks - t0) printString ].
        self say: 'done'.
        Process receive )
)"""


def measure(moves: int, objects: int, messages: int) -> dict[str, list[float]]:
    vm = [sys.executable, "-m", "smalltalk_vm.cli.main", "node", "--cookie", "bench-cookie", "--tick", "5000"]
    with tempfile.TemporaryDirectory() as folder:
        with open(os.path.join(folder, "MoveBench.som"), "w", encoding="utf-8") as handle:
            handle.write(DRIVER)
        started: list[_Node] = []
        try:
            target = _Node([*vm, "--name", "m2"], folder)
            started.append(target)
            address = LISTENING.search(target.wait_for("listening on", 60)[1]).group(2)
            driver = _Node([*vm, "--name", "m1", "--join", address, "-cp", folder, "MoveBench",
                            str(moves), str(objects), str(messages)], folder)
            started.append(driver)
            driver.wait_for("^done$", 600)
            text = "\n".join(driver.out)
        finally:
            for node in started:
                node.kill()
    figures: dict[str, list[float]] = {"move_us": [], "ping_us": [], "spawn_us": []}
    for key, value in re.findall(r"^(\w+) (\d+)$", text, re.M):
        figures[key].append(float(value))
    if len(figures["move_us"]) != moves:
        raise RuntimeError("the driver did not report every move:\n" + text)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=100)
    parser.add_argument("--objects", type=int, default=1000, help="objects in the moved process's heap")
    parser.add_argument("--messages", type=int, default=100, help="messages queued in its mailbox")
    parser.add_argument("--json", help="write the results to this file")
    options = parser.parse_args(argv)
    if options.moves < 1 or options.objects < 0 or options.messages < 0:
        parser.error("needs at least 1 move, and no negative sizes")
    figures = measure(options.moves, options.objects, options.messages)
    summary = {key: {"p50_ms": percentile(values, 0.5) / 1000, "p99_ms": percentile(values, 0.99) / 1000}
               for key, values in figures.items()}
    move, ping, spawn = summary["move_us"], summary["ping_us"], summary["spawn_us"]
    results = {"moves": options.moves, "objects": options.objects, "messages": options.messages,
               "move": move, "ping": ping, "local_spawn": spawn,
               "ratio_p50_to_ping": move["p50_ms"] / ping["p50_ms"],
               "ratio_p50_to_local_spawn": move["p50_ms"] / spawn["p50_ms"]}
    print(f"migrateTo: a process with {options.objects} heap objects and {options.messages} queued messages "
          f"({options.moves} moves): p50 {move['p50_ms']:.1f} ms, p99 {move['p99_ms']:.1f} ms")
    print(f"  one ping of the other node: p50 {ping['p50_ms']:.2f} ms, p99 {ping['p99_ms']:.2f} ms "
          f"(move p50 = {results['ratio_p50_to_ping']:.1f}x)")
    print(f"  one local spawn that answers: p50 {spawn['p50_ms']:.3f} ms, p99 {spawn['p99_ms']:.3f} ms "
          f"(move p50 = {results['ratio_p50_to_local_spawn']:.0f}x)")
    save_json(options.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
