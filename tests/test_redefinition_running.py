"""Redefining a class with fewer (or reordered) fields while one of its methods is
running: the old activation and its closures keep working on the variables that
survived, find a removed one in the receiver's ghost of it (vm/ghosts.py), and get a
clean InternalError only for a receiver that never had it — never an IndexError in the
interpreter, never a wrong slot (vm/obsolete.py)."""
from __future__ import annotations

import pytest
from conftest import VMSession

from smalltalk_vm.vm import bytecodes as B

NO_GHOST = ("instance variable {name} no longer exists ({cls} was redefined without it, "
            "and this {receiver} did not have it then)")


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
    writeRemoved = ( {redefine("Shrink = ( | c | )")}. b := 5. ^ b * 10 + a )
    valueOfWrite = ( {redefine("Shrink = ( | c | )")}. ^ (b := 5) )
    loopOverRemoved = ( | sum | sum := 0.
        {redefine("Shrink = ( | c | )")}.
        1 to: 300 do: [ :i | a := a + 1. sum := sum + c + (b isNil ifTrue: [ 0 ] ifFalse: [ 1 ]) ].
        ^ {{ sum. a }} )
    keepGhostReader = ( system global: #KeptA put: [ a ]; global: #KeptB put: [ :x | b := x ] )
    ghostA = ( ^ a )
    setGhostA = ( a := #written. ^ a )
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


def test_a_removed_field_is_read_from_the_ghost(shrink):
    assert fresh(shrink, "Shrink new setUp; readRemoved") == "1"


def test_a_removed_field_is_written_to_the_ghost(shrink):
    assert fresh(shrink, "Shrink new setUp; writeRemoved") == "51"
    assert fresh(shrink, "Shrink new setUp; valueOfWrite") == "5"


def test_a_loop_reads_and_writes_a_removed_field(shrink):
    assert fresh(shrink, "Shrink new setUp; loopOverRemoved") == "#(1200 301)"


def test_current_code_never_sees_a_ghost(shrink):
    fresh(shrink, "| s | s := Shrink new. s setUp; keepGhostReader. system global: #S put: s")
    shrink.value(redefine("Shrink = ( | c | )"))
    assert shrink.eval("KeptB value: 9. KeptA value") == "1"
    assert shrink.eval("S class instanceFieldNames") == "#(#c)"
    assert shrink.eval("[ S instVarNamed: #b ] on: Error do: [ :e | #none ]") == "#none"
    assert shrink.eval("S printString") == "'a Shrink'"


def test_a_receiver_without_the_ghost_is_a_clean_error(shrink):
    """An instance made after the redefinition never had the removed variable: old
    code reaching it (through an old method object) gets the InternalError."""
    fresh(shrink, "system global: #OldRead put: (Shrink lookup: #ghostA); "
                  "global: #OldWrite put: (Shrink lookup: #setGhostA)")
    shrink.value(redefine("Shrink = ( | c | )"))
    text = shrink.eval("[ OldRead invokeOn: Shrink new with: #() ] on: InternalError do: [ :e | e messageText ]")
    assert text.startswith("'Shrink>>ghostA (<test>:")
    assert text.endswith(NO_GHOST.format(name="a", cls="Shrink", receiver="Shrink") + "'")
    outcome = shrink.run("OldWrite invokeOn: Shrink new with: #()")
    assert outcome.status == "error" and "no longer exists" in outcome.error_text
    assert outcome.trace[0].startswith("Shrink>>setGhostA")
    # ... while an instance that had it still uses its ghost through the same method.
    shrink.define(SHRINK)
    shrink.value("system global: #Old put: (Shrink new setUp; yourself); "
                 "global: #OldWrite put: (Shrink lookup: #setGhostA)")
    shrink.value(redefine("Shrink = ( | c | )"))
    assert shrink.eval("OldWrite invokeOn: Old with: #()") == "#written"


@pytest.mark.parametrize(("source", "answer"), [
    ("[ OldRead invokeOn: Shrink new with: #() ] on: InternalError do: [ :e | e resume: #gone ]", "#gone"),
    ("[ OldWrite invokeOn: Shrink new with: #() ] on: InternalError do: [ :e | e resume: 7 ]", "7"),
])
def test_a_missing_ghost_resumes_with_the_given_value(shrink, source, answer):
    fresh(shrink, "system global: #OldRead put: (Shrink lookup: #ghostA); "
                  "global: #OldWrite put: (Shrink lookup: #setGhostA)")
    shrink.value(redefine("Shrink = ( | c | )"))
    assert shrink.eval(source) == answer


def test_a_removed_field_never_comes_back_as_a_wrong_slot(shrink):
    fresh(shrink, "| s | s := Shrink new. s setUp; keepBlock; keepGhostReader. system global: #S put: s")
    shrink.value(redefine("Shrink = ( | c | )"))
    shrink.value(redefine("Shrink = ( | a b c d e f g | )"))      # more fields than ever
    assert shrink.eval("Kept value: 4") == "4"
    assert shrink.eval("S instVarNamed: #c") == "4"
    assert shrink.eval("{ S instVarNamed: #a. S instVarNamed: #b }") == "#(nil nil)"
    # The old code's a is the ghost of the a removed first, not the a added back.
    assert shrink.eval("KeptA value") == "1"
    shrink.value("S instVarNamed: #a put: 99")
    shrink.value(redefine("Shrink = ( | c | )"))                  # a removed a second time
    assert shrink.eval("KeptA value") == "1"


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


def test_a_redefinition_that_would_leave_a_subclass_reading_a_lost_variable_is_refused(tiers):
    """Reading an undeclared name compiles as a global read in SOM: a subclass method
    that only reads the variable must not silently start reading a global."""
    vm = VMSession()
    vm.define("Acc = Object ( | balance fee | )")
    vm.define("SubAcc = Acc ( charge = ( ^ fee ) )")
    vm.value("system global: #A put: (SubAcc new instVarNamed: #fee put: 3; yourself)")
    text = vm.value(f"[ {redefine('Acc = Object ( | balance | )')} ] on: Error do: [ :e | e messageText ]").chars
    assert text.startswith("<evaluate>:1:1: redefining Acc would break SubAcc>>charge")
    assert "undeclared variable 'fee'" in text
    assert vm.eval("{ Acc fields. A charge }") == "#(#(#balance #fee) 3)"


def test_class_side_variables(tiers):
    vm = VMSession()
    vm.define(f"""Counter = Object (
        ----
        | count limit |
        run = ( count := 1. limit := 9.
            {redefine("Counter = Object ( ---- | limit | )")}.
            ^ {{ limit. [ count ] on: InternalError do: [ :e | e messageText ] }} )
    )""")
    assert vm.eval("Counter run") == "#(9 1)"     # count: the class object's ghost


def test_an_obsolete_getter_held_as_a_method(tiers):
    vm = VMSession()
    vm.define("Holder = Object ( | a b | a = ( ^ a ) b = ( ^ b ) setUp = ( a := 1. b := 2 ) )")
    vm.value("system global: #OldA put: (Holder lookup: #a); global: #OldB put: (Holder lookup: #b); "
             "global: #H put: (Holder new setUp; yourself)")
    vm.define("Holder = Object ( | b | )")
    assert vm.eval("OldB invokeOn: H with: #()") == "2"
    old_getter = vm.value("OldA")
    assert old_getter.fast[0] == B.Q_RETURN_FIELD and old_getter.native is None   # the fused form
    assert vm.eval("OldA invokeOn: H with: #()") == "1"          # H's ghost of a
    text = vm.value("[ OldA invokeOn: Holder new with: #() ] on: InternalError do: [ :e | e messageText ]").chars
    assert text.endswith(NO_GHOST.format(name="a", cls="Holder", receiver="Holder"))


def test_instances_made_after_a_redefinition_have_its_fields(tiers):
    """new counts the fields of the class and its superclasses as they are now: the
    count it keeps per class is dropped by any definition (lookup_epoch)."""
    vm = VMSession()
    vm.define("Grow = Object ( | a | a = ( ^ a ) a: x = ( a := x ) )")
    vm.define("GrowChild = Grow ( | d | d: x = ( d := x ) d = ( ^ d ) )")
    assert vm.eval("| g | 1 to: 600 do: [ :i | g := GrowChild new a: i; d: i * 2; yourself ]. g d") == "1200"
    vm.define("Grow = Object ( | a b c | a = ( ^ a ) a: x = ( a := x ) c: x = ( c := x ) c = ( ^ c ) )")
    assert vm.eval("| g | 1 to: 600 do: [ :i | g := GrowChild new a: i; c: i + 1; d: i * 2; yourself ]. "
                   "{ g a. g c. g d }") == "#(600 601 1200)"
    assert vm.eval("| g | g := Grow new c: 3; yourself. { g a. g c }") == "#(nil 3)"
