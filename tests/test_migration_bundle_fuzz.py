"""Hypothesis over the process bundle: random programs stopped after a random number of
reductions, moved to a second machine and run to the end, give the output and result
of the unmoved run; damaged bundles (mutated structure, flipped bytes, cut short) are
refused with a BundleError or, when what is left is still a valid process, run as a
process of the target — never a Python exception, never an internal error of the VM."""
from __future__ import annotations

import time

import cbor2
import pytest
from bundle_support import VM, moved, unmoved
from hypothesis import given, settings
from hypothesis import strategies as st

from smalltalk_vm.node import bundle as MB
from smalltalk_vm.vm import value as V

HELPER = """Fuzzed = (
    | count |
    bump: n = ( count := (count ifNil: [ 0 ]) + n. ^ count )
    twice: aBlock = ( ^ (aBlock value: 1) + (aBlock value: 2) )
    fib: n = ( ^ n < 2 ifTrue: [ n ] ifFalse: [ (self fib: n - 1) + (self fib: n - 2) ] )
    find: x in: anArray = ( anArray do: [ :each | each = x ifTrue: [ ^ #found ] ]. ^ #missing )
)"""

small = st.integers(min_value=0, max_value=40)
STATEMENTS = [
    lambda n, k: f"a := a + {n}.",
    lambda n, k: f"1 to: {n} do: [ :i | b := b + (i * {k}) ].",
    lambda n, k: f"arr at: {n % 5 + 1} put: a.",
    lambda n, k: f"blk := [ :x | x * {k} + a ]. c := blk value: {n}.",
    lambda n, k: f"[ a := a + {n} ] ensure: [ b := b + 1. 'e{k}' println ].",
    lambda n, k: f"[ [ c := c + {k} ] ensure: [ 'inner{n}' println ] ] ensure: [ 'outer' println ].",
    lambda n, k: "a printString println.",
    lambda n, k: f"dict at: #k{n % 4} put: b.",
    lambda n, k: f"a := [ :x | x > {n} ifTrue: [ x - {n} ] ifFalse: [ x + {k} ] ] value: a.",
    lambda n, k: f"c := 0. [ c := c + 1. c < {n % 20} ] whileTrue.",
    lambda n, k: f"[ {k} / 0 ] on: ZeroDivide do: [ :e | b := b + {n} ].",
    lambda n, k: f"str := str , '{chr(97 + n % 26)}'.",
    lambda n, k: f"a := a + (obj bump: {n}).",
    lambda n, k: f"b := b + (obj twice: [ :x | x * {k} ]).",
    lambda n, k: f"c := c + (obj fib: {n % 12}).",
    lambda n, k: f"dict at: #f put: (obj find: {n % 6} in: arr).",
    lambda n, k: f"vec append: a. vec size > {k} ifTrue: [ vec removeFirst ].",
    lambda n, k: f"{n % 7} timesRepeat: [ c := c + 1. c printString size ].",
]

statement = st.tuples(st.integers(0, len(STATEMENTS) - 1), small, small).map(
    lambda t: STATEMENTS[t[0]](t[1], t[2]))


def program(statements: list[str]) -> str:
    body = "\n    ".join(statements)
    return f"""[ | a b c arr blk dict str obj vec |
    a := 0. b := 0. c := 0. arr := Array new: 5 withAll: 0. dict := Dictionary new.
    str := ''. obj := Fuzzed new. vec := Vector new.
    {body}
    {{ a. b. c. arr. str. dict size. vec size. (dict at: #f ifAbsent: [ nil ]) }} printString println.
    a + b + c ] spawn"""


_machines: dict[str, tuple[VM, VM]] = {}


def machines(purpose: str = "moves") -> tuple[VM, VM]:
    """Two machines per purpose: damaged bundles run on machines of their own, whose
    error output fills with the errors of the processes they built."""
    if purpose not in _machines:
        pair = (VM(), VM())
        for vm in pair:
            vm.define(HELPER)
        _machines[purpose] = pair
    return _machines[purpose]


@settings(max_examples=60)
@given(st.lists(statement, min_size=1, max_size=12), st.integers(min_value=1, max_value=400))
def test_random_programs_moved_midway_finish_as_unmoved(statements, reductions):
    source, target = machines()
    text = program(statements)
    reference = unmoved(source, text)
    run = moved(source, target, text, reductions)
    assert run.output == reference.output, text
    assert run.result == reference.result, text
    assert not source.errors and not target.errors


@settings(max_examples=25)
@given(st.lists(statement, min_size=1, max_size=8), st.lists(st.integers(1, 120), min_size=2, max_size=4))
def test_random_programs_moved_back_and_forth(statements, steps):
    """Moved again and again (a→b→a→…) at random points: still the unmoved run."""
    source, target = machines()
    text = program(statements)
    reference = unmoved(source, text)
    proc = source.spawn(text)
    here, there = source, target
    output = ""
    for reductions in steps:
        if not here.step(proc, reductions):
            break
        frozen = MB.freeze(here.universe, proc)
        thawed = MB.thaw(there.machine, MB.encode(frozen))
        MB.retire(frozen)
        output += here.take_output()
        proc, here, there = thawed.proc, there, here
    result = here.finish(proc)
    assert output + here.take_output() == reference.output
    assert result == reference.result


