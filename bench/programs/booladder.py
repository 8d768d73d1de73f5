"""Native twin of BoolAdder.som: a 32-bit accumulator of Booleans adding 1..n through
full adders made of Boolean operators, counting the carries."""
from __future__ import annotations


class BoolAdder:
    def __init__(self, width: int) -> None:
        self.width = width
        self.bits = [False] * width
        self.carries = 0

    @staticmethod
    def differ(a: bool, b: bool) -> bool:
        return (a | b) & (not (a & b))

    def sum_of(self, a: bool, b: bool, c: bool) -> bool:
        return self.differ(self.differ(a, b), c)

    @staticmethod
    def carry_of(a: bool, b: bool, c: bool) -> bool:
        return (a and b) or (c and (a or b))

    def bits_of(self, number: int) -> list[bool]:
        result = [False] * self.width
        n = number
        for i in range(self.width):
            result[i] = n % 2 == 1
            n = n // 2
        return result

    def add(self, number: int) -> bool:
        other = self.bits_of(number)
        carry = False
        for i in range(self.width):
            a = self.bits[i]
            b = other[i]
            self.bits[i] = self.sum_of(a, b, carry)
            carry = self.carry_of(a, b, carry)
            if carry:
                self.carries += 1
        return carry

    def is_zero(self) -> bool:
        clear = True
        for bit in self.bits:
            clear = clear and not bit
        return clear

    def has_top_bit(self) -> bool:
        return self.bits[self.width - 1] or False

    def value(self) -> int:
        total = 0
        weight = 1
        for bit in self.bits:
            if bit:
                total += weight
            weight *= 2
        return total


def benchmark(n: int) -> list:
    adder = BoolAdder(32)
    ok = adder.is_zero()
    for i in range(1, n + 1):
        ok = ok and not adder.add(i)
    ok = ok & (not adder.is_zero()) & (not adder.has_top_bit())
    return [ok, adder.value(), adder.carries]


def verify(n: int, result: object) -> bool:
    """Independent check: the sum is n(n+1)/2, and adding b to a produces
    popcount(a) + popcount(b) - popcount(a + b) carries (no overflow below 2^31)."""
    total = 0
    carries = 0
    for i in range(1, n + 1):
        carries += bin(total).count("1") + bin(i).count("1") - bin(total + i).count("1")
        total += i
    return total < 2 ** 31 and result == [True, total, carries]
