"""What the Boolean operators with an evaluated argument answer when both sides are
Booleans (``a && b``, ``a || b``, ``a and: b``, ``a or: b``, ``a & b``, ``a | b``), so
that the interpreter and native code can answer them without a send.

The rules:

- The answers are derived from the methods True and False have *now*, by following
  only what can be followed without running code: forwarding methods
  (``Boolean>>&& = ( ^ self and: x )``, ``True>>and: = ( ^ aBlock value )``) and
  constant ones (``False>>and: = ( ^ false )``, ``Object>>value = ( ^ self )``).
  An operator whose methods do anything else has no answer here and is sent.
- The table is valid while the lookup tokens of True and False are the ones it was
  derived under; any method change that could alter a lookup through either class
  replaces a token, and the next use derives the table again.

This module reads classes and methods; it never runs Smalltalk code.
"""
from __future__ import annotations

from typing import Any

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.objects import KIND_CONSTANT, KIND_FORWARD

OPERATORS = ("&&", "||", "and:", "or:", "&", "|")
_DEPTH = 8            # forwarding methods followed for one answer


def key(receiver: int, argument: int) -> int:
    """The index of an answer: receiver and argument are each true or false."""
    return receiver + receiver + argument - 3 * V.FALSE


class BooleanOperators:
    """Per universe. VM thread only; never raises."""

    def __init__(self, vm: Any) -> None:
        self.vm = vm
        # the tokens of True and False the answers hold for (None: not derived yet)
        self.true_token: Any = None
        self.false_token: Any = None
        # selector -> answers indexed by ``key`` (None where there is no answer); the
        # lists are updated in place, so code may keep references to them
        self.answers: dict[str, list] = {selector: [None] * 4 for selector in OPERATORS}

    def refresh(self) -> None:
        """Derive the answers again (the tokens of True or False changed)."""
        vm = self.vm
        for selector, answers in self.answers.items():
            for receiver in (V.FALSE, V.TRUE):
                for argument in (V.FALSE, V.TRUE):
                    answers[key(receiver, argument)] = self.answer(receiver, selector, (argument,))
        self.true_token = vm.class_of(V.TRUE).token
        self.false_token = vm.class_of(V.FALSE).token

    def answer(self, receiver: Any, selector: str, args: tuple) -> Any:
        vm = self.vm
        for _ in range(_DEPTH):
            if receiver != V.TRUE and receiver != V.FALSE:
                return None
            method = vm.lookup(vm.class_of(receiver), selector)
            if method is None:
                return None
            if method.kind == KIND_CONSTANT:
                return receiver if method.trivial is None else method.trivial
            if method.kind != KIND_FORWARD:
                return None
            selector, new_receiver, picks, _ = method.trivial
            if picks is not None:
                values = (receiver, *args)
                receiver = values[new_receiver]
                args = tuple(values[p] for p in picks)
        return None
