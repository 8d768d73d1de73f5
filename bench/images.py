"""Image benchmarks (issue 5): save+load time and file size of a heap of 1,000,000
objects against ``pickle`` (protocol 5) of the same object graph built in Python in the
same run; start-up time of ``vm eval 'nil'`` from the cached default image against
``python -c pass``; and the encoding question of docs/image-format.md: the product's
packed NaN-boxed words against an alternative written here, VM values as plain CBOR
items (ints as CBOR ints, doubles as CBOR floats, references as a tag around the
record index, Symbols and Characters as tagged text / code points).

Run: ``python -m bench.images [--objects N] [--repeat R] [--runs K] [--json FILE]``.
Timings are the best of R runs; start-up times the median of K.
The alternative encoder is a measurement only: the product does not use it.
"""
from __future__ import annotations

import argparse
import gc
import os
import pickle
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import cbor2

from smalltalk_vm.bench.results import save_json
from smalltalk_vm.compiler.front import compile_input, load_class_source
from smalltalk_vm.image import store
from smalltalk_vm.image.boot import LIB_DIR, make_machine
from smalltalk_vm.image.format import decode, encode
from smalltalk_vm.image.reader import Reader
from smalltalk_vm.image.records import from_u64 as _from_u64
from smalltalk_vm.image.snapshot import Writer
from smalltalk_vm.vm import value as V

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Private tags of the alternative encoding (3-byte heads, as node/wire.py's are).
ALT_TAG_REF = 51100
ALT_TAG_SYMBOL = 51101
ALT_TAG_CHARACTER = 51102

REF_LIMIT = V.REF_BASE + (1 << V.PAYLOAD_BITS)
TAGGED_TOP13 = V.QNAN >> 51
pack_word = struct.Struct("<Q").pack
unpack_double = struct.Struct("<d").unpack


# ====================================================================== the heap

def heap_source(pairs: int) -> str:
    """A do-it building ``pairs`` Arrays, each with an Integer, a Double, a fresh
    String and a reference to the previous Array: 2 * pairs heap objects (plus the
    Array holding them), reachable from the global #BenchHeap."""
    return (f"| heap previous | heap := Array new: {pairs}. previous := nil. "
            f"1 to: {pairs} do: [ :i | previous := {{ i. i * 0.5. i asString. previous }}. "
            f"heap at: i put: previous ]. system global: #BenchHeap put: heap. heap size")


def python_heap(pairs: int) -> list:
    """The same graph as plain Python objects (lists, ints, floats, strs)."""
    heap: list = []
    previous = None
    for i in range(1, pairs + 1):
        previous = [i, i * 0.5, str(i), previous]
        heap.append(previous)
    return heap


def build_vm_heap(pairs: int) -> Any:
    machine = make_machine([])
    compiled = compile_input(machine.universe, heap_source(pairs), "<bench>")
    outcome = machine.evaluate(compiled.method)
    if outcome.status != "value":
        raise RuntimeError(f"building the heap failed: {outcome.status} {outcome.error_text}")
    return machine


REPEATS = 2        # every timing is the best of this many runs (set by --repeat)


def timed(work: Callable[[], Any], collector: bool = True) -> tuple[float, Any]:
    """The best time of REPEATS runs of ``work`` (seconds), and its last result; with
    ``collector=False`` the cyclic garbage collector is off meanwhile (its passes over
    millions of new containers are a large part of any bulk decode in CPython)."""
    best, result = float("inf"), None
    for _ in range(REPEATS):
        result = None
        gc.collect()
        if not collector:
            gc.disable()
        try:
            start = time.perf_counter()
            result = work()
            best = min(best, time.perf_counter() - start)
        finally:
            gc.enable()
    return best, result


# ====================================================================== pickle reference

def write_synced(path: str, data: bytes) -> None:
    """Write and fsync, as the image writer does, so the comparison is fair."""
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def read_bytes(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def pickle_figures(pairs: int, folder: str) -> dict:
    heap = python_heap(pairs)
    path = os.path.join(folder, "heap.pickle")
    save, _ = timed(lambda heap=heap: write_synced(path, pickle.dumps(heap, protocol=5)))
    del heap
    load, loaded = timed(lambda: pickle.loads(read_bytes(path)))
    assert loaded[-1][3] is loaded[-2] and loaded[-1][2] == str(pairs)
    return {"save_s": save, "load_s": load, "bytes": os.path.getsize(path)}


# ====================================================================== the alternative encoding

class PlainCborWriter(Writer):
    """The product's Writer with every value word replaced by a plain CBOR item."""

    def __init__(self, machine: Any) -> None:
        super().__init__(machine)
        self.symbols = machine.universe.symbols

    def word(self, value: Any) -> Any:                     # type: ignore[override]
        kind = type(value)
        if kind is float:
            return value
        if kind is int:
            if V.INT_LO <= value < V.INT_HI:
                return value - V.ZERO
            if value == V.NIL:
                return None
            if value == V.TRUE:
                return True
            if value == V.FALSE:
                return False
            if V.CHAR_BASE <= value < V.CHAR_LIMIT:
                return cbor2.CBORTag(ALT_TAG_CHARACTER, value - V.CHAR_BASE)
            return cbor2.CBORTag(ALT_TAG_SYMBOL, self.symbols[value - V.SYM_BASE])
        return cbor2.CBORTag(ALT_TAG_REF, self.ref(value))

    def words(self, values: Any) -> Any:                   # type: ignore[override]
        word = self.word
        return [word(v) for v in values]

    def opt(self, obj: Any) -> Any:
        return None if obj is None else self.word(obj)


class PlainCborReader(Reader):
    """The product's Reader taking plain CBOR items where it takes words. (It only
    rebuilds objects, enough to time the decode: it does not install a machine, and
    it makes every context a block context, since the shell table tests the closure
    slot against the word of nil — a handful of objects, irrelevant to the timing.)"""

    def __init__(self, machine: Any, snapshot: dict) -> None:
        super().__init__(machine, snapshot)
        self.symbol_ids = {name: i for i, name in enumerate(snapshot["roots"]["symbols"])}

    def value(self, item: Any, literal: bool = False) -> Any:    # type: ignore[override]
        kind = type(item)
        if kind is int:
            return item + V.ZERO
        if kind is float:
            return item
        if item is None:
            return V.NIL
        if item is True:
            return V.TRUE
        if item is False:
            return V.FALSE
        if kind is cbor2.CBORTag:
            if item.tag == ALT_TAG_REF:
                return self.obj(item.value)
            if item.tag == ALT_TAG_SYMBOL:
                return V.symbol_word(self.symbol_ids[item.value])
            if item.tag == ALT_TAG_CHARACTER:
                return V.char_word(item.value)
        raise ValueError(f"not a value item: {item!r}")

    def values(self, items: Any) -> list:                  # type: ignore[override]
        value = self.value
        return [value(item) for item in items]

    def optional(self, item: Any) -> Any:
        return None if item is None else self.value(item)


class TunedWordReader(Reader):
    """The product's Reader with references and doubles decoded inline instead of
    through the generic ``vm.value.unbox`` (same file format): separates what the
    word encoding costs from what the reader's code costs. (The product's reader has
    decoded them inline since; this row now also shows what its checks of each word
    cost: nothing measurable.)"""

    def values(self, data: bytes) -> list:                 # type: ignore[override]
        objects, value = self.objects, self.value
        out = _from_u64(data)
        for i, w in enumerate(out):
            if V.INT_LO <= w < V.REF_BASE:
                continue                                   # immediates are their own carrier
            if V.REF_BASE <= w < REF_LIMIT:
                out[i] = objects[w - V.REF_BASE]
            elif w >> 51 != TAGGED_TOP13:
                out[i] = unpack_double(pack_word(w))[0]
            else:
                out[i] = value(w)                          # NaN and anything malformed
        return out


def count_refs(item: Any) -> int:
    """References in a decoded plain-CBOR snapshot (iterative: heaps are deep)."""
    count, stack = 0, [item]
    while stack:
        current = stack.pop()
        kind = type(current)
        if kind is list:
            stack.extend(current)
        elif kind is dict:
            stack.extend(current.values())
        elif kind is cbor2.CBORTag:
            count += current.tag == ALT_TAG_REF
            stack.append(current.value)
    return count


def check_decoded_heap(reader: Reader, snapshot: dict) -> None:
    """The decoded #BenchHeap is the heap that was built (so no decoder is timed
    doing less than the others)."""
    heap = reader.value(snapshot["roots"]["globals"]["BenchHeap"]).items
    last, before = heap[-1].items, heap[-2].items
    pairs = len(heap)
    assert last[0] == V.small_int(pairs) and last[1] == pairs * 0.5
    assert last[2].chars == str(pairs) and last[3] is heap[-2] and before[3] is heap[-3]


# (name, writer, reader); rows sharing a writer share its encoded body.
ENCODINGS = (("nan-boxed words", Writer, Reader),
             ("words, tuned reader", Writer, TunedWordReader),
             ("plain CBOR items", PlainCborWriter, PlainCborReader))


def encoding_figures(machine: Any) -> dict:
    """Encode and decode the same machine each way (body only: no header, checksum
    or file I/O); decode includes rebuilding every object (Reader.load). Each is timed
    with the garbage collector on (as the product runs) and off (the work alone). The
    encodings alternate within each round, so a change in the machine's load during
    the run does not favour one of them; each figure is the best round."""
    figures: dict = {name: {} for name, _, _ in ENCODINGS}

    def keep_best(entry: dict, key: str, seconds: float) -> None:
        entry[key] = min(seconds, entry.get(key, float("inf")))

    def measure(work: Callable[[], Any], collector: bool) -> tuple[float, Any]:
        gc.collect()
        if not collector:
            gc.disable()
        try:
            start = time.perf_counter()
            result = work()
            return time.perf_counter() - start, result
        finally:
            gc.enable()

    for _round in range(REPEATS):
        for collector, suffix in ((True, ""), (False, "_no_gc")):
            bodies: dict = {}
            for name, writer_class, reader_class in ENCODINGS:
                entry = figures[name]
                if writer_class not in bodies:
                    bodies.clear()
                    bodies[writer_class] = measure(
                        lambda writer_class=writer_class: cbor2.dumps(writer_class(machine).snapshot(machine.main)),
                        collector)
                encode_s, body = bodies[writer_class]
                keep_best(entry, "encode_s" + suffix, encode_s)

                def decode_body(body: bytes = body, reader_class: Any = reader_class) -> Any:
                    snapshot = cbor2.loads(body)
                    reader = reader_class(None, snapshot)
                    reader.load()
                    return snapshot, reader
                decode_s, (snapshot, reader) = measure(decode_body, collector)
                check_decoded_heap(reader, snapshot)
                del reader
                keep_best(entry, "decode_s" + suffix, decode_s)
                entry["bytes"] = len(body)
                if writer_class is PlainCborWriter and "references" not in entry:
                    # A one-byte tag head (none is free in the registry) would save 2 bytes each.
                    entry["references"] = count_refs(snapshot["records"])
                del body, snapshot
            bodies.clear()
    return figures


# ====================================================================== save / load

def image_figures(machine: Any, folder: str) -> dict:
    path = os.path.join(folder, "heap.image")
    snapshot_s, snapshot = timed(lambda: Writer(machine).snapshot(machine.main))
    encode_s, data = timed(lambda snapshot=snapshot: encode(snapshot, snapshot["counts"], "bench"))
    objects = snapshot["counts"]["objects"]
    del snapshot, data
    save_s, _ = timed(lambda: store.save(machine, path, machine.main))
    decode_s, _ = timed(lambda: decode(read_bytes(path)))
    load_s, (loaded, _main) = timed(lambda: store.load(path, LIB_DIR, [], load_class_source))
    heap = loaded.universe.globals["BenchHeap"]
    assert heap.items[-1].items[3] is heap.items[-2]       # identity survived
    return {"objects": objects, "bytes": os.path.getsize(path), "save_s": save_s,
            "load_s": load_s, "phases": {"snapshot_s": snapshot_s, "encode_s": encode_s,
                                         "read_and_decode_s": decode_s}}


# ====================================================================== start-up

def median_run_time(command: list[str], runs: int, env: dict) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=env, cwd=ROOT)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def startup_figures(runs: int) -> dict:
    env = dict(os.environ, PYTHONPATH=ROOT)
    vm_eval = [sys.executable, "-m", "smalltalk_vm.cli.main", "eval", "nil"]
    subprocess.run(vm_eval, check=True, capture_output=True, env=env, cwd=ROOT)  # fill the cache
    cached = median_run_time(vm_eval, runs, env)
    from_lib = median_run_time(vm_eval, runs, dict(env, VM_IMAGE_CACHE="0"))
    python = median_run_time([sys.executable, "-c", "pass"], runs, env)
    return {"vm_eval_nil_s": cached, "vm_eval_nil_from_lib_s": from_lib, "python_pass_s": python,
            "runs": runs}


# ====================================================================== report

def report(results: dict) -> None:
    image, pickled = results["image"], results["pickle"]
    print(f"heap: {results['pairs'] * 2:,} objects built in the VM in {results['build_s']:.1f} s "
          f"({image['objects']:,} records in the image, kernel included); "
          f"times are the best of {results['repeats']}")
    print()
    print(f"{'':28}{'image':>12}{'pickle 5':>12}{'ratio':>9}")
    for label, key, _unit, scale in (("save (s)", "save_s", "", 1), ("load (s)", "load_s", "", 1),
                                     ("file size (MB)", "bytes", "", 1e-6)):
        mine, theirs = image[key] * scale, pickled[key] * scale
        print(f"{label:28}{mine:12.2f}{theirs:12.2f}{mine / theirs:8.1f}x")
    phases = image["phases"]
    print(f"  save phases: snapshot {phases['snapshot_s']:.2f} s, encode+checksum "
          f"{phases['encode_s']:.2f} s; load: read+checksum+CBOR {phases['read_and_decode_s']:.2f} s")
    print()
    print(f"{'body encoding':22}{'size (MB)':>10}{'encode (s)':>12}{'decode (s)':>12}"
          f"{'encode, no GC':>15}{'decode, no GC':>15}")
    for name, figures in results["encodings"].items():
        print(f"{name:22}{figures['bytes'] / 1e6:10.2f}{figures['encode_s']:12.2f}"
              f"{figures['decode_s']:12.2f}{figures['encode_s_no_gc']:15.2f}"
              f"{figures['decode_s_no_gc']:15.2f}")
    encodings = results["encodings"]
    plain = encodings["plain CBOR items"]
    for name in ("nan-boxed words", "words, tuned reader"):
        words = encodings[name]
        print(f"  plain / {name}: size {plain['bytes'] / words['bytes']:.2f}x, encode "
              f"{plain['encode_s'] / words['encode_s']:.2f}x, decode "
              f"{plain['decode_s'] / words['decode_s']:.2f}x (no GC: encode "
              f"{plain['encode_s_no_gc'] / words['encode_s_no_gc']:.2f}x, decode "
              f"{plain['decode_s_no_gc'] / words['decode_s_no_gc']:.2f}x)")
    print(f"  {plain['references']:,} references in the plain encoding, each behind a 3-byte tag head")
    print()
    start = results["startup"]
    print(f"start-up, median of {start['runs']}: vm eval 'nil' {start['vm_eval_nil_s'] * 1000:.0f} ms "
          f"(cached default image), {start['vm_eval_nil_from_lib_s'] * 1000:.0f} ms (from lib/), "
          f"python -c pass {start['python_pass_s'] * 1000:.0f} ms: "
          f"{start['vm_eval_nil_s'] / start['python_pass_s']:.1f}x")


def main(argv: list[str] | None = None) -> int:
    global REPEATS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1_000_000,
                        help="heap objects to build (half Arrays, half Strings)")
    parser.add_argument("--runs", type=int, default=7, help="runs per start-up median")
    parser.add_argument("--repeat", type=int, default=REPEATS,
                        help="timings are the best of this many runs")
    parser.add_argument("--json", help="write the results to this file")
    options = parser.parse_args(argv)
    REPEATS = max(1, options.repeat)
    pairs = options.objects // 2
    results: dict = {"pairs": pairs, "python": sys.version.split()[0], "repeats": REPEATS}
    with tempfile.TemporaryDirectory(prefix="bench-images-") as folder:
        start = time.perf_counter()
        machine = build_vm_heap(pairs)
        results["build_s"] = time.perf_counter() - start
        results["image"] = image_figures(machine, folder)
        results["encodings"] = encoding_figures(machine)
        del machine
        gc.collect()
        results["pickle"] = pickle_figures(pairs, folder)
    results["startup"] = startup_figures(options.runs)
    report(results)
    save_json(options.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
