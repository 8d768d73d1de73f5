"""Wire-values benchmark (issue 6): encode+decode throughput of node/wire.py for a
mixed message of about 1 KB (numbers, big integers, doubles, strings, nested arrays, a
dictionary, symbols, a user object), against ``pickle`` (protocol 5) of the equivalent
Python structure in the same run; plain ``cbor2`` of that Python structure is shown
for reference.

Run: ``python -m bench.wire [--iterations N] [--repeats K] [--clock cpu|wall] [--json FILE]``.
Each figure is the median over K repetitions of N encode+decode round trips; the
contenders take turns within each repetition, so a change in the machine's load
falls on all of them alike, and the default clock is the process's CPU time.
"""
from __future__ import annotations

import argparse
import os
import pickle
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import cbor2

from smalltalk_vm.bench.results import save_json
from smalltalk_vm.compiler.front import compile_input
from smalltalk_vm.image.boot import make_machine
from smalltalk_vm.node import wire, wire_c_decoding, wire_c_encoding

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

POINT_CLASS = "BenchWirePoint = Object ( | x y label tags | )"
MESSAGE_SOURCE = """
| point d |
point := BenchWirePoint new.
point instVarNamed: #x put: 12; instVarNamed: #y put: -3.25; instVarNamed: #label put: 'origin of the plot';
    instVarNamed: #tags put: #(#red #green #blue).
d := Dictionary new.
d at: 'name' put: 'bench message'; at: 'count' put: 1234567; at: 'ratio' put: 0.125;
  at: 'big' put: (2 raisedTo: 100); at: 'flags' put: { true. false. nil };
  at: 'owner' put: point; at: 'kind' put: #measurement.
^ { d.
    #(1 2 3 4 5 6 7 8 9 10 -11 -12 1000000 -1000000 4294967296).
    #(#(1.5 2.5 3.5) #('alpha' 'beta' 'gamma' 'delta') #(#(#(#deep 'nested' 42)))).
    { 'The quick brown fox jumps over the lazy dog. ' + 'The quick brown fox jumps over the lazy dog. '.
      'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt.'.
      'ütf-8 ✓ text'. #symbolOne. #symbol:two: }.
    { 3.141592653589793. 2.718281828459045. 0.0 - 0.0. 1.0e300. (2 raisedTo: 70) negated }.
    Array new: 20 withAll: 'item'.
    #(16r7FFFFFFF 16r100000000 -65536 255 256 65535 65536 3 1 4 1 5 9 2 6 5 3 5 8 9 7 9).
    'Sphinx of black quartz, judge my vow. Pack my box with five dozen liquor jugs; how vexingly quick '
        + 'daft zebras jump! The five boxing wizards jump quickly.'.
    #(#alpha #beta #gamma #delta #epsilon #zeta #eta #theta) }
"""


class Point:
    """The Python counterpart of BenchWirePoint: an object with four attributes."""

    def __init__(self, x: Any, y: Any, label: str, tags: list) -> None:
        self.x, self.y, self.label, self.tags = x, y, label, tags


def python_message() -> list:
    """The equivalent Python structure (Symbols as interned str)."""
    point = Point(12, -3.25, "origin of the plot", [sys.intern("red"), sys.intern("green"), sys.intern("blue")])
    return [
        {"name": "bench message", "count": 1234567, "ratio": 0.125, "big": 2 ** 100,
         "flags": [True, False, None], "owner": point, "kind": sys.intern("measurement")},
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, -11, -12, 1000000, -1000000, 4294967296],
        [[1.5, 2.5, 3.5], ["alpha", "beta", "gamma", "delta"], [[[sys.intern("deep"), "nested", 42]]]],
        ["The quick brown fox jumps over the lazy dog. " * 2,
         "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt.",
         "ütf-8 ✓ text", sys.intern("symbolOne"), sys.intern("symbol:two:")],
        [3.141592653589793, 2.718281828459045, -0.0, 1.0e300, -(2 ** 70)],
        ["item"] * 20,
        [0x7FFFFFFF, 0x100000000, -65536, 255, 256, 65535, 65536, 3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9],
        ("Sphinx of black quartz, judge my vow. Pack my box with five dozen liquor jugs; how vexingly quick "
         "daft zebras jump! The five boxing wizards jump quickly."),
        [sys.intern(name) for name in ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta")],
    ]


