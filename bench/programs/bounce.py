"""Native twin of Bounce.som: a hundred balls bouncing in a box; count the bounces."""
from __future__ import annotations


class Random:
    """A 16-bit linear congruential generator, so both twins see the same numbers."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def next(self) -> int:
        self.seed = (self.seed * 25173 + 13849) % 65536
        return self.seed


class Ball:
    __slots__ = ("x", "x_velocity", "y", "y_velocity")

    def __init__(self, random: Random) -> None:
        self.x = random.next() % 500
        self.y = random.next() % 500
        self.x_velocity = random.next() % 300 - 150
        self.y_velocity = random.next() % 300 - 150

    def bounce(self) -> bool:
        bounced = False
        self.x += self.x_velocity
        self.y += self.y_velocity
        if self.x > 500:
            self.x = 500
            self.x_velocity = 0 - abs(self.x_velocity)
            bounced = True
        if self.x < 0:
            self.x = 0
            self.x_velocity = abs(self.x_velocity)
            bounced = True
        if self.y > 500:
            self.y = 500
            self.y_velocity = 0 - abs(self.y_velocity)
            bounced = True
        if self.y < 0:
            self.y = 0
            self.y_velocity = abs(self.y_velocity)
            bounced = True
        return bounced


def benchmark(steps: int) -> int:
    random = Random(74755)
    balls = [Ball(random) for _ in range(100)]
    bounces = 0
    for _ in range(steps):
        for ball in balls:
            if ball.bounce():
                bounces += 1
    return bounces


def verify(steps: int, result: object) -> bool:
    """Independent check: the walls reflect each coordinate separately, so every axis
    of every ball is replayed on its own as a sequence of integer reflections."""
    random = Random(74755)
    axes = []
    for _ in range(100):
        x, y = random.next() % 500, random.next() % 500
        vx, vy = random.next() % 300 - 150, random.next() % 300 - 150
        axes.append(((x, vx), (y, vy)))
    bounces = 0
    for (x, vx), (y, vy) in axes:
        hits_x = _wall_hits(x, vx, steps)
        hits_y = _wall_hits(y, vy, steps)
        bounces += len(hits_x | hits_y)
    return result == bounces


def _wall_hits(position: int, velocity: int, steps: int) -> set[int]:
    """The steps (0-based) at which one coordinate hits a wall."""
    hits = set()
    for step in range(steps):
        position += velocity
        if position > 500 or position < 0:
            position = 500 if position > 500 else 0
            velocity = -velocity
            hits.add(step)
    return hits
