"""Native twin of HanoiArrays.som: the towers of Hanoi in lists, with one small
method per question about a pile and a list of Booleans for odd move counts."""
from __future__ import annotations


class HanoiArrays:
    def __init__(self, discs: int) -> None:
        # Index 0 unused so that the lists are 1-based like the hosted twin's Arrays.
        self.piles = [None] + [[0] * (discs + 1) for _ in range(3)]
        self.heights = [0, 0, 0, 0]
        self.odd_moves = [False] * (discs + 1)
        self.moves = 0
        for disc in range(discs, 0, -1):
            self.push(disc, 1)

    def height_of(self, pile: int) -> int:
        return self.heights[pile]

    def is_empty(self, pile: int) -> bool:
        return self.height_of(pile) == 0

    def top_of(self, pile: int) -> int:
        return self.piles[pile][self.height_of(pile)]

    def can_put(self, disc: int, pile: int) -> bool:
        return self.is_empty(pile) or disc < self.top_of(pile)

    def push(self, disc: int, pile: int) -> None:
        if not self.can_put(disc, pile):
            raise ValueError("a disc cannot go on a smaller one")
        self.heights[pile] = self.height_of(pile) + 1
        self.piles[pile][self.height_of(pile)] = disc

    def pop(self, pile: int) -> int:
        if self.is_empty(pile):
            raise ValueError(f"no disc on pile {pile}")
        disc = self.top_of(pile)
        self.piles[pile][self.height_of(pile)] = 0
        self.heights[pile] = self.height_of(pile) - 1
        return disc

    def move_from(self, source: int, target: int) -> None:
        disc = self.pop(source)
        self.push(disc, target)
        self.odd_moves[disc] = not self.odd_moves[disc]
        self.moves += 1

    def move(self, count: int, source: int, target: int, spare: int) -> None:
        if count == 0:
            return
        self.move(count - 1, source, spare, target)
        self.move_from(source, target)
        self.move(count - 1, spare, target, source)

    def odd_count(self) -> int:
        count = 0
        for odd in self.odd_moves[1:]:
            if odd:
                count += 1
        return count


def benchmark(discs: int) -> list:
    towers = HanoiArrays(discs)
    towers.move(discs, 1, 3, 2)
    return [towers.moves, towers.odd_count(), towers.height_of(3), towers.top_of(3)]


def verify(discs: int, result: object) -> bool:
    """Closed forms: 2^n - 1 moves; disc d moves 2^(n-d) times, so only the largest
    moves an odd number of times; every disc ends on pile 3, the smallest on top."""
    return result == [2 ** discs - 1, 1, discs, 1]
