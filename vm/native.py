"""The second execution tier: hot methods and blocks translated into Python functions.

A native function runs on the same Context objects as the interpreter — it is another
way of executing a method's canonical bytecode, not another semantics:

    native(interpreter, ctx, budget) -> (next context or None, budget)

It starts at ``ctx.pc``, which must be one of its entry points (0, every jump target,
the instruction after every real send), keeps operand-stack values in Python locals
within a straight-line region, and goes back to the trampoline (``Interpreter.run``)
for every real send, every return, and whenever something is not its fast case: it
then stores its operand values on the context's stack, sets ``ctx.pc`` to the
instruction that is not done yet and answers ``ctx`` — the interpreter runs that
instruction with the full semantics of ``vm.semantics`` and the Python stack never
grows with Smalltalk calls. ``entries`` tells the trampoline where native code may
resume. Images never see native code; it is made again when a method gets hot.

This module generates code; it is only ever run by the interpreter.
"""
from __future__ import annotations

import os
from typing import Any

from smalltalk_vm.vm import bytecodes as B
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.objects import (
    KIND_ARRAY_AT,
    KIND_ARRAY_AT_PUT,
    KIND_BLOCK_VALUE,
    KIND_BYTECODE,
    KIND_CONSTANT,
    KIND_GETTER,
    KIND_IDENTICAL,
    KIND_NATIVE,
    KIND_PRIMITIVE,
    KIND_SETTER,
    Closure,
    CompiledBlock,
    VArray,
)
from smalltalk_vm.vm.primitives.object import identical
from smalltalk_vm.vm.semantics import nils

HOT = 500               # sends into a method (or back jumps in it) before it is compiled
MAX_CODE = 1500         # longer code stays interpreted (the generated source grows with it)
NEVER = 1 << 62         # the heat of a unit the second tier has given up on


def native_threshold() -> int:
    """How hot a method must get; VM_NATIVE_HOT overrides it (1 compiles everything on
    first use, which the test suite uses to run every program through both tiers;
    0 turns the second tier off)."""
    value = os.environ.get("VM_NATIVE_HOT")
    if value is None:
        return HOT
    hot = int(value)
    return NEVER if hot <= 0 else hot


def make_native(vm: Any, unit: Any) -> bool:
    """Compile ``unit``; False (and never again) if the second tier cannot take it."""
    try:
        unit.native, unit.native_entries = NativeCompiler(vm).compile(unit)
    except NativeUnsupported:
        unit.heat = NEVER
        return False
    except Exception:
        unit.heat = NEVER
        if os.environ.get("VM_NATIVE_STRICT"):
            raise
        return False
    if not isinstance(unit, CompiledBlock) and unit.kind == KIND_BYTECODE:
        unit.kind = KIND_NATIVE          # sends to it enter through the trampoline
    return True

_ARITH = {B.SEND_ADD: "+", B.SEND_SUB: "-", B.SEND_MUL: "*"}
_COMPARE = {B.SEND_LT: "<", B.SEND_GT: ">", B.SEND_LE: "<=", B.SEND_GE: ">=",
            B.SEND_EQ: "==", B.SEND_NE: "!="}
# Instructions left to the interpreter (rare, or needing the whole context machinery).
_DEOPT = {B.PUSH_CONTEXT, B.RETURN_NONLOCAL, B.SUPER_SEND, B.EVENTUAL_SEND}
_EXITS = {B.SEND}       # after these, execution resumes at a new entry point


class NativeUnsupported(Exception):
    """The unit is left to the interpreter."""


def entry_points(code: list[int]) -> list[int]:
    entries = {0}
    for pc, op, args in B.instructions(code):
        if op.code in B.JUMPS:
            entries.add(args[0])
        if op.code in _EXITS:
            entries.add(pc + 2)
    return sorted(p for p in entries if p < len(code))


