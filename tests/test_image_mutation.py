"""Random structural damage to a real image, re-signed so that it gets past the
checksum (what a buggy writer produces): the decoded body of an image holding live
processes of every kind is changed in one to three places — any element of any record
replaced by another value, word, reference or shape, a packed word or code array
rewritten in one place, cut or extended, the roots (process table, run queue,
registry, counters, globals, symbols) changed — and loaded. The outcome must be a
refusal with a one-line ImageError, or an image that loads and then runs for a while
without any Python exception; never a traceback, never a hang. A few hundred examples
here; thousands with ``-m fuzz``."""
from __future__ import annotations

import math
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import alarms
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from image_crafting import Body, load_signed, make_crafted_image

from smalltalk_vm.image.format import ImageFileError
from smalltalk_vm.image.records import R_BLOCK, R_CLOSURE, R_CONTEXT, R_PROCESS, ImageError
from smalltalk_vm.vm import value as V

CI = settings(max_examples=200, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                     HealthCheck.data_too_large])
LONG = settings(CI, max_examples=5000)
RUN_SECONDS = 0.1


class Hang(BaseException):
    """Raised by the alarm: a BaseException, so no ``except Exception`` swallows it."""


def time_limit(seconds: float, what: str) -> AbstractContextManager[None]:
    return alarms.alarm(seconds, lambda: Hang(f"{what} ran for more than {seconds}s"))


