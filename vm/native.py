"""The second execution tier: hot methods and blocks translated into Python functions.

A unit that gets hot gets two functions, both other ways of executing its canonical
bytecode with the interpreter's semantics, on the same Context objects:

- the *resumable* function, ``unit.native(interpreter, ctx, budget) -> (next context
  or None or DEOPT, budget)``, which the trampoline (``Interpreter.run``) enters at
  ``ctx.pc``, one of ``unit.native_entries`` (0, every jump target, the instruction
  after every send). It keeps the activation on the context and answers the next
  context for the trampoline at every return; answering its own context means
  "interpret the instruction at ``ctx.pc``"; DEOPT means the same for
  ``interpreter.deopted``.
- the *direct* function, ``unit.direct(interpreter, receiver or closure, *args,
  depth) -> value or BAIL``, which native code calls for a send instead of making a
  context: the activation lives in Python locals and its value is the Python return
  value. Whenever it cannot go on that way it *bails out*: it becomes a context, and
  so does every direct caller on the way back to the trampoline, each standing where
  it was, linked to the next (``vm.native_runtime`` has the protocol). The Python
  stack grows with direct calls only up to ``MAX_DEPTH`` frames per trampoline
  entry, so deep Smalltalk recursion still never grows it unboundedly, and whatever
  looks at contexts (``thisContext``, unwinding, preemption, images, migration)
  only ever runs after a bail-out, when the chain of contexts is complete.

Both count reductions (sends, back jumps) against the process's budget: the
resumable function in its ``budget`` argument, direct functions in
``interpreter.budget``. Images never see native code; it is made again when a unit
gets hot. A Python exception inside native code is a fault of that activation
(``vm.faults``).

This module decides when and what to compile; ``vm.native_gen`` and
``vm.native_send`` write the code, ``vm.native_runtime`` is what it calls.
"""
from __future__ import annotations

import os
from typing import Any

from smalltalk_vm.vm import native_runtime as R
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.booleans import OPERATORS
from smalltalk_vm.vm.native_gen import NativeUnsupported, UnitGenerator, resumable_entries
from smalltalk_vm.vm.native_send import SendWriter
from smalltalk_vm.vm.objects import (
    KIND_ARRAY_AT,
    KIND_ARRAY_AT_PUT,
    KIND_BLOCK_VALUE,
    KIND_BYTECODE,
    KIND_CONSTANT,
    KIND_FORWARD,
    KIND_GETTER,
    KIND_IDENTICAL,
    KIND_NATIVE,
    KIND_PRIMITIVE,
    KIND_PRIMITIVE_INTERPRETED,
    KIND_SETTER,
    Closure,
    CompiledBlock,
    VArray,
)
from smalltalk_vm.vm.primitives.object import identical
from smalltalk_vm.vm.semantics import nils

HOT = 500               # sends into a method (or back jumps in it) before it is compiled
MAX_CODE = 1500         # longer code stays interpreted (the generated source grows with it)
NEVER = 1 << 62         # the heat of a unit the second tier has given up on
DEOPT = R.DEOPT
MAX_DEPTH = R.MAX_DEPTH

entry_points = resumable_entries

__all__ = ["DEOPT", "HOT", "MAX_DEPTH", "NEVER", "NativeCompiler", "NativeUnsupported",
           "entry_points", "make_native", "native_threshold"]


def native_threshold() -> int:
    """How hot a method must get; VM_NATIVE_HOT overrides it (1 compiles everything on
    first use, which the test suite uses to run every program through both tiers;
    0 turns the second tier off)."""
    value = os.environ.get("VM_NATIVE_HOT")
    if value is None:
        return HOT
    hot = int(value)
    return NEVER if hot <= 0 else hot


def make_native(vm: Any, unit: Any) -> bool:
    """Compile ``unit``; False (and never again) if the second tier cannot take it."""
    try:
        unit.native, unit.native_entries, unit.direct = NativeCompiler(vm).compile(unit)
    except NativeUnsupported:
        unit.heat = NEVER
        return False
    except Exception:
        unit.heat = NEVER
        if os.environ.get("VM_NATIVE_STRICT"):
            raise
        return False
    if not isinstance(unit, CompiledBlock) and unit.kind == KIND_BYTECODE:
        unit.kind = KIND_NATIVE          # sends to it enter through the trampoline
    return True


