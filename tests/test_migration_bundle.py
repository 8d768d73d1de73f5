"""The process bundle (node.bundle): a process frozen on one machine, turned into bytes,
thawed on another, finishes with the same output and result as an unmoved run; what
cannot move is refused with a reason naming it; frozen-then-unfrozen goes on as if
nothing happened. Two machines in one test process stand in for two nodes for the
codec; the protocol between real nodes has its own tests."""
from __future__ import annotations

import time

import cbor2
import pytest
from bundle_support import VM, FakeNodeRefs, moved, unmoved

from smalltalk_vm.node import bundle as MB
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.process import FROZEN, RUNNABLE, SLEEPING, WAIT_RECEIVE, WAITING

DEMO = """MoveDemo = (
    run: n = (
        | total log adder |
        total := 0.
        log := Vector new.
        adder := [ :x | total := total + x. log append: x ].
        [ [ 1 to: n do: [ :i |
                adder value: i * i.
                i \\\\ 100 = 0 ifTrue: [ ('at ' , i printString , ' total ' , total printString) println ] ] ]
            ensure: [ 'inner ensure' println ] ]
          ensure: [ ('outer ensure, log size ' , log size printString) println ].
        ^ total )
)"""


@pytest.fixture(scope="module")
def pair():
    source, target = VM(), VM()
    for vm in (source, target):
        vm.define(DEMO)
    return source, target


def tier_machines(monkeypatch, hot: str) -> VM:
    monkeypatch.setenv("VM_NATIVE_HOT", hot)
    vm = VM()
    vm.define(DEMO)
    return vm


# ---------------------------------------------------------------------- the acceptance shape

@pytest.mark.parametrize("source_hot,target_hot", [("0", "0"), ("1", "1"), ("1", "0"), ("0", "1")])
def test_loop_with_blocks_and_nested_ensure_moves_midway(monkeypatch, source_hot, target_hot):
    """A process midway through a to:do: loop with state in temporaries, a block and a
    nested ensure: finishes on the other machine with the output and result of an
    unmoved run, and both ensure: blocks run there. Both tiers, in every combination:
    the pcs in a bundle are the interpreter's."""
    source = tier_machines(monkeypatch, source_hot)
    target = tier_machines(monkeypatch, target_hot)
    reference = unmoved(source, "[ MoveDemo new run: 500 ] spawn")
    proc = source.spawn("[ MoveDemo new run: 500 ] spawn")
    reductions = 0
    while "at 200" not in "".join(source.output):
        assert source.step(proc, 50)
        reductions += 50
    first_half = source.take_output()
    assert "at 500" not in first_half
    def native(vm: VM) -> bool:
        """Whether a block of MoveDemo>>run: (the adder, called each time round) is
        native code there."""
        method = vm.universe.globals["MoveDemo"].methods["run:"]
        return any(getattr(lit, "native", None) is not None for lit in method.literals)
    assert native(source) == (source_hot == "1")       # the tier it ran in on the source
    frozen = MB.freeze(source.universe, proc)
    thawed = MB.thaw(target.machine, MB.encode(frozen))
    MB.retire(frozen)
    result = target.finish(thawed.proc)
    assert native(target) == (target_hot == "1")
    second_half = target.take_output()
    assert "inner ensure\nouter ensure, log size 500\n" in second_half
    assert "at 500 total 41791750" in second_half
    assert first_half + second_half == reference.output
    assert result == reference.result == "41791750"
    assert source.output == [] and not source.errors and not target.errors


def test_the_moved_process_is_the_one_in_its_own_variables(pair):
    """`me := Process current` kept in a temporary is the new process after the move."""
    source, target = pair
    program = """[ | me |
        me := Process current.
        1 to: 200 do: [ :i | i printString size ].
        me == Process current ] spawn"""
    run = moved(source, target, program, 30)
    assert run.moved and run.result == "true"


