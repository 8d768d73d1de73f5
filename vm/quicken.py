"""Quickening: after a method is compiled (or loaded from an image), derive what the
interpreter actually runs from its canonical bytecode.

- A method whose whole body is `^ field`, `field := arg`, `^ self` or `^ literal` gets a
  trivial kind (KIND_GETTER, KIND_SETTER, KIND_CONSTANT): a send to it needs no
  context. One whose whole body is one send to self or an argument, with self and
  arguments as its arguments (`^ self and: aBlock`, `^ aBlock value`), is a
  forwarding method (KIND_FORWARD): a send to it is that send, made in its place.
  Block-evaluating primitives get KIND_BLOCK_VALUE (activated inline).
- ``fast`` is a copy of the code in which the first instruction of common sequences
  (compare-and-branch, arithmetic into a local, loop increments, returning a local or
  a field) is replaced by a quickened opcode whose operand indexes ``fused``, a table
  of the sequence's operands; a send of a Boolean operator becomes Q_SEND_BOOLEAN,
  which keeps the site as its operand. In obsolete code an assignment statement to a
  removed variable (POP_FIELD of a ``vm.ghosts`` operand) runs as STORE_FIELD, so that
  its value is still on the stack when the access fails and the fault boundary writes
  the ghost (it pops the value then). Nothing else moves, so program counters, line tables and
  images see only the canonical code, and a quickened instruction whose fast path does
  not apply runs the first instruction's plain meaning and falls through to the rest.

This module transforms code; it never executes it.
"""
from __future__ import annotations

import os
from typing import Any

from smalltalk_vm.vm import bytecodes as B
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.booleans import OPERATORS as BOOLEAN_OPERATORS
from smalltalk_vm.vm.constants import NOT_CONSTANT, code_constant
from smalltalk_vm.vm.ghosts import REMOVED_FIELD
from smalltalk_vm.vm.native import native_threshold
from smalltalk_vm.vm.objects import (
    KIND_BLOCK_VALUE,
    KIND_BYTECODE,
    KIND_CONSTANT,
    KIND_CONTROL,
    KIND_FORWARD,
    KIND_GETTER,
    KIND_PRIMITIVE,
    KIND_SETTER,
    CompiledBlock,
    CompiledMethod,
)

# Sub-operations of the fused instructions (the interpreter tests them in this order).
CMP_OPS = {B.SEND_LT: 0, B.SEND_LE: 1, B.SEND_GT: 2, B.SEND_GE: 3, B.SEND_EQ: 4, B.SEND_NE: 5}
ARITH_OPS = {B.SEND_ADD: 0, B.SEND_SUB: 1, B.SEND_MUL: 2}


def quicken(unit: CompiledMethod | CompiledBlock) -> None:
    """Set the trivial kind (methods) and the fast code of ``unit`` and its blocks."""
    if isinstance(unit, CompiledMethod):
        classify(unit)
    fast, fused = fuse(unit)
    unit.fast = fast
    unit.fused = tuple(fused)
    unit.native = None
    unit.direct = None
    unit.native_entries = frozenset()
    unit.heat = native_threshold()
    for literal in unit.literals:
        if isinstance(literal, CompiledBlock):
            quicken(literal)


def classify(method: CompiledMethod) -> None:
    if method.kind == KIND_CONTROL and getattr(method.primitive, "evaluates_block", False):
        method.kind = KIND_BLOCK_VALUE
        return
    inline_kind = getattr(method.primitive, "inline_kind", None)
    if method.kind == KIND_PRIMITIVE and inline_kind is not None:
        method.kind = inline_kind
        return
    if method.kind != KIND_BYTECODE or method.primitive is not None or method.flags:
        return          # a flagged method (on:do:, ensure: ...) is found by its activation
    code = method.code
    trivial = _trivial(code, method)
    if trivial is not None:
        method.kind, method.trivial = trivial


def _trivial(code: list[int], method: CompiledMethod) -> tuple[int, Any] | None:
    if code == [B.RETURN_SELF]:
        return KIND_CONSTANT, None
    if len(code) == 3 and code[0] == B.PUSH_FIELD and code[2] == B.RETURN and method.num_args == 0:
        return KIND_GETTER, code[1]
    value = code_constant(code, method.literals)
    if value is not NOT_CONSTANT:
        return KIND_CONSTANT, value
    if (len(code) == 5 and code[0] == B.PUSH_LOCAL and code[1] == 0 and code[2] == B.POP_FIELD
            and code[4] == B.RETURN_SELF and method.num_args == 1 and method.num_temps == 0):
        return KIND_SETTER, code[3]
    return _forward(code, method)


# Where the universes load their library from (each Universe registers its own). Only
# a library method becomes a forwarding method: the re-send made in its place leaves
# it out of stack traces and thisContext chains, which for a program's own methods
# would show (a trace of a session's methods must list them all).
_library_dirs: set[str] = set()
_from_library: dict[str, bool] = {}


