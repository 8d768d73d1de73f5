"""Native twin of Mandelbrot.som: the Mandelbrot set on a size x size grid, pixels
packed eight to a byte and folded into a checksum."""
from __future__ import annotations


def benchmark(size: int) -> int:
    checksum = 0
    for y in range(size):
        ci = 2.0 * y / size - 1.0
        byte = 0
        bits = 0
        for x in range(size):
            cr = 2.0 * x / size - 1.5
            zr = 0.0
            zi = 0.0
            escaped = 0
            iteration = 0
            while escaped == 0 and iteration < 50:
                tr = zr * zr - zi * zi + cr
                ti = 2.0 * zr * zi + ci
                zr = tr
                zi = ti
                if zr * zr + zi * zi > 4.0:
                    escaped = 1
                iteration += 1
            byte = byte * 2 + (1 - escaped)
            bits += 1
            if bits == 8 or x == size - 1:
                checksum = (checksum * 31 + byte) % 1000000007
                byte = 0
                bits = 0
    return checksum


def verify(size: int, result: object) -> bool:
    """Independent check: the same grid iterated with Python complex numbers (whose
    squares round exactly like the real/imaginary formulas), rows packed with
    int.from_bytes-free bit strings."""
    checksum = 0
    for y in range(size):
        c_imag = 2.0 * y / size - 1.0
        row = ""
        for x in range(size):
            c = complex(2.0 * x / size - 1.5, c_imag)
            z = 0j
            inside = "1"
            for _ in range(50):
                z = z * z + c
                if z.real * z.real + z.imag * z.imag > 4.0:
                    inside = "0"
                    break
            row += inside
        for start in range(0, size, 8):
            checksum = (checksum * 31 + int(row[start:start + 8], 2)) % 1000000007
    return result == checksum