class NativeCompiler:
    """Compiles units for one VM. VM thread only (it runs where the unit got hot);
    raises NativeUnsupported for a unit the tier leaves to the interpreter."""

    def __init__(self, vm: Any) -> None:
        self.vm = vm

    def compile(self, unit: Any) -> tuple[Any, frozenset, Any]:
        """(resumable function, its entry points, direct function or None)."""
        if len(unit.code) > MAX_CODE:
            raise NativeUnsupported("too long")
        is_block = isinstance(unit, CompiledBlock)
        namespace = self.namespace(unit)
        resumable = UnitGenerator(unit, direct=False, is_block=is_block, sends=SendWriter())
        native = self.build(resumable.source(), "native", unit, namespace)
        try:
            direct_gen = UnitGenerator(unit, direct=True, is_block=is_block, sends=SendWriter())
            direct = self.build(direct_gen.source(), "direct", unit, namespace)
        except NativeUnsupported:
            direct = None
        return native, frozenset(resumable.entries), direct

    @staticmethod
    def build(source: str, name: str, unit: Any, namespace: dict) -> Any:
        exec(compile(source, f"<native {_describe(unit)}>", "exec"), namespace)
        function = namespace[name]
        function.source = source
        return function

    def namespace(self, unit: Any) -> dict:
        vm = self.vm
        home = unit.home_method
        return {
            "K": tuple(unit.literals), "S": tuple(unit.sites), "G": vm.globals, "UNIT": unit,
            "HOLDER": home.holder if home is not None else None,
            "ABSENT": _ABSENT, "NIL": V.NIL, "TRUE": V.TRUE, "FALSE": V.FALSE,
            "ZERO": V.ZERO, "ONE": V.ONE, "INT_LO": V.INT_LO, "INT_HI": V.INT_HI,
            "NILS": nils, "Closure": Closure, "VArray": VArray, "ArrayClass": vm.Array,
            "BlockClasses": vm.block_classes, "BlockClass": vm.Block,
            "IntegerClass": vm.Integer, "DoubleClass": vm.Double, "class_of": vm.class_of,
            "NilClass": vm.Nil, "TrueClass": vm.class_of(V.TRUE), "FalseClass": vm.class_of(V.FALSE),
            "identical": identical, "lookup": vm.lookup, "VM": vm,
            "KIND_PRIMITIVE": KIND_PRIMITIVE, "KIND_PRIMITIVE_INTERPRETED": KIND_PRIMITIVE_INTERPRETED,
            "KIND_GETTER": KIND_GETTER, "KIND_SETTER": KIND_SETTER, "KIND_CONSTANT": KIND_CONSTANT,
            "KIND_BLOCK_VALUE": KIND_BLOCK_VALUE, "KIND_ARRAY_AT": KIND_ARRAY_AT,
            "KIND_ARRAY_AT_PUT": KIND_ARRAY_AT_PUT, "KIND_IDENTICAL": KIND_IDENTICAL, "KIND_NATIVE": KIND_NATIVE,
            "finish": _finish, "NativeEntryError": NativeEntryError, "MAX_DEPTH": MAX_DEPTH,
            "BAIL": R.BAIL, "SLOW": R.SLOW, "RESUME": R.RESUME, "INTERPRET": R.INTERPRET,
            "RESOLVE": R.resolve, "PERFORM": R.perform, "BAILOUT": R.bail,
            "PRIMITIVE_FAILED": R.primitive_failed, "KIND_FORWARD": KIND_FORWARD, "COMPARE_SEND": R.compare,
            "AFTER_SEND_METHOD": R.after_send_method,
            "AFTER_SEND_BLOCK": R.after_send_block, "AFTER_SEND_CONTEXT": R.after_send_context,
            "RESUME_AFTER_SEND": R.resume_after_send,
            "FAULT": R.fault, "method_context": R.method_context, "block_context": R.block_context,
            "CONTEXT_AT": _context_at, "BOOLS": vm.interpreter.booleans, "FALSE3": 3 * V.FALSE,
            **{f"BOOL{i}": vm.interpreter.booleans.answers[selector] for i, selector in enumerate(OPERATORS)},
        }


class NativeEntryError(Exception):
    """Native code entered at a pc that is not one of its entry points (a VM bug)."""


_ABSENT = object()


def _context_at(ctx: Any, pc: int, values: list) -> Any:
    """A direct function's own context (made on entry) standing at ``pc`` with
    ``values`` pushed."""
    ctx.stack.extend(values)
    ctx.pc = pc
    return ctx


def _finish(interp: Any, value: Any) -> None:
    process = interp.process
    process.result = value
    process.ctx = None
    return


def _describe(unit: Any) -> str:
    method = unit.home_method if isinstance(unit, CompiledBlock) else unit
    holder = method.holder.name if method is not None and method.holder is not None else "?"
    prefix = "[] in " if isinstance(unit, CompiledBlock) else ""
    return f"{prefix}{holder}>>{method.selector if method is not None else '?'}"