def test_sharing_and_cycles_are_kept(pair):
    source, target = pair
    program = """[ | a b d |
        a := Array new: 2. a at: 1 put: a.
        b := Array with: a with: a.
        d := Dictionary new. d at: #self put: d.
        1 to: 300 do: [ :i | i printString size ].
        { (a at: 1) == a. (b at: 1) == (b at: 2). (b at: 1) == a. (d at: #self) == d } ] spawn"""
    run = moved(source, target, program, 40)
    assert run.moved and run.result == "#(true true true true)"


def test_classes_symbols_and_globals_travel_by_name(pair):
    source, target = pair
    program = """[ | k s sys |
        k := MoveDemo. s := #someSymbolOnlyHere. sys := system.
        1 to: 300 do: [ :i | i printString size ].
        { k == MoveDemo. s == #someSymbolOnlyHere. sys == system. s } ] spawn"""
    run = moved(source, target, program, 40)
    assert run.moved and run.result == "#(true true true #someSymbolOnlyHere)"


HOLDER = """Holder = (
    | block |
    block = ( ^ block )
    hold = ( | secret | secret := 42. block := [ :x | x = 0 ifTrue: [ ^ #returned ]. secret + x ].
             [ true ] whileTrue: [ Process receive ] )
)"""


def test_a_block_over_another_process_context_travels_with_a_copy(pair):
    """The outer context of a block made by a method another process is still running
    travels as a copy: the block reads the copy's variables, and a ^ into it fails as
    from an escaped block."""
    source, target = pair
    source.define(HOLDER)
    target.define(HOLDER)
    holder_proc = source.spawn("[ Holder new hold ] spawn")
    source.step(holder_proc, 100)
    ctx = holder_proc.ctx
    while ctx.method.home_method.holder.name != "Holder":
        ctx = ctx.sender
    block = ctx.receiver.fields[0]
    program = """[ | blk r |
        blk := Process receive.
        1 to: 300 do: [ :i | i printString size ].
        r := blk value: 1.
        { r. [ blk value: 0. #noError ] on: Error do: [ :e | e class name ] } ] spawn"""
    proc = source.spawn(program)
    source.step(proc, 30)
    source.scheduler.deliver(proc, block)
    source.step(proc, 30)
    frozen = MB.freeze(source.universe, proc)
    thawed = MB.thaw(target.machine, MB.encode(frozen))
    MB.retire(frozen)
    assert target.finish(thawed.proc) == "#(43 #BlockCannotReturn)"
    assert holder_proc.ctx is not None and holder_proc.ctx.pc >= 0      # the original is untouched
    source.scheduler.terminate(holder_proc, source.universe.symbol("kill"))


# ---------------------------------------------------------------------- wait states and timers

def test_a_process_waiting_in_receive_moves_with_its_mailbox(pair):
    source, target = pair
    program = """[ | got | got := Vector new.
        3 timesRepeat: [ got append: Process receive ].
        got asArray ] spawn"""
    proc = source.spawn(program)
    source.step(proc, 100)
    assert proc.state == WAITING and proc.wait_mode == WAIT_RECEIVE
    source.scheduler.deliver(proc, source.universe.make_int(1))
    source.step(proc, 100)
    assert proc.state == WAITING
    frozen = MB.freeze(source.universe, proc)
    source.scheduler.deliver(proc, source.universe.make_int(2))    # while frozen: kept, does not wake it
    assert proc.state == FROZEN
    data = MB.encode(frozen)
    assert frozen.late_messages() == []
    source.scheduler.deliver(proc, source.universe.make_int(3))
    late = frozen.late_messages()
    assert late == [source.universe.make_int(3)]
    thawed = MB.thaw(target.machine, data)
    MB.retire(frozen)
    for message in late:
        target.scheduler.deliver(thawed.proc, message)
    assert target.finish(thawed.proc) == "#(1 2 3)"


