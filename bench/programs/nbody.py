"""Native twin of NBody.som: the sun and the four gas giants under Newtonian gravity,
advanced in steps of 0.01 years; the answer is the system's energy at the end."""
from __future__ import annotations

import math

PI = 3.141592653589793
SOLAR_MASS = 4.0 * PI * PI
DAYS_PER_YEAR = 365.24


class Body:
    __slots__ = ("mass", "vx", "vy", "vz", "x", "y", "z")

    def __init__(self, x: float, y: float, z: float, vx: float, vy: float, vz: float,
                 mass: float) -> None:
        self.x, self.y, self.z = x, y, z
        self.vx, self.vy, self.vz = vx * DAYS_PER_YEAR, vy * DAYS_PER_YEAR, vz * DAYS_PER_YEAR
        self.mass = mass * SOLAR_MASS

    def offset_momentum(self, px: float, py: float, pz: float) -> None:
        """Give the sun the momentum that makes the system's total zero."""
        self.vx = 0.0 - (px / SOLAR_MASS)
        self.vy = 0.0 - (py / SOLAR_MASS)
        self.vz = 0.0 - (pz / SOLAR_MASS)


def make_bodies() -> list[Body]:
    return [
        Body(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0),
        Body(4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01,
             1.66007664274403694e-03, 7.69901118419740425e-03, -6.90460016972063023e-05,
             9.54791938424326609e-04),
        Body(8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01,
             -2.76742510726862411e-03, 4.99852801234917238e-03, 2.30417297573763929e-05,
             2.85885980666130812e-04),
        Body(1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01,
             2.96460137564761618e-03, 2.37847173959480950e-03, -2.96589568540237556e-05,
             4.36624404335156298e-05),
        Body(1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01,
             2.68067772490389322e-03, 1.62824170038242295e-03, -9.51592254519715870e-05,
             5.15138902046611451e-05),
    ]


class NBody:
    def __init__(self) -> None:
        self.bodies = make_bodies()
        px = py = pz = 0.0
        for body in self.bodies:
            px = px + body.vx * body.mass
            py = py + body.vy * body.mass
            pz = pz + body.vz * body.mass
        self.bodies[0].offset_momentum(px, py, pz)

    def advance(self, dt: float) -> None:
        bodies = self.bodies
        count = len(bodies)
        for i in range(count):
            a = bodies[i]
            mass_a = a.mass
            for j in range(i + 1, count):
                b = bodies[j]
                mass_b = b.mass
                dx = a.x - b.x
                dy = a.y - b.y
                dz = a.z - b.z
                distance_squared = dx * dx + dy * dy + dz * dz
                magnitude = dt / (distance_squared * math.sqrt(distance_squared))
                a.vx = a.vx - dx * mass_b * magnitude
                a.vy = a.vy - dy * mass_b * magnitude
                a.vz = a.vz - dz * mass_b * magnitude
                b.vx = b.vx + dx * mass_a * magnitude
                b.vy = b.vy + dy * mass_a * magnitude
                b.vz = b.vz + dz * mass_a * magnitude
        for body in bodies:
            body.x = body.x + dt * body.vx
            body.y = body.y + dt * body.vy
            body.z = body.z + dt * body.vz

    def energy(self) -> float:
        bodies = self.bodies
        count = len(bodies)
        e = 0.0
        for i in range(count):
            a = bodies[i]
            e = e + 0.5 * a.mass * (a.vx * a.vx + a.vy * a.vy + a.vz * a.vz)
            for j in range(i + 1, count):
                b = bodies[j]
                dx = a.x - b.x
                dy = a.y - b.y
                dz = a.z - b.z
                e = e - a.mass * b.mass / math.sqrt(dx * dx + dy * dy + dz * dz)
        return e


def benchmark(steps: int) -> float:
    system = NBody()
    for _ in range(steps):
        system.advance(0.01)
    return system.energy()


# Energies published with the classic benchmark (nine decimals) for these step counts.
PUBLISHED_ENERGY = {0: -0.169075164, 1000: -0.169087605}


def verify(steps: int, result: object) -> bool:
    """Energy is nearly conserved: it stays within 1e-4 of the initial -0.169075164;
    for the published step counts it must match to nine decimals."""
    if not isinstance(result, float):
        return False
    if steps in PUBLISHED_ENERGY:
        return round(result, 9) == PUBLISHED_ENERGY[steps]
    return abs(result - PUBLISHED_ENERGY[0]) < 1e-4
