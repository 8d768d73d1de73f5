"""Redefining a class with fewer (or reordered) fields while one of its methods is
running: the old activation and its closures keep working on the variables that
survived, and get a clean InternalError for a removed one — never an IndexError in the
interpreter, never a wrong slot (vm/obsolete.py)."""
from __future__ import annotations

import pytest
from conftest import VMSession

REMOVED = "instance variable {name} no longer exists ({cls} was redefined without it while this activation ran)"


def redefine(source: str) -> str:
    """A statement that redefines a class from inside a running method."""
    return "system evaluate: '" + source.replace("'", "''") + "'"


@pytest.fixture(params=["interpreted", "native"])
def tiers(request, monkeypatch) -> str:
    """Run each test with the second tier off and with it compiling everything."""
    monkeypatch.setenv("VM_NATIVE_HOT", "0" if request.param == "interpreted" else "1")
    return request.param


SHRINK = f"""Shrink = Object (
    | a b c |
    setUp = ( a := 1. b := 2. c := 3 )
    survivor = ( | before | before := c. {redefine("Shrink = ( | c | )")}. ^ {{ before. c }} )
    reorder = ( {redefine("Shrink = ( | c b a | )")}. ^ {{ a. b. c }} )
    closure = ( | blk | blk := [ c + 10 ]. {redefine("Shrink = ( | c | )")}. ^ blk value )
    keepBlock = ( system global: #Kept put: [ :x | c := x. c ] )
    readRemoved = ( {redefine("Shrink = ( | c | )")}. ^ a )
    writeRemoved = ( {redefine("Shrink = ( | c | )")}. b := 5. ^ #afterWrite )
    valueOfWrite = ( {redefine("Shrink = ( | c | )")}. ^ (b := 5) )
    loopOverRemoved = ( | sum | sum := 0.
        {redefine("Shrink = ( | c | )")}.
        1 to: 300 do: [ :i | sum := sum + c + (a isNil ifTrue: [ 0 ] ifFalse: [ 1 ]) ].
        ^ sum )
)"""


@pytest.fixture
def shrink(tiers) -> VMSession:
    return VMSession()


def fresh(vm: VMSession, source: str) -> str:
    """Define Shrink as above (each run redefines it), then evaluate ``source``."""
    vm.define(SHRINK)
    return vm.eval(source)


def test_a_surviving_field_keeps_working_in_the_old_activation(shrink):
    assert fresh(shrink, "Shrink new setUp; survivor") == "#(3 3)"


def test_reordered_fields_are_found_by_name(shrink):
    assert fresh(shrink, "Shrink new setUp; reorder") == "#(1 2 3)"


def test_an_old_closure_keeps_working(shrink):
    assert fresh(shrink, "Shrink new setUp; closure") == "13"
    fresh(shrink, "| s | s := Shrink new. s setUp; keepBlock. system global: #S put: s")
    shrink.value(redefine("Shrink = ( | z c | )"))
    assert shrink.eval("Kept value: 42") == "42"
    assert shrink.eval("S instVarNamed: #c") == "42"


def test_reading_a_removed_field_is_a_clean_error(shrink):
    text = fresh(shrink, "[ Shrink new setUp; readRemoved ] on: InternalError do: [ :e | e messageText ]")
    assert text.startswith("'Shrink>>readRemoved (<test>:")
    assert text.endswith(REMOVED.format(name="a", cls="Shrink") + "'")
    shrink.define(SHRINK)
    outcome = shrink.run("Shrink new setUp; readRemoved")
    assert outcome.status == "error" and "no longer exists" in outcome.error_text
    assert outcome.trace[0].startswith("Shrink>>readRemoved")


@pytest.mark.parametrize(("source", "answer"), [
    ("[ Shrink new setUp; readRemoved ] on: InternalError do: [ :e | e resume: #gone ]", "#gone"),
    ("[ Shrink new setUp; writeRemoved ] on: InternalError do: [ :e | e resume: 0 ]", "#afterWrite"),
    ("[ Shrink new setUp; valueOfWrite ] on: InternalError do: [ :e | e resume: 7 ]", "7"),
    ("[ Shrink new setUp; loopOverRemoved ] on: InternalError do: [ :e | e resume: nil ]", "900"),
])
def test_a_removed_field_resumes_with_the_given_value(shrink, source, answer):
    assert fresh(shrink, source) == answer


def test_a_removed_field_never_comes_back_as_a_wrong_slot(shrink):
    fresh(shrink, "| s | s := Shrink new. s setUp; keepBlock. system global: #S put: s")
    shrink.value(redefine("Shrink = ( | c | )"))
    shrink.value(redefine("Shrink = ( | a b c d e f g | )"))      # more fields than ever
    assert shrink.eval("Kept value: 4") == "4"
    assert shrink.eval("S instVarNamed: #c") == "4"
    assert shrink.eval("{ S instVarNamed: #a. S instVarNamed: #b }") == "#(nil nil)"


def test_a_subclass_method_running_while_its_superclass_shrinks(tiers):
    vm = VMSession()
    vm.define("Base = Object ( | x y | )")
    vm.define(f"""Derived = Base (
        | z |
        setUp = ( y := 2. z := 3 )
        run = ( {redefine("Base = Object ( | y | )")}. ^ {{ y. z }} )
    )""")
    assert vm.eval("Derived new setUp; run") == "#(2 3)"


def test_a_redefinition_that_would_break_a_subclass_method_is_refused_whole(tiers):
    vm = VMSession()
    vm.define("Base = Object ( | x y | )")
    vm.define("Derived = Base ( | z | setUp = ( x := 1. y := 2. z := 3 ) both = ( ^ { x. y. z } ) )")
    vm.value("system global: #D put: (Derived new setUp; yourself)")
    text = vm.value(f"[ {redefine('Base = Object ( | y | )')} ] on: Error do: [ :e | e messageText ]").chars
    assert text.startswith("<evaluate>:1:1: redefining Base would break Derived>>")
    assert "undeclared variable 'x'" in text
    # Nothing changed: not the classes, not the instances, not the methods.
    assert vm.eval("Base fields") == "#(#x #y)"
    assert vm.eval("D both") == "#(1 2 3)"


def test_class_side_variables(tiers):
    vm = VMSession()
    vm.define(f"""Counter = Object (
        ----
        | count limit |
        run = ( count := 1. limit := 9.
            {redefine("Counter = Object ( ---- | limit | )")}.
            ^ {{ limit. [ count ] on: InternalError do: [ :e | e messageText ] }} )
    )""")
    result = vm.value("Counter run")
    assert vm.machine.print_string(result.items[0]) == "9"
    assert result.items[1].chars.endswith(REMOVED.format(name="count", cls="Counter class"))


def test_an_obsolete_getter_held_as_a_method(tiers):
    vm = VMSession()
    vm.define("Holder = Object ( | a b | a = ( ^ a ) b = ( ^ b ) setUp = ( a := 1. b := 2 ) )")
    vm.value("system global: #OldA put: (Holder lookup: #a); global: #OldB put: (Holder lookup: #b); "
             "global: #H put: (Holder new setUp; yourself)")
    vm.define("Holder = Object ( | b | )")
    assert vm.eval("OldB invokeOn: H with: #()") == "2"
    text = vm.value("[ OldA invokeOn: H with: #() ] on: InternalError do: [ :e | e messageText ]").chars
    assert text.endswith(REMOVED.format(name="a", cls="Holder"))
