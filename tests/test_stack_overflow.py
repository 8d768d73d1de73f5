"""Runaway recursion is bounded by memory, not only by activation count: past
MAX_DEPTH activations or MAX_SLOTS slots (arguments, temporaries, operands) a process
gets a catchable "stack overflow" Error; if its handler keeps recursing, it is ended.
Never a MemoryError, never the VM."""
from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT, VMSession

from smalltalk_vm.vm import scheduler

TEMPS = " ".join(f"t{i}" for i in range(250))
RECURSION = f"""Recursion = Object (
    plain: n = ( ^ n = 0 ifTrue: [ 0 ] ifFalse: [ (self plain: n - 1) + 1 ] )
    forever: n = ( ^ (self forever: n + 1) + 1 )
    fat: n = ( | {TEMPS} | t1 := n. ^ (self fat: n + 1) + 1 )
    stubborn = ( ^ [ self forever: 0 ] on: Error do: [ :e | self forever: 0 ] )
)"""


@pytest.fixture
def small_limits(monkeypatch) -> None:
    """Limits a test can reach in a fraction of a second."""
    monkeypatch.setattr(scheduler, "MAX_DEPTH", 20_000)
    monkeypatch.setattr(scheduler, "MAX_SLOTS", 400_000)


@pytest.fixture
def recursion(vm: VMSession) -> VMSession:
    vm.define(RECURSION)
    return vm


def overflow_text(vm: VMSession, expression: str) -> str:
    return vm.value(f"[ {expression} ] on: Error do: [ :e | e messageText ]").chars


def test_deep_recursion_within_the_limits_works(recursion):
    assert recursion.eval("Recursion new plain: 100000") == "100000"


def test_past_the_activation_limit(recursion, small_limits):
    assert overflow_text(recursion, "Recursion new forever: 0") == "stack overflow: more than 20000 activations"


def test_past_the_slot_limit_with_fat_frames(recursion, small_limits):
    text = overflow_text(recursion, "Recursion new fat: 0")
    assert text.startswith("stack overflow: more than 400000 slots in ")
    assert int(text.split(" in ")[1].split()[0]) < 20_000


def test_a_second_overflow_gets_a_second_error(recursion, small_limits):
    assert recursion.eval("""| first second |
        first := [ Recursion new forever: 0 ] on: Error do: [ :e | e messageText ].
        second := [ Recursion new forever: 0 ] on: Error do: [ :e | e messageText ].
        first = second""") == "true"


def test_a_handler_that_keeps_recursing_ends_its_process(recursion, small_limits):
    outcome = recursion.run("Recursion new stubborn")
    assert outcome.status == "error"
    assert outcome.error_text == "stack overflow: more than 20000 activations, still growing after the error"
    trace = outcome.trace
    assert trace[0].startswith("Recursion>>forever:")
    assert any(line.startswith("... ") and line.endswith(" more ...") for line in trace)
    assert trace[-1].startswith("Nil>>doIt")
    assert len(trace) == 21


def test_other_processes_are_untouched(recursion, small_limits):
    assert recursion.eval("""| p |
        p := [ Recursion new stubborn ] spawn.
        [ p isAlive ] whileTrue: [ Process yield ].
        { p exitReason class. Recursion new plain: 1000 }""") == "#(Error 1000)"


def test_memory_stays_bounded_with_the_real_limits(tmp_path):
    # 250 temporaries per activation: a million of them would need gigabytes.
    (tmp_path / "Recursion.som").write_text(RECURSION.replace(
        "stubborn =", "run = ( ([ self fat: 0 ] on: Error do: [ :e | e messageText ]) println )\n    stubborn ="))
    program = str(tmp_path / "Recursion.som")
    code = ("import resource, subprocess, sys; "
            f"done = subprocess.run([sys.executable, '-m', 'smalltalk_vm.cli.main', 'run', {program!r}], "
            "capture_output=True, text=True); "
            "print(done.stdout.strip()); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={"PYTHONPATH": ROOT, "PATH": "/usr/bin:/bin",
                               "XDG_CACHE_HOME": str(tmp_path / "cache")})
    text, peak_kb = done.stdout.strip().splitlines()
    assert text.startswith(f"stack overflow: more than {scheduler.MAX_SLOTS} slots in ")
    assert int(peak_kb) < 600_000, peak_kb


def test_the_incremental_depth_check_counts_what_a_full_walk_counts(recursion, monkeypatch):
    """Recursion that grows, shrinks past the mark, restarts and unwinds: after every
    slice the check's totals equal a full walk of the stack."""
    recursion.define("""Wave = Object (
        wave: n = ( ^ n = 0 ifTrue: [ 0 ] ifFalse: [ (self wave: n - 1) + (self ripple: n \\\\ 7) ] )
        ripple: k = ( | a b | ^ k = 0 ifTrue: [ 1 ] ifFalse: [ (self ripple: k - 1) + 1 ] )
        run = ( | total | total := 0.
            #(300 5 2000 50 1200 3) do: [ :n | total := total + (self wave: n) ].
            ^ total )
    )""")
    checked = []
    original = scheduler.Scheduler.check_depth

    def check(self, proc):
        original(self, proc)
        depth = slots = 0
        ctx = proc.ctx
        while ctx is not None:
            if proc.depth_mark is not None and ctx is proc.depth_mark[0]:
                assert (depth + proc.depth_mark[1], slots + proc.depth_mark[2]) == _full(ctx, depth, slots)
            depth += 1
            slots += len(ctx.stack)
            ctx = ctx.sender
        checked.append(depth)
    monkeypatch.setattr(scheduler.Scheduler, "check_depth", check)
    monkeypatch.setattr(scheduler, "BUDGET", 97)
    assert recursion.eval("Wave new run") != ""
    assert len(checked) > 50 and max(checked) > 1000


def _full(ctx, depth: int, slots: int) -> tuple[int, int]:
    while ctx is not None:
        depth += 1
        slots += len(ctx.stack)
        ctx = ctx.sender
    return depth, slots
