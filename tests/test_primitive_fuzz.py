"""Every primitive, and random reflective sends, with receivers and arguments of every
kind (tests/primitive_fuzz_support.py): the VM survives each call and answers a value
or a Smalltalk error. A primitive sent to an instance of its own class (the only way a
program reaches it) must not fail with an InternalError either: a bad argument is a
clean Error, not a Python exception caught at the fault boundary.

In CI: one sweep of every primitive over every kind of receiver, and a few hundred
random examples of each kind; `pytest -m fuzz` runs many more.
"""
from __future__ import annotations

import os
import random

import pytest
from conftest import VMSession
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from primitive_fuzz_support import VALUE_SOURCES, PrimitiveHarness

from smalltalk_vm.vm.objects import VClass
from smalltalk_vm.vm.primitives.object import selector_arity

CI = settings(max_examples=300, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
LONG = settings(max_examples=20_000, deadline=None,
                suppress_health_check=list(HealthCheck))
# Slow by nature (a collection, a snapshot of the whole VM): swept over a few receivers.
SLOW = {"System>>fullGC", "System>>saveImage:"}
# Selectors a reflective send may not pick: they end the VM by design.
NOT_SENT = {"exit", "exit:"}


@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> PrimitiveHarness:
    # Primitives that write files (saveImage:) write them here, whatever path they get.
    previous = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("primitive-fuzz"))
    try:
        yield PrimitiveHarness(VMSession())
    finally:
        os.chdir(previous)


def still_works(harness: PrimitiveHarness) -> None:
    vm = harness.vm
    assert vm.eval("3 + 4") == "7"
    assert vm.eval("[ 1 / 0 ] on: ZeroDivide do: [ :e | #caught ]") == "#caught"


def own_internal_errors(calls) -> list[str]:
    return [f"{c.primitive} on {c.receiver} with {c.arguments}: {c.text}"
            for c in calls if c.own_receiver and c.error_class == "InternalError"]


def test_every_primitive_with_every_kind_of_receiver(harness):
    rng = random.Random(20240607)
    calls = []
    for index, (name, method) in enumerate(harness.methods):
        receivers = range(len(harness.values)) if name not in SLOW else (0, 47, 72)
        for receiver in receivers:
            arguments = [rng.randrange(len(harness.values)) for _ in range(method.num_args)]
            calls.append(harness.call(index, receiver, arguments))
    assert len(calls) > 15_000
    assert {c.outcome for c in calls} <= {"value", "error", "parked"}
    assert own_internal_errors(calls) == []
    still_works(harness)
    # Every value still prints: nothing the calls did left one broken.
    for value in harness.values:
        harness.vm.machine.print_string(value)


def primitive_calls():
    value = st.integers(min_value=0, max_value=len(VALUE_SOURCES) - 1)
    return st.tuples(st.integers(min_value=0, max_value=10_000), value, st.lists(value, min_size=4, max_size=4))


def check_primitive_call(harness, drawn) -> None:
    method_index, receiver, arguments = drawn
    call = harness.call(method_index % len(harness.methods), receiver, arguments)
    assert call.outcome in ("value", "error", "parked")
    assert own_internal_errors([call]) == []


@CI
@given(primitive_calls())
def test_random_primitive_calls(harness, drawn):
    check_primitive_call(harness, drawn)


@pytest.mark.fuzz
@LONG
@given(primitive_calls())
def test_random_primitive_calls_long(harness, drawn):
    check_primitive_call(harness, drawn)


# ---------------------------------------------------------------------- reflective sends

def all_selectors(harness: PrimitiveHarness) -> list[str]:
    names = set()
    for value in list(harness.universe.globals.values()):
        if isinstance(value, VClass):
            names.update(value.methods)
            names.update(value.cls.methods)
    return sorted(names - NOT_SENT)


def understood(harness: PrimitiveHarness) -> list[list[str]]:
    """For each value, the selectors its class understands (inherited ones included)."""
    lists = []
    for value in harness.values:
        names: set[str] = set()
        cls = harness.universe.class_of(value)
        while cls is not None:
            names.update(cls.methods)
            cls = cls.superclass
        lists.append(sorted(names - NOT_SENT))
    return lists


def reflective_sends(selectors: list[str], understood_by: list[list[str]]):
    """Half the sends use a selector the receiver understands, so that they get past
    doesNotUnderstand: into the library and its primitives with odd arguments."""
    value = st.integers(min_value=0, max_value=len(VALUE_SOURCES) - 1)

    @st.composite
    def send(draw):
        form = draw(st.sampled_from(["perform", "withArguments", "inSuperclass", "invokeOn", "wrongArity"]))
        receiver = draw(value)
        pool = understood_by[receiver] if draw(st.booleans()) and understood_by[receiver] else selectors
        return form, receiver, draw(st.sampled_from(pool)), draw(st.lists(value, min_size=4, max_size=4)), draw(value)
    return send()


def reflective_source(form: str, receiver: int, selector: str, arguments: list[int], other: int) -> str:
    arity = selector_arity(selector)
    args = [f"(V at: {i + 1})" for i in arguments[:arity]]
    array = "{ " + ". ".join(args) + " }"
    literal = "#'" + selector.replace("'", "''") + "'"
    rcv = f"(V at: {receiver + 1})"
    if form == "perform" and arity <= 3:
        keywords = "".join(f" with: {a}" for a in args)
        return f"{rcv} perform: {literal}{keywords}"
    if form == "inSuperclass":
        return f"{rcv} perform: {literal} withArguments: {array} inSuperclass: (V at: {other + 1})"
    if form == "invokeOn":
        return f"((V at: {other + 1}) class lookup: {literal}) invokeOn: {rcv} with: {array}"
    if form == "wrongArity":
        return f"{rcv} perform: {literal} withArguments: {{ {'. '.join([*args, 'nil'])} }}"
    return f"{rcv} perform: {literal} withArguments: {array}"


def check_reflective_send(harness, drawn) -> None:
    call = harness.run_source(reflective_source(*drawn))
    assert call.outcome in ("value", "error", "parked"), call
    # Everything here is reachable by an ordinary program: no Python exception may
    # be behind an error.
    assert call.error_class != "InternalError", (call.primitive, call.text)


@pytest.fixture(scope="module")
def sends(harness):
    return reflective_sends(all_selectors(harness), understood(harness))


@CI
@given(data=st.data())
def test_random_reflective_sends(harness, sends, data):
    check_reflective_send(harness, data.draw(sends))


@pytest.mark.fuzz
@LONG
@given(data=st.data())
def test_random_reflective_sends_long(harness, sends, data):
    check_reflective_send(harness, data.draw(sends))


def test_the_vm_survived_the_reflective_sends(harness):
    still_works(harness)


def test_the_harness_sees_internal_errors_when_there_are_some(harness):
    """The check above is not vacuous: a primitive that raises is reported."""
    vm = harness.vm
    probe = harness.universe.globals["Integer"].methods["atRandom"]
    saved = probe.primitive
    probe.primitive = lambda vm, rcv: {}["missing"]
    try:
        index = [name for name, _ in harness.methods].index("Integer>>atRandom")
        call = harness.call(index, VALUE_SOURCES.index("7"), [])
        assert call.error_class == "InternalError" and own_internal_errors([call])
    finally:
        probe.primitive = saved
    assert vm.eval("7 atRandom < 7") == "true"
