"""The primitive registry: Python functions declared next to the class they belong to
(one module per family in this package) and found by class name and selector when a
library method marked ``primitive`` is installed.

Two kinds:
- ``@primitive("Integer", "+")``: ``fn(vm, receiver, *args) -> value``. It may raise
  ``PrimitiveFailed`` or ``SignalException``.
- ``@control("Block1", "value")``: ``fn(interpreter, context, argc) -> context``. It
  works on the operand stack of ``context`` (receiver and arguments on top) and answers
  the context to continue in: how blocks, ``perform:``, unwinding and process switches
  are built without recursion in Python.

This module only records functions; it imports nothing from the VM.
"""
from __future__ import annotations

from collections.abc import Callable

_PRIMITIVES: dict[tuple[str, str], tuple[Callable, bool]] = {}

# Methods the unwinding and exception machinery recognises by their flags.
_FLAGS: dict[tuple[str, str], int] = {}


def primitive(class_name: str, selector: str) -> Callable[[Callable], Callable]:
    def register(fn: Callable) -> Callable:
        _register(class_name, selector, fn, False)
        return fn
    return register


def control(class_name: str, selector: str) -> Callable[[Callable], Callable]:
    def register(fn: Callable) -> Callable:
        _register(class_name, selector, fn, True)
        return fn
    return register


def _register(class_name: str, selector: str, fn: Callable, is_control: bool) -> None:
    key = (class_name, selector)
    if key in _PRIMITIVES:
        raise RuntimeError(f"primitive {class_name}>>{selector} registered twice")
    _PRIMITIVES[key] = (fn, is_control)


def lookup_primitive(class_name: str, selector: str) -> tuple[Callable, bool] | None:
    _load_families()
    return _PRIMITIVES.get((class_name, selector))


def all_primitives() -> dict[tuple[str, str], tuple[Callable, bool]]:
    """Every registered primitive (the primitive fuzz test calls each one)."""
    _load_families()
    return dict(_PRIMITIVES)


def mark_method(class_name: str, selector: str, flag: int) -> None:
    _FLAGS[(class_name, selector)] = flag


def method_flags(class_name: str, selector: str) -> int:
    _load_families()
    return _FLAGS.get((class_name, selector), 0)


_loaded = False


def _load_families() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        import smalltalk_vm.vm.primitives  # noqa: F401  (importing the package registers every family)
