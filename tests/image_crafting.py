"""Helpers of the crafted-image tests (tests/test_image_validation.py and
tests/test_image_mutation.py): a real image with live processes of every kind, its
decoded body, finding records in it, and re-signing a changed body into a file the
loader gets past the checksum with."""
from __future__ import annotations

import struct
from array import array
from pathlib import Path
from typing import Any

from conftest import VMSession

from smalltalk_vm.compiler.front import load_class_source
from smalltalk_vm.image import format as image_format
from smalltalk_vm.image import store
from smalltalk_vm.image.boot import LIB_DIR
from smalltalk_vm.image.records import (
    R_CLASS,
    R_CLOSURE,
    R_CONTEXT,
    R_METHOD,
    R_PROCESS,
)
from smalltalk_vm.vm import value as V

# A program that leaves processes in every state the scheduler has, closures over live
# contexts, a dead process, a registered name and a monitor, then saves. The waiter is
# parked inside `1 + Process receive`, so its block context holds a pending operand.
CRAFT_CLASS = "CraftPoint = Object ( | x y | x = ( ^ x ) x: ax = ( x := ax ) )"
CRAFT_PROGRAM = """
| waiter sleeper worker dead selective |
waiter := [ 1 + Process receive ] spawn.
sleeper := [ Process sleep: 100000. #woke ] spawn.
worker := [ | sum | sum := 0. 1 to: 1000000000 do: [ :i | sum := sum + i ]. sum ] spawn.
selective := [ Process receive: [ :m | m = #wanted ] ] spawn.
dead := [ 3 ] spawn.
Process yield. Process yield. Process yield.
selective send: #unwanted.
Process yield.
Process register: waiter as: #waiter.
Process current monitor: sleeper.
system global: #CraftDead put: dead.
system global: #CraftKeep put: (Array with: waiter with: sleeper with: worker with: [ :n | n + 1 ]).
system global: #CraftPoint1 put: (CraftPoint new x: 3; yourself).
system global: #CraftBig put: (2 raisedTo: 100).
system saveImage: '{path}'
"""


def make_crafted_image(folder: Path) -> bytes:
    vm = VMSession()
    vm.define(CRAFT_CLASS)
    path = folder / "crafted.image"
    outcome = vm.run(CRAFT_PROGRAM.replace("{path}", str(path)))
    assert outcome.status == "value", outcome.error_text
    return path.read_bytes()


class Body:
    """A decoded image body to change, then sign and load."""

    def __init__(self, data: bytes) -> None:
        header, body = image_format.decode(data)          # a fresh structure each time
        self.creator = header.creator
        self.body = body
        self.records: list = self.body["records"]
        self.roots: dict = self.body["roots"]

    # -- finding things
    def index_of(self, kind: int, predicate: Any = lambda r: True) -> int:
        for i, record in enumerate(self.records):
            if record[0] == kind and predicate(record):
                return i
        raise LookupError(f"no record of kind {kind} matches")

    def class_index(self, name: str) -> int:
        return self.index_of(R_CLASS, lambda r: r[2] == name)

    def global_ref(self, name: str) -> int:
        return self.roots["globals"][name] - V.REF_BASE

    def method_index(self, class_name: str, selector: str) -> int:
        cls = self.records[self.class_index(class_name)]
        return dict(cls[4])[selector]

    def processes(self) -> list[int]:
        return list(self.roots["processes"])

    def process_with_state(self, state: str) -> int:
        return next(i for i in self.processes() if self.records[i][3] == state)

    def top_context(self, process: int) -> int:
        return self.records[process][2] - V.REF_BASE

    def sender_of(self, context: int) -> int:
        return self.records[context][5] - V.REF_BASE

    def closures(self) -> list[int]:
        return [i for i, r in enumerate(self.records) if r[0] == R_CLOSURE]

    def contexts(self) -> list[int]:
        return [i for i, r in enumerate(self.records) if r[0] == R_CONTEXT]

    def process_records(self) -> list[int]:
        return [i for i, r in enumerate(self.records) if r[0] == R_PROCESS]

    def method_records(self) -> list[int]:
        return [i for i, r in enumerate(self.records) if r[0] == R_METHOD]

    # -- writing
    def signed(self) -> bytes:
        return image_format.encode(self.body, self.body["counts"], self.creator)


def words(data: bytes) -> list[int]:
    packed = array("Q")
    packed.frombytes(data)
    return packed.tolist()


def packed(values: list[int], width: str = "Q") -> bytes:
    return array(width, values).tobytes()


def code_of(data: bytes) -> list[int]:
    packed_code = array("I")
    packed_code.frombytes(data)
    return packed_code.tolist()


def ref(index: int) -> int:
    return V.REF_BASE + index


def double_word(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def load_signed(folder: Path, data: bytes) -> Any:
    """store.load on a file holding ``data``: (machine, main), or raises what it raises."""
    path = folder / "candidate.image"
    path.write_bytes(data)
    return store.load(str(path), LIB_DIR, [], load_class_source)