# ---------------------------------------------------------------------- damaged bundles

SAMPLES = [
    program(["1 to: 30 do: [ :i | b := b + i ].", "[ a := a + 1 ] ensure: [ 'e' println ].",
             "blk := [ :x | x * 2 + a ]. c := blk value: 3.", "a := a + (obj fib: 8)."]),
    program(["dict at: #k1 put: b.", "str := str , 'q'.", "vec append: a.", "c := c + (obj twice: [ :x | x ])."]),
]
_bundles: list[tuple[bytes, dict]] = []


def bundles() -> list[tuple[bytes, dict]]:
    if not _bundles:
        source, _ = machines("damage")
        for text in SAMPLES:
            for reductions in (3, 25, 60):
                proc = source.spawn(text)
                if not source.step(proc, reductions):
                    continue
                frozen = MB.freeze(source.universe, proc)
                data = MB.encode(frozen)
                MB.unfreeze(frozen)
                source.finish(proc)
                _bundles.append((data, cbor2.loads(data)))
        source.take_output()
    return _bundles


def places(node, path=()):
    """Every position inside a decoded bundle: (path, value)."""
    yield path, node
    if type(node) is dict:
        for key in sorted(node, key=str):
            yield from places(node[key], (*path, key))
    elif type(node) is list:
        for i, item in enumerate(node):
            yield from places(item, (*path, i))


def replaced(body, path, value):
    if not path:
        return value
    copy = dict(body) if type(body) is dict else list(body)
    copy[path[0]] = replaced(body[path[0]], path[1:], value)
    return copy


replacements = st.one_of(
    st.integers(min_value=-3, max_value=3).map(lambda d: ("shift", d)),
    st.sampled_from([V.NIL, V.TRUE, V.REF_BASE, V.REF_BASE + 10_000, V.SYM_BASE + 5000, V.ZERO - 1, -1, 0,
                     2 ** 64 + 1, 1.5, float("nan"), "", "Object", "doIt", None, [], {}, b"\x00", True,
                     V.QNAN + 1, 7 << 48]).map(lambda v: ("set", v)),
    st.just(("drop", None)),
)


def thaw_and_run(target: VM, data: bytes) -> None:
    """Thaw (a BundleError is a fine answer) and run what was built, bounded."""
    errors_before = len(target.errors)
    try:
        thawed = MB.thaw(target.machine, data)
    except MB.BundleError as error:
        assert str(error)
        return
    proc = thawed.proc
    deadline = time.monotonic() + 2.0
    target.scheduler.run_until(lambda: not proc.alive or time.monotonic() > deadline)
    if proc.alive:
        target.scheduler.terminate(proc, target.universe.symbol("kill"))
    target.take_output()
    new_errors = "".join(target.errors[errors_before:])
    assert "internal error" not in new_errors, new_errors


@settings(max_examples=300)
@given(st.data())
def test_a_damaged_bundle_is_refused_or_runs_but_never_crashes(data):
    _, target = machines("damage")
    _, body = data.draw(st.sampled_from(bundles()))
    spots = list(places(body))
    path, old = data.draw(st.sampled_from(spots[1:]))
    how, value = data.draw(replacements)
    if how == "shift":
        if type(old) is not int:
            return
        value = old + value
    if how == "drop":
        parent = body
        for key in path[:-1]:
            parent = parent[key]
        if type(parent) is list:
            shorter = [item for i, item in enumerate(parent) if i != path[-1]]
            mutated = replaced(body, path[:-1], shorter)
        else:
            mutated = replaced(body, path[:-1], {k: v for k, v in parent.items() if k != path[-1]})
    else:
        mutated = replaced(body, path, value)
    thaw_and_run(target, cbor2.dumps(mutated))


@settings(max_examples=150)
@given(st.data())
def test_flipped_or_cut_bytes_are_refused_or_run_but_never_crash(data):
    _, target = machines("damage")
    raw, _ = data.draw(st.sampled_from(bundles()))
    if data.draw(st.booleans()):
        cut = data.draw(st.integers(0, len(raw) - 1))
        damaged = raw[:cut]
    else:
        position = data.draw(st.integers(0, len(raw) - 1))
        damaged = raw[:position] + bytes([raw[position] ^ data.draw(st.integers(1, 255))]) + raw[position + 1:]
    thaw_and_run(target, damaged)


@pytest.mark.parametrize("junk", [b"", b"\xa0", cbor2.dumps([1, 2]), cbor2.dumps({"format": "x"}),
                                  "not bytes", cbor2.dumps({"format": MB.read_header.__module__})])
def test_junk_is_not_a_bundle(junk):
    _, target = machines("damage")
    with pytest.raises(MB.BundleError):
        MB.thaw(target.machine, junk)
