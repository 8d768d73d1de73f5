"""Code generation for the second tier: one unit's canonical bytecode as the Python
source of one of its two native functions (``vm.native`` says what they are).

The rules:

- Code is generated region by region: a region starts at an entry point and runs
  straight until a jump, a return, a hand-back or the next entry point. Within a
  region, operand-stack values live in Python locals (``_Region.sim``); at its end
  they go where the next region expects them.
- The *resumable* function keeps arguments, temporaries and operands on the
  context's ``stack``, as the interpreter does; every send resumes at an entry point.
- The *direct* function keeps them in Python locals (``v<slot>`` and, between
  regions, ``s<depth>``) unless the unit makes closures, which need a context of
  their own from the start (then the context is made on entry, with no sender, and
  its ``stack`` is used). Sends do not end a region.
- Anything not done inline hands the activation back: the resumable function by
  answering its context (``ctx.pc`` at the instruction to interpret), the direct
  function by bailing out (``vm.native_runtime``).

This module writes source text; it runs nothing. Sends are written by
``vm.native_send``.
"""
from __future__ import annotations

from typing import Any

from smalltalk_vm.vm import bytecodes as B
from smalltalk_vm.vm import value as V

ARITH = {B.SEND_ADD: "+", B.SEND_SUB: "-", B.SEND_MUL: "*"}
COMPARE = {B.SEND_LT: "<", B.SEND_GT: ">", B.SEND_LE: "<=", B.SEND_GE: ">=",
           B.SEND_EQ: "==", B.SEND_NE: "!="}
# Instructions always left to the interpreter (rare, or needing the context machinery).
# Regions per group in a function's dispatch (UnitGenerator.regions)
REGION_GROUP = 8
HAND_BACK = {B.RETURN_NONLOCAL, B.EVENTUAL_SEND}
_PUSHES = {B.PUSH_LOCAL, B.PUSH_FIELD, B.PUSH_SELF, B.PUSH_LITERAL, B.PUSH_NIL, B.PUSH_TRUE,
           B.PUSH_FALSE, B.PUSH_GLOBAL, B.PUSH_BLOCK, B.PUSH_CONTEXT, B.PUSH_OUTER, B.DUP}
_POPS = {B.POP, B.POP_LOCAL, B.POP_FIELD, B.POP_OUTER}
_ENDS = {B.RETURN, B.RETURN_SELF, B.RETURN_NONLOCAL, B.JUMP, B.JUMP_BACK}


class NativeUnsupported(Exception):
    """The unit (or one of its two functions) is left to the interpreter."""


def resumable_entries(code: list[int]) -> list[int]:
    """Where the resumable function may be entered: 0, every jump target, the
    instruction after every send, and every ``thisContext`` (where the direct
    function, which has no context, hands the activation over)."""
    entries = {0}
    for pc, op, args in B.instructions(code):
        if op.code in B.JUMPS:
            entries.add(args[0])
        if op.code == B.SEND or op.code == B.SUPER_SEND:
            entries.add(pc + 2)
        if op.code == B.PUSH_CONTEXT:
            entries.add(pc)
    return sorted(p for p in entries if p < len(code))


def direct_entries(code: list[int]) -> list[int]:
    """Where a direct function's dispatch loop goes: 0 and every jump target."""
    entries = {0}
    for _, op, args in B.instructions(code):
        if op.code in B.JUMPS:
            entries.add(args[0])
    return sorted(p for p in entries if p < len(code))


def operand_depths(unit: Any) -> dict[int, int]:
    """The operand-stack depth before each reachable instruction (the compiler's
    structured code gives every instruction one depth)."""
    code = unit.code
    instructions = {pc: (op.code, args) for pc, op, args in B.instructions(code)}
    depths = {0: 0}
    pending = [0]
    while pending:
        pc = pending.pop()
        depth = depths[pc]
        op, args = instructions[pc]
        following = pc + 1 + len(args)
        if op in _PUSHES:
            after = depth + 1
        elif op in _POPS:
            after = depth - 1
        elif op in B.SENDS:
            after = depth - unit.sites[args[0]].argc
        elif op == B.MAKE_ARRAY:
            after = depth - args[0] + 1
        elif op in (B.JUMP_IF_FALSE, B.JUMP_IF_TRUE, B.JUMP_IF_NIL, B.JUMP_IF_NOT_NIL):
            after = depth - 1
        else:
            after = depth
        successors = []
        if op in B.JUMPS:
            successors.append(args[0])
        if op not in _ENDS:
            successors.append(following)
        for target in successors:
            if target >= len(code):
                raise NativeUnsupported(f"falls off the end at {target}")
            known = depths.get(target)
            if known is None:
                depths[target] = after
                pending.append(target)
            elif known != after:
                raise NativeUnsupported(f"two stack depths at {target}")
    return depths


