"""The vocabulary an image's body is written in, shared by the writer
(``image.snapshot``), the reader (``image.reader``) and the checks (``image.verify``):
record kinds and their lengths, the packed word and code arrays, lib-relative source
paths, and ImageError.

Rules: this module defines data only; it builds no VM objects and reads no files.
"""
from __future__ import annotations

import sys
from array import array
from functools import lru_cache

# Record kinds (docs/image-format.md, "Record kinds").
R_INSTANCE, R_ARRAY, R_STRING, R_BYTES, R_LARGE, R_CLASS, R_METHOD, R_BLOCK, R_CLOSURE, \
    R_CONTEXT, R_PROCESS = range(11)

# Elements of each kind of record, the kind included.
RECORD_LENGTHS = {R_INSTANCE: 4, R_ARRAY: 4, R_STRING: 3, R_BYTES: 4, R_LARGE: 3, R_CLASS: 13,
                  R_METHOD: 18, R_BLOCK: 11, R_CLOSURE: 6, R_CONTEXT: 8, R_PROCESS: 21}
KIND_NAMES = {R_INSTANCE: "instance", R_ARRAY: "array", R_STRING: "string", R_BYTES: "bytes",
              R_LARGE: "large integer", R_CLASS: "class", R_METHOD: "method", R_BLOCK: "block",
              R_CLOSURE: "closure", R_CONTEXT: "context", R_PROCESS: "process"}

# A source path inside the running VM's lib/ folder is saved as [LIB_FOLDER, file name],
# so an image names the library of whichever install loads it.
LIB_FOLDER = "lib"

_little = sys.byteorder == "little"


class ImageError(Exception):
    """An image that cannot be loaded; ``str()`` is a one-line reason: the names it
    quotes come from the file, so their control characters are shown escaped (a
    damaged selector holding a newline would otherwise break the reason in two)."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(_one_line(arg) if isinstance(arg, str) else arg for arg in args))


def _one_line(text: str) -> str:
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class ForeignImage(ImageError):
    """A well-formed image this VM cannot run (it names a primitive this VM lacks): the
    reason is about the VM, so it is reported without the record it was found in."""


def u64(words: list[int]) -> bytes:
    packed = array("Q", words)
    if not _little:
        packed.byteswap()
    return packed.tobytes()


def u32(numbers: list[int]) -> bytes:
    packed = array("I", numbers)
    if not _little:
        packed.byteswap()
    return packed.tobytes()


def from_u64(data: bytes) -> list[int]:
    if type(data) is not bytes or len(data) % 8:
        raise ImageError("corrupt word array")
    packed = array("Q")
    packed.frombytes(data)
    if not _little:
        packed.byteswap()
    return packed.tolist()


def from_u32(data: bytes) -> list[int]:
    if type(data) is not bytes or len(data) % 4:
        raise ImageError("corrupt code array")
    packed = array("I")
    packed.frombytes(data)
    if not _little:
        packed.byteswap()
    return packed.tolist()


@lru_cache(maxsize=1 << 14)
def arity(selector: str) -> int | None:
    """Arguments a message with this selector takes: keywords count their colons,
    binary selectors take one, unary ones none; None for text that is no selector."""
    if not selector:
        return None
    first = selector[0]
    if first.isalpha() or first == "_":
        colons = selector.count(":")
        if colons and not selector.endswith(":"):
            return None
        return colons
    return 1 if ":" not in selector and not selector.isspace() else None
