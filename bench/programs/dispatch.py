"""Native twin of Dispatch.som: two send sites that each see four receiver classes."""
from __future__ import annotations

from abc import ABC, abstractmethod


class Shape(ABC):
    """The abstract shape (Dispatch.som's `subclassResponsibility` methods)."""
    __slots__ = ("a", "b")

    def __init__(self, a: int, b: int) -> None:
        self.a = a
        self.b = b

    @abstractmethod
    def area(self) -> int:
        """Each kind of shape computes its own."""

    @abstractmethod
    def corners(self) -> int:
        """Each kind of shape counts its own."""


class Square(Shape):
    __slots__ = ()

    def area(self) -> int:
        return self.a * self.a

    def corners(self) -> int:
        return 4


class Rectangle(Shape):
    __slots__ = ()

    def area(self) -> int:
        return self.a * self.b

    def corners(self) -> int:
        return 4


class Triangle(Shape):
    __slots__ = ()

    def area(self) -> int:
        return self.a * self.b // 2

    def corners(self) -> int:
        return 3


class Circle(Shape):
    """A circle of radius a, with pi taken as 3 to stay in integers."""
    __slots__ = ()

    def area(self) -> int:
        return self.a * self.a * 3

    def corners(self) -> int:
        return 0


def make_shapes() -> list[Shape]:
    kinds = [Circle, Square, Rectangle, Triangle]
    return [kinds[i % 4](i % 10 + 1, i % 7 + 2) for i in range(1, 101)]


def benchmark(passes: int) -> int:
    shapes = make_shapes()
    total = 0
    for _ in range(passes):
        for shape in shapes:
            total = total + shape.area() + shape.corners()
    return total


def verify(passes: int, result: object) -> bool:
    """Independent check: the same areas from a formula table, without dispatch."""
    per_pass = 0
    for i in range(1, 101):
        a, b = i % 10 + 1, i % 7 + 2
        per_pass += [a * a * 3, a * a + 4, a * b + 4, a * b // 2 + 3][i % 4]
    return result == per_pass * passes
