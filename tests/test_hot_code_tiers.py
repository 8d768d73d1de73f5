"""Each execution tier picks up a replaced method at its next send: the interpreter's
inline caches (VM_NATIVE_HOT=0) and second-tier native code, which does the trivial
kinds of callee (constants, getters, setters) inline and calls others directly
(VM_NATIVE_HOT=1 compiles every method at first use). The caller is in the middle of
a loop when the callee changes: the iterations before the change use the old callee,
every one after it the new one, without the caller being entered again."""
from __future__ import annotations

import pytest
from conftest import VMSession

from smalltalk_vm.vm.objects import KIND_NATIVE

LOOPS = 40
SWITCH_AT = 15        # the iteration that loads the new callee (before its own send)


@pytest.fixture(params=["interpreted", "native"])
def tier(request, monkeypatch) -> str:
    monkeypatch.setenv("VM_NATIVE_HOT", "0" if request.param == "interpreted" else "1")
    return request.param


def caller(send: str) -> str:
    """Caller>>run: loads `change` at iteration SWITCH_AT, and sums `send` each time."""
    return f"""Caller = (
    run: change on: obj = ( | sum |
        sum := 0.
        1 to: {LOOPS} do: [ :i |
            i = {SWITCH_AT} ifTrue: [ system evaluate: change ].
            sum := sum + ({send}) ].
        ^ sum )
)"""


def run_switch(tier: str, callee: str, send: str, change: str, make: str = "Callee new") -> int:
    vm = VMSession()
    vm.define(callee)
    vm.define(caller(send))
    quoted = change.replace("'", "''")
    answer = int(vm.eval(f"Caller new run: '{quoted}' on: {make}"))
    run = vm.universe.globals["Caller"].methods["run:on:"]
    if tier == "native":
        assert run.kind == KIND_NATIVE and run.native is not None, "the caller never became native code"
    else:
        assert run.native is None
    return answer


def expected(old: int, new: int) -> int:
    return (SWITCH_AT - 1) * old + (LOOPS - SWITCH_AT + 1) * new


@pytest.mark.parametrize(("callee", "send", "change", "old", "new"), [
    # a constant method (done inline by native code) replaced by another constant
    ("Callee = ( value = ( ^ 1 ) )", "obj value", "Callee >> value = ( ^ 2 )", 1, 2),
    # a getter (inline) replaced by real code
    ("Callee = ( | x | init = ( x := 3 ) value = ( ^ x ) )", "obj value",
     "Callee >> value = ( ^ x * 10 )", 3, 30),
    # real code (a call) replaced by a constant (inline)
    ("Callee = ( value = ( ^ 2 + 3 ) )", "obj value", "Callee >> value = ( ^ 7 )", 5, 7),
    # a setter (inline) replaced by real code: its answer is what is summed
    ("Callee = ( | x | x: v = ( x := v ) )", "(obj x: 1) == obj ifTrue: [ 1 ] ifFalse: [ obj x: 1 ]",
     "Callee >> x: v = ( ^ 4 )", 1, 4),
    # a method with a block (another call) replaced
    ("Callee = ( value = ( ^ #(1 1) inject: 0 into: [ :a :b | a + b ] ) )", "obj value",
     "Callee >> value = ( ^ #(5 5) inject: 0 into: [ :a :b | a + b ] )", 2, 10),
])
def test_a_running_caller_picks_up_the_new_callee_at_its_next_send(tier, callee, send, change, old, new):
    make = "(Callee new init; yourself)" if "init" in callee else "Callee new"
    assert run_switch(tier, callee, send, change, make) == expected(old, new)


def test_an_override_added_in_a_subclass_is_found_by_the_running_caller(tier):
    vm = VMSession()
    vm.define("Base = ( value = ( ^ 1 ) )")
    vm.define("Callee = Base ( )")
    vm.define(caller("obj value"))
    answer = int(vm.eval("Caller new run: 'Callee >> value = ( ^ 9 )' on: Callee new"))
    assert answer == expected(1, 9)


def test_a_superclass_method_replaced_under_an_inherited_send(tier):
    vm = VMSession()
    vm.define("Base = ( value = ( ^ 1 ) )")
    vm.define("Callee = Base ( )")
    vm.define(caller("obj value"))
    answer = int(vm.eval("Caller new run: 'Base >> value = ( ^ 6 )' on: Callee new"))
    assert answer == expected(1, 6)


def test_a_redefined_class_with_new_fields_is_picked_up_by_the_running_caller(tier):
    vm = VMSession()
    vm.define("Callee = ( | a | init = ( a := 2 ) value = ( ^ a ) )")
    vm.define(caller("obj value"))
    change = "Callee = ( | z a | value = ( ^ a + 1000 ) )"
    answer = int(vm.eval(f"Caller new run: '{change}' on: (Callee new init; yourself)"))
    assert answer == expected(2, 1002)


def test_a_native_caller_entered_again_later_calls_the_new_callee(tier):
    """Not in a loop: the caller's native code made before the change is entered again
    after it and finds the new callee at its first send."""
    vm = VMSession()
    vm.define("Callee = ( value = ( ^ 1 ) )")
    vm.define("Caller = ( call: obj = ( ^ obj value + obj value ) )")
    assert vm.eval("(1 to: 10) inject: 0 into: [ :s :i | s + (Caller new call: Callee new) ]") == "20"
    before = vm.universe.globals["Caller"].methods["call:"].native
    vm.define("Callee >> value = ( ^ 50 )")
    assert vm.eval("Caller new call: Callee new") == "100"
    if tier == "native":
        assert before is not None
        assert vm.universe.globals["Caller"].methods["call:"].native is before, "the caller was not compiled again"