class _Region:
    """Code generation for one straight-line region: a simulated operand stack of
    Python expressions (temporaries, constants) over the context's real stack."""

    def __init__(self, out: list[str], indent: str, counter: list[int]) -> None:
        self.out = out
        self.indent = indent
        self.sim: list[str] = []          # expressions; a value in a local or a constant
        self.counter = counter

    def line(self, text: str) -> None:
        self.out.append(self.indent + text)

    def temp(self, expression: str) -> str:
        self.counter[0] += 1
        name = f"t{self.counter[0]}"
        self.line(f"{name} = {expression}")
        return name

    def push(self, expression: str) -> None:
        self.sim.append(expression)

    def push_temp(self, expression: str) -> None:
        self.sim.append(self.temp(expression))

    def pop(self) -> str:
        if self.sim:
            return self.sim.pop()
        return self.temp("stack.pop()")

    def materialize(self, values: list[str] | None = None) -> None:
        """Put the simulated stack (then ``values``) on the real stack."""
        items = self.sim + (values or [])
        self.sim = []
        if len(items) == 1:
            self.line(f"stack.append({items[0]})")
        elif items:
            self.line(f"stack.extend(({', '.join(items)},))")

    def deopt(self, pc: int, values: list[str] | None = None) -> None:
        """Leave to the interpreter at ``pc`` with ``values`` above the simulated stack."""
        saved = list(self.sim)
        self.materialize(values)
        self.sim = saved
        self.line(f"ctx.pc = {pc}")
        self.line("return ctx, budget")


