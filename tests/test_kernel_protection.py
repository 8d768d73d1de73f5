"""Kernel classes the VM relies on cannot be redefined, rebound or removed from the
command line or the REPL either (the hosted checks are tests/st/KernelProtectionTest.som);
the VM keeps its own references to them."""
from __future__ import annotations

from conftest import VMSession, run_vm

from smalltalk_vm.vm.universe import PROTECTED


def test_the_repl_refuses_a_kernel_class_definition_and_goes_on():
    done = run_vm(["repl"], input="Nil = Object ( )\nContext = Object ( )\nnil isNil\n"
                                  "[ #(1) at: 3 ] on: SubscriptOutOfBounds do: [ :e | e index ]\n")
    assert "<repl>:1:1: Nil is a kernel class the VM relies on: it cannot be redefined" in done.stderr
    assert "<repl>:1:1: Context is a kernel class the VM relies on" in done.stderr
    assert done.stdout.split() == ["true", "3"]
    assert "Traceback" not in done.stderr


def test_eval_of_an_unbinding_is_an_error_and_nothing_else():
    done = run_vm(["eval", "system global: #ZeroDivide put: nil"])
    assert done.returncode == 1
    assert done.stderr.startswith("ERROR: ZeroDivide is a kernel global the VM relies on")


def test_the_vm_uses_its_own_references(vm: VMSession):
    # Even if a global were changed behind the VM's back, it signals its own classes.
    zero_divide = vm.universe.globals["ZeroDivide"]
    vm.universe.globals["ZeroDivide"] = None
    try:
        assert vm.universe.make_exception("ZeroDivide", "x").cls is zero_divide
    finally:
        vm.universe.globals["ZeroDivide"] = zero_divide


def test_every_protected_class_is_loaded_and_sealed(vm: VMSession):
    universe = vm.universe
    assert universe.sealed
    for name in PROTECTED - {"system", "nil", "true", "false"}:
        assert universe.own_classes[name] is universe.globals[name], name
