"""What happens to the rest of the system when a class is redefined with a different
shape (added, removed or reordered instance or class-side variables, or a new
superclass), as a Smalltalk user expects from Pharo:

- existing instances of the class and of its subclasses keep the values of the
  variables whose names survive; new variables start as nil;
- the class-side variables of the class and its subclasses are carried over by name;
- the methods of subclasses, compiled against the old field positions, are compiled
  again from their source.

This module only reacts to a redefinition; creating and redefining classes is
``vm.universe``'s job, and compiling is ``compiler.codegen``'s.
"""
from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.objects import CompiledMethod, Instance, VClass


@dataclass
class _Shape:
    """One class's field names (instance side and class side) and class-side values."""
    instance_names: list[str]
    class_names: list[str]
    class_values: list


def _family(cls: VClass) -> list[VClass]:
    """``cls`` and every class that inherits from it."""
    found, pending = [], [cls]
    while pending:
        c = pending.pop()
        found.append(c)
        pending.extend(c.subclasses)
    return found


def remember_shapes(universe: Any, cls: VClass | None) -> dict[VClass, _Shape]:
    """The shapes of ``cls`` and its subclasses, taken before a redefinition."""
    if cls is None:
        return {}
    return {c: _Shape(universe.all_field_names(c), universe.all_field_names(c.cls), list(c.fields))
            for c in _family(cls)}


def _remap(old_names: list[str], new_names: list[str], old_values: list) -> list:
    position = {name: i for i, name in enumerate(old_names)}
    return [old_values[position[name]] if name in position and position[name] < len(old_values)
            else V.NIL for name in new_names]


def migrate(universe: Any, redefined: VClass, before: dict[VClass, _Shape],
            recompile: Callable[[VClass, CompiledMethod], None]) -> None:
    """Bring instances, class-side values and subclass methods in line with the new
    shapes. ``redefined`` gets its own methods from the new definition, so only its
    subclasses' methods are compiled again (through ``recompile``)."""
    instance_maps: dict[VClass, tuple[list[str], list[str]]] = {}
    for c, shape in before.items():
        new_instance_names = universe.all_field_names(c)
        new_class_names = universe.all_field_names(c.cls)
        if new_instance_names != shape.instance_names:
            instance_maps[c] = (shape.instance_names, new_instance_names)
        if new_class_names != shape.class_names:
            c.fields = _remap(shape.class_names, new_class_names, shape.class_values)
        if c is redefined:
            continue
        for side, changed in ((c, new_instance_names != shape.instance_names),
                              (c.cls, new_class_names != shape.class_names)):
            if changed:
                for method in list(side.methods.values()):
                    if method.source:
                        recompile(side, method)
    if instance_maps:
        _migrate_instances(instance_maps)


def _migrate_instances(maps: dict[VClass, tuple[list[str], list[str]]]) -> None:
    # The VM keeps no table of its objects, so the collector's list of everything
    # alive is the heap to walk; this happens only when a class changes shape.
    for obj in gc.get_objects():
        if type(obj) is Instance and obj.cls in maps:
            old_names, new_names = maps[obj.cls]
            obj.fields = _remap(old_names, new_names, obj.fields)