def _small_literal(expression: str) -> int | None:
    """The value of a SmallInteger literal operand (written in hex), else None."""
    if expression.startswith("0x"):
        word = int(expression, 16)
        if V.INT_LO <= word < V.INT_HI:
            return word - V.ZERO
    return None


class Region:
    """One straight-line region: a simulated operand stack of Python expressions
    (temporaries, constants, locals) over wherever the operands really live."""

    def __init__(self, gen: UnitGenerator, indent: str, sim: list[str]) -> None:
        self.gen = gen
        self.out = gen.out
        self.indent = indent
        self.sim = sim

    def line(self, text: str) -> None:
        self.out.append(self.indent + text)

    def temp(self, expression: str) -> str:
        name = self.gen.new_name("t")
        self.line(f"{name} = {expression}")
        return name

    def push(self, expression: str) -> None:
        self.sim.append(expression)

    def push_temp(self, expression: str) -> None:
        self.sim.append(self.temp(expression))

    def pop(self) -> str:
        if self.sim:
            return self.sim.pop()
        if self.gen.lazy_operands:
            raise NativeUnsupported("operand below the region")
        return self.temp("stack.pop()")

    def nested(self, levels: int = 1) -> Region:
        """The same region, ``levels`` deeper (inside an ``if``), sharing nothing
        that a branch could change."""
        return Region(self.gen, self.indent + "    " * levels, list(self.sim))


