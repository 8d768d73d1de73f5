"""Native twin of Storage.som: build trees of arrays recursively and count them."""
from __future__ import annotations


class Storage:
    def __init__(self) -> None:
        self.count = 0

    def build(self, depth: int) -> list:
        self.count += 1
        if depth == 0:
            return [None] * (self.count % 8 + 1)
        node: list = [None] * 4
        for i in range(4):
            node[i] = self.build(depth - 1)
        return node

    def count_leaves(self, node: list, depth: int) -> int:
        if depth == 0:
            return len(node)
        total = 0
        for child in node:
            total += self.count_leaves(child, depth - 1)
        return total

    def repeat(self, times: int, depth: int) -> list[int]:
        self.count = 0
        slots = 0
        for _ in range(times):
            slots += self.count_leaves(self.build(depth), depth)
        return [self.count, slots]


def benchmark(repetitions: int) -> list[int]:
    return Storage().repeat(repetitions, 6)


def verify(repetitions: int, result: object) -> bool:
    """Closed form: (4^7 - 1) / 3 arrays per tree; leaf slots follow the allocation
    counter, replayed here by walking the tree's build order without building it."""
    depth = 6
    counter = 0
    slots = 0

    def walk(d: int) -> None:
        nonlocal counter, slots
        counter += 1
        if d == 0:
            slots += counter % 8 + 1
            return
        for _ in range(4):
            walk(d - 1)

    for _ in range(repetitions):
        walk(depth)
    return result == [repetitions * (4 ** (depth + 1) - 1) // 3, slots]

