"""The second execution tier (vm/native.py) must mean exactly what the interpreter
means. These tests run programs with every method compiled on first use
(VM_NATIVE_HOT=1, VM_NATIVE_STRICT=1 so a compiler error is not silently skipped) and
check the same results as the interpreter, and that its hand-backs to the interpreter
(overflow, Doubles, non-Booleans, doesNotUnderstand:, non-local return, thisContext,
preemption) behave."""
from __future__ import annotations

import os
import re
import subprocess

import pytest
from conftest import ROOT, VMSession, run_vm
from early_jobs import NATIVE_ENV

from smalltalk_vm.vm.native import HOT, NativeCompiler, entry_points
from smalltalk_vm.vm.objects import KIND_NATIVE


@pytest.fixture
def native_vm(monkeypatch: pytest.MonkeyPatch) -> VMSession:
    for key, value in NATIVE_ENV.items():
        monkeypatch.setenv(key, value)
    return VMSession()


PROGRAM = """
NativeProbe = (
    | count |
    fib: n = ( n < 2 ifTrue: [ ^ n ]. ^ (self fib: n - 1) + (self fib: n - 2) )
    sumTo: n = ( | s | s := 0. 1 to: n do: [ :i | s := s + i ]. ^ s )
    grow: n = ( | x | x := 1. n timesRepeat: [ x := x * 1000 ]. ^ x )
    mixed: n = ( | x | x := 0. 1 to: n do: [ :i | x := x + (i * 0.5) ]. ^ x )
    test: x = ( x ifTrue: [ ^ #yes ]. ^ #no )
    find: v in: c = ( c do: [ :e | e = v ifTrue: [ ^ e ] ]. ^ nil )
    guarded: x = ( ^ [ 10 / x ] on: ZeroDivide do: [ :e | e return: #inf ] )
    ensured: log = ( [ ^ 1 ] ensure: [ log add: #ran ] )
    count = ( ^ count )
    bump = ( count := (count ifNil: [ 0 ]) + 1 )
    where = ( ^ thisContext method selector )
    dnu = ( ^ self frobnicate )
    doesNotUnderstand: m = ( ^ m selector )
)
"""


def test_native_results_match_the_interpreter(native_vm: VMSession) -> None:
    native_vm.define(PROGRAM)
    expectations = {
        "NativeProbe new fib: 20": "6765",
        "NativeProbe new sumTo: 10000": "50005000",
        "NativeProbe new grow: 8": "1000000000000000000000000",     # overflows into LargeInt
        "NativeProbe new mixed: 4": "5.0",                            # SmallInteger * Double
        "NativeProbe new test: true": "#yes",
        "NativeProbe new test: false": "#no",
        "NativeProbe new find: 3 in: #(1 2 3 4)": "3",
        "NativeProbe new find: 9 in: #(1 2 3 4)": "nil",
        "NativeProbe new guarded: 0": "#inf",
        "NativeProbe new guarded: 5": "2",
        "| v | v := Vector new. {NativeProbe new ensured: v. v size}": "#(1 1)",
        "| p | p := NativeProbe new. 5 timesRepeat: [ p bump ]. p count": "5",
        "NativeProbe new where": "#where",
        "NativeProbe new dnu": "#frobnicate",
    }
    for expression, expected in expectations.items():
        for _ in range(3):               # first call interprets, then it runs natively
            assert native_vm.eval(expression) == expected, expression
    cls = native_vm.universe.globals["NativeProbe"]
    assert cls.methods["fib:"].kind == KIND_NATIVE
    assert cls.methods["sumTo:"].native is not None


def test_a_non_boolean_condition_in_native_code_sends_must_be_boolean(native_vm: VMSession) -> None:
    native_vm.define(PROGRAM)
    for _ in range(3):
        outcome = native_vm.run("NativeProbe new test: 3")
        assert outcome.status == "error"
        assert "Boolean expected" in outcome.error_text


def test_a_native_loop_is_preempted(native_vm: VMSession) -> None:
    native_vm.define("""
        Spinner = (
            spin = ( [ true ] whileTrue: [ ] )
            run = ( | me | me := Process current. [ self spin ] spawn. [ me send: #other ] spawn.
                    ^ Process receiveWithin: 5000 ifTimeout: [ #starved ] )
        )""")
    assert native_vm.eval("Spinner new run") == "#other"


def test_native_entry_points_cover_jump_targets_and_resumes() -> None:
    session = VMSession()
    session.define(PROGRAM)
    method = session.universe.globals["NativeProbe"].methods["fib:"]
    entries = entry_points(method.code)
    assert 0 in entries
    function, native_entries, direct = NativeCompiler(session.universe).compile(method)
    assert set(entries) == set(native_entries)
    # Each real send is followed by an entry point; the generated code names them.
    assert all(f"pc == {e}" in function.source for e in entries)
    # The direct function goes on after a send in the same region: its only entry
    # points are the start and the jump targets.
    assert direct is not None and "pc == 20" not in direct.source


