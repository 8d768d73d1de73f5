"""The bytecode verifier: proves that a code unit read from an image can run without
the interpreter ever indexing outside a list or looping without counting reductions.

For one method or block it checks every instruction: a known, canonical opcode with
all its operands; locals, fields and outer variables within the slots that exist;
literal, send-site and block operands of the right kind; jumps to instruction starts,
forward for the jumps that do not count a reduction and backward for JUMP_BACK (so
every loop is preemptible); an operand stack that never goes below its base and has
one height at every instruction whatever the path to it; no path running off the end
of the code. It answers that height for every instruction start, which is what a
saved context's stack is checked against (``image.verify``).

Rules: this module reads code only; it builds nothing and knows nothing of images
beyond ImageError.
"""
from __future__ import annotations

from typing import Any

from smalltalk_vm.image.records import ImageError
from smalltalk_vm.vm import bytecodes as B
from smalltalk_vm.vm.objects import CompiledBlock

# How each canonical opcode moves the operand stack and where it goes next, by name
# (a new opcode without an entry here is refused in images until it gets one).
# effect: (values popped, values pushed); a send's pop count is its site's argc + 1.
_PLAIN, _SEND, _JUMP, _BRANCH, _RETURN, _NONLOCAL = range(6)
EFFECTS: dict[str, tuple[int, int, int]] = {
    "PUSH_LOCAL": (_PLAIN, 0, 1), "PUSH_FIELD": (_PLAIN, 0, 1), "PUSH_SELF": (_PLAIN, 0, 1),
    "PUSH_LITERAL": (_PLAIN, 0, 1), "PUSH_NIL": (_PLAIN, 0, 1), "PUSH_TRUE": (_PLAIN, 0, 1),
    "PUSH_FALSE": (_PLAIN, 0, 1), "PUSH_GLOBAL": (_PLAIN, 0, 1), "PUSH_BLOCK": (_PLAIN, 0, 1),
    "PUSH_CONTEXT": (_PLAIN, 0, 1), "PUSH_OUTER": (_PLAIN, 0, 1), "DUP": (_PLAIN, 1, 2),
    "POP": (_PLAIN, 1, 0), "POP_LOCAL": (_PLAIN, 1, 0), "POP_FIELD": (_PLAIN, 1, 0), "POP_OUTER": (_PLAIN, 1, 0),
    "STORE_LOCAL": (_PLAIN, 1, 1), "STORE_FIELD": (_PLAIN, 1, 1), "STORE_OUTER": (_PLAIN, 1, 1),
    "STORE_GLOBAL": (_PLAIN, 1, 1), "MAKE_ARRAY": (_PLAIN, -1, 1),
    "SEND": (_SEND, 0, 1), "SUPER_SEND": (_SEND, 0, 1), "EVENTUAL_SEND": (_SEND, 0, 1),
    "SEND_ADD": (_SEND, 0, 1), "SEND_SUB": (_SEND, 0, 1), "SEND_MUL": (_SEND, 0, 1), "SEND_LT": (_SEND, 0, 1),
    "SEND_GT": (_SEND, 0, 1), "SEND_LE": (_SEND, 0, 1), "SEND_GE": (_SEND, 0, 1), "SEND_EQ": (_SEND, 0, 1),
    "SEND_NE": (_SEND, 0, 1),
    "JUMP": (_JUMP, 0, 0), "JUMP_BACK": (_JUMP, 0, 0),
    "JUMP_IF_FALSE": (_BRANCH, 1, 0), "JUMP_IF_TRUE": (_BRANCH, 1, 0), "JUMP_IF_NIL": (_BRANCH, 1, 0),
    "JUMP_IF_NOT_NIL": (_BRANCH, 1, 0),
    "RETURN": (_RETURN, 1, 0), "RETURN_SELF": (_RETURN, 0, 0),
    # ^ in a block: pops the value; when the block has escaped, escapedBlock:'s answer is
    # pushed and the RETURN that always follows runs.
    "RETURN_NONLOCAL": (_NONLOCAL, 1, 1),
}
_TABLE: dict[int, tuple[int, int, int, int]] = {
    op.code: (*EFFECTS[op.name], len(op.operands)) for op in B.OPCODES if op.name in EFFECTS}
_LOCALS = frozenset({B.PUSH_LOCAL, B.POP_LOCAL, B.STORE_LOCAL})
_FIELDS = frozenset({B.PUSH_FIELD, B.POP_FIELD, B.STORE_FIELD})
_OUTERS = frozenset({B.PUSH_OUTER, B.POP_OUTER, B.STORE_OUTER})
_GLOBALS = frozenset({B.PUSH_GLOBAL, B.STORE_GLOBAL})
_BINARY_SENDS = frozenset(B.SPECIAL_SENDS.values())
_JUMP_BACK = B.JUMP_BACK
# Opcodes whose operands name something that must exist (a local, field, literal, ...).
_CHECKED = _LOCALS | _FIELDS | _OUTERS | _GLOBALS | B.SENDS | {B.PUSH_LITERAL, B.PUSH_BLOCK}


