"""Crafted images with a valid checksum (what a buggy or hostile writer produces): each
breaks one structural rule of a real image holding live processes of every kind, and
each must be refused by the loader with a one-line reason that says what is wrong —
never loaded into a VM that would crash, hang or misbehave when it runs. The rules are
those docs/image-format.md lists under "What the loader checks"."""
from __future__ import annotations

import math
import re
import struct
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, VMSession
from image_crafting import Body, code_of, load_signed, make_crafted_image, packed, ref, words

from smalltalk_vm.image import store
from smalltalk_vm.image.bytecode_check import missing_effects
from smalltalk_vm.image.format import ImageFileError
from smalltalk_vm.image.records import R_ARRAY, R_BLOCK, R_METHOD, R_STRING, ImageError
from smalltalk_vm.vm import bytecodes as B
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.errors import LoadError, SmalltalkSyntaxError


@pytest.fixture(scope="module")
def crafted(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_crafted_image(tmp_path_factory.mktemp("crafted"))


def test_the_crafted_image_loads_as_it_is(crafted: bytes, tmp_path: Path) -> None:
    machine, main = load_signed(tmp_path, Body(crafted).signed())
    assert main is not None and len(machine.scheduler.processes) == 5
    states = sorted(p.state for p in machine.scheduler.processes.values())
    assert states == ["runnable", "runnable", "sleeping", "waiting", "waiting"]


# ---------------------------------------------------------------------- forgeries
# Each takes the decoded body and breaks it in one place.

def waiter(b: Body) -> int:
    return b.roots["registry"]["waiter"]


def waiter_context(b: Body) -> list:
    return b.records[b.top_context(waiter(b))]


def craft_method(b: Body, selector: str) -> list:
    return b.records[b.method_index("CraftPoint", selector)]


def a_record(b: Body, kind: int) -> int:
    return b.index_of(kind)


def not_an_instruction_start(b: Body) -> None:
    ctx = waiter_context(b)
    code = code_of(b.records[ctx[1]][3])
    starts = {pc for pc, _op, _args in B.instructions(code)}
    ctx[2] = next(pc for pc in range(len(code)) if pc not in starts)


def set_code(selector: str, code: list[int], literals: list | None = None, sites: list | None = None) -> Any:
    def forge(b: Body) -> None:
        method = craft_method(b, selector)
        method[6] = packed(code, "I")
        method[9], method[10] = packed([], "I"), packed([], "I")
        if literals is not None:
            method[7] = literals
        if sites is not None:
            method[8] = sites
    return forge


def swap_field(path: Any, value: Any) -> Any:
    """A forgery setting one element of a record found by ``path(body)``."""
    def forge(b: Body) -> None:
        record, index = path(b)
        record[index] = value(b) if callable(value) else value
    return forge


def first_closure(b: Body) -> list:
    return b.records[b.closures()[0]]


def keep_array(b: Body) -> list:
    return b.records[b.global_ref("CraftKeep")]


def set_keep_item(word: Any) -> Any:
    def forge(b: Body) -> None:
        items = words(keep_array(b)[2])
        items[3] = word(b) if callable(word) else word
        keep_array(b)[2] = packed(items)
    return forge


def superclass_cycle(b: Body) -> None:
    b.records[b.class_index("CraftPoint")][3] = ref(b.class_index("CraftPoint"))


def two_class_cycle(b: Body) -> None:
    obj = b.class_index("Object")
    b.records[obj][3] = ref(b.class_index("CraftPoint"))


def short_instance(b: Body) -> None:
    point = b.records[b.global_ref("CraftPoint1")]
    point[2] = point[2][:8]


def shared_context(b: Body) -> None:
    sleeper = next(i for i in b.processes() if b.records[i][3] == "sleeping")
    b.records[sleeper][2] = b.records[waiter(b)][2]


def chain_cycle(b: Body) -> None:
    ctx = waiter_context(b)
    ctx[5] = b.records[waiter(b)][2]


def dead_in_queue(b: Body) -> None:
    b.roots["run_queue"].append(b.global_ref("CraftDead"))


def runnable_not_queued(b: Body) -> None:
    b.roots["run_queue"].pop()


def live_not_in_table(b: Body) -> None:
    b.roots["processes"].remove(b.process_with_state("sleeping"))
    b.roots["run_queue"] = [i for i in b.roots["run_queue"] if i in b.roots["processes"]]


def share_block(b: Body) -> None:
    block = b.index_of(R_BLOCK)
    method = craft_method(b, "x")
    method[7] = [*method[7], ref(block)]


def kernel_replaced(b: Body) -> None:
    b.roots["globals"]["Integer"] = V.ZERO + 3


def method_table_lies(b: Body) -> None:
    cls = b.records[b.class_index("CraftPoint")]
    cls[4] = [["x", selector_ref] if name == "x:" else [name, selector_ref] for name, selector_ref in cls[4]
              if name != "x"]


def metaclass_forged(b: Body) -> None:
    b.records[b.class_index("CraftPoint")][1] = b.class_index("Object")


def holderless_super(b: Body) -> None:
    set_code("x", [B.PUSH_SELF, B.SUPER_SEND, 0, B.RETURN], sites=[["yourself", 0]])(b)
    method = craft_method(b, "x")
    method[3] = V.NIL                                   # its holder
    cls = b.records[b.class_index("CraftPoint")]
    cls[4] = [entry for entry in cls[4] if entry[0] != "x"]


def no_block_literal(b: Body) -> None:
    def is_block(literal: Any) -> bool:
        return type(literal) is int and literal >= V.REF_BASE and b.records[literal - V.REF_BASE][0] == R_BLOCK
    literals = next(b.records[i][7] for i in b.method_records() if any(is_block(lit) for lit in b.records[i][7]))
    literals[next(i for i, lit in enumerate(literals) if is_block(lit))] = V.ZERO


def subclass_list_forged(b: Body) -> None:
    obj = b.records[b.class_index("Object")]
    obj[12] = [c for c in obj[12] if c != b.class_index("CraftPoint")]


FORGERIES = {
    # contexts
    "pc past the code": (swap_field(lambda b: (waiter_context(b), 2), 10_000), "not an instruction"),
    "pc inside an instruction": (not_an_instruction_start, "not an instruction"),
    "empty stack where a value is needed": (swap_field(lambda b: (waiter_context(b), 3), b""), "values at pc"),
    "a value too many on a stack": (
        swap_field(lambda b: (waiter_context(b), 3),
                   lambda b: waiter_context(b)[3] + struct.pack("<Q", V.NIL)), "values at pc"),
    "a returned context on a live chain": (swap_field(lambda b: (waiter_context(b), 2), -1), "has returned"),
    "sender of the wrong kind": (swap_field(lambda b: (waiter_context(b), 5), lambda b: ref(a_record(b, R_STRING))),
                                 "its sender is a VString"),
    "a method context running a block": (
        swap_field(lambda b: (b.records[next(i for i in b.contexts() if b.records[i][7] == V.NIL)], 1),
                   lambda b: a_record(b, R_BLOCK)), "its method is a CompiledBlock"),
    "receiver of the wrong kind": (
        swap_field(lambda b: (b.records[b.top_context(b.roots["main"] - V.REF_BASE)], 4),
                   lambda b: ref(b.global_ref("CraftPoint1"))), "receiver is not"),
    "a chain that is a cycle": (chain_cycle, "cycle"),
    "two processes sharing a context": (shared_context, "shares a context"),
    # methods that are not methods
    "a method table entry that is an Array": (
        swap_field(lambda b: (b.records[b.class_index("CraftPoint")][4][0], 1), lambda b: a_record(b, R_ARRAY)),
        "CraftPoint>>.* is a VArray"),
    "a closure over a method": (swap_field(lambda b: (first_closure(b), 2), lambda b: a_record(b, R_METHOD)),
                                "its code is a CompiledMethod"),
    "a block literal that is no block": (no_block_literal, "wrong kind for PUSH_BLOCK"),
    "a block's code used as a value": (set_keep_item(lambda b: ref(a_record(b, R_BLOCK))), "block's code"),
    "a block shared by two methods": (share_block, "appears in two methods"),
    "a table entry of another selector": (method_table_lies, "another class or selector"),
    # blocks and homes
    "a block over an Array": (swap_field(lambda b: (first_closure(b), 3), lambda b: ref(a_record(b, R_ARRAY))),
                              "its outer context is a VArray"),
    "a block over nothing": (swap_field(lambda b: (first_closure(b), 3), V.NIL), "closed over no context"),
    "a block of the wrong class": (swap_field(lambda b: (first_closure(b), 1), lambda b: b.class_index("Block4")),
                                   "is an instance of Block4"),
    # processes and the roots
    "a dead process in the run queue": (dead_in_queue, "dead process .* in the run queue"),
    "a runnable process missing from the run queue": (runnable_not_queued, "not in the run queue"),
    "a live process missing from the table": (live_not_in_table, "not in the process table"),
    "a waiting process waiting for nothing": (swap_field(lambda b: (b.records[waiter(b)], 13), 0), "wait mode 0"),
    "a registered name on another process": (
        swap_field(lambda b: (b.roots["registry"], "waiter"), lambda b: b.process_with_state("sleeping")),
        "does not carry it"),
    "a pid counter behind the pids": (swap_field(lambda b: (b.roots["counters"], "pid"), 1), "next pid"),
    "a timer of NaN": (swap_field(lambda b: (b.records[b.process_with_state("sleeping")], 15), math.nan),
                       "corrupt timer"),
    "a timer in the past": (swap_field(lambda b: (b.records[b.process_with_state("sleeping")], 15), -5.0),
                            "corrupt timer"),
    "a selective receive counting nothing": (
        swap_field(lambda b: (b.records[next(i for i in b.processes() if b.records[i][13] == 2)], 14), V.NIL),
        "without a message count"),
    "a negative clock": (swap_field(lambda b: (b.roots, "clock_ms"), -1.0), "the clock"),
    "the system object replaced": (swap_field(lambda b: (b.roots, "system"), V.ZERO), "system object"),
    # classes
    "a superclass cycle": (superclass_cycle, "superclass cycle"),
    "a superclass cycle through Object": (two_class_cycle, "superclass cycle"),
    "an instance with too few fields": (short_instance, "instance of CraftPoint with 1 fields instead of 2"),
    "a metaclass that is a class": (metaclass_forged, "is not a metaclass|share a metaclass"),
    "a subclass list that lies": (subclass_list_forged, "does not list its subclass CraftPoint"),
    "a kernel class replaced": (kernel_replaced, "kernel class Integer"),
    # values and references
    "a reference past the records": (set_keep_item(V.REF_BASE + 10 ** 9), "missing object"),
    "a class reference past the records": (swap_field(lambda b: (b.records[b.global_ref("CraftPoint1")], 1), 10 ** 9),
                                           "missing object"),
    "a symbol past the table": (set_keep_item(V.SYM_BASE + 10 ** 6), "not in the symbol table"),
    "a reserved tag": (set_keep_item(V.QNAN | (6 << 48)), "reserved"),
    "a special value that does not exist": (set_keep_item(V.SPECIAL_BASE + 9), "special value"),
    "a small large integer": (swap_field(lambda b: (b.records[b.global_ref("CraftBig")], 2), 5), "SmallInteger"),
    "a source path leaving lib/": (swap_field(lambda b: (craft_method(b, "x"), 13), ["lib", "../../etc/passwd"]),
                                   "corrupt source path"),
    "a word array of odd size": (swap_field(lambda b: (keep_array(b), 2), b"\x00" * 12), "corrupt word array"),
    # code (CraftPoint>>x: is PUSH_LOCAL 0, POP_FIELD 0, RETURN_SELF; x is PUSH_FIELD 0, RETURN)
    "a local past the slots": (set_code("x:", [B.PUSH_LOCAL, 99, B.RETURN]), "local 99 of 1"),
    "a field past the fields": (set_code("x", [B.PUSH_FIELD, 7, B.RETURN]), "field 7 of a receiver with 2"),
    "a jump to itself": (set_code("x", [B.JUMP, 0]), "bad jump"),
    "a conditional jump backwards": (set_code("x", [B.PUSH_TRUE, B.JUMP_IF_TRUE, 0, B.RETURN_SELF]), "bad jump"),
    "a JUMP_BACK forwards": (set_code("x", [B.JUMP_BACK, 2, B.RETURN_SELF]), "bad jump"),
    "a jump into an operand": (set_code("x", [B.JUMP, 3, B.PUSH_LOCAL, 0, B.RETURN_SELF]), "bad jump"),
    "an unknown opcode": (set_code("x", [250, B.RETURN_SELF]), "unknown opcode 250"),
    "a quickened opcode": (set_code("x", [B.Q_RETURN_FIELD, 0]), "unknown opcode"),
    "code that runs off its end": (set_code("x", [B.PUSH_SELF]), "runs off its end"),
    "a cut-off instruction": (set_code("x", [B.RETURN_SELF, B.PUSH_LOCAL]), "cut off"),
    "a pop of nothing": (set_code("x", [B.POP, B.RETURN_SELF]), "empty where a value"),
    "a return of nothing": (set_code("x", [B.RETURN]), "empty where a value"),
    "two heights at one instruction": (set_code("x", [B.PUSH_TRUE, B.JUMP_IF_TRUE, 4, B.PUSH_NIL, B.RETURN_SELF]),
                                       "two stack heights"),
    "a global read of a value literal": (set_code("x", [B.PUSH_GLOBAL, 0, B.RETURN], literals=[V.ZERO]),
                                         "wrong kind for PUSH_GLOBAL"),
    "a literal push of a global's name": (set_code("x", [B.PUSH_LITERAL, 0, B.RETURN], literals=["Object"]),
                                          "wrong kind for PUSH_LITERAL"),
    "a literal past the frame": (set_code("x", [B.PUSH_LITERAL, 3, B.RETURN], literals=[]), "literal 3 of 0"),
    "a send site past the table": (set_code("x", [B.PUSH_SELF, B.SEND, 5, B.RETURN], sites=[]), "send site 5 of 0"),
    "a send with the wrong argument count": (set_code("x", [B.PUSH_SELF, B.SEND, 0, B.RETURN],
                                                      sites=[["at:put:", 0]]), "a send of"),
    "an outer variable in a method": (set_code("x", [B.PUSH_OUTER, 1, 0, B.RETURN]), "outer variable"),
    "a binary fast send of a keyword": (set_code("x", [B.PUSH_SELF, B.PUSH_SELF, B.SEND_ADD, 0, B.RETURN],
                                                 sites=[["value", 0]]), "binary send"),
    "a non-local return without its RETURN": (set_code("x", [B.PUSH_SELF, B.RETURN_NONLOCAL, B.RETURN_SELF]),
                                              "non-local return"),
    "a super send in a method of no class": (holderless_super, "sends to super without a class"),
}


@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_a_crafted_image_is_refused_with_its_reason(crafted: bytes, tmp_path: Path, name: str) -> None:
    forge, expected = FORGERIES[name]
    body = Body(crafted)
    forge(body)
    with pytest.raises((ImageError, ImageFileError)) as caught:
        load_signed(tmp_path, body.signed())
    text = str(caught.value)
    assert text and "\n" not in text and "Traceback" not in text, text
    assert re.search(expected, text), f"{name}: {text!r}"


def test_every_canonical_opcode_has_a_stack_effect() -> None:
    """A new opcode must be taught to the image verifier (image/bytecode_check.py)
    before images holding it can be loaded."""
    assert missing_effects() == []


def test_the_kernel_and_every_test_program_pass_the_verifier(tmp_path: Path) -> None:
    """Whatever the compiler makes is accepted: an image holding the kernel and every
    class of tests/som, tests/st, examples and bench/programs loads."""
    folders = sorted({p.parent for pattern in ("tests/som/*/*.som", "tests/st/*.som", "examples/*.som",
                                               "bench/programs/*.som") for p in Path(ROOT).glob(pattern)})
    vm = VMSession([str(folder) for folder in folders])
    loaded = []
    for folder in folders:
        for path in sorted(folder.glob("*.som")):
            try:
                if vm.universe.load_class(path.stem) is not None:
                    loaded.append(path.stem)
            except (LoadError, SmalltalkSyntaxError):
                pass                        # the programs about load errors
    assert len(loaded) > 100, loaded
    target = tmp_path / "everything.image"
    store.save(vm.machine, str(target))
    machine, _ = load_signed(tmp_path, target.read_bytes())
    assert all(name in machine.universe.globals for name in loaded)