def test_a_sleeping_process_keeps_its_remaining_time(pair):
    source, target = pair
    proc = source.spawn("[ Process sleep: 400. #woke ] spawn")
    source.step(proc, 10)
    assert proc.state == SLEEPING
    frozen = MB.freeze(source.universe, proc)
    time.sleep(0.15)
    data = MB.encode(frozen)
    remaining = cbor2.loads(data)["process"]["timer_ms"]
    print(f"remaining after 150 ms of a 400 ms sleep: {remaining:.0f} ms")
    assert 150 <= remaining <= 260          # 400 - 150, less whatever the loaded machine took
    started = time.monotonic()
    thawed = MB.thaw(target.machine, data)
    MB.retire(frozen)
    timer = thawed.proc.wake_timer
    assert timer is not None and abs((timer.deadline - started) * 1000 - remaining) < 50
    assert target.finish(thawed.proc) == "#woke"
    slept = (time.monotonic() - started) * 1000
    print(f"slept {slept:.0f} ms on the target")
    assert slept >= remaining - 5


def test_receive_within_moves_with_its_timeout(pair):
    source, target = pair
    proc = source.spawn("[ Process receiveWithin: 300 ifTimeout: [ #timedOut ] ] spawn")
    source.step(proc, 10)
    frozen = MB.freeze(source.universe, proc)
    thawed = MB.thaw(target.machine, MB.encode(frozen))
    MB.retire(frozen)
    assert thawed.proc.wake_timer is not None
    assert target.finish(thawed.proc) == "#timedOut"


def test_selective_receive_deadline_moves_to_the_target_clock(pair):
    source, target = pair
    target.universe.started -= 100.0        # the target VM has run 100 s longer
    proc = source.spawn("[ Process receive: [ :m | m = 7 ] within: 300 ifTimeout: [ #timedOut ] ] spawn")
    source.step(proc, 50)
    source.scheduler.deliver(proc, source.universe.make_int(1))
    frozen = MB.freeze(source.universe, proc)
    thawed = MB.thaw(target.machine, MB.encode(frozen))
    MB.retire(frozen)
    started = time.monotonic()
    assert target.finish(thawed.proc) == "#timedOut"
    waited = time.monotonic() - started
    print(f"timed out {waited * 1000:.0f} ms after the move")
    assert waited < 5.0


def test_a_process_moving_itself_resumes_with_the_answer(pair):
    """A process parked by its own move (as `Process current migrateTo:` parks it)
    resumes on the target with the answer the protocol gives, as the primitive's value."""
    source, target = pair
    proc = source.spawn("[ | x | x := 1. x := x + (Process receive). x * 2 ] spawn")
    source.step(proc, 50)
    assert proc.state == WAITING and proc.wait_mode == WAIT_RECEIVE
    MB.park_for_move(_Interp(source, proc), proc.ctx)
    frozen = MB.freeze(source.universe, proc)
    thawed = MB.thaw(target.machine, MB.encode(frozen), answer=target.universe.make_int(20))
    MB.retire(frozen)
    assert thawed.proc.state == RUNNABLE
    assert target.finish(thawed.proc) == "42"


def test_a_refused_self_move_resumes_here_with_the_answer(pair):
    source, _ = pair
    proc = source.spawn("[ | x | x := 1. x := x + (Process receive). x * 2 ] spawn")
    source.step(proc, 50)
    MB.park_for_move(_Interp(source, proc), proc.ctx)
    frozen = MB.freeze(source.universe, proc)
    MB.unfreeze(frozen, answer=source.universe.make_int(4))
    assert source.finish(proc) == "10"


class _Interp:
    """What a control primitive sees: the interpreter's vm and current process."""

    def __init__(self, vm: VM, proc) -> None:
        self.vm = vm.universe
        self.process = proc


# ---------------------------------------------------------------------- refusal and unfreeze

def test_unfrozen_process_goes_on_as_if_nothing_happened(pair):
    source, _ = pair
    reference = unmoved(source, "[ MoveDemo new run: 300 ] spawn")
    proc = source.spawn("[ MoveDemo new run: 300 ] spawn")
    source.step(proc, 300)
    frozen = MB.freeze(source.universe, proc)
    assert proc not in source.scheduler.run_queue
    MB.encode(frozen)
    MB.unfreeze(frozen)
    assert proc.state == RUNNABLE and proc in source.scheduler.run_queue
    assert source.finish(proc) == reference.result
    assert source.take_output() == reference.output


