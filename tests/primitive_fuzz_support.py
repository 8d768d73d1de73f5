"""A harness that calls VM primitives on receivers and arguments of every kind, through
the VM's own send machinery (``Semantics.activate``, where the fault boundary is), one
process per call, and reports how each call ended.

The values cover every kind a primitive may meet: nil, booleans, small, boundary and
huge Integers, Doubles with NaN, infinities and -0.0, Characters at the Unicode edges,
Symbols, Strings, Arrays, ByteArrays, library objects, classes and metaclasses, blocks
of each arity, live and dead processes, contexts, methods, exceptions, sizes past every
limit. A call that parks its process (receive, sleep) is ended by the harness.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from conftest import VMSession

from smalltalk_vm.compiler.front import compile_input
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.objects import KIND_CONTROL, KIND_PRIMITIVE, CompiledMethod, Instance, VClass, inherits
from smalltalk_vm.vm.primitives.object import selector_arity
from smalltalk_vm.vm.primitives.registry import all_primitives
from smalltalk_vm.vm.process import RUNNABLE
from smalltalk_vm.vm.quicken import quicken

VALUE_SOURCES = [
    "nil", "true", "false", "0", "1", "-1", "7", "255", "1114111", "1114112", "55296",
    "140737488355327", "-140737488355328", "140737488355328", "(2 raisedTo: 64)", "(2 raisedTo: 100) negated",
    "(2 raisedTo: 5000)", "(2 raisedTo: 40)", "33554433", "(2 raisedTo: 62)",
    "0.0", "-0.0", "1.5", "-2.5", "1e300", "5e-324", "Double NaN", "Double PositiveInfinity",
    "Double NegativeInfinity", "$a", "(Character value: 0)", "(Character value: 1114111)", "$ ",
    "#foo", "#at:put:", "#+", "#''", "#with:with:with:with:", "'abc'", "''", "'a''b'", "'123'", "'1e5'",
    "(String new: 300 withAll: $x)", "'caf\u00e9'", "#(1 2 3)", "#()", "(Array new: 3)", "#(#a 'b' $c 1.5)",
    "(ByteArray new: 4)", "(ByteArray fromHex: 'ff00')", "(Vector new append: 1; yourself)",
    "(Dictionary new at: 1 put: 2; yourself)", "(Set new add: 3; yourself)", "(1 -> 2)", "Object new",
    "Object", "Integer", "Integer class", "Metaclass", "String", "Array", "Process", "Error",
    "[ 1 ]", "[ :x | x ]", "[ :a :b | a ]", "[ :a :b :c | c ]", "[ :a :b :c :d | d ]",
    "[ Process receive ] spawn", "([ 1 ] spawn) yourself", "thisContext", "(Integer lookup: #+)",
    "(Object lookup: #printString)", "(Error new messageText: 'x')", "system", "Promise new",
    "(Wire encode: 3)",
]

# Primitives that end the whole VM or its process's evaluation by design, not by fault:
# the harness cannot call them and go on (`system exit:` sets the VM's exit status).
NOT_CALLED = {("System", "exit:")}
MAX_SLICES = 3


@dataclass
class Call:
    primitive: str
    receiver: str
    arguments: list[str]
    outcome: str            # 'value', 'error', 'parked'
    error_class: str = ""
    text: str = ""
    own_receiver: bool = False   # the receiver inherits from the primitive's class


class PrimitiveHarness:
    def __init__(self, vm: VMSession) -> None:
        self.vm = vm
        self.universe = vm.universe
        self.values = [vm.value(source) for source in VALUE_SOURCES]
        self.keep = {id(v) for v in self.values}
        self.methods = self._primitive_methods()
        vm.define("PrimitiveHarness = Object ( )")
        invoker = CompiledMethod(self.universe.Primitive, "invoke:on:with:", 3, 0, [], [], [])
        invoker.kind = KIND_CONTROL
        invoker.primitive = _invoke
        invoker.holder = self.universe.globals["PrimitiveHarness"].cls
        quicken(invoker)
        self.universe.globals["PrimitiveHarness"].cls.methods["invoke:on:with:"] = invoker
        self.universe.invalidate(self.universe.globals["PrimitiveHarness"].cls)
        self.harness = self.universe.globals["PrimitiveHarness"]

    def _primitive_methods(self) -> list[tuple[str, CompiledMethod]]:
        """Every registered primitive, as the method the library binds it to (or, for
        one no library method binds, a method made for it here)."""
        universe = self.universe
        found: list[tuple[str, CompiledMethod]] = []
        for (class_name, selector), (fn, is_control) in sorted(all_primitives().items()):
            if (class_name, selector) in NOT_CALLED:
                continue
            base, _, side = class_name.partition(" ")
            cls = universe.globals.get(base)
            if not isinstance(cls, VClass):
                cls = universe.load_class(base)
            holder = cls.cls if side else cls
            method = holder.methods.get(selector)
            if method is None or method.primitive is not fn:
                method = CompiledMethod(universe.Primitive, selector, selector_arity(selector), 0, [], [], [])
                method.kind = KIND_CONTROL if is_control else KIND_PRIMITIVE
                method.primitive = fn
                method.holder = holder
                quicken(method)
            found.append((f"{class_name}>>{selector}", method))
        return found

    def call(self, method_index: int, receiver_index: int, argument_indices: list[int]) -> Call:
        """Send the primitive method ``method_index`` to value ``receiver_index`` with
        the values at ``argument_indices`` (as many as it takes)."""
        name, method = self.methods[method_index]
        receiver = self.values[receiver_index]
        chosen = (list(argument_indices) + [0] * method.num_args)[:method.num_args]
        arguments = [self.values[i] for i in chosen]
        proc = self.vm.machine.spawn_send(self.harness, "invoke:on:with:",
                                          [method, receiver, self.universe.new_array(arguments)])
        call = Call(name, VALUE_SOURCES[receiver_index], [VALUE_SOURCES[i] for i in chosen], "parked",
                    own_receiver=inherits(self.universe.class_of(receiver), method.holder))
        return self.finish(proc, call)

    def run_source(self, source: str) -> Call:
        """Evaluate statements (which may name the values as ``V at: i``) the same way."""
        self.universe.globals["V"] = self.universe.new_array(list(self.values))
        compiled = compile_input(self.universe, source, "<fuzz>")
        proc = self.vm.machine.spawn_method(V.NIL, compiled.method)
        return self.finish(proc, Call(source, "", [], "parked"))

    def finish(self, proc: Any, call: Call) -> Call:
        """Run ``proc`` until it ends, parks, or has had MAX_SLICES time slices (a call
        may loop for ever by design: Block>>restart restarts its sender), then end it
        and everything it spawned; fill in how it ended."""
        machine = self.vm.machine
        universe = self.universe
        proc.report_crash = False
        slices = itertools.count()
        result = machine.scheduler.run_until(
            lambda: not proc.alive or proc.state != RUNNABLE or next(slices) > MAX_SLICES)
        assert result in ("done", "deadlock"), result
        if proc.alive:
            machine.signals.exit_signal(proc, None, universe.symbol("kill"))
        else:
            reason = proc.exit_reason
            if reason == universe.symbol("normal"):
                call.outcome = "value"
            else:
                call.outcome = "error"
                call.error_class = reason.cls.name if type(reason) is Instance else machine.describe_reason(reason)
                call.text = machine.describe_reason(reason)
        self._tidy()
        return call

    def _tidy(self) -> None:
        """End what the call spawned, so calls stay independent."""
        machine = self.vm.machine
        for proc in machine.scheduler.live_processes():
            if id(proc) not in self.keep:
                machine.signals.exit_signal(proc, None, self.universe.symbol("kill"))
        assert machine.scheduler.run_until(lambda: True) == "done"
        assert self.universe.exit_status is None


def _invoke(interp: Any, ctx: Any, argc: int) -> Any:
    """PrimitiveHarness class>>invoke: aMethod on: receiver with: arguments — a send of
    aMethod to any receiver, through the same activation path every send takes."""
    stack = ctx.stack
    arguments = stack.pop()
    receiver = stack.pop()
    method = stack.pop()
    stack[-1] = receiver
    stack.extend(arguments.items)
    return interp.activate(ctx, method, len(arguments.items))