@pytest.fixture(scope="module")
def crafted(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_crafted_image(tmp_path_factory.mktemp("mutation"))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mutated")


# ---------------------------------------------------------------------- what replaces what

def value_words(records: int) -> st.SearchStrategy[int]:
    return st.one_of(
        st.sampled_from([V.NIL, V.TRUE, V.FALSE, V.ZERO, V.ONE, V.QNAN, V.INT_LO, V.INT_HI - 1,
                         V.SPECIAL_BASE + 3, V.CHAR_BASE, V.CHAR_LIMIT, V.SYM_BASE, V.QNAN | (6 << 48),
                         V.QNAN | (7 << 48), 0, 1, (1 << 64) - 1]),
        st.builds(lambda k: V.REF_BASE + k, st.integers(0, records + 3)),
        st.builds(lambda k: V.SYM_BASE + k, st.integers(0, 5000)),
        st.builds(lambda k: V.ZERO + k, st.integers(-1000, 1 << 20)),
        st.builds(lambda k: V.CHAR_BASE + k, st.integers(0, 0x10FFFF)))


def replacements(records: int) -> st.SearchStrategy[Any]:
    return st.one_of(
        value_words(records),
        st.integers(-2, records + 3),
        st.sampled_from([None, True, False, "", "x", "runnable", "dead", "waiting", "object", "array", [], [1],
                         ["lib", "Object.som"], {}, b"", b"\x00" * 8, 1.5, -0.0, math.nan, math.inf,
                         1 << 62, -(1 << 70)]),
        st.lists(st.integers(0, records + 3), max_size=3),
        st.binary(max_size=24))


def live_records(body: Body) -> list[int]:
    """The records a running image depends on most: processes, contexts, closures, blocks."""
    return [i for i, r in enumerate(body.records) if r[0] in (R_PROCESS, R_CONTEXT, R_CLOSURE, R_BLOCK)]


def mutate_record(body: Body, data: Any) -> None:
    records = body.records
    live = live_records(body)
    if data.draw(st.booleans(), label="live record"):
        index = data.draw(st.sampled_from(live), label="record")
    else:
        index = data.draw(st.integers(0, len(records) - 1), label="record")
    record = records[index]
    position = data.draw(st.integers(1, len(record) - 1), label="element")
    element = record[position]
    how = data.draw(st.sampled_from(["replace", "copy", "inside"]), label="how")
    if how == "replace" or (how == "inside" and not isinstance(element, (bytes, list)) ):
        record[position] = data.draw(replacements(len(records)), label="replacement")
    elif how == "copy":
        other = records[data.draw(st.integers(0, len(records) - 1), label="other")]
        record[position] = other[data.draw(st.integers(0, len(other) - 1), label="other element")]
    elif isinstance(element, bytes):
        record[position] = mutate_packed(element, data, len(records))
    elif element:
        mutate_list(element, data, len(records))
    else:
        element.append(data.draw(replacements(len(records)), label="appended"))


def mutate_packed(data_bytes: bytes, data: Any, records: int) -> bytes:
    width = data.draw(st.sampled_from([4, 8]), label="width")
    out = bytearray(data_bytes)
    action = data.draw(st.sampled_from(["set", "cut", "extend", "drop"]), label="packed action")
    if action == "set" and len(out) >= width:
        slot = data.draw(st.integers(0, len(out) // width - 1), label="slot") * width
        value = data.draw(st.one_of(value_words(records), st.integers(0, 50)) if width == 8
                          else st.integers(0, 300), label="word")
        out[slot:slot + width] = (value % (1 << (8 * width))).to_bytes(width, "little")
    elif action == "cut":
        del out[data.draw(st.integers(0, len(out)), label="cut at"):]
    elif action == "extend":
        out += data.draw(st.binary(min_size=1, max_size=16), label="extension")
    elif out:
        start = data.draw(st.integers(0, len(out) - 1), label="drop at")
        del out[start:start + width]
    return bytes(out)


def mutate_list(items: list, data: Any, records: int) -> None:
    position = data.draw(st.integers(0, len(items) - 1), label="item")
    action = data.draw(st.sampled_from(["replace", "delete", "duplicate", "inner"]), label="list action")
    if action == "replace":
        items[position] = data.draw(replacements(records), label="item replacement")
    elif action == "delete":
        del items[position]
    elif action == "duplicate":
        items.insert(position, items[position])
    elif isinstance(items[position], list) and items[position]:
        inner = items[position]
        inner[data.draw(st.integers(0, len(inner) - 1), label="inner")] = data.draw(replacements(records),
                                                                                    label="inner replacement")
    else:
        items[position] = data.draw(replacements(records), label="item replacement")


def mutate_roots(body: Body, data: Any) -> None:
    roots = body.roots
    records = len(body.records)
    key = data.draw(st.sampled_from(sorted(roots)), label="root")
    value = roots[key]
    if isinstance(value, list) and value and data.draw(st.booleans(), label="edit list"):
        mutate_list(value, data, records)
    elif isinstance(value, list):
        value.append(data.draw(st.one_of(st.integers(-1, records + 1), replacements(records)), label="root item"))
    elif isinstance(value, dict) and value:
        entry = data.draw(st.sampled_from(sorted(value, key=str)), label="root entry")
        if data.draw(st.booleans(), label="drop entry"):
            del value[entry]
        else:
            value[entry] = data.draw(replacements(records), label="root value")
    else:
        roots[key] = data.draw(replacements(records), label="root replacement")


def mutated(crafted: bytes, data: Any) -> bytes:
    body = Body(crafted)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        if data.draw(st.integers(0, 4), label="where") == 0:
            mutate_roots(body, data)
        else:
            mutate_record(body, data)
    return body.signed()


def run_briefly(machine: Any, main: Any) -> None:
    """Run the loaded VM for RUN_SECONDS (output discarded): any Python exception that
    escapes the scheduler fails the test."""
    machine.set_output(lambda text: None, lambda text: None)
    deadline = time.monotonic() + RUN_SECONDS
    machine.scheduler.add_timer(RUN_SECONDS, lambda: None)     # wakes a scheduler waiting on timers
    machine.scheduler.run_until(lambda: time.monotonic() > deadline or (main is not None and not main.alive))


def check_outcome(crafted: bytes, scratch: Path, data: Any) -> None:
    candidate = mutated(crafted, data)
    try:
        with time_limit(20, "loading"):
            machine, main = load_signed(scratch, candidate)
    except (ImageError, ImageFileError) as error:
        text = str(error)
        assert text and "\n" not in text, repr(text)
        return
    with time_limit(20, "running"):
        run_briefly(machine, main)


@CI
@given(data=st.data())
def test_mutated_images_load_and_run_or_are_refused(crafted: bytes, scratch: Path, data: Any) -> None:
    check_outcome(crafted, scratch, data)


@pytest.mark.fuzz
@LONG
@given(data=st.data())
def test_long_fuzz_mutated_images(crafted: bytes, scratch: Path, data: Any) -> None:
    check_outcome(crafted, scratch, data)
