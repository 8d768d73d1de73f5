"""Native twin of Queens.som: count the 8-queens solutions by backtracking."""
from __future__ import annotations


class Queens:
    def __init__(self, board_size: int) -> None:
        self.size = board_size
        # Index 0 unused so that the tables are 1-based like the hosted twin's.
        self.column_free = [True] * (board_size + 1)
        self.rising_free = [True] * (2 * board_size + 1)
        self.falling_free = [True] * (2 * board_size + 1)
        self.solutions = 0

    def is_free(self, row: int, column: int) -> bool:
        return (self.column_free[column]
                and (self.rising_free[row + column] and self.falling_free[row - column + self.size]))

    def mark(self, row: int, column: int, free: bool) -> None:
        self.column_free[column] = free
        self.rising_free[row + column] = free
        self.falling_free[row - column + self.size] = free

    def place_row(self, row: int) -> None:
        if row > self.size:
            self.solutions += 1
            return
        for column in range(1, self.size + 1):
            if self.is_free(row, column):
                self.mark(row, column, False)
                self.place_row(row + 1)
                self.mark(row, column, True)


def solve(board_size: int) -> int:
    queens = Queens(board_size)
    queens.place_row(1)
    return queens.solutions


def benchmark(repetitions: int) -> int:
    total = 0
    for _ in range(repetitions):
        total += solve(8)
    return total


def verify(repetitions: int, result: object) -> bool:
    """The eight queens puzzle has 92 solutions (a classic, known result)."""
    return result == 92 * repetitions
