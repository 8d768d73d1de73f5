"""Closures made in inlined loops capture that iteration's variables (compiler/capture.py):
the hosted suite under both execution tiers, the fast path kept for loops whose
variables no closure captures, the loop variable still read-only, images saved with
such closures alive, and a differential property: a literal loop block (inlined)
means exactly what the same block held in a variable (a real block, never inlined)
means."""
from __future__ import annotations

import os

import pytest
from conftest import ROOT, VMSession, run_vm
from hypothesis import given, settings
from hypothesis import strategies as st

from smalltalk_vm.vm import bytecodes as B
from smalltalk_vm.vm.errors import SmalltalkSyntaxError

SUITE = os.path.join(ROOT, "tests", "st", "LoopCaptureTest.som")


@pytest.mark.parametrize("tier", [{"VM_NATIVE_HOT": "0"}, {"VM_NATIVE_HOT": "1", "VM_NATIVE_STRICT": "1"}],
                         ids=["interpreter", "native"])
def test_hosted_loop_capture_suite_in_both_tiers(tier: dict) -> None:
    result = run_vm(["test", SUITE], env=tier, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 failed" in result.stdout.splitlines()[-1], result.stdout


PROBE = """LoopProbe = (
    plain = ( | s | s := 0. 1 to: 10 do: [ :i | | t | t := i * 2. s := s + t ]. ^ s )
    plainWhile = ( | i | i := 0. [ i < 5 ] whileTrue: [ | t | t := i. i := t + 1 ]. ^ i )
    plainTimes = ( | n | n := 0. 3 timesRepeat: [ n := n + 1 ]. ^ n )
    readsOuterOnly = ( | bs s | bs := Vector new. s := 1. 1 to: 3 do: [ :i | bs append: [ s ] ]. ^ bs )
    captures = ( | bs | bs := Vector new. 1 to: 3 do: [ :i | bs append: [ i ] ]. ^ bs )
    nested = ( | bs | bs := Vector new.
        1 to: 3 do: [ :i | | row | row := i. 1 to: 3 do: [ :j | | t | t := row + j. bs append: [ t ] ] ].
        ^ bs )
)"""


def blocks_made(method) -> int:
    """How many PUSH_BLOCK instructions the method's own code holds (not its blocks')."""
    return sum(1 for _, op, _ in B.instructions(method.code) if op.code == B.PUSH_BLOCK)


def probe_method(vm: VMSession, selector: str):
    vm.define(PROBE)
    cls = vm.universe.globals["LoopProbe"]
    return vm.universe.lookup(cls, selector)


@pytest.mark.parametrize(("selector", "value"), [("plain", "110"), ("plainWhile", "5"), ("plainTimes", "3"),
                                                 ("readsOuterOnly", "3")])
def test_loops_whose_variables_no_closure_captures_stay_inlined(vm: VMSession, selector: str, value: str) -> None:
    method = probe_method(vm, selector)
    sends = [method.sites[args[0]].selector for _, op, args in B.instructions(method.code)
             if op.code in B.SENDS]
    assert "value" not in sends and "value:" not in sends
    # readsOuterOnly makes its user's closure [ s ] and nothing else
    assert blocks_made(method) == (1 if selector == "readsOuterOnly" else 0)
    suffix = " size" if selector == "readsOuterOnly" else ""
    assert vm.eval(f"LoopProbe new {selector}{suffix}") == value


def test_a_captured_loop_body_is_evaluated_as_a_block(vm: VMSession) -> None:
    method = probe_method(vm, "captures")
    assert blocks_made(method) == 1                     # the body's closure, made once
    assert vm.eval("(LoopProbe new captures collect: [ :b | b value ]) asArray") == "#(1 2 3)"


def test_only_the_inner_loop_of_a_nest_is_made_a_block(vm: VMSession) -> None:
    method = probe_method(vm, "nested")
    # the outer body stays inlined (its `row` is only read by the inner body, which
    # runs within the iteration), so the method itself makes one closure: the inner body
    assert blocks_made(method) == 1
    assert vm.eval("(LoopProbe new nested collect: [ :b | b value ]) asArray") == "#(2 3 4 3 4 5 4 5 6)"


def test_the_loop_variable_stays_read_only_when_captured(vm: VMSession) -> None:
    with pytest.raises(SmalltalkSyntaxError, match="cannot assign to the loop variable 'i'"):
        vm.run("| bs | bs := Vector new. 1 to: 3 do: [ :i | bs append: [ i ]. i := 7 ]")
    with pytest.raises(SmalltalkSyntaxError, match="cannot assign to the loop variable 'i'"):
        vm.run("| bs | bs := Vector new. 1 to: 3 do: [ :i | bs append: [ i := 7 ] ]")


def test_vm_eval_do_it_with_workspace_style_loop() -> None:
    result = run_vm(["eval", ("| bs | bs := Array new: 3. 1 to: 3 do: [ :i | bs at: i put: [ i ] ]. "
                     "bs collect: [ :b | b value ]")])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "#(1 2 3)"


def test_a_long_expression_in_a_loop_body_does_not_recurse(vm: VMSession) -> None:
    chain = " + ".join(["i"] * 5000)
    assert vm.eval(f"| bs | bs := Vector new. 1 to: 2 do: [ :i | bs append: [ {chain} ] ]. "
                   "(bs collect: [ :b | b value ]) asArray") == "#(5000 10000)"


SAVER = """LoopImage = (
    run: args = (
        | bs ring outcome |
        bs := Vector new.
        1 to: 3 do: [ :i | | t | t := i * 11. bs append: [ t := t + 1 ] ].
        (bs at: 1) value.
        outcome := system saveImage: (args at: 2).
        ('outcome ' + outcome printString) println.
        outcome == #saved ifTrue: [ ^ self ].
        ('values ' + (bs collect: [ :b | b value ]) asArray printString) println )
)"""


def test_an_image_saved_with_loop_closures_alive(tmp_path) -> None:
    (tmp_path / "LoopImage.som").write_text(SAVER, encoding="utf-8")
    image = str(tmp_path / "loops.image")
    saved = run_vm(["run", "-cp", str(tmp_path), "LoopImage", image], timeout=120)
    assert saved.returncode == 0, saved.stderr
    assert saved.stdout.splitlines() == ["outcome #saved"]
    resumed = run_vm(["run", "--image", image], timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.splitlines() == ["outcome #resumed", "values #(13 23 34)"]


# ---------------------------------------------------------------- differential property
#
# `1 to: 3 do: [ :i | ... ]` with a literal block is inlined; `1 to: 3 do: body` with the
# same block in a variable is an ordinary send of Integer>>to:do: with a real block. The
# two must agree for any body: same closures, same values, same shared state.

def expressions() -> st.SearchStrategy[str]:
    leaf = st.sampled_from(["i", "(t ifNil: [ 0 ])", "(u ifNil: [ 0 ])", "shared", "1", "7"])
    return st.recursive(leaf, lambda inner: st.tuples(inner, inner).map(lambda p: f"({p[0]} + {p[1]})"),
                        max_leaves=4)


def statements() -> st.SearchStrategy[str]:
    e = expressions()
    return st.one_of(
        e.map(lambda x: f"t := {x}"),
        e.map(lambda x: f"u := {x}"),
        e.map(lambda x: f"shared := {x}"),
        e.map(lambda x: f"bs append: [ {x} ]"),
        st.just("bs append: [ t := (t ifNil: [ 0 ]) + 1 ]"),
        st.just("bs append: [ shared := shared + 1 ]"),
        e.map(lambda x: f"i even ifTrue: [ | w | w := {x}. bs append: [ w ] ]"),
        e.map(lambda x: f"1 to: 2 do: [ :k | | v | v := {x} + k. bs append: [ v + i ] ]"),
        e.map(lambda x: f"#(1 2) do: [ :k | bs append: [ k + {x} ] ]"),
    )


LOOPS = {
    "to:do:": ("1 to: 3 do: {block}", "[ :i | | t u | {body} ]"),
    "to:by:do:": ("5 to: 1 by: -2 do: {block}", "[ :i | | t u | {body} ]"),
    "downTo:do:": ("3 downTo: 1 do: {block}", "[ :i | | t u | {body} ]"),
    "timesRepeat:": ("3 timesRepeat: {block}", "[ | i t u | n := n + 1. i := n. {body} ]"),
    "whileTrue:": ("[ n < 3 ] whileTrue: {block}", "[ | i t u | n := n + 1. i := n. {body} ]"),
}


def program(loop: str, body: str, inlined: bool) -> str:
    template, block_template = LOOPS[loop]
    block = block_template.format(body=body)
    run = template.format(block=block if inlined else "body")
    setup = "" if inlined else f"body := {block}. "
    return ("| bs shared n body out | bs := Vector new. shared := 0. n := 0. " + setup + run + ". "
            "out := Vector new. bs do: [ :b | out append: b value ]. bs do: [ :b | out append: b value ]. "
            "out append: shared. out asArray")


@settings(max_examples=80, deadline=None, derandomize=True)
@given(loop=st.sampled_from(sorted(LOOPS)), body=st.lists(statements(), min_size=1, max_size=5))
def test_an_inlined_loop_means_what_the_real_block_means(shared_vm: VMSession, loop: str, body: list) -> None:
    text = ". ".join(body)
    expected = shared_vm.eval(program(loop, text, inlined=False))
    assert shared_vm.eval(program(loop, text, inlined=True)) == expected


@pytest.mark.parametrize("loop", [
    "1 to: 5 by: 0 do: [ :i | n := n + 1 ]",
    "5 to: 1 by: zero do: [ :i | n := n + 1 ]",
    "5 downTo: 1 by: zero do: [ :i | n := n + 1 ]",
    "5 to: 1 by: zero do: [ :i | bs append: [ i ] ]",
    "5 to: 1 by: 0 do: block",
    "1 to: 5 by: 0 do: block",
])
def test_a_zero_step_is_an_error_not_an_endless_loop(loop: str) -> None:
    source = ("| n zero bs block | n := 0. zero := 0. bs := Vector new. block := [ :i | n := n + 1 ]. "
              f"[ {loop} ] on: Error do: [ :e | e messageText ]")
    result = run_vm(["eval", source], timeout=60)
    assert result.returncode == 0, result.stderr
    assert "needs a step that is not zero" in result.stdout
