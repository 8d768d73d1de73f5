"""The whole-graph checks of a thawed bundle (``node.bundle_reader``): what no single
record can show — blocks over the contexts that run their code, block contexts over
method homes, receivers of their methods' classes, live pcs that are instructions with
the stack they need, a chain of senders without cycles whose stacks are exactly as
deep as their pcs need — and the one fix-up of data, the
selective receive's deadline moved to this VM's clock.

Rules: each check raises BundleError with a one-line reason; every walk is bounded.
Nothing here builds objects or runs code. VM thread only.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smalltalk_vm.node import bundle_format as F
from smalltalk_vm.node.bundle_format import BundleError
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.objects import (
    LAUNCHER_FILE,
    BlockContext,
    Closure,
    CompiledBlock,
    CompiledMethod,
    Context,
    MethodContext,
    inherits,
)


def _check(condition: bool, reason: str) -> None:
    if not condition:
        raise BundleError(reason)


def check_closures(vm: Any, closures: list[Closure], parents: dict[int, Any]) -> None:
    """Each block is of its arity's class, over a context running the code it appears
    in, with that context's receiver."""
    for closure in closures:
        code = closure.code
        expected = vm.block_classes[code.num_args] if code.num_args < 4 else vm.Block
        _check(closure.cls is expected, f"a block of {code.num_args} arguments that is a {closure.cls.name}")
        _check(closure.outer.method is parents.get(id(code)),
               "a block closed over a context that does not run the code it appears in")
        _check(_same_value(closure.receiver, closure.outer.receiver),
               "a block whose receiver is not its context's")

def check_contexts(vm: Any, contexts: list[tuple[Context, int]], heights_of: Callable[[int], list]) -> None:
    """Each context has its slots, a block context runs its block over a method home, a
    method context's receiver is of its method's class, and a live pc is an instruction
    with the stack that instruction needs (``heights_of``: operand heights of a code
    unit, by its index in the bundle); sets each block context's home."""
    limit = len(contexts) + 1
    for ctx, code_index in contexts:
        code = ctx.method
        slots = code.num_args + code.num_temps
        title = _title(code)
        _check(len(ctx.stack) >= slots, f"a context of {title} with {len(ctx.stack)} of its {slots} slots")
        if isinstance(ctx, BlockContext):
            closure = ctx.closure
            _check(closure.code is code and ctx.outer is closure.outer,
                   f"a block context of {title} not running its block")
            _check(_same_value(ctx.receiver, closure.receiver),
                   f"a block context of {title} whose receiver is not its block's")
            home, steps = ctx.outer, 0
            while isinstance(home, BlockContext) and steps < limit:
                home, steps = home.outer, steps + 1
            _check(isinstance(home, MethodContext), f"a block context of {title} whose home is not a method")
            ctx.home = home
        elif code.source_file != LAUNCHER_FILE and code.holder is not None \
                and not inherits(vm.class_of(ctx.receiver), code.holder):
            raise BundleError(f"a context of {title} whose receiver is not a {code.holder.name}")
        if ctx.pc >= 0:
            heights = heights_of(code_index)
            _check(ctx.pc < len(heights) and heights[ctx.pc] is not None,
                   f"a context of {title} at pc {ctx.pc}, which is not an instruction of its code")
            operands = len(ctx.stack) - slots
            # A context waiting for a send's value (or a parked primitive's) lacks it.
            _check(heights[ctx.pc] - 1 <= operands <= heights[ctx.pc],
                   f"a context of {title} at pc {ctx.pc} with {operands} values on its stack")

def check_chain(ctx: Any, parked: bool, contexts: list[tuple[Context, int]],
                heights_of: Callable[[int], list]) -> None:
    """The process's chain of senders: live contexts, no cycle, each stack exactly as
    deep as its pc needs — the top one's full, or one short when the process is parked
    (the wake pushes the value its primitive answers), every sender one short (the value
    of its send). One value more or less would run the code over the wrong values, or
    enter native code that counts on the depth."""
    _check(isinstance(ctx, Context), "the process has no active context")
    code_index = {id(context): index for context, index in contexts}
    seen: set[int] = set()
    walker, lacking = ctx, 1 if parked else 0
    while walker is not None:
        _check(id(walker) not in seen, "the process's contexts form a cycle")
        seen.add(id(walker))
        _check(walker.pc >= 0, "the process's chain of contexts holds one that has returned")
        index = code_index.get(id(walker))
        _check(index is not None, "the process's chain holds a context that is not in the bundle")
        code = walker.method
        operands = len(walker.stack) - code.num_args - code.num_temps
        _check(operands == heights_of(index)[walker.pc] - lacking,
               f"a context of {_title(code)} at pc {walker.pc} with {operands} values on its stack")
        walker, lacking = walker.sender, 1

def move_deadlines(vm: Any, contexts: list[tuple[Context, int]], source_clock: Any) -> None:
    """The selective receive's deadline is a time of the source's clock: move it to
    this VM's."""
    class_name, selector, temp = F.DEADLINE_METHOD
    if type(source_clock) not in (int, float):
        return
    shift = vm.clock_ms() - source_clock
    for ctx, _ in contexts:
        method = ctx.method
        holder = method.holder if type(method) is CompiledMethod else None
        if holder is None or holder.name != class_name or method.selector != selector \
                or temp not in method.temp_names:
            continue
        slot = method.temp_names.index(temp)
        deadline = ctx.stack[slot]
        if type(deadline) is float:
            ctx.stack[slot] = deadline + shift
        elif V.is_small_int(deadline):
            ctx.stack[slot] = vm.make_int(V.small_int_value(deadline) + round(shift))


def _title(code: Any) -> str:
    method = code.home_method
    holder = method.holder if method is not None else None
    where = f"{holder.name if holder is not None else '?'}>>{method.selector if method is not None else '?'}"
    return f"[] in {where}" if type(code) is CompiledBlock else where



def _same_value(a: Any, b: Any) -> bool:
    return a is b or (type(a) is type(b) and (a == b or (a != a and b != b)))