def test_unfreeze_keeps_a_timer_deadline_and_wakes_a_receive(pair):
    source, _ = pair
    sleeper = source.spawn("[ Process sleep: 200. #woke ] spawn")
    source.step(sleeper, 10)
    deadline = sleeper.wake_timer.deadline
    frozen = MB.freeze(source.universe, sleeper)
    assert sleeper.wake_timer is None
    MB.unfreeze(frozen)
    assert abs(sleeper.wake_timer.deadline - deadline) < 0.005
    assert source.finish(sleeper) == "#woke"
    receiver = source.spawn("[ Process receive ] spawn")
    source.step(receiver, 10)
    frozen = MB.freeze(source.universe, receiver)
    source.scheduler.deliver(receiver, source.universe.make_int(5))
    assert receiver.state == FROZEN
    MB.unfreeze(frozen)
    assert source.finish(receiver) == "5"


def refused(source: VM, proc, node_refs=None) -> str:
    with pytest.raises(MB.MoveRefused) as caught:
        frozen = MB.freeze(source.universe, proc)
        try:
            MB.encode(frozen, node_refs)
        finally:
            MB.unfreeze(frozen)
    return str(caught.value)


def test_an_unresolved_promise_refuses_and_names_where_it_was(pair):
    source, _ = pair
    proc = source.spawn("[ | pending | pending := Promise new. 1 to: 1000 do: [ :i | i printString ]. 7 ] spawn")
    source.step(proc, 20)
    reason = refused(source, proc)
    assert "unresolved Promise" in reason and "temporary 'pending'" in reason, reason
    assert source.finish(proc) == "7"           # it ran on where it was


def test_waiting_for_a_promise_or_in_the_debugger_refuses(pair):
    source, _ = pair
    proc = source.spawn("[ Promise new wait ] spawn")
    source.step(proc, 100)
    assert "waiting for a promise" in refused(source, proc)
    source.scheduler.terminate(proc, source.universe.symbol("kill"))
    proc = source.spawn("[ 1 to: 1000 do: [ :i | i printString ] ] spawn")
    proc.suspended = True
    assert "debugger" in refused(source, proc)
    proc.suspended = False
    source.finish(proc)


def test_old_code_and_obsolete_classes_refuse(pair):
    source, _ = pair
    source.define("Reloaded = ( spin = ( 1 to: 100000 do: [ :i | i printString ]. ^ #done ) )")
    proc = source.spawn("[ Reloaded new spin ] spawn")
    source.step(proc, 50)
    source.define("Reloaded = ( spin = ( ^ #other ) )")
    reason = refused(source, proc)
    assert "old code of Reloaded>>spin" in reason, reason
    source.scheduler.terminate(proc, source.universe.symbol("kill"))


def test_another_process_needs_a_node_to_travel(pair):
    source, target = pair
    proc = source.spawn("""[ | other | other := [ Process receive ] spawn.
        1 to: 300 do: [ :i | i printString ]. other ] spawn""")
    source.step(proc, 30)
    reason = refused(source, proc)
    assert "a process" in reason and "temporary 'other'" in reason, reason
    refs_a, refs_b = FakeNodeRefs(source, "a@host"), FakeNodeRefs(target, "b@host")
    frozen = MB.freeze(source.universe, proc)
    data = MB.encode(frozen, refs_a)
    thawed = MB.thaw(target.machine, data, refs_b)
    MB.retire(frozen)
    result = target.finish(thawed.proc)
    assert "a@host" in result and "a Process(" in result, result
    for p in [p for p in source.scheduler.processes.values() if p.state == WAITING]:
        source.scheduler.terminate(p, source.universe.symbol("kill"))


