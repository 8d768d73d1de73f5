"""Bounds on what one primitive may do. A primitive runs to completion on the VM thread
— while it runs, no other process does — so work whose cost grows without bound with
its arguments is refused past these sizes with an Error, before it starts:

- collections (Array, String, ByteArray) of more than MAX_ELEMENTS elements;
- Integers of more than MAX_INTEGER_BITS bits (a multiplication is refused when its
  result would be bigger; about 0.5 s for the biggest allowed);
- (printing and reading Integers is bounded in vm/numtext.py, next to the conversions).

Anything below these still runs to completion: docs/decisions.md says what that means.
This module holds the numbers and the checks; it makes no values.
"""
from __future__ import annotations

from smalltalk_vm.vm.errors import SignalException
from smalltalk_vm.vm.numtext import brief

MAX_ELEMENTS = 1 << 25            # 33,554,432: a 256 MB Array
MAX_INTEGER_BITS = 1 << 22        # 4,194,304 bits: about 1.26 million decimal digits


def check_elements(count: int, what: str) -> int:
    """``count`` if a collection of that size may be made, else an Error."""
    if count > MAX_ELEMENTS:
        raise SignalException("Error", f"{brief(count)} elements is more than a collection may have "
                                       f"({MAX_ELEMENTS}), in {what}")
    return count


def check_integer_bits(bits: int, what: str) -> None:
    if bits > MAX_INTEGER_BITS:
        raise SignalException("Error", f"an Integer of {bits} bits is more than an Integer may have "
                                       f"({MAX_INTEGER_BITS} bits), in {what}")

