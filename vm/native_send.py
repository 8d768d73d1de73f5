"""Code generation for sends in the second tier's functions (``vm.native_gen`` writes
the rest of a unit).

The rules:

- A Boolean operator between Booleans (``a && b``, ``a and: b`` ...) is answered from
  ``vm.booleans`` without a send, as long as True and False have the methods the
  answers were derived from.
- A send finds its method through the site's inline cache, then the receiver
  class's method cache (``native_runtime.resolve``); a super send looks up from the
  method holder's superclass.
- A callee that has a direct function is called directly (while the Python depth
  allows): no context, no trampoline. Trivial kinds (primitives, getters, setters,
  constants, ``==``, Array ``at:``/``at:put:``) and block evaluation are done inline;
  every other kind goes through ``native_runtime.perform``.
- A send that answers ``BAIL`` continues as contexts, the sender's standing after
  the send; one that answers ``SLOW`` (nothing happened) is made again by the
  interpreter, the sender standing at the send. A resumable function does those
  sends itself with the interpreter's semantics (``Semantics.activate``), as before
  the tier had direct calls.
- In a resumable function a send ends its region (the instruction after it is an
  entry point); in a direct function the region goes on with the send's value.

This module writes source text; it runs nothing.
"""
from __future__ import annotations

from typing import Any

from smalltalk_vm.vm.booleans import OPERATORS as BOOLEAN_OPERATORS
from smalltalk_vm.vm.objects import (
    KIND_ARRAY_AT,
    KIND_ARRAY_AT_PUT,
    KIND_BLOCK_VALUE,
    KIND_BYTECODE,
    KIND_NATIVE,
    KIND_PRIMITIVE,
)

# The kinds of the methods whose site gets the cached direct function first: a
# bytecode method (compiled by now, or soon) and a compiled one
_COMPILED = frozenset((KIND_BYTECODE, KIND_NATIVE))
# The kinds done inline that a site meeting them tests first, before the receiver's class
# (with the leading kind of the selectors they go with)
_INLINE_FIRST = {KIND_ARRAY_AT: "at", KIND_ARRAY_AT_PUT: "at:put:", KIND_BLOCK_VALUE: "block"}

_IMMEDIATE_CLASS = ("IntegerClass if r < INT_HI else (NilClass if r == NIL else (TrueClass if r == TRUE "
                    "else (FalseClass if r == FALSE else class_of(r))))")


# The kinds a send tests after the primitive and the direct call, in order, and the
# ones that apply to each number of arguments
_ORDER = ("getter", "constant", "at", "setter", "identical", "at:put:", "block")
_BRANCHES_FOR = {0: {"getter", "constant", "block"}, 1: {"constant", "at", "setter", "identical", "block"},
                 2: {"constant", "at:put:", "block"}}
_BRANCHES_FOR_MORE = {"constant", "block"}
_LEADING_KIND = {("value", 0): "block", ("value:", 1): "block", ("value:value:", 2): "block",
                 ("value:value:value:", 3): "block", ("at:", 1): "at", ("at:put:", 2): "at:put:"}


def _is_literal(expression: str) -> bool:
    return expression[0].isdigit() or expression[0] == "-"


def class_lines() -> list[str]:
    """Lines setting ``t`` to the type and ``cls`` to the class of ``r``."""
    return ["t = type(r)",
            "if t is int:",
            f"    cls = {_IMMEDIATE_CLASS}",
            "elif t is float:",
            "    cls = DoubleClass",
            "else:",
            "    cls = r.cls"]