def unit_name(unit: Any) -> str:
    """``Class>>selector`` or ``[] in Class>>selector``, for a refusal."""
    method = unit.home_method
    holder = method.holder if method is not None else None
    where = f"{holder.name if holder is not None else '?'}>>{method.selector if method is not None else '?'}"
    return f"[] in {where}" if type(unit) is CompiledBlock else where


def missing_effects() -> list[str]:
    """Canonical opcodes this verifier has no entry for (a test keeps this empty)."""
    return [op.name for op in B.OPCODES if op.code not in B.QUICKENED and op.name not in EFFECTS]


def check_code(unit: Any, fields: int, outer_slots: list[int]) -> list[int | None]:
    """Verify ``unit`` (a CompiledMethod or CompiledBlock whose literals and sites are
    already of checked types); ``fields`` is how many instance variables its receiver
    has, ``outer_slots`` the slot counts of its enclosing code units, innermost first.
    Answer the operand-stack height before each instruction (None where no instruction
    starts or none is reachable). Raises ImageError naming the unit."""
    code = unit.code
    size = len(code)
    if not size:
        raise ImageError(f"{unit_name(unit)} has no code")
    slots = unit.num_args + unit.num_temps
    literals, sites = unit.literals, unit.sites
    table = _TABLE
    starts = bytearray(size)
    pc = 0
    while pc < size:
        entry = table.get(code[pc])
        if entry is None:
            raise ImageError(f"{unit_name(unit)}: unknown opcode {code[pc]} at {pc}")
        starts[pc] = 1
        pc += 1 + entry[3]
    if pc != size:
        raise ImageError(f"{unit_name(unit)}: the last instruction is cut off")
    heights: list[int | None] = [None] * size
    heights[0] = 0
    pending = [0]
    while pending:
        pc = pending.pop()
        height = heights[pc]
        op = code[pc]
        flow, pops, pushes, width = table[op]
        operand = code[pc + 1] if width else 0
        if op in _CHECKED:
            _check_operand(op, operand, code, pc, unit, slots, fields, outer_slots, literals, sites)
        if flow == _SEND:
            pops = sites[operand].argc + 1
            if pops != 2 and op in _BINARY_SENDS:
                raise ImageError(f"{unit_name(unit)}: a binary send with {pops - 1} arguments at {pc}")
        elif pops < 0:
            pops = operand                   # MAKE_ARRAY count
        if height < pops:
            raise ImageError(f"{unit_name(unit)}: the stack is empty where a value is needed at {pc}")
        after = height - pops + pushes
        if flow == _RETURN:
            continue
        if flow == _JUMP or flow == _BRANCH:
            if not (0 <= operand < size and starts[operand]) or \
                    (operand > pc if op == _JUMP_BACK else operand <= pc):
                raise ImageError(f"{unit_name(unit)}: a bad jump from {pc} to {operand}")
            known = heights[operand]
            if known is None:
                heights[operand] = after
                pending.append(operand)
            elif known != after:
                raise ImageError(f"{unit_name(unit)}: two stack heights ({known} and {after}) at {operand}")
            if flow == _JUMP:
                continue
        following = pc + 1 + width
        if following >= size:
            raise ImageError(f"{unit_name(unit)}: the code runs off its end at {pc}")
        if flow == _NONLOCAL and code[following] != B.RETURN:
            raise ImageError(f"{unit_name(unit)}: a non-local return without its RETURN at {pc}")
        known = heights[following]
        if known is None:
            heights[following] = after
            pending.append(following)
        elif known != after:
            raise ImageError(f"{unit_name(unit)}: two stack heights ({known} and {after}) at {following}")
    return heights


def _check_operand(op: int, operand: int, code: list, pc: int, unit: Any, slots: int, fields: int,
                   outer_slots: list[int], literals: list, sites: list) -> None:
    if op in _LOCALS:
        if operand >= slots:
            raise ImageError(f"{unit_name(unit)}: local {operand} of {slots} at {pc}")
    elif op in _FIELDS:
        if operand >= fields:
            raise ImageError(f"{unit_name(unit)}: field {operand} of a receiver with {fields} at {pc}")
    elif op in _OUTERS:
        depth, slot = operand, code[pc + 2]
        if not 1 <= depth <= len(outer_slots) or slot >= outer_slots[depth - 1]:
            raise ImageError(f"{unit_name(unit)}: outer variable {depth}:{slot} does not exist at {pc}")
    elif op == B.PUSH_LITERAL or op in _GLOBALS or op == B.PUSH_BLOCK:
        if operand >= len(literals):
            raise ImageError(f"{unit_name(unit)}: literal {operand} of {len(literals)} at {pc}")
        literal = literals[operand]
        kind_ok = (type(literal) is str if op in _GLOBALS else
                   type(literal) is CompiledBlock if op == B.PUSH_BLOCK else
                   type(literal) is not str and type(literal) is not CompiledBlock)
        if not kind_ok:
            raise ImageError(f"{unit_name(unit)}: literal {operand} is the wrong kind for {B.OPCODES[op].name} at {pc}")
    elif op in B.SENDS:
        if operand >= len(sites):
            raise ImageError(f"{unit_name(unit)}: send site {operand} of {len(sites)} at {pc}")
