"""Hot code on one VM (vm/codeversions.py, lib/Code.som): a running activation finishes
the version it started while every later send runs the current one; the history keeps
the current and the old version; purge, softPurge: and oldProcesses: see the processes
inside old code (dropped versions included). Every test runs with the second tier off
(VM_NATIVE_HOT=0) and compiling everything at first use (VM_NATIVE_HOT=1)."""
from __future__ import annotations

import pytest
from conftest import VMSession


def evaluate(source: str) -> str:
    """A statement loading ``source`` (a class or method definition) from a process."""
    return "system evaluate: '" + source.replace("'", "''") + "'"


@pytest.fixture(params=["interpreted", "native"])
def session(request, monkeypatch) -> VMSession:
    monkeypatch.setenv("VM_NATIVE_HOT", "0" if request.param == "interpreted" else "1")
    return VMSession()


def server(tag: str) -> str:
    """A server class whose `work` waits for a message inside the method, then answers
    which version it was and which version of `tag` a new send finds."""
    return f"""Srv = (
    work = ( | m | m := Process receive. ^ {{ #{tag}. m. self tag }} )
    tag = ( ^ #{tag} )
)"""


def test_an_activation_finishes_its_version_while_new_sends_run_the_new_one(session):
    session.define(server("v1"))
    answer = session.eval(f"""
        | out p q |
        out := Array new: 2.
        p := [ out at: 1 put: Srv new work ] spawn.
        Process yield.
        {evaluate(server("v2"))}.
        q := [ out at: 2 put: Srv new work ] spawn.
        Process yield.
        p send: 1. q send: 2.
        [ (out at: 1) isNil or: [ (out at: 2) isNil ] ] whileTrue: [ Process sleep: 1 ].
        out""")
    # p's activation ran v1 to its end; its later send of `tag` found v2, as q's did.
    assert answer == "#(#(#v1 1 #v2) #(#v2 2 #v2))"


def test_three_loads_keep_two_versions_and_the_purges_behave_as_stated(session):
    session.define(server("v1"))
    answer = session.eval(f"""
        | v1 v2 v3 p q out |
        out := Vector new.
        v1 := Srv version.
        p := [ Srv new work ] spawn.
        q := [ out append: Srv new work ] spawn.
        Process yield.
        out append: (Code oldProcesses: Srv) size.
        {evaluate(server("v2"))}.
        v2 := Srv version.
        out append: (Code versionsOf: Srv) = {{ v2. v1 }}.
        out append: (Code oldProcesses: Srv) = {{ p. q }}.
        {evaluate(server("v3"))}.
        v3 := Srv version.
        "v1 is dropped from the class; p and q still run it"
        out append: (Code versionsOf: Srv) = {{ v3. v2 }}.
        out append: (Code oldProcesses: Srv) = {{ p. q }}.
        out append: (Code softPurge: Srv).
        out append: p isAlive.
        q send: #late.
        [ out size < 8 ] whileTrue: [ Process sleep: 1 ].
        out append: (Code oldProcesses: Srv) = {{ p }}.
        out append: (Code purge: Srv).
        out append: p isAlive.
        out append: p exitReason.
        out append: (Code versionsOf: Srv) = {{ v3 }}.
        out append: (Code softPurge: Srv).
        out append: (Code purge: Srv).
        out""")
    assert answer == ("a Vector(0 true true true true false true #(#v1 #late #v3) "
                      "true true false #purged true true false)")


def test_soft_purge_forgets_the_old_version_once_nothing_runs_it(session):
    session.define(server("v1"))
    answer = session.eval(f"""
        {evaluate("Srv >> tag = ( ^ #second )")}.
        {{ (Code versionsOf: Srv) size. Code softPurge: Srv. (Code versionsOf: Srv) size.
           (Code versionsOf: Srv) first = Srv version }}""")
    assert answer == "#(2 true 1 true)"


def test_purge_ends_the_purging_process_too_when_it_runs_old_code(session):
    session.define("""Self = (
    go = ( | v | system evaluate: 'Self >> go = ( ^ #new )'. v := Code purge: Self. ^ v )
)""")
    outcome = session.run("Self new go")
    assert outcome.status != "value"
    assert "purged" in (outcome.error_text or "") or "purged" in str(outcome.value)
    assert session.eval("Self new go") == "#new"


