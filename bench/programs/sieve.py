"""Native twin of Sieve.som: sieve of Eratosthenes counting primes up to a limit."""
from __future__ import annotations


def benchmark(limit: int) -> int:
    composite = [False] * (limit + 1)
    count = 0
    for i in range(2, limit + 1):
        if not composite[i]:
            count += 1
            if i * i <= limit:
                for multiple in range(i * i, limit + 1, i):
                    composite[multiple] = True
    return count


def verify(limit: int, result: object) -> bool:
    """Independent check: odd-only trial division by the primes found so far."""
    primes: list[int] = [2] if limit >= 2 else []
    for candidate in range(3, limit + 1, 2):
        for p in primes:
            if p * p > candidate:
                primes.append(candidate)
                break
            if candidate % p == 0:
                break
        else:
            primes.append(candidate)
    return result == len(primes)
