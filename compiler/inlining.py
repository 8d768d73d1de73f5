"""Inlining of the literal-block control structures: ``ifTrue:`` and friends,
``and:``/``or:``, ``ifNil:`` and friends, ``whileTrue:``/``whileFalse:``,
``to:do:``/``to:by:do:``/``downTo:do:``/``downTo:by:do:`` and ``timesRepeat:`` compile to
jumps when their arguments (and, for loops, receivers) are literal blocks of the right
arity (``inline_shape`` decides which). An inlined block's parameters and temporaries
become extra slots of the enclosing activation, in a frame of their own — except that a
loop block whose variables a closure captures (``compiler.capture``) is compiled as a
real block, made once before the loop and evaluated on each iteration, so each
iteration has fresh variables; the loop itself stays jumps.

A mixin of ``compiler.codegen.CodeGenerator``: it emits through the generator's unit
and compiles sub-expressions with its ``_expr``/``_statement``/``_return``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smalltalk_vm.compiler import ast as A
from smalltalk_vm.vm import bytecodes as B
from smalltalk_vm.vm import value as V

Shape = tuple[tuple[A.Block, ...], tuple[A.Block, ...]]


def _is_block(node: Any, params: int = 0) -> bool:
    return isinstance(node, A.Block) and len(node.params) == params


def _if_shape(node: A.Send) -> Shape | None:
    return (tuple(node.args), ()) if all(_is_block(a) for a in node.args) else None


def _and_or_shape(node: A.Send) -> Shape | None:
    return ((node.args[0],), ()) if _is_block(node.args[0]) else None


def _nil_tests_shape(node: A.Send) -> Shape | None:
    selector = node.selector
    if selector == "ifNil:":
        nil_block, not_nil_block = node.args[0], None
    elif selector == "ifNotNil:":
        nil_block, not_nil_block = None, node.args[0]
    elif selector == "ifNil:ifNotNil:":
        nil_block, not_nil_block = node.args
    else:
        not_nil_block, nil_block = node.args
    if nil_block is not None and not _is_block(nil_block):
        return None
    if not_nil_block is not None and not (_is_block(not_nil_block, 0) or _is_block(not_nil_block, 1)):
        return None
    return tuple(node.args), ()


def _while_shape(node: A.Send) -> Shape | None:
    if not _is_block(node.receiver) or (node.args and not _is_block(node.args[0])):
        return None
    return (), (node.receiver, *node.args)


def _to_do_shape(node: A.Send) -> Shape | None:
    return ((), (node.args[-1],)) if _is_block(node.args[-1], 1) else None


def _times_repeat_shape(node: A.Send) -> Shape | None:
    return ((), (node.args[0],)) if _is_block(node.args[0]) else None


def inline_shape(node: A.Send) -> Shape | None:
    """Whether ``node`` compiles to jumps: None if not, else the literal blocks that are
    inlined, as (blocks evaluated at most once, blocks evaluated once per iteration).
    The one place that decides it, for the code generator and ``compiler.capture``."""
    entry = _INLINERS.get(node.selector)
    return None if entry is None else entry[0](node)


class Inlining:
    unit: Any
    vm: Any
    # ids of the loop blocks to compile as real blocks (compiler.capture)
    captured_blocks: set[int]

    def _try_inline(self, node: A.Send, for_value: bool) -> bool:
        if inline_shape(node) is None:
            return False
        return _INLINERS[node.selector][1](self, node, node.args, for_value)

    def _is_captured(self, block: A.Block) -> bool:
        return id(block) in self.captured_blocks

    def _closure_in_slot(self, block: A.Block, loop_variable: bool = False) -> int:
        """Make a closure of ``block`` once, before its loop, in a hidden slot; each
        iteration evaluates it, which gives that iteration fresh variables."""
        unit = self.unit
        self._block(block, read_only_params=loop_variable)
        slot = unit.scope.hidden("loop block")
        unit.emit(B.POP_LOCAL, slot)
        return slot

    def _evaluate_closure(self, slot: int, argument_slot: int | None = None) -> None:
        unit = self.unit
        unit.emit(B.PUSH_LOCAL, slot)
        if argument_slot is None:
            unit.emit(B.SEND, unit.site("value", 0))
        else:
            unit.emit(B.PUSH_LOCAL, argument_slot)
            unit.emit(B.SEND, unit.site("value:", 1))

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
        unit = self.unit
        loop_while_true = node.selector.startswith("whileTrue")
        unit.line = node.line or unit.line
        condition = node.receiver
        body = args[0] if args else None
        condition_slot = self._closure_in_slot(condition) if self._is_captured(condition) else None
        body_slot = self._closure_in_slot(body) if body is not None and self._is_captured(body) else None
        unit.line = node.line or unit.line
        top = unit.here()
        if condition_slot is None:
            self._inline_block(condition, True)
        else:
            self._evaluate_closure(condition_slot)
        unit.line = node.line or unit.line
        leave = unit.emit_jump(B.JUMP_IF_FALSE if loop_while_true else B.JUMP_IF_TRUE)
        if body_slot is not None:
            self._evaluate_closure(body_slot)
            unit.emit(B.POP)
        elif body is not None:
            self._inline_block(body, False)
        unit.line = node.line or unit.line
        unit.emit(B.JUMP_BACK, top)
        unit.patch(leave)
        if for_value:
            unit.emit(B.PUSH_NIL)
        return True

    def _inline_to_do(self, node: A.Send, args: list, for_value: bool) -> bool:
        """``to:do:``, ``downTo:do:``, ``to:by:do:``, ``downTo:by:do:`` with a literal
        one-argument block. The limit and a step that is not a literal are evaluated
        once, before the loop variable exists (they cannot see it); the sign of such a
        step picks one of two copies of the loop, and a zero step is handed to the
        library's method, which refuses it."""
        selector = node.selector
        body = args[-1]
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
        unit.emit(B.DUP)                         # and the counter's first value
        limit = scope.hidden("limit")
        self._expr(args[0], True)
        unit.line = node.line or unit.line
        unit.emit(B.POP_LOCAL, limit)
        by_slot = None
        if not isinstance(step, int):
            by_slot = scope.hidden("step")
            self._expr(step, True)
            unit.line = node.line or unit.line
            if selector == "downTo:by:do:":
                unit.emit(B.SEND, unit.site("negated", 0))
            unit.emit(B.POP_LOCAL, by_slot)
        scope.open_frame()
        try:
            if self._is_captured(body):     # the body's parameter lives in its activation
                counter = scope.hidden("counter")
            else:
                counter = self._declare(scope, body.params[0], body.line, read_only=True)
            unit.emit(B.POP_LOCAL, counter)
            body_slot = self._closure_in_slot(body, loop_variable=True) if self._is_captured(body) else None
            if by_slot is None:
                self._counting_loop(node, body, counter, limit, step, body_slot=body_slot)
            else:
                self._loop_by_sign(node, body, counter, limit, by_slot, body_slot)
        finally:
            scope.close_frame()
        if not for_value:
            unit.emit(B.POP)
        return True

    def _loop_by_sign(self, node: A.Send, body: A.Block, counter: int, limit: int, by_slot: int,
                      body_slot: int | None) -> None:
        unit = self.unit
        zero = unit.literal(("int", 0), V.ZERO)
        unit.emit(B.PUSH_LOCAL, by_slot)
        unit.emit(B.PUSH_LITERAL, zero)
        unit.emit(B.SEND_EQ, unit.site("=", 1))
        nonzero = unit.emit_jump(B.JUMP_IF_FALSE)
        # the library's to:by:do: (or downTo:by:do:) signals the error a zero step
        # deserves; its block is never evaluated
        for slot in (counter, limit, by_slot):
            unit.emit(B.PUSH_LOCAL, slot)
        unit.emit(B.PUSH_NIL)
        unit.emit(B.SEND, unit.site(node.selector, 3))
        unit.emit(B.POP)
        end_zero = unit.emit_jump(B.JUMP)
        unit.patch(nonzero)
        unit.emit(B.PUSH_LOCAL, by_slot)
        unit.emit(B.PUSH_LITERAL, zero)
        unit.emit(B.SEND_GT, unit.site(">", 1))
        to_descending = unit.emit_jump(B.JUMP_IF_FALSE)
        self._counting_loop(node, body, counter, limit, 1, by_slot, body_slot)
        end = unit.emit_jump(B.JUMP)
        unit.patch(to_descending)
        self._counting_loop(node, body, counter, limit, -1, by_slot, body_slot)
        unit.patch(end)
        unit.patch(end_zero)

    def _counting_loop(self, node: A.Send, body: A.Block, counter: int, limit: int,
                       step: int, step_slot: int | None = None, body_slot: int | None = None) -> None:
        """``counter`` runs to ``limit`` by ``step`` (a literal, or the value in
        ``step_slot`` whose sign is that of ``step``), running the body each time:
        inlined, or as the closure in ``body_slot`` when the body is captured."""
        unit = self.unit
        top = unit.here()
        unit.emit(B.PUSH_LOCAL, counter)
        unit.emit(B.PUSH_LOCAL, limit)
        compare = "<=" if step > 0 else ">="
        unit.emit(B.SPECIAL_SENDS[compare], unit.site(compare, 1))
        leave = unit.emit_jump(B.JUMP_IF_FALSE)
        if body_slot is not None:
            self._evaluate_closure(body_slot, counter)
            unit.emit(B.POP)
        else:
            unit.scope.open_frame()         # the body may be compiled twice: own temps each time
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
            unit.emit(B.PUSH_LITERAL, unit.literal(("int", abs(step)), self.vm.make_int(abs(step))))
            op = "+" if step > 0 else "-"
        unit.emit(B.SPECIAL_SENDS[op], unit.site(op, 1))
        unit.emit(B.POP_LOCAL, counter)
        unit.emit(B.JUMP_BACK, top)
        unit.patch(leave)

    def _inline_times_repeat(self, node: A.Send, args: list, for_value: bool) -> bool:
        unit = self.unit
        scope = unit.scope
        self._expr(node.receiver, True)
        unit.line = node.line or unit.line
        unit.emit(B.DUP)
        counter = scope.hidden("count")
        unit.emit(B.POP_LOCAL, counter)
        body_slot = self._closure_in_slot(args[0]) if self._is_captured(args[0]) else None
        unit.line = node.line or unit.line
        top = unit.here()
        unit.emit(B.PUSH_LOCAL, counter)
        unit.emit(B.PUSH_LITERAL, unit.literal(("int", 0), V.ZERO))
        unit.emit(B.SEND_GT, unit.site(">", 1))
        leave = unit.emit_jump(B.JUMP_IF_FALSE)
        if body_slot is not None:
            self._evaluate_closure(body_slot)
            unit.emit(B.POP)
        else:
            self._inline_block(args[0], False)
        unit.line = node.line or unit.line
        unit.emit(B.PUSH_LOCAL, counter)
        unit.emit(B.PUSH_LITERAL, unit.literal(("int", 1), V.ONE))
        unit.emit(B.SEND_SUB, unit.site("-", 1))
        unit.emit(B.POP_LOCAL, counter)
        unit.emit(B.JUMP_BACK, top)
        unit.patch(leave)
        if not for_value:
            unit.emit(B.POP)
        return True


# selector -> (what it inlines, how to compile it)
_INLINERS: dict[str, tuple[Callable[[A.Send], Shape | None],
                           Callable[[Inlining, A.Send, list, bool], bool]]] = {
    **dict.fromkeys(("ifTrue:", "ifFalse:", "ifTrue:ifFalse:", "ifFalse:ifTrue:"),
                    (_if_shape, Inlining._inline_if)),
    **dict.fromkeys(("and:", "or:"), (_and_or_shape, Inlining._inline_and_or)),
    **dict.fromkeys(("ifNil:", "ifNotNil:", "ifNil:ifNotNil:", "ifNotNil:ifNil:"),
                    (_nil_tests_shape, Inlining._inline_nil_tests)),
    **dict.fromkeys(("whileTrue:", "whileFalse:", "whileTrue", "whileFalse"),
                    (_while_shape, Inlining._inline_while)),
    **dict.fromkeys(("to:do:", "to:by:do:", "downTo:do:", "downTo:by:do:"),
                    (_to_do_shape, Inlining._inline_to_do)),
    "timesRepeat:": (_times_repeat_shape, Inlining._inline_times_repeat),
}

INLINED_SELECTORS = frozenset(_INLINERS)
