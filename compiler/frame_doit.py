"""Compiling a do-it to run inside a suspended activation (the debugger's `:eval`,
`:return`, `:proceed`): the statements become a block of no arguments whose outer
scopes are the activation's, so its arguments, temporaries, the variables of the
blocks it is nested in, ``self`` and the receiver's fields are all in reach, for
reading and for assignment.

The activation is described by plain data — its slot names and those of each
activation it is nested in, innermost first (``vm.debugger.Debugger.scopes``) — so this
module knows nothing of contexts. It compiles; it never runs anything.

Where an activation has two slots of one name (two inlined blocks that each declare
``x``), the later slot is the one the name reaches. A ``^`` at the top level answers
the value of the do-it itself; a ``^`` inside a block of the do-it would leave the
activation's method from another process, and fails as an escaped block does.
"""
from __future__ import annotations

from typing import Any

from smalltalk_vm.compiler import ast as A
from smalltalk_vm.compiler.capture import captured_loop_blocks
from smalltalk_vm.compiler.codegen import CodeGenerator, _Unit
from smalltalk_vm.compiler.parser import parse_input
from smalltalk_vm.compiler.scope import Scope
from smalltalk_vm.vm.errors import SmalltalkSyntaxError
from smalltalk_vm.vm.objects import CompiledBlock, CompiledMethod, VClass
from smalltalk_vm.vm.quicken import quicken


def compile_in_frame(universe: Any, text: str, filename: str, field_names: list[str],
                     scopes: list[list[str]], holder: VClass | None) -> CompiledBlock:
    """The block that runs the statements ``text`` in the activation ``scopes``
    describes; ``holder`` is the class of that activation's method (for ``super``).
    A class or method definition, or a syntax error, raises SmalltalkSyntaxError."""
    node = parse_input(text, filename)
    if not isinstance(node, A.DoIt):
        raise SmalltalkSyntaxError("only statements can run in a frame (define classes and methods at the prompt)",
                                   filename, 1, 1)
    return _FrameCodeGenerator(universe, field_names, filename).compile_frame_doit(node, text, scopes, holder)


class _FrameCodeGenerator(CodeGenerator):
    """The code generator, with the activation's variables as the scopes around the do-it."""

    def __init__(self, universe: Any, field_names: list[str], filename: str) -> None:
        # Assigning an undeclared name makes a workspace variable, as at the prompt.
        super().__init__(universe, field_names, filename, workspace=True)

    def compile_frame_doit(self, doit: A.DoIt, text: str, scopes: list[list[str]],
                           holder: VClass | None) -> CompiledBlock:
        outer: Scope | None = None
        for names in reversed(scopes):
            outer = _activation_scope(outer, names)
        # Not a block scope: `^ x` at the top level answers x from the do-it.
        scope = Scope(outer, is_block=False)
        unit = _Unit(scope, 1)
        self.unit = unit
        self.captured_blocks = captured_loop_blocks([], doit.body)
        try:
            self._declare_temps(scope, doit.body.temps, 1)
            self._value_body(doit.body.statements)
        except RecursionError:
            raise self._error("expression nested too deeply", 1, 1) from None
        block = CompiledBlock(0, scope.num_temps, unit.code, unit.literals, unit.sites)
        self._finish(block, unit)
        home = CompiledMethod(self.vm.Method, "doIt", 0, 0, [], [], [])
        home.holder = holder
        home.source = text
        home.source_file = self.filename
        self._adopt_blocks(block, home)
        quicken(block)
        return block


def _activation_scope(outer: Scope | None, names: list[str]) -> Scope:
    """A scope whose slots are an activation's, in order; the compiler's own slots
    (``<...>``) keep their place but no name reaches them."""
    scope = Scope(outer, is_block=True)
    for name in names:
        if name.startswith("<"):
            scope.hidden(name[1:-1])
        else:
            scope.declare(name)
    return scope
