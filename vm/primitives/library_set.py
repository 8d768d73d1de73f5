"""Primitives for the library's Set (lib/Set.som): ``add:``, ``contains:`` and
``includes:``. Their bodies send ``containsKey:`` and ``at:put:`` to the Set's
Dictionary (its ``table`` field); each primitive does that work in one probe, through
the Dictionary primitives (``vm.primitives.library``) and their checks, and answers —
and leaves the Set — exactly as the body would:

- only while the table's class finds the library's ``containsKey:`` and ``at:put:``
  primitives (verdicts per class, kept until any lookup anywhere may have changed:
  the universe's ``lookup_epoch``);
- only where those primitives would not fail themselves.

Otherwise the primitive fails, with nothing changed, and the body runs.
"""
from __future__ import annotations

from typing import Any

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.errors import PrimitiveFailed
from smalltalk_vm.vm.objects import is_primitive
from smalltalk_vm.vm.primitives.library import (
    contains,
    dictionary_at_put,
    dictionary_contains_key,
    put,
)
from smalltalk_vm.vm.primitives.registry import primitive

_FAILED = PrimitiveFailed("the Smalltalk body does it")
# class -> (epoch, verdict): for a Set class, the table field's position (None: the
# class has no such field); for a table's class, whether its methods are the library's.
# Bounded, so classes of machines gone are dropped rather than kept.
_SETS: dict = {}
_TABLES: dict = {}
_CACHE_LIMIT = 512


def _set_verdict(vm: Any, cls: Any) -> int | None:
    names = vm.all_field_names(cls) if hasattr(cls, "instance_fields") else ()
    return names.index("table") if "table" in names else None


def _table_verdict(vm: Any, cls: Any) -> bool:
    return all(is_primitive(vm.lookup(cls, selector), function) for selector, function in (
        ("containsKey:", dictionary_contains_key), ("at:put:", dictionary_at_put)))


def _verdict(vm: Any, cache: dict, cls: Any, decide: Any) -> Any:
    cached = cache.get(cls)
    epoch = vm.lookup_epoch
    if cached is None or cached[0] is not epoch:
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cached = cache[cls] = (epoch, decide(vm, cls))
    return cached[1]


def _table(vm: Any, rcv: Any) -> Any:
    """The Set's table, when the library's Dictionary primitives may act on it."""
    position = _verdict(vm, _SETS, getattr(rcv, "cls", None), _set_verdict)
    if position is None:
        raise _FAILED
    try:
        table = rcv.fields[position]
        table_class = table.cls
    except (AttributeError, IndexError):
        raise _FAILED from None         # an obsolete instance, or a table that is no object
    if not _verdict(vm, _TABLES, table_class, _table_verdict):
        raise _FAILED
    return table


@primitive("Set", "add:")
def set_add(vm, rcv, element):
    put(vm, _table(vm, rcv), element, element, replace=False)
    return element


@primitive("Set", "contains:")
@primitive("Set", "includes:")
def set_contains(vm, rcv, element):
    return V.TRUE if contains(vm, _table(vm, rcv), element) else V.FALSE