def vm_message() -> tuple[Any, Any]:
    """(universe, the mixed message as VM values)."""
    machine = make_machine([])
    universe = machine.universe
    compile_input(universe, POINT_CLASS, "<bench>")
    compiled = compile_input(universe, MESSAGE_SOURCE, "<bench>")
    outcome = machine.evaluate(compiled.method)
    if outcome.status != "value":
        raise SystemExit(f"building the message failed: {outcome.error_text}")
    return universe, outcome.value


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


def timed(contenders: dict[str, Callable[[], Any]], iterations: int, repeats: int,
          clock: Callable[[], float]) -> dict[str, float]:
    """Median seconds per call of each contender, taking turns in every repetition."""
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, call in contenders.items():
            started = clock()
            for _ in range(iterations):
                call()
            samples[name].append((clock() - started) / iterations)
    return {name: statistics.median(times) for name, times in samples.items()}


def cbor2_default(encoder: Any, value: Any) -> None:
    encoder.encode(cbor2.CBORTag(wire.TAG_OBJECT, ["Point", vars(value)]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=500, help="round trips per repetition")
    parser.add_argument("--repeats", type=int, default=7, help="repetitions (the median is reported)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                        help="the process's CPU time (default) or the wall clock")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args(argv)

    universe, message = vm_message()
    data = wire.encode(universe, message)
    wire.decode(universe, data)                                      # warm the class lookups
    plain = python_message()
    pickled = pickle.dumps(plain, protocol=5)
    cbor_plain = cbor2.dumps(plain, default=cbor2_default)

    repeat = {"iterations": args.iterations, "repeats": args.repeats, "clock": CLOCKS[args.clock]}
    results = {
        "message_bytes": {"wire": len(data), "pickle": len(pickled), "cbor2": len(cbor_plain)},
        "seconds_per_round_trip": timed({
            "wire": lambda: wire.decode(universe, wire.encode(universe, message)),
            "pickle": lambda: pickle.loads(pickle.dumps(plain, protocol=5)),
            "cbor2": lambda: cbor2.loads(cbor2.dumps(plain, default=cbor2_default)),
        }, **repeat),
        "wire_seconds_per_step": timed({
            "encode": lambda: wire.encode(universe, message),
            "decode": lambda: wire.decode(universe, data),
        }, **repeat),
        "iterations": args.iterations, "repeats": args.repeats, "clock": args.clock,
        "c_accelerators": {"encode": wire_c_encoding.AVAILABLE, "decode": wire_c_decoding.AVAILABLE},
    }
    per = results["seconds_per_round_trip"]
    results["wire_over_pickle"] = per["wire"] / per["pickle"]
    results["wire_over_cbor2"] = per["wire"] / per["cbor2"]

    accelerated = [step for step, built in results["c_accelerators"].items() if built]
    print(f"C accelerators: {', '.join(accelerated) if accelerated else 'none'} "
          "(none without a C compiler at install, or with VM_WIRE_C=0)")
    print(f"mixed message: {len(data)} bytes on the wire, {len(pickled)} pickled, {len(cbor_plain)} as plain cbor2")
    for name, seconds in per.items():
        rate = 1 / seconds
        print(f"  {name:7s} encode+decode: {seconds * 1e6:9.1f} us/message  {rate:9.0f} messages/s"
              f"  {rate * results['message_bytes'][name] / 1e6:6.2f} MB/s")
    steps = results["wire_seconds_per_step"]
    print(f"  (wire alone: encode {steps['encode'] * 1e6:.1f} us, decode {steps['decode'] * 1e6:.1f} us)")
    print(f"wire / pickle: {results['wire_over_pickle']:.1f}x the time "
          f"(wire / cbor2: {results['wire_over_cbor2']:.1f}x)")
    save_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