def test_a_loop_in_a_process_picks_up_the_new_method_at_its_next_send(session):
    session.define("""Ticker = (
    step = ( ^ 1 )
    runInto: out = ( [ out at: 1 put: (out at: 1) + self step. Process yield ] repeat )
)""")
    answer = session.eval(f"""
        | out p before after |
        out := Array with: 0.
        p := [ Ticker new runInto: out ] spawn.
        [ (out at: 1) < 20 ] whileTrue: [ Process yield ].
        {evaluate("Ticker >> step = ( ^ 1000 )")}.
        before := out at: 1.
        Process yield. Process yield.
        after := out at: 1.
        p kill.
        {{ before < 1000. after - before >= 1000. (after - before) \\\\ 1000 }}""")
    assert answer == "#(true true 0)"


def test_code_refuses_what_is_not_a_class(session):
    for selector in ("versionsOf:", "oldProcesses:", "softPurge:", "purge:"):
        text = session.eval(f"[ Code {selector} 3 ] on: Error do: [ :e | e messageText ]")
        assert f"Code {selector} needs a class" in text, (selector, text)
    text = session.eval("[ Code purge: Object class ] on: Error do: [ :e | e messageText ]")
    assert "not a metaclass" in text


def test_class_side_old_code_counts(session):
    session.define("""Meta = ( ---- wait = ( ^ Process receive ) )""")
    answer = session.eval(f"""
        | p r |
        p := [ Meta wait ] spawn.
        Process yield.
        {evaluate("Meta class >> wait = ( ^ 0 )")}.
        r := (Code oldProcesses: Meta) = {{ p }}.
        p kill.
        r""")
    assert answer == "true"


def test_push_in_a_repl_that_is_not_a_node_reloads_here():
    from conftest import run_vm

    result = run_vm(["repl"], input="Foo = ( a = ( ^ 1 ) )\n:push Foo\nFoo version\n:push Nope\n:push\n")
    lines = result.stdout.splitlines()
    assert lines[1].startswith("pushed Foo version ") and lines[1].endswith(" to this node"), result.stdout
    assert lines[2] == f"'{lines[1].split()[3]}'"
    assert "no class named Nope" in result.stderr and ":push needs a class name" in result.stderr


def test_launchers_and_do_its_are_not_old_code(session):
    """A process spawned by name starts in a launcher (a method of Object never
    installed) and do-its run as methods of nil's class: neither is old code."""
    session.define("Waiter = ( wait = ( ^ Process receive ) )")
    answer = session.eval("""
        | p q r |
        p := [ Process receive ] spawn.
        q := Node current spawn: Waiter selector: #wait arguments: #().
        Process yield.
        r := { (Code oldProcesses: Object) size. (Code oldProcesses: Nil) size. Code purge: Object.
               p isAlive. q isAlive }.
        p kill. q kill.
        r""")
    assert answer == "#(0 0 false true true)"


def test_a_closure_of_old_code_counts_once_it_runs_not_while_it_is_held(session):
    """A process holding a block of old code (in a variable) is not running old code —
    it may never call it, and old code goes on working when called; it is found by
    oldProcesses: once it calls the block, as any other activation (docs/hot-code.md)."""
    session.define("Srv = ( callback = ( ^ [ Process receive. #oldBlock ] ) )")
    answer = session.eval(f"""
        | p out held running |
        out := Array new: 1.
        p := [ | blk | blk := Srv new callback. Process receive. out at: 1 put: blk value ] spawn.
        Process yield.
        {evaluate("Srv = ( callback = ( ^ [ #newBlock ] ) )")}.
        held := (Code oldProcesses: Srv) size.
        p send: #call.
        Process yield.
        running := (Code oldProcesses: Srv) = {{ p }}.
        p send: #finish.
        [ p isAlive ] whileTrue: [ Process sleep: 1 ].
        {{ held. running. out at: 1 }}""")
    assert answer == "#(0 true #oldBlock)"