def test_an_interpreted_caller_calls_compiled_code_directly_and_the_chain_stays_exact() -> None:
    """A cold (interpreted) method calls a compiled one as native code does, without a
    context; when the callee bails out (thisContext, a yield, an error), its chain is
    linked to the caller's context, standing after the send."""
    session = VMSession()
    session.define("""
        Caller = (
            run = ( ^ { self callee: 3. 7 } )
            callee: n = ( ^ self deeper: n )
            deeper: n = ( ^ { thisContext sender method selector. thisContext sender sender method selector. n } )
            spin: n = ( | s | s := 0. 1 to: n do: [ :i | s := s + (self step: i) ]. ^ s )
            step: i = ( ^ i \\\\ 7 )
            runSpin = ( ^ (self spin: 30000) + 1 )
            failing = ( ^ self callee: nil foo )
            runFailing = ( ^ [ self failing ] on: MessageNotUnderstood do: [ :e | e return: e message selector ] )
        )""")
    universe = session.universe
    cls = universe.globals["Caller"]
    for selector in ("callee:", "deeper:", "spin:", "step:", "failing"):
        assert universe.interpreter.make_native(cls.methods[selector])
    assert cls.methods["run"].native is None          # the caller stays interpreted
    assert session.eval("Caller new run") == "#(#(#callee: #run 3) 7)"
    # a loop long enough to be preempted many times, resumed where it was
    assert session.eval("Caller new runSpin") == str(sum(i % 7 for i in range(1, 30001)) + 1)
    assert session.eval("Caller new runFailing") == "#foo"


def test_a_site_meeting_two_classes_in_turn_sees_redefinitions_of_both(native_vm: VMSession) -> None:
    """A send site keeps the entry a refill replaces as a second one; a definition in
    either class still reaches the site (new lookup tokens)."""
    native_vm.define("TurnA = ( who = ( ^ #a ) )")
    native_vm.define("TurnB = ( who = ( ^ #b ) )")
    native_vm.define("Turns = ( ask: items = ( ^ items collect: [ :x | x who ] ) )")
    items = "{ TurnA new. TurnB new. TurnA new. nil. TurnB new }"
    native_vm.define("Nil >> who = ( ^ #none )")
    for _ in range(3):
        assert native_vm.eval(f"Turns new ask: {items}") == "#(#a #b #a #none #b)"
    site = next(s for s in native_vm.universe.globals["Turns"].methods["ask:"].literals[0].sites
                if s.selector == "who")
    assert site.token2 is not None          # both entries were used
    native_vm.define("TurnB >> who = ( ^ #b2 )")
    assert native_vm.eval(f"Turns new ask: {items}") == "#(#a #b2 #a #none #b2)"
    native_vm.define("TurnA >> who = ( ^ #a2 )")
    assert native_vm.eval(f"Turns new ask: {items}") == "#(#a2 #b2 #a2 #none #b2)"


def test_hot_methods_get_compiled_with_the_default_threshold() -> None:
    session = VMSession()
    session.define(PROGRAM)
    session.eval(f"| p | p := NativeProbe new. {HOT * 2} timesRepeat: [ p bump ]. p count")
    method = session.universe.globals["NativeProbe"].methods["bump"]
    assert method.kind == KIND_NATIVE


def test_hosted_suite_passes_with_every_method_native(hosted_suite_native: subprocess.CompletedProcess) -> None:
    result = hosted_suite_native       # `vm test tests/st` with NATIVE_ENV, run early (tests/early_jobs.py)
    summary = re.search(r"(\d+) passed, (\d+) failed", result.stdout)
    assert summary is not None, result.stdout[-2000:] + result.stderr[-2000:]
    assert summary.group(2) == "0", result.stdout[-3000:]
    assert result.returncode == 0


def _som_programs() -> list[str]:
    folder = os.path.join(ROOT, "tests", "som")
    return sorted(name for name in os.listdir(folder) if os.path.isdir(os.path.join(folder, name)))


@pytest.mark.parametrize("name", ["nonlocal", "closures", "super", "numbers", "collections"])
def test_som_programs_print_the_same_natively(name: str) -> None:
    if name not in _som_programs():
        pytest.fail(f"tests/som/{name} is missing")
    folder = os.path.join(ROOT, "tests", "som", name)
    program = next(f for f in sorted(os.listdir(folder)) if f.endswith(".som"))
    with open(os.path.join(ROOT, "tests", "som", f"{name}.expected"), encoding="utf-8") as handle:
        expected = handle.read()
    plain = run_vm(["run", "-cp", folder, os.path.join(folder, program)], env={"VM_NATIVE_HOT": "0"})
    native = run_vm(["run", "-cp", folder, os.path.join(folder, program)], env=NATIVE_ENV)
    assert plain.stdout == expected, plain.stderr
    assert native.stdout == expected, native.stderr
    assert native.returncode == plain.returncode == 0
