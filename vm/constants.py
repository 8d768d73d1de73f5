"""Code that always answers one value without running anything: one push and a return.

The rules:

- Only immutable values count: SmallIntegers, Doubles, nil, true and false. A literal
  String or Symbol is an object a program can change, so code pushing one is never
  taken for its value.
- A method of that shape becomes a constant (``vm.quicken``); a block of no arguments
  and no temporaries of that shape is one a primitive may answer ``aBlock value`` for
  without evaluating it (``[ 0 ]``, ``[ nil ]``).

This module reads canonical bytecode; it never runs or changes it.
"""
from __future__ import annotations

from typing import Any

from smalltalk_vm.vm import bytecodes as B
from smalltalk_vm.vm import value as V

NOT_CONSTANT = object()
_PUSHES = {B.PUSH_NIL: V.NIL, B.PUSH_TRUE: V.TRUE, B.PUSH_FALSE: V.FALSE}


def code_constant(code: list[int], literals: list) -> Any:
    """The value ``code`` always answers, or NOT_CONSTANT."""
    if len(code) == 3 and code[0] == B.PUSH_LITERAL and code[2] == B.RETURN:
        value = literals[code[1]]
        if type(value) in (int, float):
            return value
    if len(code) == 2 and code[1] == B.RETURN:
        return _PUSHES.get(code[0], NOT_CONSTANT)
    return NOT_CONSTANT


def block_constant(block: Any) -> Any:
    """What evaluating a block of no arguments (its CompiledBlock) answers, or
    NOT_CONSTANT."""
    if block.num_args or block.num_temps:
        return NOT_CONSTANT
    return code_constant(block.code, block.literals)
