"""Native twin of Collections.som: a list of pseudo-random Integers, a dict counting
them, a set of the distinct ones and a dict keyed by strings, every round."""
from __future__ import annotations


class Collections:
    def __init__(self, seed: int) -> None:
        self.seed = seed

    def next(self) -> int:
        self.seed = self.seed * 16807 % 2147483647
        return self.seed % 1000

    def round(self, count: int) -> list[int]:
        numbers = []
        for _ in range(count):
            numbers.append(self.next())
        swaps = 0
        for i in range(len(numbers) - 1):
            a = numbers[i]
            b = numbers[i + 1]
            if a > b:
                numbers[i] = b
                numbers[i + 1] = a
                swaps += 1
        counts: dict[int, int] = {}
        for n in numbers:
            counts[n] = counts.get(n, 0) + 1
        distinct = set()
        for n in numbers:
            distinct.add(n)
        names = {}
        for n in distinct:
            names["n" + str(n)] = n
        total = 0
        for i in range(len(numbers)):
            total = total + counts[numbers[i]] * numbers[i]
        for key, n in names.items():
            if not (n in distinct and n in counts):
                raise ValueError("lost " + key)
        return [swaps, len(distinct), total, len(names)]


def benchmark(rounds: int) -> list[int]:
    collections = Collections(42)
    results = [0, 0, 0, 0]
    for _ in range(rounds):
        one = collections.round(300)
        for i in range(4):
            results[i] += one[i]
    return results


def verify(rounds: int, result: object) -> bool:
    """Independent check with collections.Counter over the same pseudo-random
    sequence (Park and Miller's minimal standard generator), and the swaps of one
    bubble pass counted on a copy."""
    from collections import Counter
    seed = 42
    expected = [0, 0, 0, 0]
    for _ in range(rounds):
        values = []
        for _ in range(300):
            seed = seed * 16807 % 2147483647
            values.append(seed % 1000)
        swaps = 0
        bubbled = list(values)
        for i in range(len(bubbled) - 1):
            if bubbled[i] > bubbled[i + 1]:
                bubbled[i], bubbled[i + 1] = bubbled[i + 1], bubbled[i]
                swaps += 1
        counter = Counter(values)
        expected[0] += swaps
        expected[1] += len(counter)
        expected[2] += sum(counter[n] * n for n in bubbled)
        expected[3] += len(counter)
    return result == expected
