"""Process references and Nodes on the wire (tags 51011/51012, node/wire.py with the
node layer's NodeRefs hooks): they round-trip through the real node runtime's hooks
(a pid of this node comes back as the process itself, others as canonical remote
processes), they are refused without the hooks, and malformed records are refused."""
from __future__ import annotations

import cbor2
import pytest
from conftest import VMSession
from hypothesis import given, settings
from hypothesis import strategies as st

from smalltalk_vm.node import wire as W
from smalltalk_vm.node.config import NodeConfig
from smalltalk_vm.node.nodelog import NodeLog
from smalltalk_vm.node.runtime import NodeRuntime
from smalltalk_vm.vm.distribution import RemoteProcess


@pytest.fixture(scope="module")
def node_vm():
    vm = VMSession()
    config = NodeConfig(name="home", cookie=b"c", creation=77)
    runtime = NodeRuntime(vm.machine, config, NodeLog("home", lambda t: None))
    vm.universe.distribution = runtime
    return vm, runtime


names = st.text(alphabet="abcxyz_0123456789", min_size=1, max_size=8)
pids = st.tuples(names, st.integers(1, 2**32 - 1), st.integers(1, 2**40))


@settings(max_examples=200)
@given(st.lists(pids, min_size=1, max_size=6), st.lists(st.tuples(names, st.integers(1, 2**32 - 1)), max_size=3))
def test_remote_processes_and_nodes_round_trip_to_canonical_objects(node_vm, processes, nodes) -> None:
    vm, runtime = node_vm
    values = [runtime.pids.get(*p) for p in processes if p[0] != "home"]
    values += [runtime.nodes.get(*n) for n in nodes]
    data = W.encode(vm.universe, vm.universe.new_array(values), node_refs=runtime)
    back = W.decode(vm.universe, data, node_refs=runtime).items
    assert all(x is y for x, y in zip(back, values)) and len(back) == len(values)


def test_a_pid_of_this_node_comes_home_as_the_process_itself(node_vm) -> None:
    vm, runtime = node_vm
    proc = vm.machine.scheduler.spawn_send(vm.universe.Object, "yourself", [])
    data = W.encode(vm.universe, vm.universe.new_array([proc, proc]), node_refs=runtime)
    first, second = W.decode(vm.universe, data, node_refs=runtime).items
    assert first is proc and second is proc
    older = W.decode(vm.universe, cbor2.dumps(cbor2.CBORTag(51011, ["home", 76, proc.pid])), node_refs=runtime)
    assert type(older) is RemoteProcess and older.creation == 76          # an earlier incarnation
    gone = W.decode(vm.universe, cbor2.dumps(cbor2.CBORTag(51011, ["home", 77, 999_999])), node_refs=runtime)
    assert not gone.alive and vm.universe.symbol_name(gone.exit_reason) == "noproc"


def test_without_the_hooks_processes_are_refused_and_nodes_are_plain_objects(node_vm) -> None:
    vm, runtime = node_vm
    proc = vm.machine.scheduler.spawn_send(vm.universe.Object, "yourself", [])
    with pytest.raises(W.WireError, match="cannot send Process"):
        W.encode(vm.universe, proc)
    for tag in (51011, 51012):
        with pytest.raises(W.WireError, match="outside the node layer"):
            W.decode(vm.universe, cbor2.dumps(cbor2.CBORTag(tag, ["a", 1, 2][: 3 if tag == 51011 else 2])))
    plain = W.decode(vm.universe, W.encode(vm.universe, runtime.nodes.get("a", 5)))
    assert plain is not runtime.nodes.get("a", 5) and plain.cls.name == "Node"


@pytest.mark.parametrize("record", [["a", 1], ["a", -1, 2], [1, 2, 3], ["", 1, 2], ["a", 1, 2, 3], "a"])
def test_malformed_process_references_are_refused(node_vm, record) -> None:
    vm, runtime = node_vm
    with pytest.raises(W.WireError, match="process reference needs"):
        W.decode(vm.universe, cbor2.dumps(cbor2.CBORTag(51011, record)), node_refs=runtime)
