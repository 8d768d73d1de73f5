"""The vocabulary of a process bundle (what ``node.bundle_writer`` writes and
``node.bundle_reader`` reads): the layout, the record tags, the code digest, and the
two exceptions.

Rules: this module defines data only; it builds no VM objects and changes nothing.

A bundle is one CBOR map::

    {"format": FORMAT, "version": VERSION,
     "source": {"pid": int, "node": text | null, "clock_ms": float},
     "classes": [[name, class side?, version], ...],    # by name, with the version needed
     "codes":   [code entry, ...],                      # code units by name, never bytecode
     "symbols": [name, ...],
     "objects": [record, ...],                          # the heap that travels by value
     "process": {...}}                                  # the process's own state

A *value* is a float (a Double) or an int: the NaN-boxed word of an immediate, except
that a Symbol's word carries an index into ``symbols`` and a heap reference
(``V.REF_BASE + i``) an index into ``objects``: the image's convention, with names
instead of this VM's numbering.
"""
from __future__ import annotations

import hashlib
from typing import Any

from smalltalk_vm.image.records import u32
from smalltalk_vm.vm.objects import CompiledBlock

FORMAT = "smalltalk-vm process bundle"
VERSION = 1
MAX_BUNDLE_BYTES = 64 * 1024 * 1024

# Code entries (the first element of each entry in "codes").
CODE_METHOD = "m"        # [CODE_METHOD, class index, selector, digest]: installed in that class
CODE_DOIT = "doit"       # [CODE_DOIT, source text, file name, digest]: compiled again from its text
CODE_LAUNCHER = "launch" # [CODE_LAUNCHER, selector, arguments]: the scheduler's launcher method
CODE_BLOCK = "b"         # [CODE_BLOCK, code index, literal index]: a block literal of that unit

# Object records (the first element of each record in "objects").
OBJ_INSTANCE = "i"       # [tag, class index, [field values], ihash]
OBJ_ARRAY = "a"          # [tag, class index, [item values], ihash]
OBJ_STRING = "s"         # [tag, class index, text]
OBJ_BYTES = "y"          # [tag, class index, bytes, ihash]
OBJ_LARGE = "L"          # [tag, integer]
OBJ_CLOSURE = "x"        # [tag, class index, code index, outer context value, receiver value, ihash]
OBJ_CONTEXT = "c"        # [tag, code index, pc, [stack values], receiver, sender, outer, closure]
OBJ_CLASS = "C"          # [tag, class index]: a class as a value
OBJ_CODE = "M"           # [tag, code index]: a method as a value
OBJ_GLOBAL = "g"         # [tag, global name]: the value of a global variable on the target
OBJ_WELL_KNOWN = "k"     # [tag, name]: one of the VM's own singletons (WELL_KNOWN)
OBJ_SELF = "P"           # [tag]: the moving process itself (the new process on the target)
OBJ_PROCESS = "p"        # [tag, node name, creation, number]: another process, by pid
OBJ_NODE = "n"           # [tag, node name, creation]
OBJ_REFERENCE = "r"      # [tag, node, creation, handle, class name, handoff]: a remote reference

RECORD_LENGTHS = {OBJ_INSTANCE: 4, OBJ_ARRAY: 4, OBJ_STRING: 3, OBJ_BYTES: 4, OBJ_LARGE: 2,
                  OBJ_CLOSURE: 6, OBJ_CONTEXT: 8, OBJ_CLASS: 2, OBJ_CODE: 2, OBJ_GLOBAL: 2,
                  OBJ_WELL_KNOWN: 2, OBJ_SELF: 1, OBJ_PROCESS: 4, OBJ_NODE: 3, OBJ_REFERENCE: 6}

# The universe's singletons that are not globals, by the attribute that holds them.
WELL_KNOWN = {"system": "system_object", "timeoutMarker": "timeout_marker"}

# The kernel method whose `deadline` temporary is a time of `system time` (milliseconds
# since the VM started): it is moved to the target's clock on thaw.
DEADLINE_METHOD = ("Process class", "receive:within:ifTimeout:", "deadline")


class MoveRefused(Exception):
    """A process that cannot move; ``str()`` is a one-line reason naming what stops it."""


class BundleError(Exception):
    """Bytes that are not a bundle this node can thaw; ``str()`` is a one-line reason.
    Nothing was built."""


class MissingCode(BundleError):
    """The bundle needs classes this node does not have (``classes``: (name, version)
    pairs): fetch them (code on demand) and thaw again."""

    def __init__(self, classes: list[tuple[str, str]]) -> None:
        names = ", ".join(f"{name} (version {version})" for name, version in classes)
        super().__init__(f"this node lacks the classes {names}")
        self.classes = classes


def code_digest(unit: Any) -> str:
    """What a named code unit must compile to on the target: its canonical bytecode and
    slot counts, and those of every block literal in it, so that a pc means the same
    instruction on both nodes."""
    digest = hashlib.sha256()
    pending = [unit]
    while pending:
        walker = pending.pop()
        digest.update(f"{walker.num_args} {walker.num_temps} {len(walker.code)} ".encode())
        digest.update(u32(walker.code))
        pending.extend(lit for lit in reversed(walker.literals) if type(lit) is CompiledBlock)
    return digest.hexdigest()[:16]
