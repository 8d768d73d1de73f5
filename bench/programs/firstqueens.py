"""Native twin of FirstQueens.som: the first placement of n queens found by
backtracking column by column, for every n from 4 up to the size asked."""
from __future__ import annotations

from functools import cache


class FirstQueens:
    def __init__(self, n: int) -> None:
        self.size = n
        # Index 0 unused so that the tables are 1-based like the hosted twin's.
        self.row_free = [True] * (n + 1)
        self.up_free = [True] * (2 * n + 1)
        self.down_free = [True] * (2 * n + 1)
        self.placement = [0] * (n + 1)

    def is_free(self, r: int, c: int) -> bool:
        return self.row_free[r] and self.up_free[r + c] and self.down_free[r - c + self.size]

    def mark(self, r: int, c: int, free: bool) -> None:
        self.row_free[r] = free
        self.up_free[r + c] = free
        self.down_free[r - c + self.size] = free

    def place_from(self, c: int) -> bool:
        for r in range(1, self.size + 1):
            if self.is_free(r, c):
                self.placement[c] = r
                self.mark(r, c, False)
                if c == self.size:
                    return True
                if self.place_from(c + 1):
                    return True
                self.mark(r, c, True)
        return False

    def checksum(self) -> int:
        total = 0
        for r in self.placement[1:]:
            total = (total * 31 + r) % 1000003
        return total


def benchmark(largest: int) -> list:
    ok = True
    total = 0
    for n in range(4, largest + 1):
        queens = FirstQueens(n)
        ok = ok and queens.place_from(1)
        total += queens.checksum()
    return [ok, total]


@cache
def _first_placement(n: int) -> tuple[int, ...]:
    """The lexicographically first placement (the row of each column), by an
    iterative search: a different formulation of the same question."""
    rows: list[int] = []
    row = 1
    while True:
        column = len(rows)
        while row <= n and not all(row != other and abs(row - other) != column - i
                                   for i, other in enumerate(rows)):
            row += 1
        if row <= n:
            rows.append(row)
            if len(rows) == n:
                return tuple(rows)
            row = 1
        elif not rows:
            return ()
        else:
            row = rows.pop() + 1


def verify(largest: int, result: object) -> bool:
    total = 0
    for n in range(4, largest + 1):
        checksum = 0
        for r in _first_placement(n):
            checksum = (checksum * 31 + r) % 1000003
        total += checksum
    return result == [True, total]
