"""The wire writer's C accelerator seen from Python: ``encode`` runs the C pass
(``node/wire_c_encoder.c``) with what it needs from the VM, or answers NOT_DONE.

The rules:

- The bytes are exactly those of ``node.wire_fast_encoder`` and ``node.wire_encoder``,
  which stay the definition of the format; wherever the C pass gives up, or the
  extension was not built (no C compiler at install), or ``VM_WIRE_C=0`` is set in the
  environment, this answers NOT_DONE and the caller runs the Python writers.
- It decides nothing about classes itself: which classes travel as Dictionaries,
  Vectors, Sets or objects by value, and with which fields, is what the Python fast
  writer's ``_Writer`` says, asked once per class and message.
- It never raises: whatever goes wrong, the Python paths do the message.

VM thread only (the thread that owns the objects being written); never blocks.
"""
from __future__ import annotations

from typing import Any

from smalltalk_vm.node.wire_fast_encoder import NOT_DONE, _integer, _tables, _text, _Writer, head
from smalltalk_vm.node.wire_tags import C_ACCELERATORS_WANTED, TAG_OBJECT, NodeRefs
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.objects import Instance, LargeInt, VArray, VBytes, VString

try:
    from smalltalk_vm.node import _wire_c_encoder as _c
except ImportError:                     # built without a C compiler: the Python paths write
    _c = None
if not C_ACCELERATORS_WANTED:
    _c = None

AVAILABLE = _c is not None

_WORDS = ("INT_LO", "INT_HI", "ZERO", "NIL", "TRUE", "FALSE", "CHAR_BASE", "CHAR_LIMIT", "SYM_BASE", "SYM_LIMIT")
if _c is not None:
    _c.setup(Instance, VArray, VString, LargeInt, VBytes, {name: getattr(V, name) for name in _WORDS})

# The kinds of layout the C pass knows (its LAYOUT_* numbers).
_OTHER, _DICTIONARY, _VECTOR, _SET, _OBJECT = 0, 1, 2, 3, 4
_OBJECT_HEAD = head(6, TAG_OBJECT) + head(4, 2)


def encode(vm: Any, root: Any, max_depth: int, node_refs: NodeRefs | None) -> Any:
    """The wire bytes of ``root``, or NOT_DONE."""
    if _c is None:
        return NOT_DONE
    try:
        layouts = _Layouts(vm, max_depth, node_refs)
        if node_refs is not None and layouts.writer().kernel_by_reference:
            return NOT_DONE
        data = _c.encode(root, max_depth, vm.Array, vm.String, vm.ByteArray, vm.symbols,
                         layouts.symbol_bytes(), layouts.layout, layouts.table_layout, _integer, layouts.rest)
    except Exception:                   # MemoryError too: the Python paths decide, as for any give-up
        return NOT_DONE
    return NOT_DONE if data is None else data


class _Layouts:
    """The class layouts of one message, for the C pass: the Python fast writer made
    only when a class is asked about. VM thread only; never blocks; raises what the
    writer raises for broken classes (the C pass then gives up)."""
    __slots__ = ("_writer", "max_depth", "node_refs", "vm")

    def __init__(self, vm: Any, max_depth: int, node_refs: NodeRefs | None) -> None:
        self.vm, self.max_depth, self.node_refs = vm, max_depth, node_refs
        self._writer: _Writer | None = None

    def writer(self) -> _Writer:
        if self._writer is None:
            self._writer = _Writer(self.vm, self.max_depth, self.node_refs)
        return self._writer

    def symbol_bytes(self) -> dict:
        """The encoded Symbols kept for the VM between messages (shared with the Python
        fast writer: the bytes are the same)."""
        return (self._writer.tables if self._writer is not None else _tables(self.vm)).symbols

    def layout(self, cls: Any) -> tuple:
        writer = self.writer()
        if cls is writer.dictionary:
            return (_DICTIONARY, *writer.positions(cls, ("keyArray", "valueArray", "count")))
        if cls is writer.vector:
            return (_VECTOR, *writer.positions(cls, ("first", "last", "storage")))
        if cls is writer.set:
            return (_SET, *writer.positions(cls, ("table",)))
        names = writer.field_names(cls)
        if names is None:
            return (_OTHER,)
        prefix = writer.tables.layout(cls, lambda c: _OBJECT_HEAD + _text(c.name) + head(5, len(names)),
                                      ("object prefix", cls))
        return (_OBJECT, prefix, names)

    def rest(self, value: Any) -> bytes:
        """The bytes of a kind the C pass leaves to the Python writer (classes, methods,
        exceptions, references); raises for one that could hold a shared value."""
        return self.writer().rest(value)

    def table_layout(self, cls: Any) -> tuple:
        """Where a Set's table keeps its keys and its count."""
        return self.writer().positions(cls, ("keyArray", "count"))