class NativeCompiler:
    def __init__(self, vm: Any) -> None:
        self.vm = vm

    def compile(self, unit: Any) -> tuple[Any, frozenset]:
        code = unit.code
        if len(code) > MAX_CODE:
            raise NativeUnsupported("too long")
        entries = entry_points(code)
        out: list[str] = ["def native(interp, ctx, budget):",
                          "    stack = ctx.stack",
                          "    rcv = ctx.receiver",
                          "    pc = ctx.pc",
                          "    while True:"]
        counter = [0]
        instructions = {pc: (op.code, args) for pc, op, args in B.instructions(code)}
        entry_set = set(entries)
        for start in entries:
            out.append(f"        if pc == {start}:")
            region = _Region(out, " " * 12, counter)
            self.region(unit, region, instructions, start, entry_set)
        out.append("        raise NativeEntryError(pc)")
        namespace = self.namespace(unit)
        source = "\n".join(out)
        exec(compile(source, f"<native {_describe(unit)}>", "exec"), namespace)
        function = namespace["native"]
        function.source = source
        return function, frozenset(entries)

    # ------------------------------------------------------------------ names

    def namespace(self, unit: Any) -> dict:
        vm = self.vm
        return {
            "K": tuple(unit.literals), "S": tuple(unit.sites), "G": vm.globals,
            "ABSENT": _ABSENT, "NIL": V.NIL, "TRUE": V.TRUE, "FALSE": V.FALSE,
            "ZERO": V.ZERO, "ONE": V.ONE, "INT_LO": V.INT_LO, "INT_HI": V.INT_HI,
            "NILS": nils, "MC": vm.method_context_class, "BC": vm.block_context_class,
            "new_method": vm.method_context_class.__new__, "new_block": vm.block_context_class.__new__,
            "Closure": Closure, "VArray": VArray, "ArrayClass": vm.Array,
            "BlockClasses": vm.block_classes, "BlockClass": vm.Block,
            "IntegerClass": vm.Integer, "DoubleClass": vm.Double, "class_of": vm.class_of,
            "NilClass": vm.Nil, "identical": identical, "KIND_IDENTICAL": KIND_IDENTICAL,
            "lookup": vm.lookup, "VM": vm, "KIND_PRIMITIVE": KIND_PRIMITIVE,
            "KIND_BYTECODE": KIND_BYTECODE, "KIND_NATIVE": KIND_NATIVE,
            "KIND_GETTER": KIND_GETTER,
            "KIND_SETTER": KIND_SETTER, "KIND_CONSTANT": KIND_CONSTANT,
            "KIND_BLOCK_VALUE": KIND_BLOCK_VALUE, "KIND_ARRAY_AT": KIND_ARRAY_AT,
            "KIND_ARRAY_AT_PUT": KIND_ARRAY_AT_PUT, "finish": _finish,
            "NativeEntryError": NativeEntryError,
        }

    def literal(self, unit: Any, index: int) -> str:
        value = unit.literals[index]
        if type(value) is int:
            return hex(value)
        if type(value) is float and value == value and value not in (float("inf"), float("-inf")):
            return repr(value)
        return f"K[{index}]"

    # ------------------------------------------------------------------ regions

    def region(self, unit: Any, r: _Region, instructions: dict, start: int, entry_set: set) -> None:
        pc = start
        while True:
            if pc not in instructions:
                raise NativeUnsupported(f"falls off the end at {pc}")
            op, args = instructions[pc]
            width = 1 + len(args)
            following = pc + width
            if op in _DEOPT or op in B.QUICKENED:
                r.deopt(pc)
                return
            if op == B.PUSH_LOCAL:
                r.push_temp(f"stack[{args[0]}]")
            elif op == B.PUSH_FIELD:
                r.push_temp(f"rcv.fields[{args[0]}]")
            elif op == B.PUSH_SELF:
                r.push("rcv")
            elif op == B.PUSH_LITERAL:
                r.push(self.literal(unit, args[0]))
            elif op == B.PUSH_NIL:
                r.push("NIL")
            elif op == B.PUSH_TRUE:
                r.push("TRUE")
            elif op == B.PUSH_FALSE:
                r.push("FALSE")
            elif op == B.PUSH_OUTER:
                r.push_temp(f"{_outer(args[0])}.stack[{args[1]}]")
            elif op == B.POP:
                if r.sim:
                    r.sim.pop()
                else:
                    r.line("del stack[-1]")
            elif op == B.DUP:
                top = r.pop()
                r.push(top)
                r.push(top)
            elif op in (B.STORE_LOCAL, B.POP_LOCAL):
                value = r.pop()
                r.line(f"stack[{args[0]}] = {value}")
                if op == B.STORE_LOCAL:
                    r.push(value)
            elif op in (B.STORE_FIELD, B.POP_FIELD):
                value = r.pop()
                r.line(f"rcv.fields[{args[0]}] = {value}")
                if op == B.STORE_FIELD:
                    r.push(value)
            elif op in (B.STORE_OUTER, B.POP_OUTER):
                value = r.pop()
                r.line(f"{_outer(args[0])}.stack[{args[1]}] = {value}")
                if op == B.STORE_OUTER:
                    r.push(value)
            elif op == B.STORE_GLOBAL:
                value = r.pop()
                r.line(f"G[K[{args[0]}]] = {value}")
                r.push(value)
            elif op == B.PUSH_GLOBAL:
                name = r.temp(f"G.get(K[{args[0]}], ABSENT)")
                r.line(f"if {name} is ABSENT:")
                self.nested_deopt(r, pc)
                r.push(name)
            elif op == B.PUSH_BLOCK:
                block = unit.literals[args[0]]
                argc = block.num_args
                cls = f"BlockClasses[{argc}]" if argc < 4 else "BlockClass"
                r.push_temp(f"Closure({cls}, K[{args[0]}], ctx, rcv)")
            elif op == B.MAKE_ARRAY:
                count = args[0]
                items = [r.pop() for _ in range(count)][::-1]
                r.push_temp(f"VArray(ArrayClass, [{', '.join(items)}])")
            elif op in _ARITH:
                self.arithmetic(unit, r, pc, op)
            elif op in _COMPARE:
                if self.comparison(r, pc, op, instructions.get(following)):
                    following += 2                  # the conditional jump is done too
            elif op in (B.JUMP_IF_FALSE, B.JUMP_IF_TRUE, B.JUMP_IF_NIL, B.JUMP_IF_NOT_NIL):
                self.conditional_jump(r, pc, op, args[0])
            elif op == B.JUMP:
                r.materialize()
                r.line(f"pc = {args[0]}")
                r.line("continue")
                return
            elif op == B.JUMP_BACK:
                r.materialize()
                r.line("budget -= 1")
                r.line("if budget < 0:")
                r.line(f"    ctx.pc = {args[0]}")
                r.line("    return ctx, budget")
                r.line(f"pc = {args[0]}")
                r.line("continue")
                return
            elif op == B.RETURN or op == B.RETURN_SELF:
                value = "rcv" if op == B.RETURN_SELF else r.pop()
                r.line("ctx.pc = -1")
                r.line("sender = ctx.sender")
                r.line("if sender is None:")
                r.line(f"    return finish(interp, {value}), budget")
                r.line(f"sender.stack.append({value})")
                r.line("return sender, budget")
                return
            elif op == B.SEND:
                self.send(unit, r, pc, args[0], following)
                return
            else:
                r.deopt(pc)
                return
            pc = following
            if pc in entry_set:
                r.materialize()
                r.line(f"pc = {pc}")
                return

    @staticmethod
    def nested_deopt(r: _Region, pc: int, values: list[str] | None = None, levels: int = 1) -> None:
        """A deopt ``levels`` deeper than the current line (inside an `if`)."""
        saved_indent = r.indent
        r.indent += "    " * levels
        r.deopt(pc, values)
        r.indent = saved_indent

    # ------------------------------------------------------------------ arithmetic

    @staticmethod
    def _operands(a: str, b: str) -> tuple[str, str, str]:
        """The SmallInteger test of two operands, and expressions of them as Doubles
        (None when not a number the fast path knows). A literal operand needs no test."""
        b_small = b.startswith("0x") and V.INT_LO <= int(b, 16) < V.INT_HI
        test = f"type({a}) is int and {a} < INT_HI" + ("" if b_small else f" and type({b}) is int and {b} < INT_HI")
        fa = f"({a} if type({a}) is float else (float({a} - ZERO) if type({a}) is int and {a} < INT_HI else None))"
        if b_small:
            fb = repr(float(int(b, 16) - V.ZERO))
        else:
            fb = f"({b} if type({b}) is float else (float({b} - ZERO) if type({b}) is int and {b} < INT_HI else None))"
        return test, fa, fb

    def arithmetic(self, unit: Any, r: _Region, pc: int, op: int) -> None:
        b = r.pop()
        a = r.pop()
        test, fa, fb = self._operands(a, b)
        if op == B.SEND_ADD:
            result = f"{a} + {b} - ZERO"
        elif op == B.SEND_SUB:
            result = f"{a} - {b} + ZERO"
        else:
            result = f"({a} - ZERO) * ({b} - ZERO) + ZERO"
        name = r.temp("None")
        r.line(f"if {test}:")
        r.line(f"    {name} = {result}")
        r.line(f"    if not INT_LO <= {name} < INT_HI:")
        self.nested_deopt(r, pc, [a, b], levels=2)
        self.as_doubles(r, pc, a, b, fa, fb)
        r.line(f"    {name} = x {_ARITH[op]} y")
        r.push(name)

    def as_doubles(self, r: _Region, pc: int, a: str, b: str, fa: str, fb: str) -> None:
        """The else branch of a fast path: both operands as Doubles in x and y, or a
        hand-back to the interpreter when either is not a number."""
        r.line("else:")
        r.line(f"    x = {fa}")
        r.line(f"    y = {fb}")
        r.line("    if x is None or y is None:")
        self.nested_deopt(r, pc, [a, b], levels=2)

    def comparison(self, r: _Region, pc: int, op: int, jump: tuple | None) -> bool:
        """Inline a comparison; when ``jump`` (the next instruction) is a conditional
        jump, branch on the Python truth value at once and answer True."""
        b = r.pop()
        a = r.pop()
        test, fa, fb = self._operands(a, b)
        sign = _COMPARE[op]
        flag = r.temp("None")
        r.line(f"if {test}:")
        r.line(f"    {flag} = {a} {sign} {b}")
        self.as_doubles(r, pc, a, b, fa, fb)
        r.line(f"    {flag} = x {sign} y")
        if jump is not None and jump[0] in (B.JUMP_IF_FALSE, B.JUMP_IF_TRUE):
            r.materialize()
            r.line(f"if {'not ' if jump[0] == B.JUMP_IF_FALSE else ''}{flag}:")
            r.line(f"    pc = {jump[1][0]}")
            r.line("    continue")
            return True
        r.push(f"(TRUE if {flag} else FALSE)")
        return False

    def conditional_jump(self, r: _Region, pc: int, op: int, target: int) -> None:
        condition = r.pop()
        r.materialize()
        if op in (B.JUMP_IF_NIL, B.JUMP_IF_NOT_NIL):
            test = "==" if op == B.JUMP_IF_NIL else "!="
            r.line(f"if {condition} {test} NIL:")
            r.line(f"    pc = {target}")
            r.line("    continue")
            return
        taken, other = ("FALSE", "TRUE") if op == B.JUMP_IF_FALSE else ("TRUE", "FALSE")
        r.line(f"if {condition} == {taken}:")
        r.line(f"    pc = {target}")
        r.line("    continue")
        r.line(f"if {condition} != {other}:")
        self.nested_deopt(r, pc, [condition])

    # ------------------------------------------------------------------ sends

    def send(self, unit: Any, r: _Region, pc: int, site_index: int, resume: int) -> None:
        site = unit.sites[site_index]
        argc = site.argc
        args = [r.pop() for _ in range(argc)][::-1]
        receiver = r.pop()
        r.materialize()
        arg_list = ", ".join(args)
        r.line("budget -= 1")
        r.line(f"site = S[{site_index}]")
        r.line(f"r = {receiver}")
        r.line("t = type(r)")
        r.line("if t is int:")
        r.line("    cls = IntegerClass if r < INT_HI else (NilClass if r == NIL else class_of(r))")
        r.line("elif t is float:")
        r.line("    cls = DoubleClass")
        r.line("else:")
        r.line("    cls = r.cls")
        r.line("if site.token is cls.token:")
        r.line("    m = site.target")
        r.line("else:")
        r.line("    m = lookup(cls, site.selector)")
        r.line("    if m is not None:")
        r.line("        site.token = cls.token")
        r.line("        site.target = m")
        r.line("if m is not None:")
        r.line("    kind = m.kind")
        r.line("    if kind == KIND_BYTECODE or kind == KIND_NATIVE:")
        r.line(f"        ctx.pc = {resume}")
        r.line("        callee = new_method(MC)")
        r.line("        callee.method = m")
        r.line(f"        callee.stack = [{arg_list}]" if argc else "        callee.stack = []")
        r.line("        if m.num_temps:")
        r.line("            callee.stack.extend(NILS(m.num_temps))")
        r.line("        callee.receiver = r")
        r.line("        callee.sender = ctx")
        r.line("        callee.pc = 0")
        r.line("        return callee, budget")
        if argc == 0:
            r.line("    if kind == KIND_GETTER:")
            r.line("        stack.append(r.fields[m.trivial])")
            r.line(f"        pc = {resume}")
            r.line("        continue")
        if argc == 1:
            r.line("    if kind == KIND_IDENTICAL:")
            r.line(f"        stack.append(TRUE if identical(r, {args[0]}) else FALSE)")
            r.line(f"        pc = {resume}")
            r.line("        continue")
            r.line("    if kind == KIND_SETTER:")
            r.line(f"        r.fields[m.trivial] = {args[0]}")
            r.line("        stack.append(r)")
            r.line(f"        pc = {resume}")
            r.line("        continue")
            r.line(f"    if kind == KIND_ARRAY_AT and t is VArray and type({args[0]}) is int "
                   f"and ONE <= {args[0]} < ONE + len(r.items):")
            r.line(f"        stack.append(r.items[{args[0]} - ONE])")
            r.line(f"        pc = {resume}")
            r.line("        continue")
        if argc == 2:
            r.line(f"    if kind == KIND_ARRAY_AT_PUT and t is VArray and type({args[0]}) is int "
                   f"and ONE <= {args[0]} < ONE + len(r.items):")
            r.line(f"        r.items[{args[0]} - ONE] = {args[1]}")
            r.line(f"        stack.append({args[1]})")
            r.line(f"        pc = {resume}")
            r.line("        continue")
        r.line("    if kind == KIND_PRIMITIVE:")
        r.line("        try:")
        r.line(f"            result = m.primitive(VM, r{', ' + arg_list if argc else ''})")
        r.line("        except Exception as error:")
        r.line("            stack.append(r)")
        if argc:
            r.line(f"            stack.extend(({arg_list},))")
        r.line(f"            ctx.pc = {resume}")
        r.line(f"            return interp.primitive_error(ctx, m, {argc}, error), budget")
        r.line("        stack.append(result)")
        r.line(f"        pc = {resume}")
        r.line("        continue")
        r.line("    if kind == KIND_CONSTANT:")
        r.line("        stack.append(r if m.trivial is None else m.trivial)")
        r.line(f"        pc = {resume}")
        r.line("        continue")
        r.line(f"    if kind == KIND_BLOCK_VALUE and t is Closure and r.code.num_args == {argc}:")
        r.line(f"        ctx.pc = {resume}")
        r.line("        block = r.code")
        r.line("        callee = new_block(BC)")
        r.line("        callee.method = block")
        r.line(f"        callee.stack = [{arg_list}]" if argc else "        callee.stack = []")
        r.line("        if block.num_temps:")
        r.line("            callee.stack.extend(NILS(block.num_temps))")
        r.line("        callee.receiver = r.receiver")
        r.line("        callee.sender = ctx")
        r.line("        outer = callee.outer = r.outer")
        r.line("        callee.closure = r")
        r.line("        callee.home = outer.home")
        r.line("        callee.pc = 0")
        r.line("        return callee, budget")
        # Everything else — primitives, control primitives, doesNotUnderstand: — by
        # the interpreter's semantics, with receiver and arguments on the real stack.
        r.line("stack.append(r)")
        if argc:
            r.line(f"stack.extend(({arg_list},))")
        r.line(f"ctx.pc = {resume}")
        r.line("if m is None:")
        r.line(f"    return interp.dnu(ctx, r, site.selector, {argc}), budget")
        r.line(f"following = interp.activate(ctx, m, {argc})")
        r.line(f"if following is not ctx or ctx.pc != {resume}:")
        r.line("    return following, budget")
        r.line(f"pc = {resume}")
        r.line("continue")


class NativeEntryError(Exception):
    """Native code entered at a pc that is not one of its entry points (a VM bug)."""


_ABSENT = object()


def _outer(depth: int) -> str:
    return "ctx" + ".outer" * depth


def _finish(interp: Any, value: Any) -> None:
    process = interp.process
    process.result = value
    process.ctx = None
    return


def _describe(unit: Any) -> str:
    method = unit.home_method if isinstance(unit, CompiledBlock) else unit
    holder = method.holder.name if method is not None and method.holder is not None else "?"
    prefix = "[] in " if isinstance(unit, CompiledBlock) else ""
    return f"{prefix}{holder}>>{method.selector if method is not None else '?'}"
