"""Inlining of the literal-block control structures: ``ifTrue:`` and friends,
``and:``/``or:``, ``ifNil:`` and friends, ``whileTrue:``/``whileFalse:``,
``to:do:``/``to:by:do:``/``downTo:do:``/``downTo:by:do:`` and ``timesRepeat:`` compile to
jumps when their arguments (and, for loops, receivers) are literal blocks of the right
arity. An inlined block's parameters and temporaries become extra slots of the
enclosing activation, in a frame of their own.

A mixin of ``compiler.codegen.CodeGenerator``: it emits through the generator's unit
and compiles sub-expressions with its ``_expr``/``_statement``/``_return``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smalltalk_vm.compiler import ast as A
from smalltalk_vm.vm import bytecodes as B
from smalltalk_vm.vm import value as V


class Inlining:
    unit: Any
    vm: Any

    def _try_inline(self, node: A.Send, for_value: bool) -> bool:
        selector = node.selector
        args = node.args
        handler = _INLINERS.get(selector)
        if handler is None:
            return False
        return handler(self, node, args, for_value)

    @staticmethod
    def _is_block(node: Any, params: int = 0) -> bool:
        return isinstance(node, A.Block) and len(node.params) == params

    def _inline_body(self, block: A.Block, for_value: bool) -> None:
        """Compile a literal block's body in place. Its parameters must already be
        declared in a frame the caller opened."""
        unit = self.unit
        scope = unit.scope
        temps = self._declare_temps(scope, block.body.temps, block.line)
        for slot in temps:            # every evaluation starts with nil temporaries
            unit.emit(B.PUSH_NIL)
            unit.emit(B.POP_LOCAL, slot)
        statements = block.body.statements
        if not statements:
            if for_value:
                unit.emit(B.PUSH_NIL)
            return
        for stmt in statements[:-1]:
            self._statement(stmt)
        last = statements[-1]
        if isinstance(last, A.Return):
            self._return(last)
            if for_value:             # unreachable, but keeps the stack shape uniform
                unit.emit(B.PUSH_NIL)
        else:
            self._expr(last, for_value)

    def _inline_block(self, block: A.Block, for_value: bool, value_slot_from_stack: bool = False) -> None:
        """An inlined block in its own frame; with ``value_slot_from_stack`` its one
        parameter is popped from the stack (``ifNotNil: [:x | …]``)."""
        unit = self.unit
        scope = unit.scope
        scope.open_frame()
        try:
            if block.params:
                slot = self._declare(scope, block.params[0], block.line)
                unit.emit(B.POP_LOCAL, slot)
            elif value_slot_from_stack:
                unit.emit(B.POP)
            self._inline_body(block, for_value)
        finally:
            scope.close_frame()

    def _inline_if(self, node: A.Send, args: list, for_value: bool) -> bool:
        selector = node.selector
        if not all(self._is_block(a) for a in args):
            return False
        unit = self.unit
        self._expr(node.receiver, True)
        unit.line = node.line or unit.line
        if len(args) == 1:
            jump_op = B.JUMP_IF_FALSE if selector == "ifTrue:" else B.JUMP_IF_TRUE
            skip = unit.emit_jump(jump_op)
            self._inline_block(args[0], for_value)
            if for_value:
                end = unit.emit_jump(B.JUMP)
                unit.patch(skip)
                unit.emit(B.PUSH_NIL)
                unit.patch(end)
            else:
                unit.patch(skip)
            return True
        first, second = args
        jump_op = B.JUMP_IF_FALSE if selector == "ifTrue:ifFalse:" else B.JUMP_IF_TRUE
        to_second = unit.emit_jump(jump_op)
        self._inline_block(first, for_value)
        end = unit.emit_jump(B.JUMP)
        unit.patch(to_second)
        self._inline_block(second, for_value)
        unit.patch(end)
        return True

    def _inline_and_or(self, node: A.Send, args: list, for_value: bool) -> bool:
        if not self._is_block(args[0]):
            return False
        unit = self.unit
        is_and = node.selector == "and:"
        self._expr(node.receiver, True)
        unit.line = node.line or unit.line
        short = unit.emit_jump(B.JUMP_IF_FALSE if is_and else B.JUMP_IF_TRUE)
        self._inline_block(args[0], True)
        end = unit.emit_jump(B.JUMP)
        unit.patch(short)
        unit.emit(B.PUSH_FALSE if is_and else B.PUSH_TRUE)
        unit.patch(end)
        if not for_value:
            unit.emit(B.POP)
        return True

    def _inline_nil_tests(self, node: A.Send, args: list, for_value: bool) -> bool:
        selector = node.selector
        nil_first = selector in ("ifNil:", "ifNil:ifNotNil:")
        blocks = {}
        if selector == "ifNil:":
            blocks["nil"] = args[0]
        elif selector == "ifNotNil:":
            blocks["notNil"] = args[0]
        elif selector == "ifNil:ifNotNil:":
            blocks["nil"], blocks["notNil"] = args
        else:
            blocks["notNil"], blocks["nil"] = args
        if "nil" in blocks and not self._is_block(blocks["nil"]):
            return False
        if "notNil" in blocks and not (self._is_block(blocks["notNil"], 0) or self._is_block(blocks["notNil"], 1)):
            return False
        unit = self.unit
        self._expr(node.receiver, True)
        unit.line = node.line or unit.line
        unit.emit(B.DUP)
        if len(blocks) == 1 and nil_first:
            # x ifNil: [..] — answers x when it is not nil
            done = unit.emit_jump(B.JUMP_IF_NOT_NIL)
            unit.emit(B.POP)
            self._inline_block(blocks["nil"], True)
            unit.patch(done)
        elif len(blocks) == 1:
            # x ifNotNil: [:v | ..] — answers nil when x is nil
            done = unit.emit_jump(B.JUMP_IF_NIL)
            self._inline_block(blocks["notNil"], True, value_slot_from_stack=True)
            unit.patch(done)
        else:
            to_not_nil = unit.emit_jump(B.JUMP_IF_NOT_NIL)
            unit.emit(B.POP)
            self._inline_block(blocks["nil"], True)
            end = unit.emit_jump(B.JUMP)
            unit.patch(to_not_nil)
            self._inline_block(blocks["notNil"], True, value_slot_from_stack=True)
            unit.patch(end)
        if not for_value:
            unit.emit(B.POP)
        return True

    def _inline_while(self, node: A.Send, args: list, for_value: bool) -> bool:
        if not self._is_block(node.receiver) or (args and not self._is_block(args[0])):
            return False
        unit = self.unit
        loop_while_true = node.selector.startswith("whileTrue")
        unit.line = node.line or unit.line
        top = unit.here()
        self._inline_block(node.receiver, True)
        unit.line = node.line or unit.line
        leave = unit.emit_jump(B.JUMP_IF_FALSE if loop_while_true else B.JUMP_IF_TRUE)
        if args:
            self._inline_block(args[0], False)
        unit.emit(B.JUMP_BACK, top)
        unit.patch(leave)
        if for_value:
            unit.emit(B.PUSH_NIL)
        return True

    def _inline_to_do(self, node: A.Send, args: list, for_value: bool) -> bool:
        """``to:do:``, ``downTo:do:``, ``to:by:do:``, ``downTo:by:do:`` with a literal
        one-argument block. A step that is not a literal is evaluated once; its sign
        picks one of two copies of the loop."""
        selector = node.selector
        body = args[-1]
        if not self._is_block(body, 1):
            return False
        step: Any = 1
        if selector == "downTo:do:":
            step = -1
        elif selector in ("to:by:do:", "downTo:by:do:"):
            by = args[1]
            if isinstance(by, A.Literal) and by.kind == "int" and by.value != 0:
                step = by.value if selector == "to:by:do:" else -by.value
            else:
                step = by                   # an expression: its sign is known at run time
        unit = self.unit
        scope = unit.scope
        self._expr(node.receiver, True)          # stays on the stack: the loop's value
        unit.emit(B.DUP)
        scope.open_frame()
        try:
            counter = self._declare(scope, body.params[0], body.line, read_only=True)
            limit = scope.hidden("limit")
            unit.emit(B.POP_LOCAL, counter)
            self._expr(args[0], True)
            unit.line = node.line or unit.line
            unit.emit(B.POP_LOCAL, limit)
            if isinstance(step, int):
                self._counting_loop(node, body, counter, limit, step)
            else:
                by_slot = scope.hidden("step")
                self._expr(step, True)
                unit.line = node.line or unit.line
                if selector == "downTo:by:do:":
                    unit.emit(B.SEND, unit.site("negated", 0))
                unit.emit(B.POP_LOCAL, by_slot)
                unit.emit(B.PUSH_LOCAL, by_slot)
                unit.emit(B.PUSH_LITERAL, unit.literal(("int", "0"), V.ZERO))
                unit.emit(B.SEND_GT, unit.site(">", 1))
                to_descending = unit.emit_jump(B.JUMP_IF_FALSE)
                self._counting_loop(node, body, counter, limit, 1, by_slot)
                end = unit.emit_jump(B.JUMP)
                unit.patch(to_descending)
                self._counting_loop(node, body, counter, limit, -1, by_slot)
                unit.patch(end)
        finally:
            scope.close_frame()
        if not for_value:
            unit.emit(B.POP)
        return True

    def _counting_loop(self, node: A.Send, body: A.Block, counter: int, limit: int,
                       step: int, step_slot: int | None = None) -> None:
        """``counter`` runs to ``limit`` by ``step`` (a literal, or the value in
        ``step_slot`` whose sign is that of ``step``), running the body each time."""
        unit = self.unit
        top = unit.here()
        unit.emit(B.PUSH_LOCAL, counter)
        unit.emit(B.PUSH_LOCAL, limit)
        compare = "<=" if step > 0 else ">="
        unit.emit(B.SPECIAL_SENDS[compare], unit.site(compare, 1))
        leave = unit.emit_jump(B.JUMP_IF_FALSE)
        unit.scope.open_frame()             # the body may be compiled twice: own temps each time
        try:
            self._inline_body(body, False)
        finally:
            unit.scope.close_frame()
        unit.line = node.line or unit.line
        unit.emit(B.PUSH_LOCAL, counter)
        if step_slot is not None:
            unit.emit(B.PUSH_LOCAL, step_slot)
            op = "+"
        else:
            unit.emit(B.PUSH_LITERAL, unit.literal(("int", repr(abs(step))), self.vm.make_int(abs(step))))
            op = "+" if step > 0 else "-"
        unit.emit(B.SPECIAL_SENDS[op], unit.site(op, 1))
        unit.emit(B.POP_LOCAL, counter)
        unit.emit(B.JUMP_BACK, top)
        unit.patch(leave)

    def _inline_times_repeat(self, node: A.Send, args: list, for_value: bool) -> bool:
        if not self._is_block(args[0]):
            return False
        unit = self.unit
        scope = unit.scope
        self._expr(node.receiver, True)
        unit.line = node.line or unit.line
        unit.emit(B.DUP)
        counter = scope.hidden("count")
        unit.emit(B.POP_LOCAL, counter)
        top = unit.here()
        unit.emit(B.PUSH_LOCAL, counter)
        unit.emit(B.PUSH_LITERAL, unit.literal(("int", "0"), V.ZERO))
        unit.emit(B.SEND_GT, unit.site(">", 1))
        leave = unit.emit_jump(B.JUMP_IF_FALSE)
        self._inline_block(args[0], False)
        unit.line = node.line or unit.line
        unit.emit(B.PUSH_LOCAL, counter)
        unit.emit(B.PUSH_LITERAL, unit.literal(("int", "1"), V.ONE))
        unit.emit(B.SEND_SUB, unit.site("-", 1))
        unit.emit(B.POP_LOCAL, counter)
        unit.emit(B.JUMP_BACK, top)
        unit.patch(leave)
        if not for_value:
            unit.emit(B.POP)
        return True


_INLINERS: dict[str, Callable[[Inlining, A.Send, list, bool], bool]] = {
    "ifTrue:": Inlining._inline_if,
    "ifFalse:": Inlining._inline_if,
    "ifTrue:ifFalse:": Inlining._inline_if,
    "ifFalse:ifTrue:": Inlining._inline_if,
    "and:": Inlining._inline_and_or,
    "or:": Inlining._inline_and_or,
    "ifNil:": Inlining._inline_nil_tests,
    "ifNotNil:": Inlining._inline_nil_tests,
    "ifNil:ifNotNil:": Inlining._inline_nil_tests,
    "ifNotNil:ifNil:": Inlining._inline_nil_tests,
    "whileTrue:": Inlining._inline_while,
    "whileFalse:": Inlining._inline_while,
    "whileTrue": Inlining._inline_while,
    "whileFalse": Inlining._inline_while,
    "to:do:": Inlining._inline_to_do,
    "to:by:do:": Inlining._inline_to_do,
    "downTo:do:": Inlining._inline_to_do,
    "downTo:by:do:": Inlining._inline_to_do,
    "timesRepeat:": Inlining._inline_times_repeat,
}

INLINED_SELECTORS = frozenset(_INLINERS)
