"""The stackless bytecode interpreter: the dispatch loop.

Frames are Context objects: a send pushes one and the same Python loop continues, a
return pops one, so the Python stack never grows with Smalltalk call depth. ``run``
executes one process until it uses up its reduction budget (sends and backward jumps),
parks, finishes or dies, and reports which to the scheduler.

The loop runs a method's quickened code (``vm.quicken``) and inlines only the common
cases: inline-cache hits on bytecode methods, trivial methods and block activations,
SmallInteger/Double arithmetic and comparisons. Everything else — and the meaning of
all of it — is in ``vm.semantics``. A running context's ``pc`` is stored only when the
loop leaves it (or exposes it as thisContext).

``run_slice`` is one long function on purpose, and the reason this file is longer than
the others: CPython keeps a function's locals in fast slots, and the loop's state (the
context, its stack, pc, code and the universe's tables) lives there; split into
helpers, every bytecode would pay a call and reload that state.
"""
from __future__ import annotations

from typing import Any

from smalltalk_vm.vm import bytecodes as B
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.booleans import BooleanOperators
from smalltalk_vm.vm.errors import VMFatal, method_name
from smalltalk_vm.vm.faults import FaultBoundary
from smalltalk_vm.vm.native import DEOPT, make_native
from smalltalk_vm.vm.native_runtime import BAIL, resume_after_send
from smalltalk_vm.vm.objects import (
    KIND_ARRAY_AT,
    KIND_ARRAY_AT_PUT,
    KIND_BLOCK_VALUE,
    KIND_BYTECODE,
    KIND_CONSTANT,
    KIND_CONTROL,
    KIND_FORWARD,
    KIND_GETTER,
    KIND_IDENTICAL,
    KIND_NATIVE,
    KIND_SETTER,
    Closure,
    VArray,
)
from smalltalk_vm.vm.primitives.object import identical
from smalltalk_vm.vm.semantics import Semantics, nils

# What run() reports to the scheduler.
YIELDED = 0      # budget used up; still runnable
SWITCHED = 1     # a control primitive parked or ended the process
FINISHED = 2     # the bottom context returned; process.result holds the value

_ABSENT = object()

__all__ = ["FINISHED", "SWITCHED", "YIELDED", "Interpreter", "nils"]


