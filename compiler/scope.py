"""Lexical scopes for the code generator: which slot of which activation a name lives in.

A ``Scope`` is one real activation (a method, or a block that is not inlined). Blocks
that are inlined (the literal blocks of ``ifTrue:``, ``whileTrue:``, ``to:do:`` …) do not
get an activation: their parameters and temporaries become extra slots of the enclosing
scope, visible only while that block's frame is open. This module does no code emission.
"""
from __future__ import annotations


class Scope:
    def __init__(self, outer: Scope | None, is_block: bool) -> None:
        self.outer = outer
        self.is_block = is_block
        self.slot_names: list[str] = []
        self.read_only: set[int] = set()
        self.frames: list[dict[str, int]] = [{}]
        self.num_args = 0

    def declare(self, name: str, read_only: bool = False) -> int:
        """A new slot for ``name`` in the innermost open frame."""
        slot = len(self.slot_names)
        self.slot_names.append(name)
        self.frames[-1][name] = slot
        if read_only:
            self.read_only.add(slot)
        return slot

    def hidden(self, purpose: str) -> int:
        """A slot no source name can reach (loop limits, counters)."""
        slot = len(self.slot_names)
        self.slot_names.append(f"<{purpose}>")
        return slot

    def open_frame(self) -> None:
        self.frames.append({})

    def close_frame(self) -> None:
        self.frames.pop()

    def declared_in_innermost_frame(self, name: str) -> bool:
        return name in self.frames[-1]

    def find_local(self, name: str) -> int | None:
        for frame in reversed(self.frames):
            slot = frame.get(name)
            if slot is not None:
                return slot
        return None

    def resolve(self, name: str) -> tuple[int, int] | None:
        """(depth, slot) of ``name``: depth 0 is this scope, 1 its defining scope, …"""
        scope: Scope | None = self
        depth = 0
        while scope is not None:
            slot = scope.find_local(name)
            if slot is not None:
                return depth, slot
            scope = scope.outer
            depth += 1
        return None

    def scope_at(self, depth: int) -> Scope:
        scope = self
        for _ in range(depth):
            scope = scope.outer
        return scope

    @property
    def num_temps(self) -> int:
        return len(self.slot_names) - self.num_args