class UnitGenerator:
    """Writes one function of one unit. ``direct`` chooses the function; ``lazy``
    (direct only) keeps the activation in Python locals."""

    def __init__(self, unit: Any, direct: bool, is_block: bool, sends: Any) -> None:
        self.unit = unit
        self.direct = direct
        self.is_block = is_block
        self.lazy = direct and not any(op.code == B.PUSH_BLOCK for _, op, _ in B.instructions(unit.code))
        self.slots = unit.num_args + unit.num_temps
        self.out: list[str] = []
        self.counter = 0
        self.sends = sends
        code = unit.code
        self.instructions = {pc: (op.code, args) for pc, op, args in B.instructions(code)}
        self.entries = direct_entries(code) if direct else resumable_entries(code)
        self.entry_set = set(self.entries)
        # operands in Python locals between regions: always in a direct function that
        # keeps its activation in locals, and in the resumable function whenever every
        # instruction has one stack depth (the entry loads them from the context)
        self.depths: dict[int, int] = {}
        self.lazy_operands = self.lazy or not direct
        if self.lazy_operands:
            try:
                self.depths = operand_depths(unit)
            except NativeUnsupported:
                if self.lazy:
                    raise
                self.lazy_operands = False

    def new_name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    # ------------------------------------------------------------------ the function

    def source(self) -> str:
        out = self.out
        if not self.direct:
            out += ["def native(interp, ctx, budget):",
                    "    stack = ctx.stack",
                    "    rcv = ctx.receiver",
                    "    pc = ctx.pc",
                    "    depth = 0"]
            if self.lazy_operands:
                self.load_operands("    ")
            out.append("    while True:")
            self.regions("        ")
            out.append("        raise NativeEntryError(pc)")
            return "\n".join(out)
        first = "closure" if self.is_block else "rcv"
        params = [f"v{i}" for i in range(self.unit.num_args)]
        out.append(f"def direct(interp, {first}, {', '.join([*params, 'depth'])}):")
        if self.is_block:
            out += ["    rcv = closure.receiver", "    outer = closure.outer"]
        if self.lazy:
            temps = [f"v{i}" for i in range(self.unit.num_args, self.slots)]
            if temps:
                out.append(f"    {' = '.join(temps)} = NIL")
        else:
            stack_items = params + ["NIL"] * self.unit.num_temps
            out.append(f"    stack = [{', '.join(stack_items)}]")
            if self.is_block:
                out.append("    ctx = block_context(VM, closure, stack, 0)")
            else:
                out.append("    ctx = method_context(VM, UNIT, rcv, stack, 0)")
        out += ["    budget = interp.budget - 1",
                "    interp.budget = budget",
                "    if budget < 0:"]
        self.bail_lines("        ", 0, [], "RESUME")
        out += ["    pc = 0",
                "    try:",
                "        while True:"]
        self.regions("            ")
        out += ["            raise NativeEntryError(pc)",
                "    except Exception as error:"]
        out.append(f"        return FAULT(interp, {self.context_expression(['pc'])}, error)")
        return "\n".join(out)

    def load_operands(self, indent: str) -> None:
        """The resumable function's entry: the operands above the temporaries (as
        many as the entry's stack depth) move from the context into s0, s1, ..."""
        deepest = max((self.depths.get(pc, 0) for pc in self.entries), default=0)
        if not deepest:
            return
        out = self.out
        out.append(f"{indent}operands = len(stack) - {self.slots}")
        out.append(f"{indent}if operands:")
        for n in range(1, deepest + 1):
            out.append(f"{indent}    {'if' if n == 1 else 'elif'} operands == {n}:")
            out.append(f"{indent}        {', '.join(f's{k}' for k in range(n))}, = stack[{self.slots}:]")
        out.append(f"{indent}    del stack[{self.slots}:]")

    def reload_operands(self, r: Region, depth: int) -> None:
        """After the interpreter made a send for the resumable function: the operands
        it left on the context back into s0, s1, ..."""
        if depth:
            r.line(f"{', '.join(f's{k}' for k in range(depth))}, = stack[{self.slots}:]")
            r.line(f"del stack[{self.slots}:]")

    def regions(self, indent: str) -> None:
        """Every region under ``if pc == start:``, in order (a region ending without a
        jump falls into the next one). Past REGION_GROUP regions they are grouped under
        ``if pc <= last of the group:``, so a jump — every jump restarts the loop —
        tests a few groups and then a few regions instead of every region before its
        target."""
        entries = self.entries
        if len(entries) <= REGION_GROUP:
            self.group(indent, entries)
            return
        for first in range(0, len(entries), REGION_GROUP):
            group = entries[first:first + REGION_GROUP]
            self.out.append(f"{indent}if pc <= {group[-1]}:")
            self.group(indent + "    ", group)

    def group(self, indent: str, entries: list[int]) -> None:
        for start in entries:
            self.out.append(f"{indent}if pc == {start}:")
            if self.lazy_operands:
                sim = [f"s{k}" for k in range(self.depths[start])] if start in self.depths else None
                if sim is None:
                    self.out.append(f"{indent}    raise NativeEntryError(pc)")   # unreachable code
                    continue
            else:
                sim = []
            self.region(Region(self, indent + "    ", sim), start)

    # ------------------------------------------------------------------ leaving

    def locals_list(self) -> list[str]:
        return [f"v{i}" for i in range(self.slots)]

    def context_expression(self, pc: list[str], values: list[str] | None = None) -> str:
        """An expression making this activation's context (direct functions), with
        ``values`` on its operand stack, standing at ``pc[0]`` (text)."""
        items = ", ".join(self.locals_list() + (values or []))
        if not self.lazy:
            return f"CONTEXT_AT(ctx, {pc[0]}, [{', '.join(values or [])}])"
        if self.is_block:
            return f"block_context(VM, closure, [{items}], {pc[0]})"
        return f"method_context(VM, UNIT, rcv, [{items}], {pc[0]})"

    def after_send_expression(self, pc: str, values: list[str]) -> str:
        """The call that links this activation (direct functions), standing at ``pc``
        with ``values`` on its operand stack, after a send that answered BAIL."""
        if not self.lazy:
            return f"AFTER_SEND_CONTEXT(interp, ctx, {pc}, [{', '.join(values)}])"
        items = ", ".join(self.locals_list() + values)
        if self.is_block:
            return f"AFTER_SEND_BLOCK(interp, closure, [{items}], {pc})"
        return f"AFTER_SEND_METHOD(interp, UNIT, rcv, [{items}], {pc})"

    def bail_lines(self, indent: str, pc: int, values: list[str], how: str) -> None:
        """Leave a direct function: its context at ``pc`` with ``values`` on the stack."""
        self.out.append(f"{indent}return BAILOUT(interp, {self.context_expression([str(pc)], values)}, {how})")

    def hand_back(self, r: Region, pc: int, values: list[str] | None = None) -> None:
        """Leave to the interpreter at ``pc`` with the simulated stack, then
        ``values``, on the operand stack."""
        items = r.sim + (values or [])
        if self.direct:
            self.bail_lines(r.indent, pc, items, "INTERPRET")
            return
        self.materialize_on_stack(r, items)
        r.line(f"ctx.pc = {pc}")
        r.line("return ctx, budget")

    def nested_hand_back(self, r: Region, pc: int, values: list[str] | None = None, levels: int = 1) -> None:
        self.hand_back(r.nested(levels), pc, values)

    @staticmethod
    def materialize_on_stack(r: Region, items: list[str]) -> None:
        if len(items) == 1:
            r.line(f"stack.append({items[0]})")
        elif items:
            r.line(f"stack.extend(({', '.join(items)},))")

    def end_region(self, r: Region) -> None:
        """Put the simulated stack where the next region expects it."""
        if not self.lazy_operands:
            self.materialize_on_stack(r, r.sim)
            r.sim = []
            return
        targets = [f"s{k}" for k in range(len(r.sim))]
        changed = [(t, e) for t, e in zip(targets, r.sim) if t != e]
        if changed:
            r.line(f"{', '.join(t for t, _ in changed)} = {', '.join(e for _, e in changed)}")
        r.sim = []

    # ------------------------------------------------------------------ variables

    def local(self, slot: int) -> str:
        return f"v{slot}" if self.lazy else f"stack[{slot}]"

    def store_local(self, r: Region, slot: int, value: str) -> None:
        if not self.lazy:
            r.line(f"stack[{slot}] = {value}")
            return
        name = f"v{slot}"
        if name in r.sim:                 # an earlier read of it is still to be used
            saved = r.temp(name)
            r.sim = [saved if item == name else item for item in r.sim]
            if value == name:
                value = saved
        if value != name:
            r.line(f"{name} = {value}")

    def outer(self, depth: int) -> str:
        if self.direct:
            return "outer" + ".outer" * (depth - 1)
        return "ctx" + ".outer" * depth

    def literal(self, index: int) -> str:
        value = self.unit.literals[index]
        if type(value) is int:
            return hex(value)
        if type(value) is float and value == value and value not in (float("inf"), float("-inf")):
            return repr(value)
        return f"K[{index}]"

    # ------------------------------------------------------------------ regions

    def region(self, r: Region, start: int) -> None:
        pc = start
        instructions = self.instructions
        while True:
            if pc not in instructions:
                raise NativeUnsupported(f"falls off the end at {pc}")
            op, args = instructions[pc]
            following = pc + 1 + len(args)
            if op == B.PUSH_CONTEXT and self.direct:
                # the activation becomes a context, and the resumable function goes on
                # from here (this pc is one of its entries)
                self.bail_lines(r.indent, pc, r.sim, "RESUME")
                return
            if op in HAND_BACK or op in B.QUICKENED:
                self.hand_back(r, pc)
                return
            if op == B.PUSH_CONTEXT:
                # a resumable function's activation is its context already; as in the
                # interpreter, thisContext reads a current pc
                r.line(f"ctx.pc = {following}")
                r.push("ctx")
            elif op == B.PUSH_LOCAL:
                if self.lazy:
                    r.push(self.local(args[0]))
                else:
                    r.push_temp(self.local(args[0]))
            elif op == B.PUSH_FIELD:
                r.push_temp(f"rcv.fields[{args[0]}]")
            elif op == B.PUSH_SELF:
                r.push("rcv")
            elif op == B.PUSH_LITERAL:
                r.push(self.literal(args[0]))
            elif op == B.PUSH_NIL:
                r.push("NIL")
            elif op == B.PUSH_TRUE:
                r.push("TRUE")
            elif op == B.PUSH_FALSE:
                r.push("FALSE")
            elif op == B.PUSH_OUTER:
                r.push_temp(f"{self.outer(args[0])}.stack[{args[1]}]")
            elif op == B.POP:
                if r.sim or self.lazy_operands:
                    r.pop()
                else:
                    r.line("del stack[-1]")
            elif op == B.DUP:
                top = r.pop()
                r.push(top)
                r.push(top)
            elif op in (B.STORE_LOCAL, B.POP_LOCAL):
                value = r.pop()
                self.store_local(r, args[0], value)
                if op == B.STORE_LOCAL:
                    r.push(self.local(args[0]) if self.lazy else value)
            elif op in (B.STORE_FIELD, B.POP_FIELD):
                value = r.pop()
                r.line(f"rcv.fields[{args[0]}] = {value}")
                if op == B.STORE_FIELD:
                    r.push(value)
            elif op in (B.STORE_OUTER, B.POP_OUTER):
                value = r.pop()
                r.line(f"{self.outer(args[0])}.stack[{args[1]}] = {value}")
                if op == B.STORE_OUTER:
                    r.push(value)
            elif op == B.STORE_GLOBAL:
                value = r.pop()
                r.line(f"G[K[{args[0]}]] = {value}")
                r.push(value)
            elif op == B.PUSH_GLOBAL:
                name = r.temp(f"G.get(K[{args[0]}], ABSENT)")
                r.line(f"if {name} is ABSENT:")
                self.nested_hand_back(r, pc)
                r.push(name)
            elif op == B.PUSH_BLOCK:
                block = self.unit.literals[args[0]]
                argc = block.num_args
                cls = f"BlockClasses[{argc}]" if argc < 4 else "BlockClass"
                r.push_temp(f"Closure({cls}, K[{args[0]}], ctx, rcv)")
            elif op == B.MAKE_ARRAY:
                items = [r.pop() for _ in range(args[0])][::-1]
                r.push_temp(f"VArray(ArrayClass, [{', '.join(items)}])")
            elif op in ARITH:
                self.arithmetic(r, pc, op)
            elif op in COMPARE:
                jump = instructions.get(following)
                if self.comparison(r, pc, op, args[0], jump):
                    following += 2              # the conditional jump is done too
            elif op in (B.JUMP_IF_FALSE, B.JUMP_IF_TRUE, B.JUMP_IF_NIL, B.JUMP_IF_NOT_NIL):
                self.conditional_jump(r, pc, op, args[0])
            elif op == B.JUMP:
                self.end_region(r)
                r.line(f"pc = {args[0]}")
                r.line("continue")
                return
            elif op == B.JUMP_BACK:
                self.end_region(r)
                self.count_reduction(r, args[0])
                r.line(f"pc = {args[0]}")
                r.line("continue")
                return
            elif op == B.RETURN or op == B.RETURN_SELF:
                self.return_value("rcv" if op == B.RETURN_SELF else r.pop(), r)
                return
            elif op == B.SEND or op == B.SUPER_SEND:
                if not self.sends.send(self, r, pc, args[0], following, op == B.SUPER_SEND):
                    return                      # the region ends with the send
            else:
                self.hand_back(r, pc)
                return
            pc = following
            if pc in self.entry_set:
                self.end_region(r)
                r.line(f"pc = {pc}")
                return

    def count_reduction(self, r: Region, target: int) -> None:
        """A backward jump counts a reduction; with the budget used up, yield at the
        loop head (the region's values are already where the loop head expects)."""
        if not self.direct:
            r.line("budget -= 1")
            r.line("if budget < 0:")
            if self.lazy_operands:
                self.materialize_on_stack(r.nested(), [f"s{k}" for k in range(self.depths.get(target, 0))])
            r.line(f"    ctx.pc = {target}")
            r.line("    return ctx, budget")
            return
        r.line("budget = interp.budget - 1")
        r.line("interp.budget = budget")
        r.line("if budget < 0:")
        values = [f"s{k}" for k in range(self.depths.get(target, 0))] if self.lazy else []
        self.bail_lines(r.indent + "    ", target, values, "RESUME")

    def return_value(self, value: str, r: Region) -> None:
        if self.direct:
            if not self.lazy:
                r.line("ctx.pc = -1")
            r.line(f"return {value}")
            return
        r.line("ctx.pc = -1")
        r.line("sender = ctx.sender")
        r.line("if sender is None:")
        r.line(f"    return finish(interp, {value}), budget")
        r.line(f"sender.stack.append({value})")
        r.line("return sender, budget")

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

    def arithmetic(self, r: Region, pc: int, op: int) -> None:
        b = r.pop()
        a = r.pop()
        test, fa, fb = self._operands(a, b)
        literal = _small_literal(b)
        bounds = "not INT_LO <= {} < INT_HI"
        if literal is not None and op != B.SEND_MUL:
            # a SmallInteger literal: add or subtract its value, one bound to check
            delta = literal if op == B.SEND_ADD else -literal
            result = f"{a} + {delta}" if delta >= 0 else f"{a} - {-delta}"
            bounds = "{} >= INT_HI" if delta >= 0 else "{} < INT_LO"
        elif op == B.SEND_ADD:
            result = f"{a} + {b} - ZERO"
        elif op == B.SEND_SUB:
            result = f"{a} - {b} + ZERO"
        else:
            result = f"({a} - ZERO) * ({b} - ZERO) + ZERO"
        name = r.temp("None")
        r.line(f"if {test}:")
        r.line(f"    {name} = {result}")
        r.line(f"    if {bounds.format(name)}:")
        self.nested_hand_back(r, pc, [a, b], levels=2)
        self.as_doubles(r, pc, a, b, fa, fb)
        r.line(f"    {name} = x {ARITH[op]} y")
        r.push(name)

    def as_doubles(self, r: Region, pc: int, a: str, b: str, fa: str, fb: str) -> None:
        """The else branch of a fast path: both operands as Doubles in x and y, or a
        hand-back to the interpreter when either is not a number."""
        r.line("else:")
        r.line(f"    x = {fa}")
        r.line(f"    y = {fb}")
        r.line("    if x is None or y is None:")
        self.nested_hand_back(r, pc, [a, b], levels=2)

    def comparison(self, r: Region, pc: int, op: int, site: int, jump: tuple | None) -> bool:
        """Inline a comparison; when ``jump`` (the next instruction) is a conditional
        jump, branch on the Python truth value at once and answer True. Operands that
        are not numbers (String =, Symbol =) are compared by the receiver's method when
        it is a plain primitive (runtime.compare), else handed back."""
        b = r.pop()
        a = r.pop()
        test, fa, fb = self._operands(a, b)
        sign = COMPARE[op]
        flag = r.temp("None")
        r.line(f"if {test}:")
        r.line(f"    {flag} = {a} {sign} {b}")
        r.line("else:")
        r.line(f"    x = {fa}")
        r.line(f"    y = {fb}")
        r.line("    if x is not None and y is not None:")
        r.line(f"        {flag} = x {sign} y")
        r.line("    else:")
        r.line(f"        {flag} = COMPARE_SEND(VM, S[{site}], {a}, {b})")
        r.line(f"        if {flag} != TRUE and {flag} != FALSE:")
        self.nested_hand_back(r, pc, [a, b], levels=3)
        r.line(f"        {flag} = {flag} == TRUE")
        if jump is not None and jump[0] in (B.JUMP_IF_FALSE, B.JUMP_IF_TRUE):
            depth = len(r.sim)
            self.end_region(r)
            r.line(f"if {'not ' if jump[0] == B.JUMP_IF_FALSE else ''}{flag}:")
            r.line(f"    pc = {jump[1][0]}")
            r.line("    continue")
            if self.lazy_operands:
                r.sim = [f"s{k}" for k in range(depth)]
            return True
        r.push(f"(TRUE if {flag} else FALSE)")
        return False

    def conditional_jump(self, r: Region, pc: int, op: int, target: int) -> None:
        condition = r.pop()
        if op in (B.JUMP_IF_NIL, B.JUMP_IF_NOT_NIL):
            depth = len(r.sim)
            self.end_region(r)
            test = "==" if op == B.JUMP_IF_NIL else "!="
            r.line(f"if {condition} {test} NIL:")
            r.line(f"    pc = {target}")
            r.line("    continue")
            if self.lazy_operands:
                r.sim = [f"s{k}" for k in range(depth)]
            return
        taken, other = ("FALSE", "TRUE") if op == B.JUMP_IF_FALSE else ("TRUE", "FALSE")
        kept = list(r.sim)
        self.end_region(r)
        r.line(f"if {condition} == {taken}:")
        r.line(f"    pc = {target}")
        r.line("    continue")
        r.line(f"if {condition} != {other}:")
        # The values are where the next region expects them; hand back with them.
        if self.lazy_operands:
            self.nested_hand_back(r, pc, [f"s{k}" for k in range(len(kept))] + [condition])
        else:
            self.nested_hand_back(r, pc, [condition])
        if self.lazy_operands:
            r.sim = [f"s{k}" for k in range(len(kept))]
