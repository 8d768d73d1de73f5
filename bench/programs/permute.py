"""Native twin of Permute.som: every permutation of an array by recursive swapping."""
from __future__ import annotations

import math


class Permute:
    def __init__(self, n: int) -> None:
        self.items = list(range(n + 1))   # index 0 unused: 1-based like the hosted twin
        self.count = 0
        self.first_sum = 0

    def swap(self, i: int, j: int) -> None:
        items = self.items
        items[i], items[j] = items[j], items[i]

    def permute(self, k: int) -> None:
        if k == 1:
            self.count += 1
            self.first_sum += self.items[1]
            return
        for i in range(1, k + 1):
            self.swap(i, k)
            self.permute(k - 1)
            self.swap(i, k)

    def run(self) -> list[int]:
        self.permute(len(self.items) - 1)
        return [self.count, self.first_sum]


def benchmark(n: int) -> list[int]:
    return Permute(n).run()


def verify(n: int, result: object) -> bool:
    """n! permutations; each value leads (n-1)! of them."""
    return result == [math.factorial(n), math.factorial(n - 1) * n * (n + 1) // 2]
