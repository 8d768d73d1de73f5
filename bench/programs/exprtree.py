"""Native twin of ExprTree.som: expression trees of eight node classes built from a
pseudo-random sequence and evaluated for many values of the variable."""
from __future__ import annotations

MODULUS = 10007


class Node:
    __slots__ = ()

    def size(self) -> int:
        return 1


class Binary(Node):
    __slots__ = ("left", "right")

    def __init__(self, left: Node, right: Node) -> None:
        self.left = left
        self.right = right

    def size(self) -> int:
        return 1 + self.left.size() + self.right.size()


class Const(Node):
    __slots__ = ("value",)

    def __init__(self, value: int) -> None:
        self.value = value

    def value_at(self, x: int) -> int:
        return self.value


class Var(Node):
    __slots__ = ()

    def value_at(self, x: int) -> int:
        return x % MODULUS


class Sum(Binary):
    __slots__ = ()

    def value_at(self, x: int) -> int:
        return (self.left.value_at(x) + self.right.value_at(x)) % MODULUS


class Diff(Binary):
    __slots__ = ()

    def value_at(self, x: int) -> int:
        return (self.left.value_at(x) - self.right.value_at(x)) % MODULUS


class Product(Binary):
    __slots__ = ()

    def value_at(self, x: int) -> int:
        return (self.left.value_at(x) * self.right.value_at(x)) % MODULUS


class Max(Binary):
    __slots__ = ()

    def value_at(self, x: int) -> int:
        return max(self.left.value_at(x), self.right.value_at(x))


class Choice(Binary):
    __slots__ = ()

    def value_at(self, x: int) -> int:
        return self.left.value_at(x) if x % 2 == 0 else self.right.value_at(x)


class Negate(Node):
    __slots__ = ("operand",)

    def __init__(self, operand: Node) -> None:
        self.operand = operand

    def value_at(self, x: int) -> int:
        return (0 - self.operand.value_at(x)) % MODULUS

    def size(self) -> int:
        return 1 + self.operand.size()


class Builder:
    def __init__(self, seed: int) -> None:
        self.seed = seed

    def next(self, limit: int) -> int:
        self.seed = self.seed * 16807 % 2147483647
        return self.seed % limit

    def build(self, depth: int) -> Node:
        if depth == 0:
            return Const(self.next(10)) if self.next(2) == 0 else Var()
        kind = self.next(8)
        if kind == 0:
            return Const(self.next(10))
        if kind == 1:
            return Var()
        if kind == 5:
            return Negate(self.build(depth - 1))
        binary = {2: Sum, 3: Diff, 4: Product, 6: Max}.get(kind, Choice)
        left = self.build(depth - 1)
        return binary(left, self.build(depth - 1))


def benchmark(points: int) -> list[int]:
    builder = Builder(2024)
    trees = [builder.build(7) for _ in range(20)]
    total = 0
    nodes = 0
    for tree in trees:
        nodes += tree.size()
        for x in range(1, points + 1):
            total += tree.value_at(x)
    return [nodes, total]


def verify(points: int, result: object) -> bool:
    """Independent check: the same trees written out as Python expressions, compiled
    and evaluated by Python itself."""
    seed = 2024
    nodes = 0

    def next_value(limit: int) -> int:
        nonlocal seed
        seed = seed * 16807 % 2147483647
        return seed % limit

    def text(depth: int) -> str:
        nonlocal nodes
        nodes += 1
        if depth == 0:
            return str(next_value(10)) if next_value(2) == 0 else "(x % 10007)"
        kind = next_value(8)
        if kind == 0:
            return str(next_value(10))
        if kind == 1:
            return "(x % 10007)"
        if kind == 5:
            return f"((0 - {text(depth - 1)}) % 10007)"
        left = text(depth - 1)
        right = text(depth - 1)
        forms = {2: "(({l} + {r}) % 10007)", 3: "(({l} - {r}) % 10007)", 4: "(({l} * {r}) % 10007)",
                 6: "max({l}, {r})"}
        return forms.get(kind, "({l} if x % 2 == 0 else {r})").format(l=left, r=right)

    functions = [eval("lambda x: " + text(7)) for _ in range(20)]
    total = sum(f(x) for f in functions for x in range(1, points + 1))
    return result == [nodes, total]
