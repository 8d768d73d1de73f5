"""The compiler's entry points for the rest of the system: turn a source file's bytes
into text, load a class file's text into a universe, and compile the three do-it forms
(statements, a class definition, a method definition; docs/language.md).

Source text is UTF-8 (a leading byte-order mark is allowed); anything else is refused
here as ``file:line:column: not UTF-8 text``, before parsing. Parsing is
``compiler.parser``; code generation is ``compiler.codegen``; this module only connects
them to the universe's class-definition API. It never executes code.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smalltalk_vm.compiler import ast as A
from smalltalk_vm.compiler.codegen import CodeGenerator
from smalltalk_vm.compiler.parser import parse_class, parse_input, parse_method_doit
from smalltalk_vm.compiler.redefinition import check_subclasses, migrate, remember_shapes
from smalltalk_vm.vm.errors import LoadError, SmalltalkSyntaxError
from smalltalk_vm.vm.objects import CompiledMethod, VClass
from smalltalk_vm.vm.quicken import quicken


def define_class(universe: Any, cdef: A.ClassDef, filename: str, source: str = "") -> VClass:
    """Create or redefine the class ``cdef`` describes and install its methods."""
    existing = universe.globals.get(cdef.name)
    before = remember_shapes(universe, existing if isinstance(existing, VClass) else None)
    previous = universe.code_versions.version_before_load(existing)
    try:
        superclass = universe.resolve_superclass(cdef.superclass)
        if isinstance(existing, VClass):
            compile_check_subclasses(universe, cdef, existing, superclass, filename)
        cls = universe.define_class(cdef.name, superclass, cdef.instance_fields, cdef.class_fields)
    except LoadError as error:
        raise SmalltalkSyntaxError(str(error), filename, cdef.line, 1) from None
    cls.source = source
    cls.source_file = filename
    _install(universe, cls, cdef.instance_methods, filename)
    _install(universe, cls.cls, cdef.class_methods, filename)
    migrated = migrate(universe, cls, before, lambda side, method: _recompile(universe, side, method))
    universe.code_versions.loaded(cls, previous, migrated)
    return cls


def compile_check_subclasses(universe: Any, cdef: A.ClassDef, existing: VClass, superclass: VClass | None,
                      filename: str) -> None:
    def compiles(side: VClass, names: list[str], method: CompiledMethod) -> None:
        # A lost variable must not quietly become a global read (an undeclared name
        # is one in SOM): reading it is as much a use as assigning it.
        lost = set(universe.all_field_names(side)) - set(names)
        try:
            CodeGenerator(universe, names, method.source_file, resolve_unknown=lambda name: name not in lost) \
                .compile_method(_method_source(side, method))
        except SmalltalkSyntaxError as error:
            raise SmalltalkSyntaxError(
                f"redefining {cdef.name} would break {side.name}>>{method.selector} ({error.located()})",
                filename, cdef.line, 1) from None
    check_subclasses(universe, existing, superclass, cdef.instance_fields, cdef.class_fields, compiles)


def _method_source(side: VClass, method: CompiledMethod) -> A.MethodDef:
    """``method`` parsed again from its source. Leading newlines keep its line numbers
    those of its file."""
    text = "\n" * max(method.first_line - 1, 0) + f"{side.name} >> " + method.source
    return parse_method_doit(text, method.source_file).method


def _recompile(universe: Any, side: VClass, method: CompiledMethod) -> None:
    """Compile ``method`` again from its source, for the current field positions of
    ``side``."""
    compile_method_in(universe, side, _method_source(side, method), method.source_file)


def _install(universe: Any, cls: VClass, methods: list[A.MethodDef], filename: str) -> None:
    generator = CodeGenerator(universe, universe.all_field_names(cls), filename)
    for mdef in methods:
        method = generator.compile_method(mdef)
        try:
            universe.install_method(cls, method)
        except LoadError as error:
            raise SmalltalkSyntaxError(str(error), filename, mdef.line, 1) from None


BYTE_ORDER_MARK = "\ufeff"
_SURROGATE = re.compile("[\ud800-\udfff]")


def decode_source(data: bytes, filename: str) -> str:
    """The text of a source file's bytes: UTF-8, without a leading byte-order mark.
    Anything else is a SmalltalkSyntaxError at the first byte that is not UTF-8."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        before = data[:error.start]
        line_start = before.rfind(b"\n") + 1
        column = len(before[line_start:].decode("utf-8", "replace")) + 1
        raise SmalltalkSyntaxError("not UTF-8 text", filename, before.count(b"\n") + 1, column) from None
    return text[1:] if text.startswith(BYTE_ORDER_MARK) else text


def check_text(text: str, filename: str) -> str:
    """Text that came from outside as a Python str (a command-line argument, a line of
    standard input decoded with ``surrogateescape``): refused like a file when it
    holds a surrogate, which stands for bytes that were not UTF-8."""
    bad = _SURROGATE.search(text)
    if bad is not None:
        start = bad.start()
        line_start = text.rfind("\n", 0, start) + 1
        raise SmalltalkSyntaxError("not UTF-8 text", filename, text.count("\n", 0, start) + 1,
                                   start - line_start + 1)
    return text[1:] if text.startswith(BYTE_ORDER_MARK) else text


def load_class_source(universe: Any, source: str | bytes, filename: str) -> VClass:
    """The ``class_loader`` a universe is given: compile a class file (its bytes, or
    its text) into it."""
    text = decode_source(source, filename) if isinstance(source, bytes) else source
    return define_class(universe, parse_class(text, filename), filename, text)


def compile_method_in(universe: Any, cls: VClass, mdef: A.MethodDef, filename: str) -> CompiledMethod:
    generator = CodeGenerator(universe, universe.all_field_names(cls), filename)
    method = generator.compile_method(mdef)
    try:
        universe.install_method(cls, method)
    except LoadError as error:
        raise SmalltalkSyntaxError(str(error), filename, mdef.line, 1) from None
    return method


def _doit_method(universe: Any, node: A.DoIt, text: str, filename: str,
                 resolve_unknown: Callable[[str], bool] | None, workspace: bool) -> CompiledMethod:
    generator = CodeGenerator(universe, [], filename, resolve_unknown, workspace)
    method = generator.compile_doit(node)
    method.holder = universe.Nil
    method.source = text
    quicken(method)
    return method


@dataclass
class Compiled:
    """What a do-it compiled to: ``kind`` is 'statements' (``method`` to run), 'class'
    (``cls`` defined) or 'method' (``method`` installed in ``cls``)."""
    kind: str
    method: CompiledMethod | None = None
    cls: VClass | None = None


def compile_input(universe: Any, text: str, filename: str = "<doit>",
                  resolve_unknown: Callable[[str], bool] | None = None,
                  workspace: bool = False) -> Compiled:
    node = parse_input(text, filename)
    if isinstance(node, A.ClassDef):
        return Compiled("class", cls=define_class(universe, node, filename, text))
    if isinstance(node, A.MethodDoIt):
        target = universe.globals.get(node.class_name)
        if not isinstance(target, VClass):
            target = universe.load_class(node.class_name)
        if not isinstance(target, VClass):
            raise SmalltalkSyntaxError(f"no class named {node.class_name}", filename, node.line, 1)
        cls = target.cls if node.class_side else target
        previous = universe.code_versions.version_before_load(target)
        method = compile_method_in(universe, cls, node.method, filename)
        universe.code_versions.loaded(target, previous)
        return Compiled("method", method=method, cls=cls)
    return Compiled("statements", method=_doit_method(universe, node, text, filename,
                                                     resolve_unknown, workspace))
