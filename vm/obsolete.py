"""Obsolete methods: the old versions of methods that a class redefinition replaced
while activations (or closures made by them) may still run them.

After a redefinition the instances have the new shape, so the old code's field
positions are wrong. ``retarget`` rewrites them in place, by name:

- a variable that survived the redefinition is read and written where it is now, so the
  old activation and its closures keep working;
- a variable that was removed gets an operand (``vm.ghosts.REMOVED_FIELD`` and up) that
  no object has, which the universe maps back to the variable and the removal: using
  it reads or writes the receiver's ghost of it (``vm.ghosts``), or is a clean
  InternalError ("instance variable x no longer exists ...") for a receiver that has
  none — never a wrong slot;
- obsolete code stays interpreted (never native code again) and is never a trivial
  getter or setter, so that every access goes through the checked path.

This module rewrites code; it never runs it, and it does not decide when a class is
redefined (``compiler.redefinition`` calls it).
"""
from __future__ import annotations

from typing import Any

from smalltalk_vm.vm import bytecodes as B
from smalltalk_vm.vm.ghosts import REMOVED_FIELD
from smalltalk_vm.vm.native import NEVER
from smalltalk_vm.vm.objects import KIND_BYTECODE, KIND_GETTER, KIND_NATIVE, KIND_SETTER, CompiledBlock, CompiledMethod
from smalltalk_vm.vm.quicken import quicken

_FIELD_OPS = frozenset({B.PUSH_FIELD, B.POP_FIELD, B.STORE_FIELD})


def field_map(universe: Any, class_name: str, old_names: list[str], new_names: list[str],
              removal: int) -> dict[int, int]:
    """Old field position -> new one, for every old variable; removed ones get a fresh
    operand the universe remembers as that variable of ``class_name`` as ``removal``
    removed it."""
    mapping = {}
    for old_index, name in enumerate(old_names):
        if name in new_names:
            mapping[old_index] = new_names.index(name)
        else:
            mapping[old_index] = universe.removed_fields.operand(class_name, name, removal)
    return mapping


def retarget(method: CompiledMethod, mapping: dict[int, int]) -> None:
    """Rewrite the field operands of ``method`` and its blocks through ``mapping``."""
    units = _units(method)
    running = [unit.fast for unit in units]
    for unit in units:
        code = unit.code
        for pc, op, args in list(B.instructions(code)):
            if op.code in _FIELD_OPS and args[0] < REMOVED_FIELD:
                code[pc + 1] = mapping.get(args[0], args[0])
    if method.kind in (KIND_GETTER, KIND_SETTER, KIND_NATIVE):
        method.kind = KIND_BYTECODE             # classified again from the new code
    quicken(method)
    if method.kind in (KIND_GETTER, KIND_SETTER) and method.trivial >= REMOVED_FIELD:
        method.kind = KIND_BYTECODE
    for unit, fast in zip(units, running):
        if fast is not unit.code:
            # The interpreter may hold this very list while a primitive redefines the
            # class under it: change the list, do not replace it.
            fast[:] = unit.fast
            unit.fast = fast
        unit.heat = NEVER


def _units(method: CompiledMethod) -> list[Any]:
    found, pending = [], [method]
    while pending:
        unit = pending.pop()
        found.append(unit)
        pending.extend(literal for literal in unit.literals if isinstance(literal, CompiledBlock))
    return found
