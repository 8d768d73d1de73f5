"""The first phase of a cluster-wide load: would this definition load here? It is
compiled exactly as loading would compile it — parsed, its superclass found, every
method compiled against the fields it will have, every subclass method checked
against its shape after the change — and nothing is installed.

Rules:
- Only a class definition or a method definition (``Name >> sel = ( ... )``) is a
  load; statements are refused.
- The answer is None (it would load) or the reason it would not, as loading would
  give it (``file:line:column: message`` for a syntax error).
- Nothing is changed, except what finding a superclass does anyway: one missing here
  is loaded from the classpath, as loading would.

Never runs code; called on the VM thread.
"""
from __future__ import annotations

from typing import Any

from smalltalk_vm.compiler import ast as A
from smalltalk_vm.compiler.codegen import CodeGenerator
from smalltalk_vm.compiler.front import compile_check_subclasses, compile_input
from smalltalk_vm.compiler.parser import parse_input
from smalltalk_vm.vm.errors import LoadError, SmalltalkSyntaxError
from smalltalk_vm.vm.objects import KIND_BYTECODE, KIND_PRIMITIVE, VClass
from smalltalk_vm.vm.primitives.registry import lookup_primitive
from smalltalk_vm.vm.universe import PROTECTED


def definition_problem(universe: Any, text: str, filename: str) -> str | None:
    """Why ``text`` would not load into ``universe``, or None if it would."""
    try:
        node = parse_input(text, filename)
        if isinstance(node, A.ClassDef):
            _check_class(universe, node, filename)
        elif isinstance(node, A.MethodDoIt):
            _check_method(universe, node, filename)
        else:
            return f"{filename}: not a class or method definition (statements are not loaded)"
    except SmalltalkSyntaxError as error:
        return error.located()
    except LoadError as error:
        return f"{filename}: {error}"
    return None


def definition_name(text: str, filename: str) -> str | None:
    """The class a definition defines or changes (None if it does not parse)."""
    try:
        node = parse_input(text, filename)
    except SmalltalkSyntaxError:
        return None
    if isinstance(node, A.ClassDef):
        return node.name
    if isinstance(node, A.MethodDoIt):
        return node.class_name
    return None


def _check_class(universe: Any, cdef: A.ClassDef, filename: str) -> None:
    def fail(message: str) -> None:
        raise SmalltalkSyntaxError(message, filename, cdef.line, 1)

    if universe.sealed and cdef.name in PROTECTED:
        fail(f"{cdef.name} is a kernel class the VM relies on: it cannot be redefined")
    existing = universe.globals.get(cdef.name)
    try:
        superclass = universe.resolve_superclass(cdef.superclass)
    except LoadError as error:
        fail(str(error))
    if isinstance(existing, VClass):
        ancestor = superclass
        while ancestor is not None:
            if ancestor is existing:
                fail(f"{cdef.name} cannot inherit from itself (through {superclass.name})")
            ancestor = ancestor.superclass
    layout = superclass.layout if superclass is not None else "object"
    if cdef.instance_fields and layout != "object":
        fail(f"{cdef.name}: instances of a subclass of {superclass.name} cannot have instance variables")
    inherited = universe.all_field_names(superclass) if superclass is not None else []
    meta_inherited = universe.all_field_names(superclass.cls if superclass is not None else universe.Class)
    _compile_all(universe, cdef.name, inherited + cdef.instance_fields, cdef.instance_methods, filename)
    _compile_all(universe, cdef.name + " class", meta_inherited + cdef.class_fields, cdef.class_methods,
                 filename)
    if isinstance(existing, VClass):
        compile_check_subclasses(universe, cdef, existing, superclass, filename)


def _check_method(universe: Any, node: A.MethodDoIt, filename: str) -> None:
    target = universe.globals.get(node.class_name)
    if not isinstance(target, VClass):
        target = universe.load_class(node.class_name)
    if not isinstance(target, VClass):
        raise SmalltalkSyntaxError(f"no class named {node.class_name}", filename, node.line, 1)
    side = target.cls if node.class_side else target
    _compile_all(universe, side.name, universe.all_field_names(side), [node.method], filename)


def _compile_all(universe: Any, holder_name: str, field_names: list[str], methods: list[A.MethodDef],
                 filename: str) -> None:
    generator = CodeGenerator(universe, field_names, filename)
    for mdef in methods:
        method = generator.compile_method(mdef)
        if method.kind != KIND_BYTECODE and lookup_primitive(holder_name, method.selector) is None \
                and not (method.kind == KIND_PRIMITIVE and method.code):
            raise SmalltalkSyntaxError(f"no primitive {holder_name}>>{method.selector}", filename, mdef.line, 1)


def install_definition(universe: Any, text: str, filename: str) -> VClass:
    """Load a class or method definition (checked first with ``definition_problem``);
    answers the class it defined or changed (the class, for a class-side method)."""
    compiled = compile_input(universe, text, filename)
    if compiled.kind == "statements":
        raise LoadError("not a class or method definition")
    cls = compiled.cls
    if cls.is_meta:
        cls = universe.globals[cls.name[:-len(" class")]]
    return cls
