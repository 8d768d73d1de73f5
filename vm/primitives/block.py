"""Primitives of blocks: evaluation (as control primitives: a block activation is a new
context, never a Python call) and arity."""
from __future__ import annotations

from smalltalk_vm.vm.errors import PrimitiveFailed
from smalltalk_vm.vm.objects import Closure, VArray
from smalltalk_vm.vm.primitives.registry import control, primitive
from smalltalk_vm.vm.semantics import nils


def _evaluate(interp, ctx, argc):
    stack = ctx.stack
    closure = stack[-1 - argc]
    if type(closure) is not Closure:
        del stack[-1 - argc:]
        return interp.signal_exception(ctx, "Error", "not a block")
    if closure.code.num_args != argc:
        del stack[-1 - argc:]
        return interp.signal_exception(
            ctx, "Error", f"wrong argument count: block takes {closure.code.num_args}, given {argc}")
    args = stack[len(stack) - argc:]
    del stack[-1 - argc:]
    return interp.block_context(ctx, closure, args)


@control("Block1", "value")
def block_value(interp, ctx, argc):
    return _evaluate(interp, ctx, 0)


@control("Block2", "value:")
def block_value_1(interp, ctx, argc):
    return _evaluate(interp, ctx, 1)


@control("Block3", "value:with:")
def block_value_2(interp, ctx, argc):
    return _evaluate(interp, ctx, 2)


@control("Block3", "value:value:")
def block_value_value(interp, ctx, argc):
    return _evaluate(interp, ctx, 2)


@control("Block4", "value:with:with:")
def block_value_3(interp, ctx, argc):
    return _evaluate(interp, ctx, 3)


@control("Block", "value:with:with:with:")
def block_value_4(interp, ctx, argc):
    return _evaluate(interp, ctx, 4)


# The interpreter activates these inline (vm.quicken gives them KIND_BLOCK_VALUE); the
# functions run when the inline path does not apply (not a block, wrong arity).
for _evaluator in (block_value, block_value_1, block_value_2, block_value_value, block_value_3):
    _evaluator.evaluates_block = True


@control("Block", "valueWithArguments:")
def block_value_with_arguments(interp, ctx, argc):
    stack = ctx.stack
    args = stack[-1]
    if type(args) is not VArray:
        del stack[-2:]
        return interp.signal_exception(ctx, "Error", "valueWithArguments: needs an Array")
    stack[-1:] = args.items
    return _evaluate(interp, ctx, len(args.items))


@primitive("Block", "numArgs")
def block_num_args(vm, rcv):
    if type(rcv) is not Closure:
        raise PrimitiveFailed("receiver is not a block")
    return vm.make_int(rcv.code.num_args)


@control("Block", "restart")
def block_restart(interp, ctx, argc):
    """Start the sending activation over from its first instruction (SOM's loop
    primitive, as in ``whileTrue: b = ( self value ifFalse: [^nil]. b value. self restart )``):
    the context that sent #restart is reset, not a new one pushed."""
    ctx.stack.pop()
    reset_context(ctx)
    return ctx


def reset_context(ctx) -> None:
    """Reset an activation to its start: arguments kept, temporaries nil, pc 0."""
    code = ctx.method
    del ctx.stack[code.num_args:]
    ctx.stack.extend(nils(code.num_temps))
    ctx.pc = 0
