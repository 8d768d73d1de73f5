"""Native twin of Lists.som: Takeuchi's function on linked lists."""
from __future__ import annotations


class Element:
    __slots__ = ("next", "value")

    def __init__(self, value: int, next_element: Element | None) -> None:
        self.value = value
        self.next = next_element

    def length(self) -> int:
        if self.next is None:
            return 1
        return 1 + self.next.length()


class Lists:
    def make_list(self, length: int) -> Element | None:
        result = None
        for i in range(1, length + 1):
            result = Element(i, result)
        return result

    def is_shorter(self, x: Element | None, y: Element | None) -> bool:
        xs, ys = x, y
        while ys is not None:
            if xs is None:
                return True
            xs = xs.next
            ys = ys.next
        return False

    def tak(self, x: Element, y: Element, z: Element) -> Element:
        if not self.is_shorter(y, x):
            return z
        return self.tak(self.tak(x.next, y, z),
                        self.tak(y.next, z, x),
                        self.tak(z.next, x, y))

    def once(self) -> int:
        return self.tak(self.make_list(15), self.make_list(10), self.make_list(6)).length()


def benchmark(repetitions: int) -> int:
    lists = Lists()
    total = 0
    for _ in range(repetitions):
        total += lists.once()
    return total


def _tak(x: int, y: int, z: int) -> int:
    if not y < x:
        return z
    return _tak(_tak(x - 1, y, z), _tak(y - 1, z, x), _tak(z - 1, x, y))


def verify(repetitions: int, result: object) -> bool:
    """Independent check: Takeuchi's function on plain integers."""
    return result == repetitions * _tak(15, 10, 6)
