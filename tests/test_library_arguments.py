"""Argument checks of the library classes of the distributed half (RemoteProxy,
ChildSpec, Promise, Node, Global, Cluster, Code): a wrong argument is an Error whose
text names the selector that was given it, never a Python error, a
doesNotUnderstand: deep inside the library or a silently accepted value. In-process,
with a proxy made by hand where a node would make one."""
from __future__ import annotations

import pytest

from smalltalk_vm.vm.proxies import RemoteObject


def proxy_in(vm) -> RemoteObject:
    return RemoteObject(vm.universe.kernel_class("RemoteProxy"), "far", 1, bytes(16), "Counter")


@pytest.mark.parametrize("bad, named", [(-5, "-5"), (-0.5, "-0.5")])
def test_a_negative_call_timeout_is_an_error_naming_the_argument(vm, bad, named):
    proxy = proxy_in(vm)
    value = vm.universe.make_int(bad) if isinstance(bad, int) else bad
    outcome = vm.machine.send(proxy, "callTimeout:", [value])
    assert outcome.status == "error"
    assert "callTimeout:" in outcome.error_text and named in outcome.error_text, outcome.error_text
    assert proxy.timeout_ms == 30000                  # unchanged


def test_call_timeout_refuses_a_non_number_and_takes_zero_nil_and_a_positive_number(vm):
    proxy = proxy_in(vm)
    outcome = vm.machine.send(proxy, "callTimeout:", [vm.universe.new_string("5")])
    assert outcome.status == "error" and "callTimeout:" in outcome.error_text
    for value, expected in [(vm.universe.make_int(0), 0.0), (vm.universe.make_int(250), 250.0)]:
        assert vm.machine.send(proxy, "callTimeout:", [value]).value is proxy
        assert proxy.timeout_ms == expected


@pytest.mark.parametrize("selector", ["versionsOf:", "oldProcesses:", "softPurge:", "purge:"])
def test_code_names_the_message_given_something_that_is_not_a_class(vm, selector):
    caught = vm.eval(f"[ Code {selector} 3 ] on: Error do: [ :e | e class name asString , ': ' , e messageText ]")
    assert caught == f"'Error: Code {selector} needs a class, not an instance of Integer'"
    caught = vm.eval(f"[ Code {selector} Object class ] on: Error do: [ :e | e messageText ]")
    assert caught.startswith(f"'Code {selector} needs a class, not a metaclass")
