"""What happens to the rest of the system when a class is redefined with a different
shape (added, removed or reordered instance or class-side variables, or a new
superclass), as a Smalltalk user expects from Pharo:

- existing instances of the class and of its subclasses keep the values of the
  variables whose names survive; new variables start as nil;
- the class-side variables of the class and its subclasses are carried over by name;
- the methods of subclasses, compiled against the old field positions, are compiled
  again from their source;
- the replaced methods, which activations and closures may still be running, are
  retargeted to the new field positions by name (``vm.obsolete``): a variable that
  survived keeps working, one that was removed becomes a *ghost* kept beside each
  object that had it (``vm.ghosts``), which only that old code reads and writes.

This module only reacts to a redefinition; creating and redefining classes is
``vm.universe``'s job, and compiling is ``compiler.codegen``'s.
"""
from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smalltalk_vm.vm import ghosts
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.objects import CompiledMethod, Instance, VClass
from smalltalk_vm.vm.obsolete import field_map, retarget


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


def prospective_shapes(universe: Any, existing: VClass, superclass: VClass | None,
                       instance_fields: list[str], class_fields: list[str]) -> dict[VClass, list[str]]:
    """The field names every subclass side of ``existing`` will have once it is
    redefined under ``superclass`` with these fields (the sides of ``existing`` itself
    are left out: its methods come from the new definition)."""
    base = universe.all_field_names(superclass) if superclass is not None else []
    meta_base = universe.all_field_names(superclass.cls if superclass is not None else universe.Class)
    shapes: dict[VClass, list[str]] = {}
    pending = [(sub, base + list(instance_fields), meta_base + list(class_fields)) for sub in existing.subclasses]
    while pending:
        cls, inherited, meta_inherited = pending.pop()
        names = inherited + cls.instance_fields
        meta_names = meta_inherited + cls.cls.instance_fields
        shapes[cls], shapes[cls.cls] = names, meta_names
        pending.extend((sub, names, meta_names) for sub in cls.subclasses)
    return shapes


def check_subclasses(universe: Any, existing: VClass, superclass: VClass | None,
                     instance_fields: list[str], class_fields: list[str],
                     compiles: Callable[[VClass, list[str], CompiledMethod], None]) -> None:
    """Compile every subclass method against its shape after the redefinition, before
    anything changes: a method that would lose a variable it uses makes the whole
    redefinition fail (raising what ``compiles`` raised, with the method), instead of
    leaving the classes half migrated."""
    shapes = prospective_shapes(universe, existing, superclass, instance_fields, class_fields)
    for side, names in shapes.items():
        if names == universe.all_field_names(side):
            continue
        for method in side.methods.values():
            if method.source:
                compiles(side, names, method)


def _remap(old_names: list[str], new_names: list[str], old_values: list) -> list:
    position = {name: i for i, name in enumerate(old_names)}
    return [old_values[position[name]] if name in position and position[name] < len(old_values)
            else V.NIL for name in new_names]


def migrate(universe: Any, redefined: VClass, before: dict[VClass, _Shape],
            recompile: Callable[[VClass, CompiledMethod], None]) -> list[tuple[Instance, list[str], list]]:
    """Bring instances, class-side values and subclass methods in line with the new
    shapes. ``redefined`` gets its own methods from the new definition, so only its
    subclasses' methods are compiled again (through ``recompile``). Answers every
    migrated instance with its old field names and values (for ``updateFrom:``)."""
    removal = universe.removed_fields.begin_removal()
    instance_maps: dict[VClass, tuple[list[str], list[str]]] = {}
    for c, shape in before.items():
        new_instance_names = universe.all_field_names(c)
        new_class_names = universe.all_field_names(c.cls)
        if new_instance_names != shape.instance_names:
            instance_maps[c] = (shape.instance_names, new_instance_names)
        if new_class_names != shape.class_names:
            ghosts.keep(c, removal, shape.class_names, shape.class_values, new_class_names)
            c.fields = _remap(shape.class_names, new_class_names, shape.class_values)
        if c is redefined:
            continue
        for side, changed in ((c, new_instance_names != shape.instance_names),
                              (c.cls, new_class_names != shape.class_names)):
            if changed:
                for method in list(side.methods.values()):
                    if method.source:
                        recompile(side, method)
    method_maps = {side: field_map(universe, side.name, old, universe.all_field_names(side), removal)
                   for c, shape in before.items()
                   for side, old in ((c, shape.instance_names), (c.cls, shape.class_names))
                   if universe.all_field_names(side) != old}
    if instance_maps or method_maps:
        return _migrate_heap(instance_maps, method_maps, removal)
    return []


def _migrate_heap(instance_maps: dict[VClass, tuple[list[str], list[str]]],
                  method_maps: dict[VClass, dict[int, int]],
                  removal: int) -> list[tuple[Instance, list[str], list]]:
    """Give every instance its new shape (and ghosts of the variables it lost), and
    retarget every method of a changed class that is no longer installed — replaced
    now or by an earlier redefinition, still alive because an activation or a closure
    runs it (``vm.obsolete``). Its field operands are relative to the shape before this
    redefinition either way."""
    # The VM keeps no table of its objects, so the collector's list of everything
    # alive is the heap to walk; this happens only when a class changes shape.
    migrated = []
    for obj in gc.get_objects():
        kind = type(obj)
        if kind is Instance:
            if obj.cls in instance_maps:
                old_names, new_names = instance_maps[obj.cls]
                migrated.append((obj, old_names, obj.fields))
                ghosts.keep(obj, removal, old_names, obj.fields, new_names)
                obj.fields = _remap(old_names, new_names, obj.fields)
        elif kind is CompiledMethod and obj.holder in method_maps and obj.code \
                and obj.holder.methods.get(obj.selector) is not obj:
            retarget(obj, method_maps[obj.holder])
    return migrated
