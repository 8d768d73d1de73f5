"""The C path of the wire reader: ``_wire_c_decoder`` (node/wire_c_decoder.c, built by
setup.py where a C compiler is found) reads the bytes of the common messages straight
into VM values; this module is its Python side — the per-universe context it reads
with, and the layout callback.

The rules:

- The values are exactly those ``node.wire_decoder.Decoder`` makes, which stays the
  definition of the format: the same objects, classes, fields and value sharing. The
  C path reads a subset (integers, text, Doubles, nil and Booleans, Arrays,
  Dictionaries with keys it can compare, value sharing, bignums, Symbols, objects by
  value); whatever else a message holds — another tag, a byte string outside a bignum,
  an indefinite length, a duplicate key, a class not loaded yet, a value nested close
  to the depth limit, bytes after the value, any error at all — makes it give up
  (``NOT_DONE``, the sentinel of ``node.wire_fast_decoder``), and the caller runs the
  Python paths, which make the value or raise the WireError.
- It never raises and never answers a partial result. Giving up may have interned a
  Symbol or cached a class's layout; the Python paths repeat the first, and both are
  idempotent.
- Without the extension, or with ``VM_WIRE_C=0`` in the environment (``AVAILABLE``
  false), every message gives up.
- Between messages it keeps, per universe and without keeping the universe alive, the
  kernel classes it makes objects of and each class's field positions, with the field
  lists of its superclass chain they were computed from: a redefinition replaces a
  class's list, the C path sees the stale entry and asks again. Classes are found in
  the globals only when already loaded; loading one is the Python paths' to do.

It must not run the VM's code, load classes or ask the node layer anything: it reads no
tag that would. A leaf module like the other wire modules: it imports the fast
reader's sentinel and the VM's value, object and limits modules. VM thread only (the
thread that owns the objects it makes).
"""
from __future__ import annotations

import weakref
from typing import Any

from smalltalk_vm.node.wire_fast_decoder import NOT_DONE
from smalltalk_vm.node.wire_tags import C_ACCELERATORS_WANTED, NodeRefs
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.limits import MAX_INTEGER_BITS
from smalltalk_vm.vm.objects import Instance, LargeInt, VArray, VClass, VString

__all__ = ["AVAILABLE", "NOT_DONE", "decode"]

try:
    from smalltalk_vm.node import _wire_c_decoder as _c
except ImportError:
    _c = None
else:
    try:
        _c.setup((Instance, VArray, VString, LargeInt, VClass),
                 (V.ZERO, V.SMALL_MIN, V.SMALL_MAX, V.NIL, V.TRUE, V.FALSE, V.SYM_BASE, V.SYM_LIMIT,
                  MAX_INTEGER_BITS))
    except Exception:           # objects whose slots are not what the reader was built for
        _c = None
if not C_ACCELERATORS_WANTED:
    _c = None

AVAILABLE: bool = _c is not None


class _Context:
    """What one universe's messages keep needing, kept between messages: the state
    tuple the C reader takes — (NOT_DONE, String, Array, Integer, the layout cache,
    the layout callback) — renewed when the universe's lookup epoch changes (every
    definition, every image), and the layout cache, emptied when a kernel class it
    depends on is another one. Holds no reference to the universe. VM thread only;
    never blocks; raises nothing of its own (``layout`` raises what a broken class
    makes Python raise, which the C reader turns into giving up)."""
    __slots__ = ("__weakref__", "epoch", "kernel", "layouts", "state")

    def __init__(self) -> None:
        self.epoch: Any = None
        self.kernel: tuple = ()
        self.layouts: dict[Any, tuple] = {}
        self.state: tuple = ()

    def refresh(self, vm: Any) -> None:
        kernel = (vm.String, vm.Array, vm.Integer, vm.System,
                  vm.own_classes.get("RemoteProxy"), vm.globals.get("RemoteProxy"))
        if len(kernel) != len(self.kernel) or any(a is not b for a, b in zip(kernel, self.kernel)):
            self.layouts = {}
        self.kernel = kernel
        self.epoch = vm.lookup_epoch
        self.state = (NOT_DONE, vm.String, vm.Array, vm.Integer, self.layouts, self.layout)

    def layout(self, vm: Any, cls: VClass) -> tuple:
        """The entry the C reader keeps for ``cls`` (and caches it): (the field lists of
        its class chain, its layout, {field name: first position}, number of fields,
        whether its instances are plain objects, whether ``Decoder.new_object`` makes
        them from fields)."""
        chain = []
        c = cls
        while c is not None:
            chain.append(c.instance_fields)
            c = c.superclass
        positions: dict[str, int] = {}
        names = vm.all_field_names(cls)
        for at, name in enumerate(names):
            positions.setdefault(name, at)
        plain = cls.layout == "object"
        from_fields = plain and cls is not vm.System and cls is not vm.kernel_class("RemoteProxy")
        entry = (tuple(chain), cls.layout, positions, len(names), plain, from_fields)
        self.layouts[cls] = entry
        return entry


_CONTEXTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# The last universe read for (a weak reference) and its context: one check instead of
# the weak dictionary's look-up, for the usual single universe.
_last: tuple[Any, _Context | None] = (lambda: None, None)


def _context(vm: Any) -> _Context:
    global _last
    ref, context = _last
    if ref() is not vm or context is None:
        context = _CONTEXTS.get(vm)
        if context is None:
            context = _CONTEXTS[vm] = _Context()
        _last = (weakref.ref(vm), context)
    if context.epoch is not vm.lookup_epoch:
        context.refresh(vm)
    return context


def decode(vm: Any, data: bytes, max_depth: int, node_refs: NodeRefs | None) -> Any:
    """The VM value of a whole message, or NOT_DONE (the C path does not read it the
    Decoder's way, or is not built). ``node_refs`` is not needed: the C path gives up
    on every tag that would use it. VM thread only; never blocks; raises nothing (but
    KeyboardInterrupt and the like, from a callback)."""
    if _c is None:
        return NOT_DONE
    try:
        context = _context(vm)
        return _c.decode(context.state, vm, data, max_depth, vm.globals, vm.symbol_ids)
    except Exception:
        return NOT_DONE