def test_refusals_leave_the_process_as_it_was(pair):
    source, _ = pair
    proc = source.spawn("[ Process sleep: 50. #slept ] spawn")
    source.step(proc, 5)
    assert proc.state == SLEEPING
    source.scheduler.current = proc
    with pytest.raises(MB.MoveRefused, match="running"):
        MB.freeze(source.universe, proc)
    source.scheduler.current = None
    assert proc.state == SLEEPING and proc.wake_timer is not None
    assert source.finish(proc) == "#slept"
    with pytest.raises(MB.MoveRefused, match="ended"):
        MB.freeze(source.universe, proc)


# ---------------------------------------------------------------------- code on the target

def test_missing_classes_are_named_and_another_version_is_refused(pair):
    source, target = pair
    source.define("OnlyOnSource = ( go = ( 1 to: 1000 do: [ :i | i printString ]. ^ #went ) )")
    proc = source.spawn("[ OnlyOnSource new go ] spawn")
    source.step(proc, 30)
    frozen = MB.freeze(source.universe, proc)
    data = MB.encode(frozen)
    header = MB.read_header(data)
    missing = MB.missing_classes(target.universe, header)
    assert [name for name, _ in missing] == ["OnlyOnSource"]
    with pytest.raises(MB.MissingCode) as caught:
        MB.thaw(target.machine, data)
    assert caught.value.classes == missing
    target.define("OnlyOnSource = ( go = ( ^ #different ) )")
    with pytest.raises(MB.BundleError, match="version mismatch"):
        MB.thaw(target.machine, data)
    target.define("OnlyOnSource = ( go = ( 1 to: 1000 do: [ :i | i printString ]. ^ #went ) )")
    thawed = MB.thaw(target.machine, data)
    MB.retire(frozen)
    assert target.finish(thawed.proc) == "#went"


def test_links_and_monitors_travel_as_data_for_the_protocol(pair):
    """Links, monitors and watchers are handed to the protocol (not installed): local
    partners as pids of the source node, a watcher on another node with its key."""
    source, target = pair
    refs_a, refs_b = FakeNodeRefs(source, "a@host"), FakeNodeRefs(target, "b@host")
    proc = source.spawn("[ | ref | ref := Process current monitor: ([ Process receive ] spawn). "
                        "Process receive. ref ] spawn")
    source.step(proc, 50)
    [partner] = proc.monitors.values()
    source.machine.signals.link(proc, partner)
    remote_watcher = refs_a.pids.get("c@host", 3, 77)
    proc.monitored_by = {("c@host", 9): remote_watcher}
    frozen = MB.freeze(source.universe, proc)
    thawed = MB.thaw(target.machine, MB.encode(frozen, refs_a), refs_b)
    assert thawed.proc.links is None and thawed.proc.monitors is None and thawed.proc.monitored_by is None
    [link] = thawed.links
    assert (link.node, link.number) == ("a@host", partner.pid)
    [(ref, watched)] = thawed.monitors
    assert (watched.node, watched.number) == ("a@host", partner.pid)
    [(key, watcher)] = thawed.monitored_by
    assert key == ("c@host", 9) and (watcher.node, watcher.number) == ("c@host", 77)
    # The ref kept in a temporary is the same object as the monitor's key.
    target.scheduler.deliver(thawed.proc, target.universe.make_int(0))
    MB.retire(frozen)
    outcome = target.machine.finish(thawed.proc)
    assert outcome.value is ref
    source.scheduler.terminate(partner, source.universe.symbol("kill"))



def test_an_object_of_a_class_no_longer_named_refuses(pair):
    source, _ = pair
    source.define("Gone = ( | x | )")
    proc = source.spawn("[ | g | g := Gone new. system removeGlobal: #Gone. "
                        "1 to: 1000 do: [ :i | i printString ]. g ] spawn")
    source.step(proc, 40)
    reason = refused(source, proc)
    assert "an object of class Gone cannot travel (reached from temporary 'g' of [] in Nil>>doIt)" in reason, reason
    source.finish(proc)


