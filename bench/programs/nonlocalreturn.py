"""Native twin of NonLocalReturn.som. Python has no non-local return, so the closure
tells the iterating method to stop by answering a value (None means go on), and the
iterating method hands that value back: the same calls, the same early exit through
the intermediate frame, with Python's cheapest mechanism for it."""
from __future__ import annotations

from collections.abc import Callable


class NonLocalReturn:
    def __init__(self) -> None:
        self.items = list(range(1, 11))

    def each(self, block: Callable[[int], int | None]) -> int | None:
        for x in self.items:
            answer = block(x)
            if answer is not None:
                return answer
        return None

    def first_above(self, limit: int) -> int:
        answer = self.each(lambda x: x if x > limit else None)
        if answer is not None:
            return answer
        return 0

    def run(self, n: int) -> int:
        total = 0
        for i in range(1, n + 1):
            total = total + self.first_above(i % 12)
        return total


def benchmark(n: int) -> int:
    return NonLocalReturn().run(n)


def verify(n: int, result: object) -> bool:
    """The first of 1..10 above k is k + 1 when k < 10, and there is none otherwise."""
    return result == sum(i % 12 + 1 if i % 12 < 10 else 0 for i in range(1, n + 1))