class Interpreter(Semantics, FaultBoundary):
    """Runs on the VM thread only (the scheduler calls ``run``); never blocks; never
    raises: a Python exception inside a slice becomes an InternalError of the process
    (``vm.faults``)."""

    def __init__(self, universe: Any) -> None:
        self.vm = universe
        universe.interpreter = self
        self.process: Any = None          # the process being run
        # The second tier's state while a slice runs (vm.native, vm.native_runtime):
        self.budget = 0                   # what direct functions count reductions in
        self.deopted: Any = None          # the context behind a DEOPT answer
        self.bail_top: Any = None         # a bail-out: the context to go on in,
        self.bail_bottom: Any = None      # the outermost context made so far,
        self.bail_how: Any = None         # and how to go on
        self.failure: Any = None          # a primitive that failed in a direct send
        self.booleans = BooleanOperators(universe)

    def make_native(self, unit: Any) -> bool:
        return make_native(self.vm, unit)

    def run(self, process: Any, budget: int) -> int:
        """Run ``process`` for at most ``budget`` reductions. The ``try`` costs nothing
        until something raises; recovery reads the faulting context from the loop's
        frame. After a ghost access (``vm.faults``) the slice goes on with what is left
        of its budget; after any other fault the process yields."""
        self.process = process
        while True:
            try:
                return self.run_slice(process, budget)
            except Exception as error:
                ctx = self.recover(error, _SLICE_CODE)
            if ctx is None:
                return SWITCHED
            process.ctx = ctx
            budget, self.slice_budget = self.slice_budget, None
            if budget is None or budget < 0:
                return YIELDED

    def run_slice(self, process: Any, budget: int) -> int:
        vm = self.vm
        class_of = vm.class_of
        lookup = vm.lookup
        globals_ = vm.globals
        method_kind = vm.method_context_class
        block_kind = vm.block_context_class
        new_method = method_kind.__new__
        new_block = block_kind.__new__
        block_classes = vm.block_classes
        integer_class = vm.Integer
        nil_class = vm.Nil
        double_class = vm.Double
        NIL, TRUE, FALSE, ZERO, ONE = V.NIL, V.TRUE, V.FALSE, V.ZERO, V.ONE
        INT_LO, INT_HI = V.INT_LO, V.INT_HI
        PUSH_LOCAL, PUSH_FIELD, SEND, PUSH_SELF = B.PUSH_LOCAL, B.PUSH_FIELD, B.SEND, B.PUSH_SELF
        PUSH_LITERAL, RETURN, POP, POP_LOCAL = B.PUSH_LITERAL, B.RETURN, B.POP, B.POP_LOCAL
        JUMP_IF_FALSE, JUMP_IF_TRUE, JUMP, JUMP_BACK = B.JUMP_IF_FALSE, B.JUMP_IF_TRUE, B.JUMP, B.JUMP_BACK
        SEND_ADD, SEND_SUB, SEND_MUL = B.SEND_ADD, B.SEND_SUB, B.SEND_MUL
        SEND_LT, SEND_GT, SEND_LE, SEND_GE = B.SEND_LT, B.SEND_GT, B.SEND_LE, B.SEND_GE
        SEND_EQ, SEND_NE = B.SEND_EQ, B.SEND_NE
        PUSH_OUTER, POP_OUTER, POP_FIELD = B.PUSH_OUTER, B.POP_OUTER, B.POP_FIELD
        STORE_LOCAL, STORE_OUTER, STORE_FIELD = B.STORE_LOCAL, B.STORE_OUTER, B.STORE_FIELD
        PUSH_NIL, PUSH_TRUE, PUSH_FALSE = B.PUSH_NIL, B.PUSH_TRUE, B.PUSH_FALSE
        PUSH_GLOBAL, PUSH_BLOCK, PUSH_CONTEXT, DUP = B.PUSH_GLOBAL, B.PUSH_BLOCK, B.PUSH_CONTEXT, B.DUP
        SUPER_SEND, EVENTUAL_SEND = B.SUPER_SEND, B.EVENTUAL_SEND
        JUMP_IF_NIL, JUMP_IF_NOT_NIL = B.JUMP_IF_NIL, B.JUMP_IF_NOT_NIL
        RETURN_SELF, RETURN_NONLOCAL, MAKE_ARRAY = B.RETURN_SELF, B.RETURN_NONLOCAL, B.MAKE_ARRAY
        STORE_GLOBAL = B.STORE_GLOBAL
        Q_CMP_JUMP, Q_ARITH = B.Q_CMP_JUMP, B.Q_ARITH
        Q_RETURN_LOCAL, Q_RETURN_FIELD = B.Q_RETURN_LOCAL, B.Q_RETURN_FIELD
        Q_SEND_BOOLEAN = B.Q_SEND_BOOLEAN
        booleans = self.booleans
        true_class = class_of(TRUE)
        false_class = class_of(FALSE)
        FALSE3 = 3 * FALSE

        ctx = process.ctx
        deopted = None        # a context native code just handed back: interpret it now
        while True:
            method = ctx.method
            native = method.native
            if native is None and ctx is not deopted:
                # Entered from native code (a callee it made, or a sender it returned
                # to): count the heat here, as the inline send path does.
                method.heat -= 1
                if method.heat < 0 and make_native(vm, method):
                    native = method.native
            if native is not None and ctx is not deopted and ctx.pc in method.native_entries:
                following, budget = native(self, ctx, budget)
                if following is None:
                    return SWITCHED
                if following is DEOPT:
                    # a callee native code called directly handed itself back
                    following = deopted = self.deopted
                    self.deopted = None
                else:
                    deopted = ctx if following is ctx else None
                if budget < 0:
                    process.ctx = following
                    return YIELDED
                ctx = following
                continue
            deopted = None
            code = method.fast
            fused = method.fused
            literals = method.literals
            sites = method.sites
            stack = ctx.stack
            pc = ctx.pc
            rcv = ctx.receiver
            while True:
                op = code[pc]
                if op == PUSH_LOCAL:
                    stack.append(stack[code[pc + 1]])
                    pc += 2
                    continue
                if op == Q_CMP_JUMP:
                    a, b, b_local, cmp, on_false, target, after = fused[code[pc + 1]]
                    x = stack[a]
                    if b_local:
                        b = stack[b]
                    # Every immediate word is >= INT_LO, so for an int `< INT_HI` alone
                    # says "SmallInteger"; a fused literal operand is one already.
                    if (type(x) is int and x < INT_HI and (not b_local or (type(b) is int and b < INT_HI))) \
                            or (type(x) is float and type(b) is float):
                        if cmp == 0:
                            flag = x < b
                        elif cmp == 1:
                            flag = x <= b
                        elif cmp == 2:
                            flag = x > b
                        elif cmp == 3:
                            flag = x >= b
                        elif cmp == 4:
                            flag = x == b
                        else:
                            flag = x != b
                        pc = (after if flag else target) if on_false else (target if flag else after)
                        continue
                    stack.append(x)
                    pc += 2
                    continue
                if op == Q_ARITH:
                    a, b, b_local, kind, dest, back, after = fused[code[pc + 1]]
                    x = stack[a]
                    if b_local:
                        b = stack[b]
                    if type(x) is int and x < INT_HI and (not b_local or (type(b) is int and b < INT_HI)):
                        if kind == 0:
                            r = x + b - ZERO
                        elif kind == 1:
                            r = x - b + ZERO
                        else:
                            r = (x - ZERO) * (b - ZERO) + ZERO
                        if INT_LO <= r < INT_HI:
                            if dest < 0:
                                stack.append(r)
                                pc = after
                                continue
                            stack[dest] = r
                            if back < 0:
                                pc = after
                                continue
                            budget -= 1
                            if budget < 0:
                                ctx.pc = after - 2          # resume at the JUMP_BACK
                                process.ctx = ctx
                                return YIELDED
                            pc = back
                            method.heat -= 1
                            if method.heat < 0 and (method.native is not None or make_native(vm, method)):
                                ctx.pc = pc         # enter the native code at the loop head
                                break
                            continue
                    stack.append(x)
                    pc += 2
                    continue
                if op == PUSH_FIELD:
                    stack.append(rcv.fields[code[pc + 1]])
                    pc += 2
                    continue
                if op != SEND:
                    if op == PUSH_SELF:
                        stack.append(rcv)
                        pc += 1
                        continue
                    if op == PUSH_LITERAL:
                        stack.append(literals[code[pc + 1]])
                        pc += 2
                        continue
                    if op == RETURN or op == Q_RETURN_LOCAL or op == Q_RETURN_FIELD or op == RETURN_SELF:
                        if op == RETURN:
                            result = stack[-1]
                        elif op == Q_RETURN_LOCAL:
                            result = stack[fused[code[pc + 1]][0]]
                        elif op == Q_RETURN_FIELD:
                            result = rcv.fields[fused[code[pc + 1]][0]]
                        else:
                            result = rcv
                        ctx.pc = -1
                        ctx = ctx.sender
                        if ctx is None:
                            process.result = result
                            process.ctx = None
                            return FINISHED
                        method = ctx.method
                        stack = ctx.stack
                        stack.append(result)
                        if method.native is not None:
                            break                   # the trampoline resumes it natively
                        code = method.fast
                        fused = method.fused
                        literals = method.literals
                        sites = method.sites
                        pc = ctx.pc
                        rcv = ctx.receiver
                        continue
                    if op == POP:
                        del stack[-1]
                        pc += 1
                        continue
                    if op == POP_LOCAL:
                        stack[code[pc + 1]] = stack.pop()
                        pc += 2
                        continue
                    if op == JUMP_IF_FALSE or op == JUMP_IF_TRUE:
                        cond = stack.pop()
                        if cond == FALSE:
                            pc = code[pc + 1] if op == JUMP_IF_FALSE else pc + 2
                        elif cond == TRUE:
                            pc = code[pc + 1] if op == JUMP_IF_TRUE else pc + 2
                        else:
                            ctx.pc = pc
                            stack.append(cond)
                            ctx = self.send_selector(ctx, cond, "mustBeBoolean", 0)
                            if ctx is None:
                                return SWITCHED
                            break
                        continue
                    if op == JUMP:
                        pc = code[pc + 1]
                        continue
                    if op == JUMP_BACK:
                        budget -= 1
                        if budget < 0:
                            ctx.pc = pc
                            process.ctx = ctx
                            return YIELDED
                        pc = code[pc + 1]
                        method.heat -= 1
                        if method.heat < 0 and (method.native is not None or make_native(vm, method)):
                            ctx.pc = pc             # enter the native code at the loop head
                            break
                        continue
                    if op == SEND_ADD or op == SEND_SUB or op == SEND_MUL:
                        b = stack[-1]
                        a = stack[-2]
                        ta = type(a)
                        tb = type(b)
                        if ta is int and tb is int and a < INT_HI and b < INT_HI:
                            if op == SEND_ADD:
                                r = a + b - ZERO
                            elif op == SEND_SUB:
                                r = a - b + ZERO
                            else:
                                r = (a - ZERO) * (b - ZERO) + ZERO
                            if INT_LO <= r < INT_HI:
                                del stack[-1]
                                stack[-1] = r
                                pc += 2
                                continue
                        elif ta is float or tb is float:
                            # Mixed SmallInteger/Double arithmetic answers a Double.
                            if ta is int and a < INT_HI:
                                a = float(a - ZERO)
                            elif tb is int and b < INT_HI:
                                b = float(b - ZERO)
                            if type(a) is float and type(b) is float:
                                del stack[-1]
                                stack[-1] = a + b if op == SEND_ADD else (a - b if op == SEND_SUB else a * b)
                                pc += 2
                                continue
                    elif op == SEND_LT or op == SEND_GT or op == SEND_LE or op == SEND_GE \
                            or op == SEND_EQ or op == SEND_NE:
                        b = stack[-1]
                        a = stack[-2]
                        ta = type(a)
                        tb = type(b)
                        if ta is int and tb is int:
                            ok = a < INT_HI and b < INT_HI
                        elif ta is float or tb is float:
                            if ta is int and a < INT_HI:
                                a = float(a - ZERO)
                            elif tb is int and b < INT_HI:
                                b = float(b - ZERO)
                            ok = type(a) is float and type(b) is float
                        else:
                            ok = False
                        if ok:
                            if op == SEND_LT:
                                flag = a < b
                            elif op == SEND_GT:
                                flag = a > b
                            elif op == SEND_LE:
                                flag = a <= b
                            elif op == SEND_GE:
                                flag = a >= b
                            elif op == SEND_EQ:
                                flag = a == b
                            else:
                                flag = a != b
                            del stack[-1]
                            stack[-1] = TRUE if flag else FALSE
                            pc += 2
                            continue
                    elif op == POP_FIELD:
                        rcv.fields[code[pc + 1]] = stack.pop()
                        pc += 2
                        continue
                    elif op == PUSH_OUTER:
                        outer = ctx.outer
                        depth = code[pc + 1]
                        while depth > 1:
                            outer = outer.outer
                            depth -= 1
                        stack.append(outer.stack[code[pc + 2]])
                        pc += 3
                        continue
                    elif op == POP_OUTER or op == STORE_OUTER:
                        outer = ctx.outer
                        depth = code[pc + 1]
                        while depth > 1:
                            outer = outer.outer
                            depth -= 1
                        outer.stack[code[pc + 2]] = stack.pop() if op == POP_OUTER else stack[-1]
                        pc += 3
                        continue
                    elif op == STORE_LOCAL:
                        stack[code[pc + 1]] = stack[-1]
                        pc += 2
                        continue
                    elif op == STORE_FIELD:
                        rcv.fields[code[pc + 1]] = stack[-1]
                        pc += 2
                        continue
                    elif op == PUSH_NIL:
                        stack.append(NIL)
                        pc += 1
                        continue
                    elif op == PUSH_TRUE:
                        stack.append(TRUE)
                        pc += 1
                        continue
                    elif op == PUSH_FALSE:
                        stack.append(FALSE)
                        pc += 1
                        continue
                    elif op == PUSH_BLOCK:
                        block = literals[code[pc + 1]]
                        argc = block.num_args
                        stack.append(Closure(block_classes[argc] if argc < 4 else vm.Block,
                                             block, ctx, rcv))
                        pc += 2
                        continue
                    elif op == PUSH_GLOBAL:
                        name = literals[code[pc + 1]]
                        found = globals_.get(name, _ABSENT)
                        if found is _ABSENT:
                            ctx.pc = pc + 2
                            ctx = self.missing_global(ctx, name)
                            if ctx is None:
                                return SWITCHED
                            break
                        stack.append(found)
                        pc += 2
                        continue
                    elif op == JUMP_IF_NIL or op == JUMP_IF_NOT_NIL:
                        is_nil = stack.pop() == NIL
                        if is_nil == (op == JUMP_IF_NIL):
                            pc = code[pc + 1]
                        else:
                            pc += 2
                        continue
                    elif op == DUP:
                        stack.append(stack[-1])
                        pc += 1
                        continue
                    elif op == RETURN_NONLOCAL:
                        ctx.pc = pc
                        ctx = self.nonlocal_return(ctx, stack.pop())
                        if ctx is None:
                            return SWITCHED
                        break
                    elif op == PUSH_CONTEXT:
                        ctx.pc = pc + 1          # so that thisContext reads a current pc
                        stack.append(ctx)
                        pc += 1
                        continue
                    elif op == STORE_GLOBAL:
                        globals_[literals[code[pc + 1]]] = stack[-1]
                        pc += 2
                        continue
                    elif op == MAKE_ARRAY:
                        count = code[pc + 1]
                        items = stack[len(stack) - count:]
                        del stack[len(stack) - count:]
                        stack.append(VArray(vm.Array, items))
                        pc += 2
                        continue
                    elif op == SUPER_SEND or op == EVENTUAL_SEND:
                        budget -= 1
                        site = sites[code[pc + 1]]
                        ctx.pc = pc + 2
                        if op == SUPER_SEND:
                            ctx = self.super_send(ctx, site)
                        else:
                            ctx = self.eventual_send(ctx, site)
                        if ctx is None:
                            return SWITCHED
                        break
                    elif op == Q_SEND_BOOLEAN:
                        b = stack[-1]
                        a = stack[-2]
                        if (a == TRUE or a == FALSE) and (b == TRUE or b == FALSE):
                            if true_class.token is not booleans.true_token \
                                    or false_class.token is not booleans.false_token:
                                booleans.refresh()
                            answer = booleans.answers[sites[code[pc + 1]].selector][a + a + b - FALSE3]
                            if answer is not None:
                                del stack[-1]
                                stack[-1] = answer
                                pc += 2
                                continue
                    else:
                        raise VMFatal(f"bad opcode {op} at pc {pc} in {method!r}")
                # ---- a send: SEND, or a fast-path opcode whose fast path did not apply
                budget -= 1
                if budget < 0:
                    ctx.pc = pc
                    process.ctx = ctx
                    return YIELDED
                site = sites[code[pc + 1]]
                pc += 2
                argc = site.argc
                r = stack[-1 - argc]
                t = type(r)
                if t is int:
                    cls = integer_class if r < INT_HI else (nil_class if r == NIL else class_of(r))
                elif t is float:
                    cls = double_class
                else:
                    cls = r.cls
                if site.token is cls.token:
                    m = site.target
                else:
                    m = lookup(cls, site.selector)
                    if m is None:
                        ctx.pc = pc
                        ctx = self.dnu(ctx, r, site.selector, argc)
                        if ctx is None:
                            return SWITCHED
                        break
                    site.fill(cls.token, m)
                kind = m.kind
                if kind == KIND_NATIVE and m.direct is not None:
                    # A compiled method is called as native code calls it: no context
                    # unless it bails out, and then its chain is linked to this one
                    ctx.pc = pc
                    if argc:
                        args = stack[-argc:]
                        del stack[-argc - 1:]
                    else:
                        args = ()
                        del stack[-1]
                    self.budget = budget
                    answer = m.direct(self, r, *args, 1)
                    budget = self.budget
                    if answer is not BAIL:
                        stack.append(answer)
                        # the heat a return through the trampoline would count
                        method.heat -= 1
                        if method.heat < 0 and method.native is None and make_native(vm, method):
                            ctx.pc = pc
                            break
                        continue
                    ctx = resume_after_send(self, ctx)
                    if ctx is None:
                        return SWITCHED
                    if ctx is DEOPT:
                        ctx = deopted = self.deopted
                        self.deopted = None
                    if budget < 0:
                        process.ctx = ctx
                        return YIELDED
                    break
                if kind == KIND_BYTECODE or kind == KIND_NATIVE:
                    ctx.pc = pc
                    if argc:
                        new_stack = stack[-argc:]
                        del stack[-argc - 1:]
                    else:
                        new_stack = []
                        del stack[-1]
                    if m.num_temps:
                        new_stack.extend(nils(m.num_temps))
                    new_ctx = new_method(method_kind)
                    new_ctx.method = m
                    new_ctx.stack = new_stack
                    new_ctx.receiver = r
                    new_ctx.sender = ctx
                    ctx = new_ctx
                    if kind == KIND_NATIVE:
                        new_ctx.pc = 0
                        break
                    m.heat -= 1
                    if m.heat < 0 and make_native(vm, m):
                        new_ctx.pc = 0
                        break
                    method = m
                    code = m.fast
                    fused = m.fused
                    literals = m.literals
                    sites = m.sites
                    stack = new_stack
                    pc = 0
                    rcv = r
                    continue
                if kind == KIND_GETTER:
                    try:
                        stack[-1] = r.fields[m.trivial]
                    except Exception as error:      # a receiver without the field (vm.faults)
                        ctx = self.send_fault(ctx, len(stack) - 1, pc, method_name(m), error)
                        if ctx is None:
                            return SWITCHED
                        break
                    continue
                if kind == KIND_IDENTICAL:
                    other = stack.pop()
                    stack[-1] = TRUE if (r is other or identical(r, other)) else FALSE
                    continue
                if kind == KIND_ARRAY_AT:
                    i = stack[-1]
                    if t is VArray and type(i) is int and ONE <= i < ONE + len(r.items):
                        del stack[-1]
                        stack[-1] = r.items[i - ONE]
                        continue
                elif kind == KIND_ARRAY_AT_PUT:
                    i = stack[-2]
                    if t is VArray and type(i) is int and ONE <= i < ONE + len(r.items):
                        value = stack.pop()
                        del stack[-1]
                        r.items[i - ONE] = stack[-1] = value
                        continue
                if kind == KIND_BLOCK_VALUE and t is Closure and r.code.num_args == argc:
                    block = r.code
                    ctx.pc = pc
                    if block.native is None:
                        block.heat -= 1
                        if block.heat < 0:
                            make_native(vm, block)
                    if argc:
                        new_stack = stack[-argc:]
                        del stack[-argc - 1:]
                    else:
                        new_stack = []
                        del stack[-1]
                    if block.num_temps:
                        new_stack.extend(nils(block.num_temps))
                    new_ctx = new_block(block_kind)
                    new_ctx.method = block
                    new_ctx.stack = new_stack
                    rcv = new_ctx.receiver = r.receiver
                    new_ctx.sender = ctx
                    outer = new_ctx.outer = r.outer
                    new_ctx.closure = r
                    new_ctx.home = outer.home
                    ctx = new_ctx
                    if block.native is not None:
                        new_ctx.pc = 0
                        break
                    method = block
                    code = block.fast
                    fused = block.fused
                    literals = block.literals
                    sites = block.sites
                    stack = new_stack
                    pc = 0
                    continue
                if kind == KIND_SETTER:
                    try:
                        r.fields[m.trivial] = stack.pop()
                    except Exception as error:
                        ctx = self.send_fault(ctx, len(stack) - 1, pc, method_name(m), error)
                        if ctx is None:
                            return SWITCHED
                        break
                    continue
                if kind == KIND_CONSTANT:
                    if argc:
                        del stack[-argc:]
                    if m.trivial is not None:
                        stack[-1] = m.trivial
                    continue
                if kind == KIND_FORWARD:
                    ctx.pc = pc
                    ctx = self.forward(ctx, m, argc)
                    if ctx is None:
                        return SWITCHED
                    break
                if kind == KIND_CONTROL or kind == KIND_BLOCK_VALUE:
                    ctx.pc = pc
                    base = len(stack) - argc - 1
                    try:
                        ctx = m.primitive(self, ctx, argc)
                    except Exception as error:
                        ctx = self.send_fault(ctx, base, pc, f"primitive {m.holder.name}>>{m.selector}", error)
                    if ctx is None:
                        return SWITCHED
                    break
                try:
                    if argc == 0:
                        result = m.primitive(vm, r)
                    elif argc == 1:
                        result = m.primitive(vm, r, stack[-1])
                    else:
                        result = m.primitive(vm, r, *stack[-argc:])
                except Exception as error:
                    ctx.pc = pc
                    ctx = self.primitive_error(ctx, m, argc, error)
                    if ctx is None:
                        return SWITCHED
                    break
                del stack[-argc - 1:]
                stack.append(result)


_SLICE_CODE = Interpreter.run_slice.__code__
