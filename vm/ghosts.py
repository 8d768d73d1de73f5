"""Ghost fields: the values of instance variables that a class redefinition removed,
kept beside every object that had them, for the obsolete code that still uses them.

The rules:

- When a redefinition removes variables, every object that had them — each instance of
  the class and of its subclasses for the instance side, the class object itself for
  the class side — keeps their last values as its *ghosts*, one per variable and
  removal.
- Only obsolete code reaches a ghost. ``vm.obsolete`` gives every removed variable of
  the code it retargets an operand from ``REMOVED_FIELD`` up, which no object's
  fields reach: the interpreter's field instruction fails, and the fault boundary
  (``vm.faults``) asks here. A read answers the ghost's value; a write replaces it.
  Current code never names a ghost, and nothing else sees one (``instVarNamed:``,
  printing, ``updateFrom:``, images, the wire, copies).
- An object that did not have the variable when it was removed (one made after the
  redefinition, a copy made since) has no ghost of it: the access stays an
  InternalError.
- A name removed, added back and removed again is two ghosts: the code compiled before
  each removal sees the one of that removal.
- Ghosts live on the object (its ``ghosts`` slot), not in a table keyed by it: they go
  when the object goes, even when a ghost refers back to its object (a weak-keyed
  table would keep such an object alive — Python has no ephemerons).

This module keeps and finds ghost values; it never decides when a class changes shape
(``compiler.redefinition``) or how the faulting activation continues (``vm.faults``).
VM thread only, like the objects it touches.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Field operands from here on stand for a removed variable (see RemovedFields).
REMOVED_FIELD = 1 << 20

ABSENT = object()           # what ``read`` answers for an object without that ghost


@dataclass(frozen=True)
class RemovedVariable:
    """One variable as one redefinition removed it."""
    class_name: str         # the side whose obsolete code names it ("Point", "Point class")
    variable: str
    removal: int            # which redefinition removed it

    @property
    def key(self) -> tuple[str, int]:
        """What the ghost is filed under on its object: the same for every side of
        one class family, since an object's field names are unique along its chain."""
        return self.variable, self.removal


class RemovedFields:
    """The removed-variable operands of one universe (``universe.removed_fields``).
    VM thread only; never blocks; raises nothing."""

    def __init__(self) -> None:
        self._operands: list[RemovedVariable] = []
        self._removals = 0

    def begin_removal(self) -> int:
        """A number for one redefinition's removals."""
        self._removals += 1
        return self._removals

    def operand(self, class_name: str, variable: str, removal: int) -> int:
        """A field operand no object has, standing for ``variable`` of ``class_name``
        as ``removal`` removed it."""
        self._operands.append(RemovedVariable(class_name, variable, removal))
        return REMOVED_FIELD + len(self._operands) - 1

    def describe(self, operand: int) -> RemovedVariable | None:
        """The variable a removed-field operand stands for; None for any other operand
        (and for one this universe did not hand out, as in code read from an image)."""
        index = operand - REMOVED_FIELD
        return self._operands[index] if 0 <= index < len(self._operands) else None


def keep(obj: Any, removal: int, old_names: list[str], old_values: list, new_names: list[str]) -> None:
    """Give ``obj`` (whose fields were ``old_values`` under ``old_names``) a ghost for
    every variable that ``new_names`` no longer has."""
    surviving = set(new_names)
    removed = [(name, value) for name, value in zip(old_names, old_values) if name not in surviving]
    if not removed:
        return
    ghosts = getattr(obj, "ghosts", None)
    if ghosts is None:
        ghosts = obj.ghosts = {}
    for name, value in removed:
        ghosts[name, removal] = value


def read(obj: Any, removed: RemovedVariable) -> Any:
    """The ghost's value, or ABSENT if ``obj`` has no ghost of that variable."""
    ghosts = getattr(obj, "ghosts", None)
    return ABSENT if ghosts is None else ghosts.get(removed.key, ABSENT)


def write(obj: Any, removed: RemovedVariable, value: Any) -> bool:
    """Replace the ghost's value; False if ``obj`` has no ghost of that variable."""
    ghosts = getattr(obj, "ghosts", None)
    if ghosts is None or removed.key not in ghosts:
        return False
    ghosts[removed.key] = value
    return True
