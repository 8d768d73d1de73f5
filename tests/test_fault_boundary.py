"""The fault boundary (vm/faults.py): a Python exception raised while a process runs —
in a primitive, a control primitive, the interpreter loop or native code — becomes an
InternalError of that process, catchable, resumable, and fatal only to that process;
the scheduler loop survives anything; a VM thread that still dies is reported.

The faults are real Python exceptions: methods whose primitive is a Python function
that raises, and receivers whose fields were taken away behind the VM's back.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT, VMSession

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.native import make_native
from smalltalk_vm.vm.objects import KIND_CONTROL, KIND_PRIMITIVE, CompiledMethod
from smalltalk_vm.vm.quicken import quicken


def install_python(vm: VMSession, class_name: str, selector: str, argc: int, fn, control: bool = False) -> None:
    """Give ``class_name`` a method ``selector`` implemented by the Python function ``fn``."""
    universe = vm.universe
    cls = universe.globals[class_name]
    method = CompiledMethod(universe.Primitive, selector, argc, 0, [], [], [])
    method.kind = KIND_CONTROL if control else KIND_PRIMITIVE
    method.primitive = fn
    method.holder = cls
    quicken(method)
    cls.methods[selector] = method
    universe.invalidate(cls)


def raising(kind: type[Exception], text: str):
    def fn(*args):
        raise kind(text)
    return fn


@pytest.fixture
def probe(vm: VMSession) -> VMSession:
    vm.define("""Probe = Object (
        | a b |
        setUp = ( a := 1. b := 2 )
        readA = ( | t | t := a. ^ t + 100 )
        writeA = ( a := 7. ^ #stored )
        storeA = ( ^ (a := 7) )
        justA = ( ^ a )
        callReadA = ( ^ self readA + 1000 )
    )""")
    install_python(vm, "Probe", "boom", 0, raising(ValueError, "bad value"))
    install_python(vm, "Probe", "boom:", 1, raising(KeyError, "k"))
    install_python(vm, "Probe", "controlBoom", 0, raising(IndexError, "control went wrong"), control=True)
    vm.universe.globals["P"] = vm.value("Probe new setUp; yourself")
    return vm


def strip_fields(vm: VMSession) -> None:
    """Take the receiver's fields away behind the VM's back (as a bug would)."""
    vm.universe.globals["P"].fields = []


# ---------------------------------------------------------------------- primitives

def test_a_raising_primitive_is_an_internal_error_naming_it(probe):
    text = probe.value("[ P boom ] on: Error do: [ :e | e messageText ]").chars
    assert text == "internal error in primitive Probe>>boom: ValueError: bad value"
    assert probe.eval("[ P boom: 3 ] on: InternalError do: [ :e | e class ]") == "InternalError"


def test_an_internal_error_is_resumable_the_send_answers_the_value(probe):
    assert probe.eval("([ P boom ] on: InternalError do: [ :e | e resume: 42 ]) + 1") == "43"
    assert probe.eval("[ P boom: 1 ] on: InternalError do: [ :e | e return: 7 ]") == "7"


def test_retry_through_an_internal_error(probe):
    assert probe.eval("""| tries |
        tries := 0.
        [ tries := tries + 1. tries < 3 ifTrue: [ P boom ]. tries ]
            on: InternalError do: [ :e | e retry ]""") == "3"


def test_a_raising_control_primitive_keeps_the_stack_consistent(probe):
    # The value under the failed send must still be there after resumption.
    assert probe.eval("#(10) , { [ P controlBoom ] on: Error do: [ :e | e resume: 5 ] }") == "#(10 5)"
    text = probe.value("[ P controlBoom ] on: Error do: [ :e | e messageText ]").chars
    assert text == "internal error in primitive Probe>>controlBoom: IndexError: control went wrong"


def test_the_same_faults_through_perform(probe):
    # perform: activates through vm.semantics, not the interpreter's inline path.
    assert probe.eval("[ P perform: #boom ] on: InternalError do: [ :e | e resume: 9 ]") == "9"
    assert probe.eval("[ P perform: #controlBoom ] on: InternalError do: [ :e | e resume: 8 ]") == "8"


def test_unhandled_it_ends_only_that_process(probe):
    outcome = probe.run("""| p |
        p := [ P boom ] spawn.
        [ p isAlive ] whileTrue: [ Process yield ].
        { p exitReason class. p exitReason messageText }""")
    assert outcome.status == "value"
    assert probe.machine.print_string(outcome.value) == \
        "#(InternalError 'internal error in primitive Probe>>boom: ValueError: bad value')"
    assert "died: ERROR: internal error in primitive Probe>>boom" in "".join(probe.errors)


def test_unhandled_in_the_main_process_is_its_error(probe):
    outcome = probe.run("P boom")
    assert outcome.status == "error"
    assert outcome.error_text == "internal error in primitive Probe>>boom: ValueError: bad value"
    assert outcome.trace and outcome.trace[0].startswith("Nil>>doIt")


def test_a_primitive_that_parked_the_process_before_failing_runs_again(vm):
    def park_then_fail(interp, ctx, argc):
        interp.vm.scheduler.park(interp.process, ctx, "waiting", 1, timeout_ms=60_000)
        raise RuntimeError("after parking")
    vm.define("Parker = Object ( )")
    install_python(vm, "Parker", "parkAndFail", 0, park_then_fail, control=True)
    assert vm.eval("[ Parker new parkAndFail ] on: InternalError do: [ :e | e return: #running ]") == "#running"
    assert not [t for t in vm.machine.scheduler.timers if not t.cancelled]


# ---------------------------------------------------------------------- the interpreter

def test_a_field_read_the_receiver_lacks_is_abandoned_and_resumable(probe):
    strip_fields(probe)
    text = probe.value("[ P readA ] on: InternalError do: [ :e | e messageText ]").chars
    assert text.startswith("internal error in Probe>>readA (<test>:")
    assert "IndexError" in text
    # The field read answers the resumption value; the method goes on from there.
    assert probe.eval("[ P readA ] on: InternalError do: [ :e | e resume: 1 ]") == "101"
    assert probe.eval("[ P justA ] on: InternalError do: [ :e | e resume: #r ]") == "#r"


def test_field_stores_the_receiver_lacks(probe):
    strip_fields(probe)
    assert probe.eval("[ P writeA ] on: InternalError do: [ :e | e resume: 3 ]") == "#stored"
    assert probe.eval("[ P storeA ] on: InternalError do: [ :e | e resume: 3 ]") == "3"
    assert probe.eval("[ P storeA ] on: InternalError do: [ :e | e return: 4 ]") == "4"


def test_native_code_that_faults_is_given_up_and_its_activation_cut(probe):
    method = probe.universe.globals["Probe"].methods["readA"]
    assert make_native(probe.universe, method)
    strip_fields(probe)
    # The cut activation answers the resumption value to its sender.
    assert probe.eval("[ P callReadA ] on: InternalError do: [ :e | e resume: 5 ]") == "1005"
    assert method.native is None
    assert make_native(probe.universe, method)
    text = probe.value("[ P callReadA ] on: InternalError do: [ :e | e messageText ]").chars
    assert text.startswith("internal error in native code of Probe>>readA")
    # Given up, the method runs interpreted: the field read itself is abandoned now.
    assert probe.eval("[ P callReadA ] on: InternalError do: [ :e | e resume: 5 ]") == "1105"


def test_a_caller_whose_send_site_cached_native_code_given_up_calls_it_no_more(probe):
    universe = probe.universe
    method = universe.globals["Probe"].methods["readA"]
    caller = universe.globals["Probe"].methods["callReadA"]
    assert make_native(universe, method)
    assert probe.eval("P callReadA") == "1101"      # interpreted, the site caches readA
    assert make_native(universe, caller)
    # compiled now: its send site calls readA's direct function from the site's cache
    assert probe.eval("P callReadA") == "1101"
    assert caller.sites[0].fn is method.direct is not None
    strip_fields(probe)
    assert probe.eval("[ P callReadA ] on: InternalError do: [ :e | e resume: 5 ]") == "1005"
    assert method.direct is None
    # The given-up method runs interpreted, also from the compiled caller: the field
    # read itself is what is abandoned now (its value 5, then + 100 + 1000)
    assert probe.eval("[ P callReadA ] on: InternalError do: [ :e | e resume: 5 ]") == "1105"
    assert caller.sites[0].fn is None


def test_a_bad_opcode_cuts_the_activation(probe):
    method = probe.universe.globals["Probe"].methods["readA"]
    method.fast[0] = 250
    text = probe.value("[ P callReadA ] on: InternalError do: [ :e | e messageText ]").chars
    assert text.startswith("Probe>>readA (<test>:4): bad opcode 250 at pc 0")


def test_a_fault_in_the_bottom_activation_ends_the_process(probe):
    strip_fields(probe)
    outcome = probe.machine.send(probe.universe.globals["P"], "justA")     # a getter: no context
    assert outcome.status == "error"
    assert outcome.error_text == "internal error in Probe>>justA: IndexError: list index out of range"
    method = probe.universe.globals["Probe"].methods["readA"]
    proc = probe.machine.spawn_method(probe.universe.globals["P"], method)  # readA is the bottom
    outcome = probe.machine.finish(proc)
    assert outcome.status == "error"
    assert outcome.error_text.startswith("internal error in Probe>>readA (<test>:4): IndexError")


def test_a_root_class_without_does_not_understand(vm):
    vm.define("Rooted = nil ( )")
    vm.universe.globals["R"] = vm.universe.new_instance(vm.universe.globals["Rooted"])
    text = vm.value("[ R frobnicate ] on: MessageNotUnderstood do: [ :e | e messageText ]").chars
    assert text == "Rooted does not understand #frobnicate (nor #doesNotUnderstand:arguments:)"


# ---------------------------------------------------------------------- the scheduler

def test_the_loop_survives_failing_work_timers_and_death_hooks(vm):
    scheduler = vm.machine.scheduler
    scheduler.post(lambda: 1 / 0)
    scheduler.add_timer(0.0, lambda: {}["missing"])

    def bad_hook(proc, reason):
        raise RuntimeError("hook")
    scheduler.on_death.insert(0, bad_hook)
    assert vm.eval("[ 3 ] spawn. Process sleep: 5. 4") == "4"
    errors = "".join(vm.errors)
    assert "vm: internal error in work posted to the VM: ZeroDivisionError" in errors
    assert "vm: internal error in a timer: KeyError" in errors
    assert "vm: internal error in reporting the death of process" in errors


def test_a_slice_that_raises_past_the_boundary_ends_only_its_process(vm, monkeypatch):
    interpreter = vm.machine.interpreter
    original = interpreter.run
    victim = vm.value("[ Process receive ] spawn")

    def run(process, budget):
        if process is victim:
            raise RuntimeError("boundary bug")
        return original(process, budget)
    monkeypatch.setattr(interpreter, "run", run)
    assert vm.eval("Process yield. 5") == "5"
    vm.machine.scheduler.deliver(victim, V.NIL)
    assert vm.eval("Process yield. 6") == "6"
    assert victim.exit_reason is not None and not victim.alive
    assert "internal error in process" in "".join(vm.errors)


# ---------------------------------------------------------------------- a dying VM thread

BROKEN_SCHEDULER = """
import sys
from smalltalk_vm.vm import scheduler
def broken(self):
    if self.timers:
        raise RuntimeError("scheduler bug")
    return None
scheduler.Scheduler._next_deadline = broken
from smalltalk_vm.cli.main import entry_point
sys.argv = ["vm", *sys.argv[1:]]
entry_point()
"""


def run_broken(args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-c", BROKEN_SCHEDULER, *args], input=stdin,
                          capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)


FAILED_LINE = "vm: internal error: RuntimeError: scheduler bug"


def test_a_dead_vm_thread_is_reported_by_eval():
    done = run_broken(["eval", "Process sleep: 10. 3"])
    assert done.returncode == 70
    assert done.stderr.startswith(FAILED_LINE)
    assert "Traceback" not in done.stderr


def test_a_dead_vm_thread_is_reported_by_run(tmp_path):
    (tmp_path / "Sleeper.som").write_text("Sleeper = ( run = ( Process sleep: 10 ) )")
    done = run_broken(["run", str(tmp_path / "Sleeper.som")])
    assert done.returncode == 70
    assert done.stderr.startswith(FAILED_LINE)
    assert "Traceback" not in done.stderr


def test_a_dead_vm_thread_is_reported_by_test(tmp_path):
    (tmp_path / "SleepTest.som").write_text(
        "SleepTest = TestCase ( testSleep = ( Process sleep: 10. self assert: true ) )")
    done = run_broken(["test", str(tmp_path)])
    assert done.returncode == 70
    assert done.stderr.startswith(FAILED_LINE)
    assert "Traceback" not in done.stderr


def test_a_dead_vm_thread_is_reported_by_the_repl():
    done = run_broken(["repl"], stdin="3 + 4\nProcess sleep: 10. 5\n6\n")
    assert done.returncode == 70
    assert "7" in done.stdout
    assert "vm: internal error: the VM stopped: RuntimeError: scheduler bug" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_process_that_exits_normally_without_returning_has_nil_as_its_result():
    from conftest import run_vm
    done = run_vm(["eval", "Process current exit: #normal"])
    assert (done.returncode, done.stdout, done.stderr) == (0, "nil\n", "")
    done = run_vm(["repl"], input="Process current exit: #normal\n3 + 4\n")
    assert (done.returncode, done.stdout.split()) == (0, ["nil", "7"])
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