def test_a_global_value_travels_by_name(pair):
    source, target = pair
    program = """[ | shared | shared := system global: #SharedThing.
        shared at: 1 put: 5.
        1 to: 300 do: [ :i | i printString size ].
        { shared == (system global: #SharedThing). shared at: 1 } ] spawn"""
    source.spawn("system global: #SharedThing put: (Array new: 1)")
    proc = source.spawn(program)
    source.step(proc, 30)
    frozen = MB.freeze(source.universe, proc)
    data = MB.encode(frozen)
    with pytest.raises(MB.BundleError, match="no global 'SharedThing'"):
        MB.thaw(target.machine, data)
    target.spawn("system global: #SharedThing put: (Array with: 9)")
    thawed = MB.thaw(target.machine, data)
    MB.retire(frozen)
    assert target.finish(thawed.proc) == "#(true 9)"


def test_objects_that_pass_by_reference_travel_as_references(pair):
    """An object passed by reference stays on the source (the target gets a proxy), and
    a reference back to the target's own object is that object there."""
    source, target = pair
    for vm in pair:
        vm.define("SharedCounter = ( | n | n = ( ^ n ) n: x = ( n := x ) )")
    refs_a, refs_b = FakeNodeRefs(source, "a@host"), FakeNodeRefs(target, "b@host")
    owned = target.spawn("SharedCounter new n: 5; yourself")
    handle = refs_b.reference(owned)[2]
    mine = refs_a.remote_object("b@host", 1, handle, "SharedCounter", 0)
    proc = source.spawn("""[ | c d | c := SharedCounter new n: 3; yourself. d := Process receive.
        1 to: 300 do: [ :i | i printString size ]. { c. d } ] spawn""")
    source.step(proc, 20)
    source.scheduler.deliver(proc, mine)
    source.step(proc, 20)
    frozen = MB.freeze(source.universe, proc)
    thawed = MB.thaw(target.machine, MB.encode(frozen, refs_a), refs_b)
    MB.retire(frozen)
    outcome = target.machine.finish(thawed.proc)
    proxy, back = outcome.value.items
    assert type(proxy).__name__ == "RemoteObject" and proxy.node == "a@host"
    assert refs_a.exported[proxy.handle].fields[0] == source.universe.make_int(3)
    assert back is owned


def bundle_of_a_demo_midway(source: VM) -> dict:
    """The decoded bundle of a MoveDemo process frozen midway; the process itself then
    goes on and finishes at the source."""
    proc = source.spawn("[ MoveDemo new run: 300 ] spawn")
    source.step(proc, 100)
    frozen = MB.freeze(source.universe, proc)
    body = cbor2.loads(MB.encode(frozen))
    MB.unfreeze(frozen)
    source.finish(proc)
    source.take_output()
    return body


def test_a_forged_receiver_is_refused(pair):
    """A bundle whose method context claims another receiver (the target's `system`)
    is refused: a method never runs on an object of another class."""
    source, target = pair
    body = bundle_of_a_demo_midway(source)
    body["objects"].append(["k", "system"])
    system_word = V.REF_BASE + len(body["objects"]) - 1
    demo = next(i for i, code in enumerate(body["codes"]) if code[:1] == ["m"] and code[2] == "run:")
    old_receiver = None
    for record in body["objects"]:
        if record[0] == "c" and record[1] == demo:
            old_receiver, record[4] = record[4], system_word
    for record in body["objects"]:          # the blocks and their activations follow the forgery
        if record[0] in ("x", "c") and record[4] == old_receiver:
            record[4] = system_word
    with pytest.raises(MB.BundleError, match="receiver is not a MoveDemo"):
        MB.thaw(target.machine, cbor2.dumps(body))


@pytest.mark.parametrize("change", [-1, 1])
@pytest.mark.parametrize("which", ["top", "sender"])
def test_a_stack_a_value_off_its_code_is_refused(pair, change, which):
    """A context of the process's chain with one value more or less than its pc needs
    is refused (it would run its code over the wrong values, or enter native code that
    counts on the depth: a fuzzed bundle did, and died with an internal error)."""
    source, target = pair
    body = bundle_of_a_demo_midway(source)
    record = body["objects"][body["process"]["ctx"] - V.REF_BASE]
    if which == "sender":
        record = body["objects"][record[5] - V.REF_BASE]
    stack = record[3]
    record[3] = stack[:-1] if change < 0 else [*stack, V.NIL]
    with pytest.raises(MB.BundleError, match=r"values on its stack|of its \d+ slots"):
        MB.thaw(target.machine, cbor2.dumps(body))