class SendWriter:
    """Writes the sends of one unit's function (``gen``, a ``UnitGenerator``)."""

    def send(self, gen: Any, r: Any, pc: int, site_index: int, resume: int, is_super: bool) -> bool:
        """Write the send at ``pc``; True when the region goes on after it."""
        site = gen.unit.sites[site_index]
        argc = site.argc
        args = [r.pop() for _ in range(argc)][::-1]
        receiver = r.pop()
        if not gen.direct:
            if not gen.lazy_operands:
                gen.materialize_on_stack(r, r.sim)     # the operands below the receiver
                r.sim = []
            r.line("budget -= 1")
        below = list(r.sim)
        result = gen.new_name("t")
        body = r
        if site.selector in BOOLEAN_OPERATORS and argc == 1:
            body = self.boolean_answer(r, result, receiver, args[0], BOOLEAN_OPERATORS.index(site.selector))
        self.dispatch(gen, body, pc, site_index, resume, is_super, receiver, args, below, result)
        if gen.direct or gen.lazy_operands:
            r.push(result)
            return True
        r.line(f"stack.append({result})")
        r.line(f"pc = {resume}")
        return False

    @staticmethod
    def boolean_answer(r: Any, result: str, receiver: str, argument: str, operator: int) -> Any:
        """A Boolean operator between Booleans, answered from vm.booleans; answers the
        region to write the send in, for when there is no answer."""
        r.line(f"{result} = None")
        r.line(f"if ({receiver} == TRUE or {receiver} == FALSE) and ({argument} == TRUE or {argument} == FALSE):")
        r.line("    if TrueClass.token is not BOOLS.true_token or FalseClass.token is not BOOLS.false_token:")
        r.line("        BOOLS.refresh()")
        r.line(f"    {result} = BOOL{operator}[{receiver} + {receiver} + {argument} - FALSE3]")
        r.line(f"if {result} is None:")
        return r.nested()

    def dispatch(self, gen: Any, r: Any, pc: int, site_index: int, resume: int, is_super: bool,
                 receiver: str, args: list[str], below: list[str], result: str) -> None:
        """The send itself: the method, then the call or the inline kind, leaving the
        value in ``result`` (or leaving the function)."""
        argc = len(args)
        r.line(f"r = {receiver}")
        call_args = ", ".join(["interp", "r", *args, "depth + 1"])
        arg_tuple = f"({', '.join(args)}{',' if argc == 1 else ''})"
        sync_in, sync_out = ("", "") if gen.direct else ("interp.budget = budget", "budget = interp.budget")

        def call(region: Any, text: str, levels: int) -> None:
            """``result = text`` for a call that may answer BAIL (and leave there)."""
            pad = "    " * levels
            if sync_in:
                region.line(pad + sync_in)
            region.line(f"{pad}{result} = {text}")
            if sync_out:
                region.line(pad + sync_out)
            region.line(f"{pad}if {result} is BAIL:")
            self.bailed(gen, region.nested(levels + 1), resume, below)

        site = gen.unit.sites[site_index]
        met = site.target.kind if site.target is not None else None
        r.line(f"site = S[{site_index}]")
        if not is_super and met in _INLINE_FIRST and _INLINE_FIRST[met] == _LEADING_KIND.get((site.selector, argc)):
            r = self.inline_first(r, met, args, result, call, call_args)
        if is_super:
            r.line("t = type(r)")
            r.line("start = HOLDER.superclass")
        else:
            for text in class_lines():
                r.line(text)
        general = r
        hit = f"{'start is not None and ' if is_super else ''}site.token is {'start' if is_super else 'cls'}.token"
        # What the site met before this unit was compiled is called first, from the
        # site's cache, with nothing else to test: a bytecode method's direct function
        # (compiled by now, or soon), a plain primitive. Anything else (a miss, no
        # direct function yet, the depth) takes the general path.
        if met in _COMPILED:
            r.line(f"fn = site.fn if {hit} else None")
            r.line("if fn is not None and depth < MAX_DEPTH:")
            call(r, f"fn({call_args})", 1)
            r.line("else:")
            general = r.nested()
        elif met == KIND_PRIMITIVE:
            r.line(f"prim = site.prim if {hit} else None")
            r.line("if prim is not None:")
            r.line("    try:")
            r.line(f"        {result} = prim({', '.join(['VM', 'r', *args])})")
            r.line("    except Exception as error:")
            call(r, f"PRIMITIVE_FAILED(interp, site.target, r, {arg_tuple}, error, depth)", 2)
            r.line("else:")
            general = r.nested()
        self.general(gen, general, pc, site_index, resume, is_super, args, below, result,
                     call, arg_tuple, call_args, refresh=met in _COMPILED)

    @staticmethod
    def inline_first(r: Any, kind: int, args: list[str], result: str, call: Any, call_args: str) -> Any:
        """The kind done inline that the site met before this unit was compiled (an
        Array's at: or at:put:, a block's evaluation), tested first against the site's
        cache; answers the region for everything else."""
        a = args[0] if args else None
        if kind == KIND_ARRAY_AT:
            r.line("if type(r) is VArray and r.cls.token is site.token and site.kind == KIND_ARRAY_AT "
                   f"and type({a}) is int and ONE <= {a} < ONE + len(r.items):")
            r.line(f"    {result} = r.items[{a} - ONE]")
        elif kind == KIND_ARRAY_AT_PUT:
            r.line("if type(r) is VArray and r.cls.token is site.token and site.kind == KIND_ARRAY_AT_PUT "
                   f"and type({a}) is int and ONE <= {a} < ONE + len(r.items):")
            r.line(f"    r.items[{a} - ONE] = {result} = {args[1]}")
        else:
            r.line("if type(r) is Closure and r.cls.token is site.token and site.kind == KIND_BLOCK_VALUE "
                   f"and r.code.num_args == {len(args)} and depth < MAX_DEPTH and (fn := r.code.direct) is not None:")
            call(r, f"fn({call_args})", 1)
        r.line("else:")
        return r.nested()

    def general(self, gen: Any, r: Any, pc: int, site_index: int, resume: int, is_super: bool,
                args: list[str], below: list[str], result: str, call: Any, arg_tuple: str,
                call_args: str, refresh: bool) -> None:
        """The send through the method found: the inline cache or a lookup, then the
        method's kind. ``refresh``: the site has a cached direct function to keep."""
        argc = len(args)
        line = r.line
        if is_super:
            # the site caches the superclass's answer as it caches a receiver class's
            line("if start is not None and site.token is start.token:")
            line("    m = site.target")
            line("elif start is not None and site.token2 is start.token:")
            line("    m = site.target2")
            line("else:")
            line("    m = None if start is None else RESOLVE(VM, site, start)")
            line("    if m is None:")
            self.slow(gen, r.nested(2), pc, resume, below, args, argc, dnu=True)
        else:
            line("if site.token is cls.token:")
            line("    m = site.target")           # never None: a site caches found methods only
            line("elif site.token2 is cls.token:")
            line("    m = site.target2")
            line("else:")
            line("    m = RESOLVE(VM, site, cls)")
            line("    if m is None:")
            self.slow(gen, r.nested(2), pc, resume, below, args, argc, dnu=True)

        def region_call(text: str, levels: int) -> None:
            call(r, text, levels)

        line("fn = m.direct")
        if not is_super:
            # a forwarding method that passes receiver and arguments on: its cached
            # re-send for this class (vm.quicken), done here
            line("if fn is None and m.kind == KIND_FORWARD:")
            line("    forward = m.trivial")
            line("    if forward[2] is None and forward[3][0] is cls.token:")
            line("        m = forward[3][1]")
            line("        fn = m.direct")
        # a primitive first: one with a Smalltalk body may have that body compiled
        # (m.direct), which is only its fallback (runtime.primitive_failed). Only the
        # calls check for BAIL, and only PERFORM answers SLOW.
        line("kind = m.kind")
        # the kind the selector usually meets is tested first (block evaluation at
        # value sites, Array access at at: and at:put: sites); the kinds exclude each
        # other, so the order changes nothing else
        selector = gen.unit.sites[site_index].selector
        leading = _LEADING_KIND.get((selector, argc))
        branches = [("primitive", None)]
        if leading is not None:
            branches.insert(0, (leading, None))
        keyword = "if"
        for kind, _ in branches:
            self.branch(kind, line, keyword, result, args, region_call, arg_tuple, call_args, refresh)
            keyword = "elif"
        for kind in _ORDER:
            if kind != leading and kind in _BRANCHES_FOR.get(argc, _BRANCHES_FOR_MORE):
                self.branch(kind, line, "elif", result, args, region_call, arg_tuple, call_args, refresh)
        line("else:")
        region_call(f"PERFORM(interp, m, r, {arg_tuple}, depth)", 1)
        line(f"    if {result} is SLOW:")
        self.slow(gen, r.nested(2), pc, resume, below, args, argc)

    @staticmethod
    def branch(kind: str, line: Any, keyword: str, result: str, args: list[str], call: Any,
               arg_tuple: str, call_args: str, refresh: bool = False) -> None:
        """One branch of a send's kind test (``keyword`` is if or elif); ``refresh``:
        a direct call of a compiled bytecode method puts its function in the site."""
        argc = len(args)
        if kind == "primitive":
            line(f"{keyword} kind == KIND_PRIMITIVE:")
            line("    try:")
            line(f"        {result} = m.primitive({', '.join(['VM', 'r', *args])})")
            line("    except Exception as error:")
            call(f"PRIMITIVE_FAILED(interp, m, r, {arg_tuple}, error, depth)", 2)
            # a primitive's Smalltalk body may be compiled (m.direct): only its fallback
            line("elif fn is not None and depth < MAX_DEPTH:")
            if refresh:
                # compiled after the site cached it (the direct function is made
                # once; a unit given up invalidates the tokens: vm.faults)
                line("    if kind == KIND_NATIVE and m is site.target:")
                line("        site.fn = fn")
            call(f"fn({call_args})", 1)
        elif kind == "getter":
            line(f"{keyword} kind == KIND_GETTER:")
            line(f"    {result} = r.fields[m.trivial]")
        elif kind == "constant":
            line(f"{keyword} kind == KIND_CONSTANT:")
            line(f"    {result} = r if m.trivial is None else m.trivial")
        elif kind == "at":
            a = args[0]
            line(f"{keyword} kind == KIND_ARRAY_AT and t is VArray and type({a}) is int "
                 f"and ONE <= {a} < ONE + len(r.items):")
            line(f"    {result} = r.items[{a} - ONE]")
        elif kind == "setter":
            a = args[0]
            line(f"{keyword} kind == KIND_SETTER:")
            line(f"    r.fields[m.trivial] = {a}")
            line(f"    {result} = r")
        elif kind == "identical":
            a = args[0]
            line(f"{keyword} kind == KIND_IDENTICAL:")
            same = f"identical(r, {a})" if _is_literal(a) else f"(r is {a} or identical(r, {a}))"
            line(f"    {result} = TRUE if {same} else FALSE")
        elif kind == "at:put:":
            a, b = args
            line(f"{keyword} kind == KIND_ARRAY_AT_PUT and t is VArray and type({a}) is int "
                 f"and ONE <= {a} < ONE + len(r.items):")
            line(f"    r.items[{a} - ONE] = {result} = {b}")
        else:
            line(f"{keyword} kind == KIND_BLOCK_VALUE and t is Closure and r.code.num_args == {argc} "
                 "and r.code.direct is not None and depth < MAX_DEPTH:")
            call(f"r.code.direct({call_args})", 1)

    @staticmethod
    def bailed(gen: Any, r: Any, resume: int, below: list[str]) -> None:
        """The send answered BAIL: this activation continues as a context after it."""
        if not gen.direct:
            gen.materialize_on_stack(r, below)
            r.line(f"ctx.pc = {resume}")
            r.line("return RESUME_AFTER_SEND(interp, ctx), interp.budget")
            return
        r.line(f"return {gen.after_send_expression(str(resume), below)}")

    @staticmethod
    def slow(gen: Any, r: Any, pc: int, resume: int, below: list[str], args: list[str],
             argc: int, dnu: bool = False) -> None:
        """The send needs the interpreter's semantics: a direct function hands the
        activation back at the send; a resumable one makes the send itself."""
        if gen.direct:
            gen.bail_lines(r.indent, pc, [*below, "r", *args], "INTERPRET")
            return
        gen.materialize_on_stack(r, [*below, "r", *args])
        if dnu:
            r.line(f"ctx.pc = {resume}")
            r.line(f"return interp.dnu(ctx, r, site.selector, {argc}), budget")
            return
        r.line("if m.kind == KIND_PRIMITIVE_INTERPRETED:")
        r.line(f"    ctx.pc = {pc}")
        r.line("    return ctx, budget")
        r.line(f"ctx.pc = {resume}")
        r.line(f"following = interp.activate(ctx, m, {argc})")
        r.line(f"if following is not ctx or ctx.pc != {resume}:")
        r.line("    return following, budget")
        if gen.lazy_operands:
            gen.reload_operands(r, len(below) + 1)
        r.line(f"pc = {resume}")
        r.line("continue")
