"""The program fuzzer: generated do-its (the grammar's statements, blocks, cascades,
literal and brace arrays, sends of the library's real selectors with random arguments)
and real programs (tests/som, examples, bench/programs) with tokens deleted, duplicated
or swapped, run in a fresh in-process VM with a time bound, and a sample of both
through the `vm eval` and `vm run` commands. Every outcome must be a value, a
Smalltalk error, a located syntax error, the program's own exit, a deadlock or a
bounded timeout: never a Python exception, a traceback or internal-error text.

A hundred examples of each kind by default (the profile's count, tests/conftest.py),
ten through the command line; ``-m fuzz`` runs 20,000 of each kind, not derandomized,
so each long run explores new programs. Helpers and the outcome rules are in
tests/program_fuzzing.py."""
from __future__ import annotations

import gc
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import ROOT, examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from program_fuzzing import (
    FOUND_BY_THE_FUZZER,
    MEMORY_HEADROOM,
    TRACEBACK,
    HardTimeout,
    Vocabulary,
    alarm,
    assert_no_internal_text,
    entry_for,
    library_selectors,
    mutate,
    mutations,
    programs,
    real_programs,
    run_source,
)

VOCABULARY = Vocabulary(library_selectors())
REAL = real_programs(Path(ROOT))
CI = settings(max_examples=examples(), deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
LONG = settings(CI, max_examples=20_000, derandomize=False)
SAMPLE = settings(CI, max_examples=10)
# A fuzzed command still running after this long is a bounded timeout, which passes:
# an endless loop costs the whole bound, and 8 s is fifty times the in-process bound.
COMMAND_SECONDS = 8


def check_program(text: str) -> None:
    assert_no_internal_text(run_source(text))


def check_mutant(index: int, operations: list) -> None:
    path = REAL[index % len(REAL)]
    source = mutate(path.read_text(encoding="utf-8"), operations)
    assert_no_internal_text(run_source(source, [str(path.parent)], then=entry_for(path)))


def test_the_fuzzer_sees_the_library_and_the_real_programs() -> None:
    assert len(VOCABULARY.selectors) > 300 and "inject:into:" in VOCABULARY.selectors
    assert "saveImage:" not in VOCABULARY.selectors          # never touches files or ends the run
    assert len(REAL) > 40
    names = {p.parent.name for p in REAL}
    assert {"programs", "examples"} <= names


def test_the_outcome_rules_catch_what_they_must() -> None:
    """The oracle itself: a traceback in the VM's output fails the check, ordinary
    errors and syntax errors do not."""
    from program_fuzzing import Outcome
    with pytest.raises(AssertionError):
        assert_no_internal_text(Outcome("error", 'Traceback (most recent call last):\n  File "x.py", line 3'))
    with pytest.raises(AssertionError):
        assert_no_internal_text(Outcome("value", "", "vm: fatal: something"))
    assert_no_internal_text(Outcome("error", "Method foo not found in class Nil"))
    assert run_source("3 +").kind == "syntax error"
    assert run_source("[ true ] whileTrue").kind == "timeout"
    assert run_source("1 / 0").kind == "error"
    assert run_source("3 + 4").kind == "value"


def test_the_alarm_going_off_inside_a_gc_callback_still_stops_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """hypothesis measures garbage-collection time with a gc callback; the alarm that
    went off while it ran raised HardTimeout inside the collector, which can only
    print such an exception ("Exception ignored in garbage collector") and drop it:
    a warning, and a run the alarm no longer stopped. The alarm now waits for the
    collection to end and stops the run in the program's own code."""
    unraisable: list[str] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda report: unraisable.append(repr(report.exc_value)))
    inside = []

    def slow_callback(phase: str, info: dict) -> None:
        if phase == "start" and not inside:
            inside.append(phase)
            until = time.monotonic() + 0.3        # the alarm goes off in here
            while time.monotonic() < until:
                pass

    gc.callbacks.append(slow_callback)
    try:
        with pytest.raises(HardTimeout), alarm(0.05):
            gc.collect()
            until = time.monotonic() + 5
            while time.monotonic() < until:       # the program's own code: stopped here
                pass
    finally:
        gc.callbacks.remove(slow_callback)
    assert inside and unraisable == []


@CI
@given(text=programs(VOCABULARY))
def test_generated_programs_never_crash_the_vm(text: str) -> None:
    check_program(text)


@CI
@given(index=st.integers(0, 10_000), operations=mutations)
def test_mutated_real_programs_never_crash_the_vm(index: int, operations: list) -> None:
    check_mutant(index, operations)


@pytest.mark.fuzz
@LONG
@given(text=programs(VOCABULARY))
def test_long_fuzz_generated_programs(text: str) -> None:
    check_program(text)


@pytest.mark.fuzz
@LONG
@given(index=st.integers(0, 10_000), operations=mutations)
def test_long_fuzz_mutated_real_programs(index: int, operations: list) -> None:
    check_mutant(index, operations)


# ---------------------------------------------------------------------- through the command line

def limit_memory() -> None:
    """In the child: a fuzzed program may not take more than MEMORY_HEADROOM plus what
    Python itself needs (a shared machine must not be driven into swap)."""
    cap = 1 << 30 | MEMORY_HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def run_command(args: list[str], cwd: str) -> subprocess.CompletedProcess | None:
    """`vm ARGS`, or None when it ran past its time bound (and was killed)."""
    try:
        return subprocess.run([sys.executable, "-m", "smalltalk_vm.cli.main", *args], capture_output=True,
                              text=True, cwd=cwd, timeout=COMMAND_SECONDS, preexec_fn=limit_memory)
    except subprocess.TimeoutExpired:
        return None


def assert_clean_exit(result: subprocess.CompletedProcess | None) -> None:
    if result is None:
        return                                           # a bounded timeout
    assert result.returncode in (0, 1), (result.returncode, result.stderr[-2000:])
    assert not TRACEBACK.search(result.stderr) and not TRACEBACK.search(result.stdout), result.stderr[-2000:]
    assert "vm: fatal" not in result.stderr, result.stderr[-2000:]


@SAMPLE
@given(text=programs(VOCABULARY))
def test_generated_programs_through_vm_eval(text: str) -> None:
    # Bounded by the command's own timeout: an endless loop is killed, never waited for.
    assert_clean_exit(run_command(["eval", text], ROOT))


@SAMPLE
@given(index=st.integers(0, 10_000), operations=mutations)
def test_mutated_real_programs_through_vm_run(index: int, operations: list) -> None:
    path = REAL[index % len(REAL)]
    with tempfile.TemporaryDirectory() as folder:
        for sibling in path.parent.glob("*.som"):
            Path(folder, sibling.name).write_text(sibling.read_text(encoding="utf-8"), encoding="utf-8")
        Path(folder, path.name).write_text(mutate(path.read_text(encoding="utf-8"), operations), encoding="utf-8")
        args = ["run", "-cp", folder, path.stem] if "benchmark:" not in path.read_text(encoding="utf-8") \
            else ["eval", "-cp", folder, entry_for(path)]
        assert_clean_exit(run_command(args, folder))


# ---------------------------------------------------------------------- crashes found and fixed

@pytest.mark.parametrize("name, example", FOUND_BY_THE_FUZZER, ids=[name for name, _ in FOUND_BY_THE_FUZZER])
def test_a_crash_the_fuzzer_found_stays_fixed(name: str, example: str) -> None:
    """Each crash the fuzzer found (in code other helpers own, fixed there since) is now
    a plain Smalltalk error."""
    outcome = run_source(example)
    assert outcome.kind == "error", (name, outcome)
    assert_no_internal_text(outcome)
