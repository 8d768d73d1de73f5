"""Handler lookup terminates at once whatever on:do: is given: a nil (a misspelled class
name), a number, an ExceptionSet holding nil, a handles: that signals or answers a
non-Boolean. Each used to search for ever, each search deeper than the last. Every run
here has a deadline; the hosted tests in tests/st/HandlerEnvironmentTest.som check the
lookup rules themselves."""
from __future__ import annotations

import pytest
from conftest import ROOT, run_vm

SELECTOR_CLASS = f"{ROOT}/tests/st"

CASES = {
    "misspelled class": ("[ 1/0 ] on: ZeroDivde do: [ :e | 5 ]", "on:do: was given nil"),
    "nil": ("[ 1/0 ] on: nil do: [ :e | 5 ]", "on:do: was given nil"),
    "a number": ("[ 1/0 ] on: 3 do: [ :e | 5 ]", "handles:"),
    "a set holding nil": ("[ 1/0 ] on: MessageNotUnderstood, nil do: [ :e | 5 ]", "on:do: was given nil"),
    "handles: signals": ("[ 1/0 ] on: RaisingExceptionSelector new do: [ :e | 5 ]", "frobnicate"),
    "handles: answers 3": ("[ 1/0 ] on: (RaisingExceptionSelector answering: 3) do: [ :e | 5 ]", ""),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_exception_selector_is_an_error_at_signal_time(case: str) -> None:
    source, message = CASES[case]
    result = run_vm(["eval", "-cp", SELECTOR_CLASS, source], timeout=60)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr.startswith("ERROR: "), result.stderr
    assert message in result.stderr.splitlines()[0]
    assert "Traceback" not in result.stderr


def test_the_error_can_be_handled_further_out() -> None:
    result = run_vm(["eval", "[ [ 1/0 ] on: ZeroDivde do: [ :e | 5 ] ] on: Error do: [ :e | e messageText ]"],
                    timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("'on:do: was given nil (a misspelled or missing class name?)")


def test_redefining_the_flagged_search_method_with_other_temporaries_is_safe() -> None:
    # the VM reads searchFrom:'s temporary `candidate` by name; a user's version without
    # it must still work (its own loop decides), never raise inside the primitive
    source = ("Exception >> searchFrom: start = ( | c | c := start findHandlerContext. "
              "[ c isNil ] whileFalse: [ ((c tempAt: 1) handles: self) ifTrue: [ ^ self handleIn: c ]. "
              "c := c sender isNil ifTrue: [ nil ] ifFalse: [ c sender findHandlerContext ] ]. "
              "^ self defaultAction )")
    from conftest import VMSession
    session = VMSession()
    session.define(source)
    assert session.eval("[ 1 / 0 ] on: ZeroDivide do: [ :e | #caught ]") == "#caught"
