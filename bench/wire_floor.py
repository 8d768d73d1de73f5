"""The floor under any pure-Python wire codec: how fast the cheapest possible conversion
between VM values and cbor2's plain values is, timed beside the real codec, pickle and
cbor2 on `bench.wire`'s mixed message in the same run.

Rules: this module is a measuring instrument, not a codec. Its conversion does only what
every correct one must do — visit each value once, turn each VM carrier into the plain
value cbor2 takes (and back) — and leaves out everything a correct codec adds on top:
no sharing or cycle detection, no depth or size limits, no checks of class layouts or
keys, no remote references, processes or exceptions; it knows the message's two classes
by name. Whatever it costs, the real codec cannot cost less, so its ratios against
pickle and cbor2 bound what the issue's goals can reach without a C accelerator or
other carriers for the VM's values. It must never be used to send anything.
"""
from __future__ import annotations

import argparse
import pickle
import time
from typing import Any

import cbor2

from smalltalk_vm.bench import wire as bench_wire
from smalltalk_vm.bench.results import save_json
from smalltalk_vm.node import wire
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.objects import Instance, LargeInt, VArray, VString

ZERO, INT_LO, INT_HI = V.ZERO, V.INT_LO, V.INT_HI
SYM_BASE, SYM_LIMIT = V.SYM_BASE, V.SYM_LIMIT
SPECIALS = {V.NIL: None, V.TRUE: True, V.FALSE: False}
Tag = cbor2.CBORTag


class Floor:
    """The minimal conversion for one universe. VM thread only; never blocks; raises
    KeyError or TypeError for a value outside the message's kinds."""

    def __init__(self, universe: Any) -> None:
        self.universe = universe
        self.symbols = universe.symbols
        self.dictionary = universe.globals["Dictionary"]
        field = universe.field_index
        self.dictionary_slots = tuple(field(self.dictionary, name)
                                      for name in ("keyArray", "valueArray", "count", "index"))
        self.field_names: dict[Any, tuple] = {}

    def names_of(self, cls: Any) -> tuple:
        names = self.field_names.get(cls)
        if names is None:
            names = self.field_names[cls] = tuple(self.universe.all_field_names(cls))
        return names

    def to_plain(self, value: Any) -> Any:
        kind = type(value)
        if kind is int:
            if INT_LO <= value < INT_HI:
                return value - ZERO
            if SYM_BASE <= value < SYM_LIMIT:
                return Tag(wire.TAG_SYMBOL, self.symbols[value - SYM_BASE])
            return SPECIALS[value]
        if kind is float:
            return value
        if kind is VString:
            return value.chars
        if kind is VArray:
            return [self.to_plain(item) for item in value.items]
        if kind is LargeInt:
            return value.n
        if kind is Instance:
            cls, fields = value.cls, value.fields
            if cls is self.dictionary:
                keys_at, values_at, count_at, _ = self.dictionary_slots
                count = fields[count_at] - ZERO
                return {self.to_plain(key): self.to_plain(item) for key, item in
                        zip(fields[keys_at].items[:count], fields[values_at].items[:count])}
            return Tag(wire.TAG_OBJECT, [cls.name, {name: self.to_plain(item) for name, item
                                                    in zip(self.names_of(cls), fields)}])
        raise TypeError(f"the floor does not convert {kind.__name__}")

    def from_plain(self, plain: Any) -> Any:
        kind = type(plain)
        if kind is int:
            return plain + ZERO if -V.INT_BIAS <= plain < V.INT_BIAS else LargeInt(self.universe.Integer, plain)
        if kind is str:
            return VString(self.universe.String, plain)
        if kind is list or kind is tuple:       # cbor2 reads an array inside a tag as a tuple
            return VArray(self.universe.Array, [self.from_plain(item) for item in plain])
        if kind is float:
            return plain
        if kind is dict:
            return self.new_dictionary([self.from_plain(key) for key in plain],
                                       [self.from_plain(item) for item in plain.values()])
        if kind is Tag:
            if plain.tag == wire.TAG_SYMBOL:
                return self.universe.symbol(plain.value)
            class_name, fields = plain.value
            return Instance(self.universe.globals[class_name], [self.from_plain(item) for item in fields.values()])
        return {None: V.NIL, True: V.TRUE, False: V.FALSE}[plain]

    def new_dictionary(self, keys: list, values: list) -> Instance:
        keys_at, values_at, count_at, index_at = self.dictionary_slots
        fields = [V.NIL] * len(self.names_of(self.dictionary))
        fields[keys_at] = VArray(self.universe.Array, keys or [V.NIL])
        fields[values_at] = VArray(self.universe.Array, values or [V.NIL])
        fields[count_at] = len(keys) + ZERO
        fields[index_at] = V.NIL                    # rebuilt on first use, as the wire leaves it
        return Instance(self.dictionary, fields)

    def encode(self, value: Any) -> bytes:
        return cbor2.dumps(self.to_plain(value))

    def decode(self, data: bytes) -> Any:
        return self.from_plain(cbor2.loads(data))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=500, help="round trips per repetition")
    parser.add_argument("--repeats", type=int, default=7, help="repetitions (the median is reported)")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args(argv)

    universe, message = bench_wire.vm_message()
    floor = Floor(universe)
    plain = bench_wire.python_message()
    data = floor.encode(message)
    wire.decode(universe, wire.encode(universe, message))              # warm the class lookups
    per = bench_wire.timed({
        "wire": lambda: wire.decode(universe, wire.encode(universe, message)),
        "floor": lambda: floor.decode(floor.encode(message)),
        "floor encode": lambda: floor.encode(message),
        "floor decode": lambda: floor.decode(data),
        "pickle": lambda: pickle.loads(pickle.dumps(plain, protocol=5)),
        "cbor2": lambda: cbor2.loads(cbor2.dumps(plain, default=bench_wire.cbor2_default)),
    }, args.iterations, args.repeats, time.process_time)
    results = {"seconds_per_round_trip": per, "floor_bytes": len(data),
               "floor_over_pickle": per["floor"] / per["pickle"], "floor_over_cbor2": per["floor"] / per["cbor2"],
               "wire_over_pickle": per["wire"] / per["pickle"], "wire_over_cbor2": per["wire"] / per["cbor2"],
               "iterations": args.iterations, "repeats": args.repeats}
    for name, seconds in per.items():
        print(f"  {name:13s} {seconds * 1e6:8.1f} us")
    print(f"floor / pickle: {results['floor_over_pickle']:.1f}x   floor / cbor2: {results['floor_over_cbor2']:.1f}x")
    print(f"wire  / pickle: {results['wire_over_pickle']:.1f}x   wire  / cbor2: {results['wire_over_cbor2']:.1f}x")
    save_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