def test_handlers_curtail_blocks_and_flags_move_with_the_process(pair):
    """A handler set up before the move catches after it, an ifCurtailed: block runs on
    the target when its activation is unwound there, and trapExit moves; the new pid is
    the one the caller gives."""
    source, target = pair
    program = """[ Process current trapExit: true.
        { [ [ 1 to: 300 do: [ :i | i printString size ]. 1 / 0 ] ifCurtailed: [ 'curtailed' println ] ]
            on: ZeroDivide do: [ :e | #caught ].
          Process current trapExit: false } ] spawn"""
    proc = source.spawn(program)
    source.step(proc, 60)
    frozen = MB.freeze(source.universe, proc)
    pid = target.scheduler.next_pid + 100
    thawed = MB.thaw(target.machine, MB.encode(frozen), pid=pid)
    MB.retire(frozen)
    assert thawed.proc.pid == pid and target.scheduler.processes[pid] is thawed.proc
    assert thawed.proc.trap_exit
    assert target.finish(thawed.proc) == "#(#caught true)"   # trapExit: answers the old setting
    assert target.take_output() == "curtailed\n"
    blocker = target.spawn("[ Process receive ] spawn")
    proc = source.spawn("[ 1 to: 300 do: [ :i | i printString size ] ] spawn")
    source.step(proc, 20)
    other = MB.freeze(source.universe, proc)
    with pytest.raises(MB.BundleError, match="taken"):
        MB.thaw(target.machine, MB.encode(other), pid=blocker.pid)
    MB.unfreeze(other)
    source.finish(proc)
    target.scheduler.terminate(blocker, target.universe.symbol("kill"))


def test_a_process_killed_while_frozen_does_not_move(pair):
    source, _ = pair
    proc = source.spawn("[ Process receive ] spawn")
    source.step(proc, 10)
    frozen = MB.freeze(source.universe, proc)
    source.machine.signals.exit_signal(proc, None, source.universe.symbol("kill"))
    with pytest.raises(MB.MoveRefused, match="no longer frozen"):
        MB.encode(frozen)
    MB.unfreeze(frozen)                      # nothing to put back
    assert not proc.alive


def test_a_self_move_refused_before_freezing_goes_on_here(pair):
    """A process that parked for its own move but cannot be frozen (here: it computes a
    ~> promise) is refused by freeze and goes on with the answer it is given."""
    source, _ = pair
    proc = source.spawn("[ | x | x := 1. x := x + (Process receive). x * 2 ] spawn")
    source.step(proc, 50)
    MB.park_for_move(_Interp(source, proc), proc.ctx)
    proc.on_exit = [source.universe.new_instance(source.universe.globals["Promise"])]
    with pytest.raises(MB.MoveRefused, match="promise of this node"):
        MB.freeze(source.universe, proc)
    proc.on_exit = None
    assert MB.cancel_self_move(source.universe, proc, source.universe.make_int(2))
    assert not MB.cancel_self_move(source.universe, proc, V.NIL)      # not parked any more
    assert source.finish(proc) == "6"


def test_no_image_is_saved_while_a_process_is_frozen(pair, tmp_path):
    """An image would hold half of a move: saving one is refused until it is over."""
    source, _ = pair
    proc = source.spawn("[ Process receive ] spawn")
    source.step(proc, 10)
    frozen = MB.freeze(source.universe, proc)
    path = tmp_path / "during.image"
    saver = source.spawn(f"[ [ system saveImage: '{path}'. #saved ] on: Error do: [ :e | e messageText ] ] spawn")
    answer = source.finish(saver)
    assert "is moving to another node" in answer and not path.exists(), answer
    MB.unfreeze(frozen)
    source.scheduler.terminate(proc, source.universe.symbol("kill"))