def register_library(directory: str) -> None:
    _library_dirs.add(os.path.realpath(directory))
    _from_library.clear()


def is_library_source(filename: str | None) -> bool:
    """Whether a method's source file is one of the library's."""
    if not filename:
        return False
    known = _from_library.get(filename)
    if known is None:
        known = _from_library[filename] = os.path.dirname(os.path.realpath(filename)) in _library_dirs
    return known


def _forward(code: list[int], method: CompiledMethod) -> tuple[int, Any] | None:
    """``^ x selector: y ...`` where x and every y are self or arguments, in a library
    method: a re-send (KIND_FORWARD): (selector, position of the receiver, positions
    of the arguments or None when they are the method's own, one-entry cache of the
    method found), with positions 0 for self and i for the i-th argument."""
    if not is_library_source(method.source_file):
        return None
    instructions = list(B.instructions(code))
    if len(instructions) < 3 or instructions[-1][1].code != B.RETURN:
        return None
    _, send, send_args = instructions[-2]
    if send.code != B.SEND:
        return None     # super and eventual sends are no re-send; arithmetic is done inline
    site = method.sites[send_args[0]]
    pushes = instructions[:-2]
    if len(pushes) != site.argc + 1:
        return None
    positions = []
    for _, op, args in pushes:
        if op.code == B.PUSH_SELF:
            positions.append(0)
        elif op.code == B.PUSH_LOCAL and args[0] < method.num_args:
            positions.append(args[0] + 1)
        else:
            return None
    picks = tuple(positions[1:])
    if positions[0] == 0 and picks == tuple(range(1, method.num_args + 1)):
        picks = None            # the same receiver and arguments: nothing to rearrange
    # the last entry caches (class token, method) of the re-send, for native code
    return KIND_FORWARD, (site.selector, positions[0], picks, [None, None])


def _small_int_literal(unit: Any, index: int) -> Any:
    value = unit.literals[index]
    if type(value) is int and V.INT_LO <= value < V.INT_HI:
        return value
    return None


def fuse(unit: Any) -> tuple[list[int], list[tuple]]:
    """The fast code of a unit and its fused-operand table. Jump targets inside a
    fused sequence need no care: the sequence's own instructions stay in place."""
    code = unit.code
    instructions = list(B.instructions(code))
    fast = list(code)
    fused: list[tuple] = []
    for i, (pc, op, args) in enumerate(instructions):
        following = instructions[i + 1:i + 5]
        entry = None
        if op.code == B.PUSH_LOCAL:
            entry = _local_sequence(unit, args[0], following)
        elif op.code == B.PUSH_FIELD and following and following[0][1].code == B.RETURN:
            entry = (B.Q_RETURN_FIELD, (args[0],))
        elif op.code == B.POP_FIELD and args[0] >= REMOVED_FIELD:
            fast[pc] = B.STORE_FIELD
            continue
        elif op.code == B.SEND and unit.sites[args[0]].selector in BOOLEAN_OPERATORS:
            fast[pc] = B.Q_SEND_BOOLEAN         # the operand stays the site
            continue
        if entry is not None:
            opcode, data = entry
            fast[pc] = opcode
            fast[pc + 1] = len(fused)
            fused.append(data)
    return fast, fused


def _operand(unit: Any, instruction: tuple) -> tuple[bool, Any] | None:
    """(is_local, slot or value) of a second operand, when it can be fused."""
    _, op, args = instruction
    if op.code == B.PUSH_LOCAL:
        return True, args[0]
    if op.code == B.PUSH_LITERAL:
        value = _small_int_literal(unit, args[0])
        if value is not None:
            return False, value
    return None


def _local_sequence(unit: Any, slot: int, following: list) -> tuple[int, tuple] | None:
    if not following:
        return None
    if following[0][1].code == B.RETURN:
        return B.Q_RETURN_LOCAL, (slot,)
    if len(following) < 2:
        return None
    second = _operand(unit, following[0])
    if second is None:
        return None
    is_local, b = second
    send_pc, send_op, _ = following[1]
    if send_op.code in CMP_OPS and len(following) >= 3:
        jump_pc, jump_op, jump_args = following[2]
        if jump_op.code in (B.JUMP_IF_FALSE, B.JUMP_IF_TRUE):
            return B.Q_CMP_JUMP, (slot, b, is_local, CMP_OPS[send_op.code],
                                  jump_op.code == B.JUMP_IF_FALSE, jump_args[0], jump_pc + 2)
        return None
    if send_op.code in ARITH_OPS:
        dest, back, after = -1, -1, send_pc + 2
        if len(following) >= 3 and following[2][1].code == B.POP_LOCAL:
            dest = following[2][2][0]
            after = following[2][0] + 2
            if len(following) >= 4 and following[3][1].code == B.JUMP_BACK:
                back = following[3][2][0]
                after = following[3][0] + 2
        return B.Q_ARITH, (slot, b, is_local, ARITH_OPS[send_op.code], dest, back, after)
    return None
