"""Native twin of BlockEval.som: closures held in variables, called in a loop, one
of them rebinding a captured variable, one passed to another method."""
from __future__ import annotations

from collections.abc import Callable


class BlockEval:
    def apply(self, block: Callable[[int], int], value: int) -> int:
        return block(value)

    def run(self, n: int) -> list[int]:
        increment = lambda x: x + 1
        add = lambda x, y: x + y
        count = 0

        def counter() -> int:
            nonlocal count
            count = count + 1
            return count

        total = 0
        for i in range(1, n + 1):
            total = add(total, increment(i))
            counter()
            total = self.apply(increment, total)
        return [total, count]


def benchmark(n: int) -> list[int]:
    return BlockEval().run(n)


def verify(n: int, result: object) -> bool:
    """Each step adds i + 1, then 1 more: n(n+1)/2 + 2n in all, over n counted steps."""
    return result == [n * (n + 1) // 2 + 2 * n, n]
