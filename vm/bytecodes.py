"""The single opcode table of the VM, and the disassembler.

Code is a flat Python list of ints: an opcode followed by its operands (the count is
fixed per opcode, given here). Send operands index the method's send-site table;
literal operands index its literal frame. Jump operands are absolute code indices.

This module defines encoding only; it must not execute anything.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple


class Opcode(NamedTuple):
    code: int
    name: str
    operands: tuple[str, ...]
    doc: str


_TABLE: list[Opcode] = []


def _op(name: str, operands: tuple[str, ...], doc: str) -> int:
    code = len(_TABLE)
    _TABLE.append(Opcode(code, name, operands, doc))
    return code


PUSH_LOCAL = _op("PUSH_LOCAL", ("slot",), "push argument/temporary of this context")
PUSH_FIELD = _op("PUSH_FIELD", ("field",), "push instance variable of the receiver")
SEND = _op("SEND", ("site",), "send the site's selector to receiver and arguments on the stack")
PUSH_SELF = _op("PUSH_SELF", (), "push the receiver")
PUSH_LITERAL = _op("PUSH_LITERAL", ("literal",), "push a literal")
RETURN = _op("RETURN", (), "return top of stack to the sender (method ^ or end of block)")
POP = _op("POP", (), "discard top of stack")
POP_LOCAL = _op("POP_LOCAL", ("slot",), "store top of stack in a local and pop it")
JUMP_IF_FALSE = _op("JUMP_IF_FALSE", ("target",), "pop; jump if false")
JUMP_IF_TRUE = _op("JUMP_IF_TRUE", ("target",), "pop; jump if true")
JUMP = _op("JUMP", ("target",), "jump forward")
JUMP_BACK = _op("JUMP_BACK", ("target",), "jump backward (a loop; counts a reduction)")
SEND_ADD = _op("SEND_ADD", ("site",), "+ with SmallInteger/Double fast path")
SEND_SUB = _op("SEND_SUB", ("site",), "- with SmallInteger/Double fast path")
SEND_MUL = _op("SEND_MUL", ("site",), "* with SmallInteger/Double fast path")
SEND_LT = _op("SEND_LT", ("site",), "< with SmallInteger/Double fast path")
SEND_GT = _op("SEND_GT", ("site",), "> with SmallInteger/Double fast path")
SEND_LE = _op("SEND_LE", ("site",), "<= with SmallInteger/Double fast path")
SEND_GE = _op("SEND_GE", ("site",), ">= with SmallInteger/Double fast path")
SEND_EQ = _op("SEND_EQ", ("site",), "= with SmallInteger/Double fast path")
SEND_NE = _op("SEND_NE", ("site",), "~= with SmallInteger/Double fast path")
PUSH_OUTER = _op("PUSH_OUTER", ("depth", "slot"), "push a local of an enclosing context")
POP_OUTER = _op("POP_OUTER", ("depth", "slot"), "store in an enclosing context's local and pop")
POP_FIELD = _op("POP_FIELD", ("field",), "store in an instance variable and pop")
STORE_LOCAL = _op("STORE_LOCAL", ("slot",), "store top of stack in a local (keep it)")
STORE_OUTER = _op("STORE_OUTER", ("depth", "slot"), "store in an enclosing context's local (keep it)")
STORE_FIELD = _op("STORE_FIELD", ("field",), "store in an instance variable (keep it)")
PUSH_NIL = _op("PUSH_NIL", (), "push nil")
PUSH_TRUE = _op("PUSH_TRUE", (), "push true")
PUSH_FALSE = _op("PUSH_FALSE", (), "push false")
PUSH_GLOBAL = _op("PUSH_GLOBAL", ("literal",), "push the global named by a literal symbol")
PUSH_BLOCK = _op("PUSH_BLOCK", ("literal",), "push a new closure over a literal block method")
PUSH_CONTEXT = _op("PUSH_CONTEXT", (), "push thisContext")
DUP = _op("DUP", (), "duplicate top of stack")
SUPER_SEND = _op("SUPER_SEND", ("site",), "send, looking up from the method holder's superclass")
EVENTUAL_SEND = _op("EVENTUAL_SEND", ("site",), "receiver ~> message: queue it, push a Promise")
JUMP_IF_NIL = _op("JUMP_IF_NIL", ("target",), "pop; jump if nil")
JUMP_IF_NOT_NIL = _op("JUMP_IF_NOT_NIL", ("target",), "pop; jump if not nil")
RETURN_SELF = _op("RETURN_SELF", (), "return the receiver to the sender")
RETURN_NONLOCAL = _op("RETURN_NONLOCAL", (), "return top of stack from the block's home method")
MAKE_ARRAY = _op("MAKE_ARRAY", ("count",), "pop count values into a new Array (brace arrays)")
STORE_GLOBAL = _op("STORE_GLOBAL", ("literal",),
                   "store top of stack in the global named by a literal (REPL workspace variables)")

# Quickened opcodes: never emitted by the compiler, never saved in images. vm/quicken.py
# writes them into a method's `fast` copy of its code, each in place of the first
# instruction of a sequence it stands for (with the operand indexing the method's
# `fused` table); the rest of the sequence stays in place, so a jump into its middle,
# or a fused instruction whose fast path does not apply, simply runs the original code.
Q_CMP_JUMP = _op("Q_CMP_JUMP", ("fused",), "local <op> local/literal, then a conditional jump")
Q_ARITH = _op("Q_ARITH", ("fused",), "local +-* local/literal [, store in a local [, jump back]]")
Q_RETURN_LOCAL = _op("Q_RETURN_LOCAL", ("fused",), "return a local")
Q_RETURN_FIELD = _op("Q_RETURN_FIELD", ("fused",), "return an instance variable")
# This one keeps SEND's operand (the site): its slow path is the send itself.
Q_SEND_BOOLEAN = _op("Q_SEND_BOOLEAN", ("site",),
                     "&&, ||, and:, or:, &, | between Booleans, answered from vm.booleans; else SEND")
QUICKENED = frozenset({Q_CMP_JUMP, Q_ARITH, Q_RETURN_LOCAL, Q_RETURN_FIELD, Q_SEND_BOOLEAN})

OPCODES: tuple[Opcode, ...] = tuple(_TABLE)
JUMPS = frozenset({JUMP, JUMP_BACK, JUMP_IF_FALSE, JUMP_IF_TRUE, JUMP_IF_NIL, JUMP_IF_NOT_NIL})
SENDS = frozenset({SEND, SUPER_SEND, EVENTUAL_SEND, SEND_ADD, SEND_SUB, SEND_MUL, SEND_LT,
                   SEND_GT, SEND_LE, SEND_GE, SEND_EQ, SEND_NE})

# Binary selectors that compile to a fast-path opcode instead of plain SEND.
SPECIAL_SENDS: dict[str, int] = {
    "+": SEND_ADD, "-": SEND_SUB, "*": SEND_MUL, "<": SEND_LT, ">": SEND_GT,
    "<=": SEND_LE, ">=": SEND_GE, "=": SEND_EQ, "~=": SEND_NE,
}


def instructions(code: list[int]) -> Iterator[tuple[int, Opcode, tuple[int, ...]]]:
    """Yield (pc, opcode, operands) for each instruction of ``code``."""
    pc = 0
    while pc < len(code):
        op = OPCODES[code[pc]]
        width = 1 + len(op.operands)
        yield pc, op, tuple(code[pc + 1:pc + width])
        pc += width


def disassemble(method: Any, describe_literal: Callable[[Any], str] = repr,
                source_lines: list[str] | None = None, indent: str = "") -> list[str]:
    """Human-readable listing of a compiled method or block.

    ``method`` needs ``code``, ``literals``, ``sites`` and ``line_at(pc)``; nested
    block methods among the literals are listed after the instruction that pushes them.
    When ``source_lines`` is given, each new source line is printed before its code.
    """
    out: list[str] = []
    last_line = None
    for pc, op, args in instructions(method.code):
        line = method.line_at(pc)
        if source_lines is not None and line != last_line and 0 < line <= len(source_lines):
            out.append(f"{indent}  ; {line}: {source_lines[line - 1].strip()}")
        last_line = line
        note = ""
        if op.code in SENDS:
            site = method.sites[args[0]]
            note = f"#{site.selector} ({site.argc} arg{'s' if site.argc != 1 else ''})"
        elif op.code in (PUSH_LITERAL, PUSH_GLOBAL):
            note = describe_literal(method.literals[args[0]])
        elif op.code == PUSH_BLOCK:
            note = "block"
        operand_text = " ".join(str(a) for a in args)
        out.append(f"{indent}{pc:4d} {op.name:<16} {operand_text:<8} {note}".rstrip())
        if op.code == PUSH_BLOCK:
            out.extend(disassemble(method.literals[args[0]], describe_literal, source_lines,
                                   indent + "    | "))
    return out
