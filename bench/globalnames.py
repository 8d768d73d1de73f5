"""Global names and supervision across nodes (issue 16), each against a reference
measured in the same run, on three real nodes (127.0.0.1): a registration (locks on
every node, commit acknowledged by every node) against a process-to-process round trip
between two of the nodes; a lookup (`Global named:`, read from the node's own table)
against a local lookup (`Process named:`); and the time from kill -9 of the node
running a supervised child until the child runs, under its global name, on the next
node of its list, against the tick.

Run: ``python -m bench.globalnames [--registrations N] [--lookups N] [--tick MS]
[--json FILE]``. There is no speed goal in the issue; the figures are in
docs/performance.md.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time

from smalltalk_vm.bench.remote import LISTENING, _figures, _Node
from smalltalk_vm.bench.results import save_json

BENCH_CLASS = """NamesBench = (
    say: text = ( text println )
    run: args = (
        | registrations lookups me echo t0 t1 sup holders |
        registrations := (args at: 2) asInteger. lookups := (args at: 3) asInteger.
        me := Process current.
        [ Node all size < 2 ] whileTrue: [ Process sleep: 10 ].
        Process sleep: 500.
        echo := (Node named: #a) spawn: NamesPeer selector: #echo arguments: #().
        1 to: 200 do: [ :i | echo send: { me. i }. Process receive ].
        t0 := system ticks.
        1 to: 1000 do: [ :i | echo send: { me. i }. Process receive ].
        t1 := system ticks.
        self say: 'roundtrip_us ' + ((t1 - t0) / 1000) printString.
        holders := (1 to: registrations) collect: [ :i | [ Process receive ] spawn ].
        t0 := system ticks.
        1 to: registrations do: [ :i | Global register: ('bench' + i printString) asSymbol as: (holders at: i) ].
        t1 := system ticks.
        self say: 'register_us ' + ((t1 - t0) / registrations) printString.
        Process register: (holders at: 1) as: #benchLocal.
        t0 := system ticks.
        1 to: lookups do: [ :i | Global named: #bench1 ].
        t1 := system ticks.
        self say: 'global_lookup_ns ' + ((t1 - t0) * 1000 / lookups) printString.
        t0 := system ticks.
        1 to: lookups do: [ :i | Process named: #benchLocal ].
        t1 := system ticks.
        self say: 'local_lookup_ns ' + ((t1 - t0) * 1000 / lookups) printString.
        sup := Supervisor strategy: #oneForOne intensity: 5 period: 10000.
        sup addChild: (((ChildSpec id: #w class: NamesPeer selector: #wait arguments: #()) nodes: #(#c #a))
            globalName: #benchWorker; yourself).
        sup start.
        self say: 'ready'.
        [ (Global named: #benchWorker) isNil or: [ (Global named: #benchWorker) node name = #c ] ]
            whileTrue: [ Process sleep: 1 ].
        self say: 'moved'.
        Process receive )
)"""

PEER_CLASS = """NamesPeer = (
    echo = ( | m | [ true ] whileTrue: [ m := Process receive. (m at: 1) send: m ] )
    wait = ( Process receive )
)"""


def figures(registrations: int, lookups: int, tick: int) -> dict[str, float]:
    vm = [sys.executable, "-m", "smalltalk_vm.cli.main", "node", "--cookie", "bench-cookie", "--tick", str(tick)]
    with tempfile.TemporaryDirectory() as folder:
        for source in (BENCH_CLASS, PEER_CLASS):
            name = source.split(" ", 1)[0]
            with open(os.path.join(folder, f"{name}.som"), "w", encoding="utf-8") as handle:
                handle.write(source)
        nodes: list[_Node] = []
        try:
            a = _Node([*vm, "--name", "a"], folder)
            nodes.append(a)
            address = LISTENING.search(a.wait_for("listening on", 60)[1]).group(2)
            c = _Node([*vm, "--name", "c", "--join", address], folder)
            nodes.append(c)
            b = _Node([*vm, "--name", "b", "--join", address, "-cp", folder, "NamesBench",
                       str(registrations), str(lookups)], folder)
            nodes.append(b)
            b.wait_for("^ready$", 600)
            found: dict[str, float] = dict(_figures("\n".join(b.out)))
            time.sleep(0.5)
            killed = time.monotonic()
            c.signal(signal.SIGKILL)
            b.wait_for("^moved$", 30)
            found["failover_ms"] = (time.monotonic() - killed) * 1000
            return found
        finally:
            for node in nodes:
                node.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registrations", type=int, default=300)
    parser.add_argument("--lookups", type=int, default=100000)
    parser.add_argument("--tick", type=int, default=1000, metavar="MS")
    parser.add_argument("--json", help="write the results to this file")
    options = parser.parse_args(argv)
    found = figures(options.registrations, options.lookups, options.tick)
    results = {
        "registration": {"us": found["register_us"], "round_trip_us": found["roundtrip_us"],
                         "ratio": found["register_us"] / found["roundtrip_us"]},
        "lookup": {"global_ns": found["global_lookup_ns"], "local_ns": found["local_lookup_ns"],
                   "ratio": found["global_lookup_ns"] / found["local_lookup_ns"]},
        "failover": {"ms": found["failover_ms"], "tick_ms": options.tick,
                     "ticks": found["failover_ms"] / options.tick},
    }
    r, lk, fo = results["registration"], results["lookup"], results["failover"]
    print(f"registration ({options.registrations} sequential, 3 nodes): {r['us']:.0f} us, "
          f"round trip b-a {r['round_trip_us']:.0f} us: {r['ratio']:.2f}x")
    print(f"lookup ({options.lookups}): Global named: {lk['global_ns']:.0f} ns, "
          f"Process named: {lk['local_ns']:.0f} ns: {lk['ratio']:.2f}x")
    print(f"failover after kill -9: the child runs on the next node {fo['ms']:.0f} ms later = "
          f"{fo['ticks']:.2f} ticks (tick {options.tick} ms)")
    save_json(options.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
