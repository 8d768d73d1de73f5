"""Which inlined loop blocks must run as real block activations, so that closures made
in a loop capture that iteration's variables.

The rules:

- Semantically the body of a loop (and the condition of ``whileTrue:``/``whileFalse:``)
  is a block evaluated once per iteration, as in SOM and Pharo: every variable declared
  in it — its parameter, its temporaries and those of the blocks inlined inside it
  (``ifTrue: [ | t | … ]``) — is fresh (temporaries nil) on each iteration. Variables
  declared outside the loop are shared by all iterations.
- The code generator inlines such a block as jumps, with its variables as slots of
  the enclosing activation. That is only correct while no closure can outlive an
  iteration holding one of them. So a loop block is *captured* when a variable it
  declares is named (read or assigned) inside a real (not inlined) block nested in it;
  such a loop block is compiled as a real block and evaluated once per iteration
  (fresh storage). Every other loop keeps the inlined fast path.
- A loop block made real for this reason does not, by itself, capture the variables
  of an enclosing loop: its closure is evaluated and dropped within the iteration
  that made it. Only a closure the program wrote counts.

Which sends are inlined, and which of their blocks repeat, is decided in one place,
``compiler.inlining.inline_shape``; this module only reads the AST. The walk uses an
explicit work list, so a deeply nested or very long expression never recurses.
"""
from __future__ import annotations

from typing import Any

from smalltalk_vm.compiler import ast as A
from smalltalk_vm.compiler.inlining import inline_shape

# A declaration: the loop block (by id) whose iterations own it, or None, and how many
# real blocks enclose the place where it is declared.
_Declaration = tuple[int | None, int]


def captured_loop_blocks(params: list[str], body: A.Body) -> set[int]:
    """The ids of the loop blocks in a method or do-it body (``params`` are the
    method's arguments) that must be compiled as real blocks."""
    walk = _Walk()
    walk.frames.append(dict.fromkeys([*params, *body.temps], (None, 0)))
    walk.statements(body.statements)
    walk.run()
    return walk.captured


class _Walk:
    def __init__(self) -> None:
        self.frames: list[dict[str, _Declaration]] = []
        self.real_depth = 0
        self.region: int | None = None
        self.captured: set[int] = set()
        # ("node", expr) | ("block", block, is_inlined, repeats) | ("restore", frames, depth, region)
        self.work: list[tuple] = []

    def statements(self, statements: list) -> None:
        self.work.extend(("node", s) for s in reversed(statements))

    def run(self) -> None:
        work = self.work
        while work:
            item = work.pop()
            kind = item[0]
            if kind == "node":
                self.visit(item[1])
            elif kind == "block":
                self.enter_block(item[1], item[2], item[3])
            else:
                _, frames, self.real_depth, self.region = item
                del self.frames[frames:]

    def enter_block(self, block: A.Block, inlined: bool, repeats: bool) -> None:
        self.work.append(("restore", len(self.frames), self.real_depth, self.region))
        if not inlined:
            self.real_depth += 1
            self.region = None
        elif repeats:
            self.region = id(block)
        declaration = (self.region, self.real_depth)
        self.frames.append(dict.fromkeys([*block.params, *block.body.temps], declaration))
        self.statements(block.body.statements)

    def refer(self, name: str) -> None:
        for frame in reversed(self.frames):
            found = frame.get(name)
            if found is not None:
                region, depth = found
                if region is not None and self.real_depth > depth:
                    self.captured.add(region)
                return

    def visit(self, node: Any) -> None:
        kind = type(node)
        work = self.work
        if kind is A.Variable:
            self.refer(node.name)
        elif kind is A.Assign:
            self.refer(node.name)
            work.append(("node", node.value))
        elif kind is A.Send:
            shape = inline_shape(node)
            once, repeated = shape if shape is not None else ((), ())
            for child in (node.receiver, *node.args):
                if any(child is b for b in repeated):
                    work.append(("block", child, True, True))
                elif any(child is b for b in once):
                    work.append(("block", child, True, False))
                else:
                    work.append(("node", child))
        elif kind is A.Block:
            work.append(("block", node, False, False))
        elif kind is A.Return:
            work.append(("node", node.value))
        elif kind is A.Cascade:
            work.append(("node", node.receiver))
            for chain in node.parts:
                for message in chain:
                    work.extend(("node", arg) for arg in message.args)
        elif kind is A.EventualSend:
            work.append(("node", node.receiver))
            work.extend(("node", arg) for arg in node.args)
        elif kind is A.BraceArray:
            work.extend(("node", item) for item in node.items)
