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


PARKED_JOB = """Job = (
    | done total |
    start = ( done := 10. total := 1 )
    parkedInReceive = ( | got |
        got := Process receive.
        done := done + got.
        total := total + 1.
        ^ { done. total } )
    parkedInSleep = ( Process sleep: 50. done := done * 3. ^ done + total )
    spinningUntil: flag = (
        [ flag at: 1 ] whileFalse: [ Process yield ].
        1 to: 5 do: [ :i | done := done + i ].
        ^ done )
    total = ( ^ total )
)"""


def test_processes_inside_old_methods_finish_with_the_removed_field(session, request):
    """Three processes are inside v1 methods of Job — parked in a receive, asleep, and
    spinning in a loop — when Job loses the field `done` they use. Each then reads and
    writes `done` (its instance's ghost of it) and answers a value computed from it;
    the field they did not lose keeps working, and current code has no `done`. With
    the second tier on, the three methods were native code when the class changed."""
    session.define(PARKED_JOB)
    session.value("""
        | warm |
        "one run of each first, so that the second tier (when on) compiles them"
        warm := Job new start; yourself.
        Process current send: 0. warm parkedInReceive; parkedInSleep; spinningUntil: { true }.
        system global: #Out put: (Array new: 3); global: #Flag put: (Array with: false).
        system global: #Jobs put: ((1 to: 3) collect: [ :i | Job new start; yourself ]).
        system global: #Procs put: {
            [ Out at: 1 put: (Jobs at: 1) parkedInReceive ] spawn.
            [ Out at: 2 put: (Jobs at: 2) parkedInSleep ] spawn.
            [ Out at: 3 put: ((Jobs at: 3) spinningUntil: Flag) ] spawn }.
        Process yield""")
    selectors = ("parkedInReceive", "parkedInSleep", "spinningUntil:")
    v1 = [session.value(f"Job lookup: #{selector}") for selector in selectors]
    if "native" in request.node.name:
        assert all(method.native is not None for method in v1)
    answer = session.eval(f"""
        | old |
        {evaluate("Job = ( | total | total = ( ^ total ) )")}.
        old := (Code oldProcesses: Job) size.
        (Procs at: 1) send: 5.
        Flag at: 1 put: true.
        [ Procs anySatisfy: [ :p | p isAlive ] ] whileTrue: [ Process sleep: 1 ].
        {{ old. Out. (Jobs at: 1) total. Job instanceFieldNames.
           Procs collect: [ :p | p exitReason ] }}""")
    assert answer == "#(3 #(#(15 2) 31 25) 2 #(#total) #(#normal #normal #normal))"
    assert all(method.native is None for method in v1)     # obsolete code stays interpreted


def test_ghosts_do_not_keep_their_objects_alive(session):
    """A ghost lives on its object: an instance dropped after a redefinition is
    collected, even when the removed field referred back to it."""
    import gc

    from smalltalk_vm.vm.objects import Instance

    def ghosted_links() -> int:
        gc.collect()
        return sum(1 for obj in gc.get_objects()
                   if type(obj) is Instance and obj.cls.name == "Link" and getattr(obj, "ghosts", None))

    session.define("Link = ( | next label | loop = ( next := self. label := #me ) )")
    session.value("system global: #Links put: ((1 to: 20) collect: [ :i | Link new loop; yourself ])")
    session.value(evaluate("Link = ( | label | )"))
    assert ghosted_links() == 20
    session.value("system global: #Links put: nil")
    assert ghosted_links() == 0


def test_an_unhandled_missing_ghost_ends_only_its_process(session):
    """The InternalError that remains (old code on an instance made after the
    redefinition) ends that process alone; the VM goes on."""
    session.define("Job = ( | done | done = ( ^ done ) )")
    answer = session.eval(f"""
        | old p |
        old := Job lookup: #done.
        {evaluate("Job = ( | total | )")}.
        p := [ old invokeOn: Job new with: #() ] spawn.
        [ p isAlive ] whileTrue: [ Process sleep: 1 ].
        {{ p exitReason class. 3 + 4 }}""")
    assert answer == "#(InternalError 7)"
