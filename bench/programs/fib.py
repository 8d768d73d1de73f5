"""Native twin of Fib.som: doubly recursive Fibonacci."""
from __future__ import annotations


class Fib:
    def fib(self, n: int) -> int:
        if n < 2:
            return n
        return self.fib(n - 1) + self.fib(n - 2)


def benchmark(n: int) -> int:
    return Fib().fib(n)


def verify(n: int, result: object) -> bool:
    """Independent check: the same number computed iteratively."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return result == a
