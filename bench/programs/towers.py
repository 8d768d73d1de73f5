"""Native twin of Towers.som: towers of Hanoi over explicit linked piles of discs."""
from __future__ import annotations


class Disc:
    __slots__ = ("below", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.below: Disc | None = None


class Towers:
    def __init__(self) -> None:
        self.piles: list[Disc | None] = [None, None, None, None]   # 1-based piles
        self.moves = 0

    def push(self, disc: Disc, pile: int) -> None:
        top = self.piles[pile]
        if top is not None and disc.size >= top.size:
            raise ValueError("a larger disc cannot go on a smaller one")
        disc.below = top
        self.piles[pile] = disc

    def pop(self, pile: int) -> Disc:
        top = self.piles[pile]
        if top is None:
            raise ValueError(f"no disc on pile {pile}")
        self.piles[pile] = top.below
        top.below = None
        return top

    def build(self, discs: int, pile: int) -> None:
        for size in range(discs, 0, -1):
            self.push(Disc(size), pile)

    def move_top(self, source: int, target: int) -> None:
        self.push(self.pop(source), target)
        self.moves += 1

    def move(self, discs: int, source: int, target: int, spare: int) -> None:
        if discs == 1:
            self.move_top(source, target)
            return
        self.move(discs - 1, source, spare, target)
        self.move_top(source, target)
        self.move(discs - 1, spare, target, source)

    def solve(self, discs: int) -> int:
        self.build(discs, 1)
        self.move(discs, 1, 3, 2)
        if self.piles[1] is not None:
            raise ValueError("discs left behind")
        return self.moves


def benchmark(discs: int) -> int:
    return Towers().solve(discs)


def verify(discs: int, result: object) -> bool:
    """Moving n discs takes 2^n - 1 moves."""
    return result == 2 ** discs - 1
