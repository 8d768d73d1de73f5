"""AST -> bytecode (``vm.bytecodes``) for methods, blocks and do-its.

Literal-block control structures compile to jumps (``compiler.inlining``); the
arithmetic and comparison selectors compile to fast-path sends. Expressions are compiled either for their value
or for effect only, so statements leave nothing to pop.

This module builds code objects; it does not parse and does not install anything.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smalltalk_vm.compiler import ast as A
from smalltalk_vm.compiler.capture import captured_loop_blocks
from smalltalk_vm.compiler.inlining import INLINED_SELECTORS, Inlining
from smalltalk_vm.compiler.scope import Scope
from smalltalk_vm.vm import bytecodes as B
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.errors import SignalException, SmalltalkSyntaxError
from smalltalk_vm.vm.objects import KIND_PRIMITIVE, CompiledBlock, CompiledMethod, SendSite, VClass

PSEUDO_VARIABLES = ("self", "super", "nil", "true", "false", "thisContext")


class _Unit:
    """The code being built for one activation (method or block)."""

    def __init__(self, scope: Scope, first_line: int) -> None:
        self.scope = scope
        self.code: list[int] = []
        self.literals: list[Any] = []
        self.literal_keys: dict[tuple, int] = {}
        self.sites: list[SendSite] = []
        self.line_starts: list[int] = []
        self.line_numbers: list[int] = []
        self.first_line = first_line
        self.line = first_line

    def emit(self, op: int, *operands: int) -> int:
        pc = len(self.code)
        if not self.line_numbers or self.line_numbers[-1] != self.line:
            if self.line_starts and self.line_starts[-1] == pc:
                self.line_numbers[-1] = self.line
            else:
                self.line_starts.append(pc)
                self.line_numbers.append(self.line)
        self.code.append(op)
        self.code.extend(operands)
        return pc

    def emit_jump(self, op: int) -> int:
        """Emit a forward jump; answer the operand index to patch."""
        self.emit(op, 0)
        return len(self.code) - 1

    def patch(self, operand_index: int) -> None:
        self.code[operand_index] = len(self.code)

    def here(self) -> int:
        return len(self.code)

    def literal(self, key: tuple | None, value: Any) -> int:
        if key is not None:
            index = self.literal_keys.get(key)
            if index is not None:
                return index
        index = len(self.literals)
        self.literals.append(value)
        if key is not None:
            self.literal_keys[key] = index
        return index

    def site(self, selector: str, argc: int) -> int:
        self.sites.append(SendSite(selector, argc))
        return len(self.sites) - 1


class CodeGenerator(Inlining):
    """Compiles the methods of one class (or a do-it) against its field names; the
    literal-block control structures are compiled inline by ``Inlining``."""

    def __init__(self, universe: Any, field_names: list[str], filename: str,
                 resolve_unknown: Callable[[str], bool] | None = None,
                 workspace: bool = False) -> None:
        self.vm = universe
        self.field_names = field_names
        self.filename = filename
        # Decides whether an undeclared name is a global (True) or an error (False).
        self.resolve_unknown = resolve_unknown
        # In a REPL do-it, assigning an undeclared name makes it a workspace variable
        # (kept as a global, so it lives on between inputs and in saved images).
        self.workspace = workspace
        self.unit: _Unit | None = None
        self.captured_blocks: set[int] = set()

    # ------------------------------------------------------------------ entry points

    def compile_method(self, mdef: A.MethodDef) -> CompiledMethod:
        try:
            return self._compile_method(mdef)
        except RecursionError:
            raise self._error("expression nested too deeply", mdef.line, 1) from None

    def compile_doit(self, doit: A.DoIt, selector: str = "doIt") -> CompiledMethod:
        try:
            return self._compile_doit(doit, selector)
        except RecursionError:
            raise self._error("expression nested too deeply", 1, 1) from None

    def _compile_method(self, mdef: A.MethodDef) -> CompiledMethod:
        scope = Scope(None, is_block=False)
        for name in mdef.params:
            self._declare(scope, name, mdef.line)      # SOM lets methods assign their arguments
        scope.num_args = len(mdef.params)
        unit = _Unit(scope, mdef.line)
        self.unit = unit
        if mdef.body is not None:
            self.captured_blocks = captured_loop_blocks(mdef.params, mdef.body)
            self._declare_temps(scope, mdef.body.temps, mdef.line)
            self._method_statements(mdef.body.statements)
        method = CompiledMethod(self.vm.Method, mdef.selector, scope.num_args, scope.num_temps,
                                unit.code if mdef.body is not None else [], unit.literals, unit.sites)
        self._finish(method, unit)
        method.source = mdef.source
        method.source_file = self.filename
        if mdef.primitive:
            method.kind = KIND_PRIMITIVE
        for literal in unit.literals:
            if isinstance(literal, CompiledBlock):
                self._adopt_blocks(literal, method)
        return method

    def _compile_doit(self, doit: A.DoIt, selector: str) -> CompiledMethod:
        """A do-it is a method of no arguments whose last statement's value is returned."""
        scope = Scope(None, is_block=False)
        unit = _Unit(scope, 1)
        self.unit = unit
        self.captured_blocks = captured_loop_blocks([], doit.body)
        self._declare_temps(scope, doit.body.temps, 1)
        self._value_body(doit.body.statements)
        method = CompiledMethod(self.vm.Method, selector, 0, scope.num_temps, unit.code,
                                unit.literals, unit.sites)
        self._finish(method, unit)
        method.source_file = self.filename
        for literal in unit.literals:
            if isinstance(literal, CompiledBlock):
                self._adopt_blocks(literal, method)
        return method

    def _finish(self, code_unit: Any, unit: _Unit) -> None:
        code_unit.line_starts = unit.line_starts
        code_unit.line_numbers = unit.line_numbers
        code_unit.first_line = unit.first_line
        code_unit.temp_names = list(unit.scope.slot_names)

    def _adopt_blocks(self, block: CompiledBlock, method: CompiledMethod) -> None:
        block.method = method
        for literal in block.literals:
            if isinstance(literal, CompiledBlock):
                self._adopt_blocks(literal, method)

    # ------------------------------------------------------------------ errors

    def _error(self, message: str, line: int, column: int = 1) -> SmalltalkSyntaxError:
        return SmalltalkSyntaxError(message, self.filename, max(line, 1), max(column, 1))

    def _declare(self, scope: Scope, name: str, line: int, read_only: bool = False) -> int:
        if name in PSEUDO_VARIABLES:
            raise self._error(f"'{name}' cannot be used as a variable name", line, 1)
        if scope.declared_in_innermost_frame(name):
            raise self._error(f"'{name}' is declared twice", line, 1)
        return scope.declare(name, read_only)

    def _declare_temps(self, scope: Scope, temps: list[str], line: int) -> list[int]:
        return [self._declare(scope, name, line) for name in temps]

    # ------------------------------------------------------------------ statements

    def _value_body(self, statements: list) -> None:
        """A block's or a do-it's statements: the last one's value is returned (nil
        when there are none)."""
        unit = self.unit
        if not statements:
            unit.emit(B.PUSH_NIL)
            unit.emit(B.RETURN)
            return
        for stmt in statements[:-1]:
            self._statement(stmt)
        last = statements[-1]
        if isinstance(last, A.Return):
            self._return(last)
        else:
            self._expr(last, True)
            unit.emit(B.RETURN)

    def _method_statements(self, statements: list) -> None:
        unit = self.unit
        returned = False
        for stmt in statements:
            self._statement(stmt)
            returned = isinstance(stmt, A.Return)
        if not returned:
            unit.emit(B.RETURN_SELF)

    def _statement(self, stmt: Any) -> None:
        if isinstance(stmt, A.Return):
            self._return(stmt)
        else:
            self._expr(stmt, False)

    def _return(self, stmt: A.Return) -> None:
        unit = self.unit
        unit.line = stmt.line or unit.line
        if isinstance(stmt.value, A.Variable) and stmt.value.name == "self" and not unit.scope.is_block:
            unit.emit(B.RETURN_SELF)
            return
        self._expr(stmt.value, True)
        if unit.scope.is_block:
            unit.emit(B.RETURN_NONLOCAL)
            unit.emit(B.RETURN)       # reached only after escapedBlock: answers
        else:
            unit.emit(B.RETURN)

    # ------------------------------------------------------------------ expressions

    def _expr(self, node: Any, for_value: bool) -> None:
        unit = self.unit
        line = getattr(node, "line", 0)
        if line:
            unit.line = line
        kind = type(node)
        if kind is A.Send:
            self._send(node, for_value)
            return
        if kind is A.Assign:
            self._assign(node, for_value)
            return
        if kind is A.Cascade:
            self._cascade(node)
        elif kind is A.Variable:
            self._variable(node)
        elif kind is A.Literal:
            self._literal(node)
        elif kind is A.Block:
            self._block(node)
        elif kind is A.BraceArray:
            for item in node.items:
                self._expr(item, True)
            unit.emit(B.MAKE_ARRAY, len(node.items))
        elif kind is A.EventualSend:
            self._expr(node.receiver, True)
            for arg in node.args:
                self._expr(arg, True)
            unit.line = node.line or unit.line
            unit.emit(B.EVENTUAL_SEND, unit.site(node.selector, len(node.args)))
        else:
            raise self._error(f"cannot compile {kind.__name__}", line, 1)
        if not for_value:
            unit.emit(B.POP)

    def _literal(self, node: A.Literal) -> None:
        unit = self.unit
        if node.kind == "nil":
            unit.emit(B.PUSH_NIL)
        elif node.kind == "true":
            unit.emit(B.PUSH_TRUE)
        elif node.kind == "false":
            unit.emit(B.PUSH_FALSE)
        else:
            # an int is its own key (its repr would be limited to 4,300 digits); a
            # float's repr tells 0.0 from -0.0
            key = None if node.kind == "array" else \
                (node.kind, node.value if node.kind == "int" else repr(node.value))
            unit.emit(B.PUSH_LITERAL, unit.literal(key, self._literal_value(node)))

    def _literal_value(self, node: A.Literal) -> Any:
        vm = self.vm
        kind = node.kind
        if kind == "int":
            try:
                return vm.make_int(node.value)
            except SignalException as error:       # past the VM's Integer size (vm.limits)
                raise self._error(error.message_text, node.line) from None
        if kind == "float":
            return float(node.value)
        if kind == "string":
            return vm.new_string(node.value)
        if kind == "symbol":
            return vm.symbol(node.value)
        if kind == "char":
            return vm.char(node.value)
        if kind == "array":
            return vm.new_array([self._literal_value(item) for item in node.value])
        return {"nil": V.NIL, "true": V.TRUE, "false": V.FALSE}[kind]

    def _variable(self, node: A.Variable) -> None:
        unit = self.unit
        name = node.name
        if name in ("self", "super"):
            unit.emit(B.PUSH_SELF)
        elif name == "nil":
            unit.emit(B.PUSH_NIL)
        elif name == "true":
            unit.emit(B.PUSH_TRUE)
        elif name == "false":
            unit.emit(B.PUSH_FALSE)
        elif name == "thisContext":
            unit.emit(B.PUSH_CONTEXT)
        else:
            found = unit.scope.resolve(name)
            if found is not None:
                depth, slot = found
                if depth == 0:
                    unit.emit(B.PUSH_LOCAL, slot)
                else:
                    unit.emit(B.PUSH_OUTER, depth, slot)
            elif name in self.field_names:
                unit.emit(B.PUSH_FIELD, self.field_names.index(name))
            else:
                if self.resolve_unknown is not None and not self.resolve_unknown(name):
                    raise self._error(f"undeclared variable '{name}'", node.line, node.column)
                unit.emit(B.PUSH_GLOBAL, unit.literal(("global", name), name))

    def _assign(self, node: A.Assign, for_value: bool) -> None:
        unit = self.unit
        name = node.name
        if name in PSEUDO_VARIABLES:
            raise self._error(f"cannot assign to '{name}'", node.line, node.column)
        self._expr(node.value, True)
        unit.line = node.line or unit.line
        found = unit.scope.resolve(name)
        if found is not None:
            depth, slot = found
            if slot in unit.scope.scope_at(depth).read_only:
                raise self._error(f"cannot assign to the loop variable '{name}'", node.line, node.column)
            if depth == 0:
                unit.emit(B.STORE_LOCAL if for_value else B.POP_LOCAL, slot)
            else:
                unit.emit(B.STORE_OUTER if for_value else B.POP_OUTER, depth, slot)
        elif name in self.field_names:
            unit.emit(B.STORE_FIELD if for_value else B.POP_FIELD, self.field_names.index(name))
        elif self.workspace:
            if isinstance(self.vm.globals.get(name), VClass):
                raise self._error(f"cannot assign to the class {name}", node.line, node.column)
            unit.emit(B.STORE_GLOBAL, unit.literal(("global", name), name))
            if not for_value:
                unit.emit(B.POP)
        else:
            raise self._error(f"cannot assign to undeclared variable '{name}'", node.line, node.column)

    def _cascade(self, node: A.Cascade) -> None:
        unit = self.unit
        to_super = isinstance(node.receiver, A.Variable) and node.receiver.name == "super"
        self._expr(node.receiver, True)
        last = len(node.parts) - 1
        for i, chain in enumerate(node.parts):
            if i < last:
                unit.emit(B.DUP)
            for j, message in enumerate(chain):
                for arg in message.args:
                    self._expr(arg, True)
                unit.line = message.line or unit.line
                op = B.SUPER_SEND if (to_super and j == 0) else B.SEND
                unit.emit(op, unit.site(message.selector, len(message.args)))
            if i < last:
                unit.emit(B.POP)

    def _send(self, node: A.Send, for_value: bool) -> None:
        if self._try_inline(node, for_value):
            return
        # A chain of sends (`a foo bar`, `1 + 2 + 3 ...`) is compiled innermost first
        # by walking down the receivers, so a long chain needs no deep recursion.
        chain = [node]
        receiver = node.receiver
        while type(receiver) is A.Send and receiver.selector not in INLINED_SELECTORS:
            chain.append(receiver)
            receiver = receiver.receiver
        unit = self.unit
        self._expr(receiver, True)
        for send in reversed(chain):
            is_super = send.receiver is receiver and isinstance(receiver, A.Variable) \
                and receiver.name == "super"
            for arg in send.args:
                self._expr(arg, True)
            unit.line = send.line or unit.line
            site = unit.site(send.selector, len(send.args))
            if is_super:
                unit.emit(B.SUPER_SEND, site)
            else:
                unit.emit(B.SPECIAL_SENDS.get(send.selector, B.SEND), site)
        if not for_value:
            unit.emit(B.POP)

    def _block(self, node: A.Block, read_only_params: bool = False) -> None:
        outer_unit = self.unit
        scope = Scope(outer_unit.scope, is_block=True)
        for name in node.params:
            self._declare(scope, name, node.line, read_only_params)
        scope.num_args = len(node.params)
        unit = _Unit(scope, node.line or outer_unit.line)
        self.unit = unit
        try:
            self._declare_temps(scope, node.body.temps, node.line)
            self._value_body(node.body.statements)
        finally:
            self.unit = outer_unit
        block = CompiledBlock(scope.num_args, scope.num_temps, unit.code, unit.literals, unit.sites)
        self._finish(block, unit)
        outer_unit.emit(B.PUSH_BLOCK, outer_unit.literal(None, block))
