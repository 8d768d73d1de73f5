"""Native twin of ExceptionHandling.som: raise from two frames down three times in
four, catch and answer the error's code; a finally clause in the frame between
runs on both the normal and the unwinding path."""
from __future__ import annotations


class ExceptionHandlingError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class ExceptionHandling:
    def __init__(self) -> None:
        self.cleanups = 0

    def inner(self, i: int) -> int:
        if i % 4 == 0:
            return i
        raise ExceptionHandlingError(i % 4)

    def middle(self, i: int) -> int:
        try:
            return self.inner(i)
        finally:
            self.cleanups = self.cleanups + 1

    def run(self, n: int) -> list[int]:
        self.cleanups = 0
        total = 0
        for i in range(1, n + 1):
            try:
                value = self.middle(i)
            except ExceptionHandlingError as error:
                value = error.code
            total = total + value
        return [total, self.cleanups]


def benchmark(n: int) -> list[int]:
    return ExceptionHandling().run(n)


def verify(n: int, result: object) -> bool:
    """Multiples of four count themselves, the rest their remainder; every step cleans up."""
    return result == [sum(i if i % 4 == 0 else i % 4 for i in range(1, n + 1)), n]
