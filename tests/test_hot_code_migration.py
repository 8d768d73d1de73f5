"""State migration on a change of fields (compiler/redefinition.py migrates by name,
vm/codeversions.py sends updateFrom: with the old values by name): one test per kind
of change, plus what happens when updateFrom: fails and when a running old activation
uses a field the new version removed."""
from __future__ import annotations

import pytest
from conftest import VMSession


def evaluate(source: str) -> str:
    return "system evaluate: '" + source.replace("'", "''") + "'"


@pytest.fixture(params=["interpreted", "native"])
def session(request, monkeypatch) -> VMSession:
    monkeypatch.setenv("VM_NATIVE_HOT", "0" if request.param == "interpreted" else "1")
    return VMSession()


def keep(vm: VMSession, expression: str) -> None:
    vm.value(f"system global: #Kept put: {expression}")


def test_field_added_starts_nil_and_updatefrom_can_fill_it(session):
    session.define("Acc = ( | balance | balance: b = ( balance := b ) )")
    keep(session, "(Acc new balance: 7)")
    session.value(evaluate("""Acc = ( | balance limit |
        updateFrom: old = ( limit := (old at: #balance) * 10 )
        report = ( ^ { balance. limit } ) )"""))
    assert session.eval("Kept report") == "#(7 70)"


def test_field_added_without_updatefrom_is_nil(session):
    session.define("Acc = ( | balance | balance: b = ( balance := b ) )")
    keep(session, "(Acc new balance: 7)")
    session.value(evaluate("Acc = ( | balance limit | report = ( ^ { balance. limit } ) )"))
    assert session.eval("Kept report") == "#(7 nil)"


def test_field_removed_its_old_value_reaches_updatefrom(session):
    session.define("Acc = ( | balance fee | set = ( balance := 100. fee := 3 ) )")
    keep(session, "(Acc new set; yourself)")
    session.value(evaluate("""Acc = ( | balance |
        updateFrom: old = ( balance := balance - (old at: #fee) )
        balance = ( ^ balance ) )"""))
    assert session.eval("Kept balance") == "97"
    assert session.eval("Kept class instanceFieldNames") == "#(#balance)"


def test_field_renamed_through_updatefrom(session):
    session.define("Pt = ( | x y | x: a y: b = ( x := a. y := b ) )")
    keep(session, "(Pt new x: 1 y: 2)")
    session.value(evaluate("""Pt = ( | left top |
        updateFrom: old = ( left := old at: #x. top := old at: #y )
        coords = ( ^ { left. top } ) )"""))
    assert session.eval("Kept coords") == "#(1 2)"


def test_class_gaining_a_superclass_keeps_its_fields_by_name(session):
    session.define("Item = ( | name price | name: n price: p = ( name := n. price := p ) )")
    session.define("Entity = ( | id name | )")
    keep(session, "(Item new name: 'pen' price: 3)")
    session.value(evaluate("""Item = Entity ( | price |
        updateFrom: old = ( id := (old at: #name) size )
        report = ( ^ { id. name. price. self class superclass } ) )"""))
    assert session.eval("Kept report") == "#(3 'pen' 3 Entity)"


def test_the_loader_sees_its_instances_migrated_and_every_instance_is_sent_updatefrom(session):
    session.define("Ctr = ( | n | n: k = ( n := k ) )")
    answer = session.eval(f"""
        | all |
        all := (1 to: 5) collect: [ :i | Ctr new n: i ].
        {evaluate("Ctr = ( | count | updateFrom: old = ( count := (old at: #n) * 2 ) count = ( ^ count ) )")}.
        all collect: [ :each | each count ]""")
    assert answer == "#(2 4 6 8 10)"


FAILING_ON_TWO = """Ctr = ( | count |
    updateFrom: old = ( (old at: #n) = 2 ifTrue: [ self error: 'bad two' ]. count := old at: #n )
    count = ( ^ count ) )"""


def test_a_failing_updatefrom_is_reported_and_the_others_still_migrate(session):
    session.define("Ctr = ( | n | n: k = ( n := k ) )")
    answer = session.eval(f"""
        | all |
        all := (1 to: 3) collect: [ :i | Ctr new n: i ].
        {evaluate(FAILING_ON_TWO)}.
        all collect: [ :each | each count ]""")
    assert answer == "#(1 nil 3)"
    assert "updateFrom: failed for Ctr: bad two" in "".join(session.errors)


def test_updatefrom_is_not_sent_when_the_fields_stay_the_same(session):
    session.define("Ctr = ( | n | n: k = ( n := k ) n = ( ^ n ) )")
    keep(session, "(Ctr new n: 4)")
    session.value(evaluate("Ctr = ( | n | updateFrom: old = ( n := 99 ) n = ( ^ n ) )"))
    assert session.eval("Kept n") == "4"


def test_an_old_activation_using_a_removed_field_finishes_without_harming_the_vm(session):
    """The core rule (vm/obsolete.py): using a removed field in the old activation is a
    clean, resumable InternalError; a handler lets the activation run to its end, and
    without one only that process ends."""
    session.define("""Job = (
    | done total |
    start = ( done := 0. total := 0 )
    runHandled = ( | sum |
        sum := 0.
        1 to: 10 do: [ :i |
            i = 3 ifTrue: [ Process receive ].
            sum := sum + ([ done ] on: InternalError do: [ :e | e resume: 100 ]) ].
        ^ sum )
    runUnhandled = ( Process receive. ^ done )
)""")
    answer = session.eval(f"""
        | j p q out |
        out := Array new: 1.
        j := Job new start; yourself.
        p := [ out at: 1 put: j runHandled ] spawn.
        q := [ j runUnhandled ] spawn.
        Process yield.
        {evaluate("Job = ( | total | )")}.
        p send: #go. q send: #go.
        [ p isAlive or: [ q isAlive ] ] whileTrue: [ Process sleep: 1 ].
        {{ out at: 1. q exitReason class. 3 + 4 }}""")
    assert answer == "#(800 InternalError 7)"
