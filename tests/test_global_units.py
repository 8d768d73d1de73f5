"""Units of the global name registry that need no network: the lock table of one node
(node/names_locks.py), checked against its rules with hypothesis — never two
conflicting holders, grants in arrival order, everything granted once released — and
the values the global-name frames carry (node/names_wire.py): what is built reads
back the same, and anything of another shape is refused as a bad frame."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smalltalk_vm.node.codeload import BadFrame
from smalltalk_vm.node.names_locks import WHOLE, LockTable
from smalltalk_vm.node.names_wire import NamesCodec
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.globalnames import Entry, NameTable

SCOPES = st.sampled_from(["x", "y", "z", WHOLE])


def conflicts(a, b) -> bool:
    return a is WHOLE or b is WHOLE or a == b


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["request", "release"]), st.integers(0, 7), SCOPES), max_size=60))
def test_the_lock_table_never_grants_conflicting_locks_and_grants_in_order(steps) -> None:
    table = LockTable()
    granted: dict[int, int] = {}
    requested: dict[int, int] = {}
    pending: set[int] = set()            # asked for and not released

    def grant(key: int) -> None:
        granted[key] = granted.get(key, 0) + 1
    for action, key, scope in steps:
        if action == "request":
            if key in pending:
                continue
            pending.add(key)
            requested[key] = requested.get(key, 0) + 1
            table.request(key, scope, lambda k=key: grant(k))
        else:
            if key in pending and key not in table.held:
                requested[key] -= 1      # withdrawn before it was granted
            pending.discard(key)
            table.release(key)
        holders = list(table.held.values())
        for i, first in enumerate(holders):
            for second in holders[i + 1:]:
                assert not conflicts(first, second), (holders, steps)
        # A request waits for a reason: a conflicting holder, or an earlier request.
        for index, request in enumerate(table.waiting):
            blockers = list(table.held.values()) + [r.scope for r in table.waiting[:index]]
            assert any(conflicts(s, request.scope) for s in blockers), (steps, table.waiting)
    for _ in range(len(steps) + 1):
        if not table.held:
            break
        table.release(next(iter(table.held)))
    assert not table.held and not table.waiting
    assert granted == {k: n for k, n in requested.items() if n}     # each granted once


def test_a_whole_table_lock_waits_for_names_and_names_queue_behind_it() -> None:
    table = LockTable()
    order = []
    table.request("t1", "x", lambda: order.append("t1"))
    table.request("merge", WHOLE, lambda: order.append("merge"))
    table.request("t2", "y", lambda: order.append("t2"))      # free, but behind the merge
    assert order == ["t1"] and table.whole_held() is False
    table.release("t1")
    assert order == ["t1", "merge"] and table.whole_held()
    table.release("merge")
    assert order == ["t1", "merge", "t2"]
    table.release_owner(lambda key: key == "t2")
    assert not table.held


def test_the_name_table_keeps_one_name_per_process() -> None:
    table = NameTable()
    p, q = object(), object()
    table.set("a", Entry(p, "n1"))
    table.set("b", Entry(p, "n1"))             # a merge may hand over another name
    assert table.get("a") is None and table.name_of(p) == "b"
    assert table.drop("b", q) is None and table.drop("b", p) is not None
    assert table.names() == []


# --------------------------------------------------------------------------- the values

@pytest.fixture(scope="module")
def codec(shared_vm):
    return NamesCodec(shared_vm.universe)


def processes(shared_vm):
    vm = shared_vm.universe
    return [vm.scheduler.spawn_send(vm.globals["Object"], "yourself", []) for _ in range(3)]


NAMES = st.text(alphabet="abcdefgh_", min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(entries=st.dictionaries(NAMES, st.tuples(st.integers(0, 2), NAMES, st.booleans()), max_size=5),
       group=st.sets(NAMES, max_size=4), peers=st.sets(NAMES, max_size=4))
def test_reports_and_changes_read_back_as_built(shared_vm, codec, entries, group, peers) -> None:
    pids = processes(shared_vm)
    table = {name: Entry(pids[i], registrar, custom) for name, (i, registrar, custom) in entries.items()}
    whole = codec.read_whole_report(codec.whole_report(table, group, peers))
    assert whole.entries == table and whole.group == group and whole.peers == peers
    for name, entry in table.items():
        report = codec.read_name_report(codec.name_report(entry.pid, True))
        assert report.holder is entry.pid and report.probe_alive is True
        ops = codec.read_ops(shared_vm.universe.new_array(
            [codec.set_op(name, entry), codec.drop_op(name, entry.pid), codec.merge_op(group, table)]))
        assert ops == [("set", name, entry), ("drop", name, entry.pid), ("merge", group, table)]
    assert codec.read_name_report(codec.name_report(None, None)).holder is None


BAD = [
    "3", "#(3)", "#(#set)", "#(#(#set #(#n 3 #r true)))", "#(#(#drop 'n' nil))",
    "#(#(#merge #(1) #()))", "#(#(#frob))", "{ { #set. { #n. Process current. #r. 3 } } }",
]


@pytest.mark.parametrize("source", BAD)
def test_changes_of_another_shape_are_bad_frames(shared_vm, codec, source) -> None:
    with pytest.raises(BadFrame):
        codec.read_ops(shared_vm.value(source))


@pytest.mark.parametrize("source", ["3", "#(1 2)", "{ 3. true }", "{ nil. 3 }", "#(#(1) #() #())"])
def test_reports_of_another_shape_are_bad_frames(shared_vm, codec, source) -> None:
    value = shared_vm.value(source)
    with pytest.raises(BadFrame):
        codec.read_name_report(value)
    with pytest.raises(BadFrame):
        codec.read_whole_report(value)


def test_a_nil_holder_reads_as_none(shared_vm, codec) -> None:
    report = codec.read_name_report(shared_vm.universe.new_array([V.NIL, V.FALSE]))
    assert report.holder is None and report.probe_alive is False
