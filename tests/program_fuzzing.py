"""The program fuzzer's parts (tests/test_program_fuzz.py): hypothesis strategies that
write do-its the way the grammar allows (temporaries, statements, assignments, returns,
blocks with parameters, cascades, literal and brace arrays, every kind of literal, and
sends of the library's real selectors with random arguments), mutations of real
programs (a token deleted, duplicated or swapped), and a bounded in-process run that
classifies what happened.

Every outcome a user may see is allowed: a value, a Smalltalk error, a located syntax
error, the program ending the VM (`system exit:`), a deadlock, or a run stopped at its
time bound. What is not allowed is a Python exception escaping the compiler or the VM,
or a Python traceback in any text the VM produces.
"""
from __future__ import annotations

import os
import re
import resource
import time
import traceback
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import alarms
from hypothesis import strategies as st

from smalltalk_vm.compiler.front import compile_input
from smalltalk_vm.image.boot import make_machine
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.errors import SmalltalkSyntaxError
from smalltalk_vm.vm.objects import VClass

# Selectors never generated: they touch files or the host (a fuzzer must not write
# images into the checkout, read arbitrary paths or end the test run).
HOST_SELECTORS = frozenset({
    "saveImage:", "loadFile:", "loadClassFile:", "exit:", "exit", "fullGC",
})


# Crashes the fuzzer found (in others' code) and that were fixed since: each stays a
# regression test (tests/test_program_fuzz.py), with the outcome it must have now.
FOUND_BY_THE_FUZZER = (
    ("huge allocation", "Array new: 140737488355327"),        # was MemoryError in Array class>>new:
    ("perform of the empty selector", "#'' value: 0"),          # was IndexError in selector_arity
)

SOFT_SECONDS = 0.15       # the VM's own deadline: the scheduler stops and the machine is dropped
HARD_SECONDS = 10.0       # the alarm: a primitive that never returns (counted as a timeout)
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|\bFile \"[^\"]+\.py\", line \d+")

VARIABLES = ["a", "b", "c"]
GLOBALS = ["Object", "Array", "String", "Symbol", "Integer", "Double", "Character", "Dictionary", "Set",
           "Vector", "Block", "Boolean", "Exception", "Error", "ZeroDivide", "Process", "Promise", "Wire",
           "ByteArray", "Association", "Pair", "WriteStream", "system", "Nil", "Context", "Method", "Class",
           "MessageNotUnderstood", "Undefined"]
COMMON = ["+", "-", "*", "/", "//", "\\\\", "<", ">", "=", "==", "~=", ",", "@", "->", "&", "|",
          "printString", "size", "value", "value:", "value:value:", "new", "new:", "at:", "at:put:", "do:",
          "collect:", "select:", "inject:into:", "ifTrue:", "ifFalse:", "ifTrue:ifFalse:", "whileTrue:",
          "to:do:", "timesRepeat:", "isNil", "notNil", "class", "name", "asString", "asSymbol", "println",
          "on:do:", "ensure:", "ifCurtailed:", "signal", "signal:", "error:", "perform:", "perform:with:",
          "respondsTo:", "copyFrom:to:", "indexOf:", "reverse", "asArray", "first", "last", "max:", "abs",
          "sqrt", "negated", "hash", "yourself", "spawn", "send:", "resume:", "retry", "return:", "pass",
          "keysAndValuesDo:", "includes:", "add:", "remove:", "asInteger", "asDouble", "printString:"]


def library_selectors() -> list[str]:
    """Every selector some class of a fresh VM understands (instance or class side)."""
    universe = make_machine([]).universe
    found = set()
    for value in universe.globals.values():
        if type(value) is VClass:
            found.update(value.methods)
            found.update(value.cls.methods)
    return sorted(found - HOST_SELECTORS)


def arity(selector: str) -> int:
    if selector[0].isalpha() or selector[0] == "_":
        return selector.count(":")
    return 1


# ---------------------------------------------------------------------- generated do-its

small_ints = st.one_of(st.integers(-3, 20), st.sampled_from([0, -1, 255, 1000, 2 ** 31, 2 ** 47 - 1, 2 ** 47,
                                                                2 ** 64, -(2 ** 70)]))
literals = st.one_of(
    small_ints.map(str),
    st.sampled_from(["0.0", "-0.0", "1.5", "2.0e10", "1e300", "1.0e-310", "16r1F", "2r1010", "36rZZ",
                     "3.14159", "123456789012345678901234567890", "-5"]),
    st.text(alphabet="ab c'\n", max_size=6).map(lambda s: "'" + s.replace("'", "''") + "'"),
    st.sampled_from(["#sym", "#at:put:", "#+", "#value", "#'with space'", "#foo:"]),
    st.sampled_from(["$a", "$ ", "$'", "$$"]),
    st.sampled_from(["nil", "true", "false", "thisContext", "self", "super"]),
    st.sampled_from(["#(1 2 3)", "#(1 $a 'b' #c (1 2) nil true)", "#()", "#(#(1) #(2))", "#[1 2 255]"]),
)


@dataclass
class Vocabulary:
    selectors: list[str]


EXCEPTION_CLASSES = ["Error", "Exception", "ZeroDivide", "MessageNotUnderstood", "SubscriptOutOfBounds",
                     "Error, ZeroDivide", "nil", "3", "Undefined"]
HANDLER_ACTIONS = ["e messageText", "e return: ({E})", "e resume: ({E})", "e pass", "e signal", "e outer",
                   "e retryUsing: [ {E} ]", "e description", "e class", "e signalerContext", "({E})"]
PRELUDE = "a := Array new: 3. b := Dictionary new. c := 'text' copy. "
PLACEHOLDER = re.compile(r"\{([ESNXHV])\}")
# Statement shapes ({E}: an expression, {S}: statements, {N}: a small count, {X}: an exception
# class, {H}: what a handler does, {V}: a variable); filled in recursively by ``statements``.
SHAPES = [
    "{E}", "{E}", "{E}", "^ {E}", "{V} := {E}", "({E}) ifTrue: [ {S} ] ifFalse: [ {S} ]",
    "1 to: {N} do: [ :p | {S} ]", "{N} timesRepeat: [ {S} ]", "[ {S} ] on: {X} do: [ :e | {H} ]",
    "[ {S} ] ensure: [ {S} ]", "[ {S} ] ifCurtailed: [ {S} ]", "[ {S} ] value", "[ :p | {S} ] value: ({E})",
    "[ {S} ] spawn", "[ {S}. ^ {E} ] value", "[ ({E}) ] whileFalse: [ {S} ]", "({V}) at: {N} put: ({E})",
    "(b) at: ({E}) put: ({E})", "(c) , ({E}) printString", "{V} := [ :p | {S} ] . ({V}) value: ({E})",
    "Process yield", "Process sleep: {N}", "[ Process receive ] spawn send: ({E})",
    "Process receiveWithin: {N} ifTimeout: [ {S} ]", "({E}) ~> value", "thisContext sender",
    "system printString: ({E})",
]


def expressions(vocabulary: Vocabulary, depth: int = 3) -> st.SearchStrategy[str]:
    selector = st.one_of(st.sampled_from(COMMON), st.sampled_from(vocabulary.selectors))
    names = st.sampled_from(VARIABLES + VARIABLES + GLOBALS + ["p"])
    symbols = st.one_of(selector, st.just("")).map(lambda sel: "#" + sel if sel and (sel[0].isalpha()
                                                                                    or sel[0] == "_")
                                                   else "#'" + sel.replace("'", "''") + "'")
    primary = st.one_of(literals, names, names, symbols)
    if depth <= 0:
        return primary
    inner = st.deferred(lambda: expressions(vocabulary, depth - 1))

    def message(sel: str, args: list[str]) -> str:
        count = arity(sel)
        args = (args + ["nil"] * count)[:count]
        if count == 0:
            return sel
        if not (sel[0].isalpha() or sel[0] == "_"):
            return f"{sel} ({args[0]})"
        return " ".join(f"{keyword}: ({arg})" for keyword, arg in zip(sel.split(":")[:-1], args))

    messages = st.tuples(selector, st.lists(inner, max_size=3)).map(lambda parts: message(*parts))
    sends = st.tuples(inner, messages).map(lambda parts: f"({parts[0]}) {parts[1]}")
    cascade = st.tuples(inner, st.lists(messages, min_size=2, max_size=3)).map(
        lambda parts: f"({parts[0]}) " + "; ".join(parts[1]))
    blocks = st.tuples(st.integers(0, 2), st.lists(inner, min_size=0, max_size=3)).map(
        lambda parts: "[ " + "".join(f":p{i} " for i in range(parts[0])) + ("| " if parts[0] else "")
        + ". ".join(parts[1]) + " ]")
    braces = st.lists(inner, max_size=3).map(lambda items: "{ " + ". ".join(items) + " }")
    assignment = st.tuples(st.sampled_from(VARIABLES), inner).map(lambda p: f"{p[0]} := {p[1]}")
    return st.one_of(primary, sends, sends, sends, cascade, blocks, braces, assignment,
                     inner.map(lambda e: f"({e})"))


def statements(vocabulary: Vocabulary, depth: int = 2) -> st.SearchStrategy[str]:
    expression = expressions(vocabulary, 2)
    inner = st.deferred(lambda: statements(vocabulary, depth - 1)) if depth > 0 else expression

    def fill(parts: tuple) -> str:
        shape, values = parts
        pieces = iter(values)
        return PLACEHOLDER.sub(lambda match: next(pieces), shape)

    def fillers(shape: str) -> st.SearchStrategy[tuple]:
        kinds = {"E": expression, "S": inner, "N": st.sampled_from(["0", "1", "2", "3", "5", "-1", "nil", "1.5"]),
                 "X": st.sampled_from(EXCEPTION_CLASSES), "V": st.sampled_from(VARIABLES),
                 "H": st.tuples(st.sampled_from(HANDLER_ACTIONS), expression).map(
                     lambda p: p[0].replace("{E}", p[1]))}
        return st.tuples(st.just(shape), st.tuples(*(kinds[slot] for slot in PLACEHOLDER.findall(shape))))

    one = st.sampled_from(SHAPES).flatmap(fillers).map(fill)
    return st.lists(one, min_size=1, max_size=3).map(". ".join)


def programs(vocabulary: Vocabulary) -> st.SearchStrategy[str]:
    return st.tuples(st.booleans(), statements(vocabulary)).map(
        lambda parts: "| a b c p | " + (PRELUDE if parts[0] else "") + parts[1])


# ---------------------------------------------------------------------- mutated real programs

TOKEN = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|#\(|#\[|\$.|[A-Za-z_]\w*:?|\d+(?:\.\d+)?(?:e-?\d+)?|:=|\^|"
                   r"----|[-+*/\\<>=~&|,@%!?]+|\S")


def tokens(source: str) -> list[str]:
    return TOKEN.findall(source)


mutations = st.lists(st.tuples(st.sampled_from(["delete", "duplicate", "swap"]), st.integers(0, 1 << 16),
                               st.integers(0, 1 << 16)), min_size=1, max_size=3)


def mutate(source: str, operations: list[tuple[str, int, int]]) -> str:
    parts = tokens(source)
    for action, first, second in operations:
        if not parts:
            break
        i, j = first % len(parts), second % len(parts)
        if action == "delete":
            del parts[i]
        elif action == "duplicate":
            parts.insert(i, parts[i])
        else:
            parts[i], parts[j] = parts[j], parts[i]
    return " ".join(parts)


def real_programs(root: Path) -> list[Path]:
    found = sorted((root / "tests" / "som").glob("*/*.som")) + sorted((root / "examples").glob("*.som")) \
        + sorted((root / "bench" / "programs").glob("*.som"))
    return [path for path in found if path.name != "__init__.py"]


# ---------------------------------------------------------------------- running

class HardTimeout(BaseException):
    """The alarm went off: a BaseException, so nothing inside the VM can swallow it."""


def alarm(seconds: float) -> AbstractContextManager[None]:
    """HardTimeout in the running code after ``seconds`` (tests/alarms.py)."""
    return alarms.alarm(seconds, HardTimeout)


MEMORY_HEADROOM = 1 << 31  # bytes a fuzzed program may allocate beyond what the test process has


@contextmanager
def memory_cap() -> Iterator[None]:
    """Cap the address space while a fuzzed program runs, so that `Array new: 2147483648`
    fails at once with MemoryError instead of touching 16 GB of a shared machine."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as handle:
        in_use = int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    cap = in_use + MEMORY_HEADROOM
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@dataclass
class Outcome:
    kind: str                 # value, error, syntax error, exit, deadlock, timeout; crash (a bug)
    text: str = ""            # the error's text and trace, or what stopped the run
    output: str = ""          # what the program printed (stdout and stderr)


def fresh_machine(classpath: list[str] | None = None) -> tuple[Any, list[str]]:
    """A new VM whose console output (stdout and stderr) goes to the list answered."""
    machine = make_machine(classpath or [])
    output: list[str] = []
    machine.set_output(output.append, output.append)
    return machine, output


def run_source(text: str, classpath: list[str] | None = None, then: str | None = None) -> Outcome:
    """Compile ``text`` (a do-it, or a class definition followed by the do-it ``then``)
    in a fresh VM and run it within SOFT_SECONDS. A Python exception escaping the
    compiler or the VM is the outcome "crash" (what the fuzzer looks for)."""
    machine, output = fresh_machine(classpath)
    universe = machine.universe
    with alarm(HARD_SECONDS), memory_cap():
        try:
            try:
                compiled = compile_input(universe, text, "<fuzz>")
                if compiled.kind != "statements" and then is not None:
                    compiled = compile_input(universe, then, "<fuzz entry>")
            except SmalltalkSyntaxError as error:
                assert error.line >= 1 and error.column >= 1, str(error)
                return Outcome("syntax error", str(error))
            if compiled.kind != "statements":
                return Outcome("value", compiled.kind)
            return finish(machine, machine.spawn_method(V.NIL, compiled.method), output)
        except HardTimeout:
            return Outcome("timeout", "a primitive ran past the alarm", "".join(output))
        except Exception as error:             # escaped the compiler or the VM: what we look for
            return Outcome("crash", describe_crash(error), "".join(output))


def describe_crash(error: Exception) -> str:
    """``Type: message (at module.function)`` of a Python exception, then its traceback."""
    frames = traceback.extract_tb(error.__traceback__)
    where = f"{Path(frames[-1].filename).stem}.{frames[-1].name}" if frames else "?"
    return f"{type(error).__name__}: {error} (at {where})\n" + "".join(traceback.format_exception(error))


def entry_for(path: Path) -> str:
    """How a real program starts: benchmarks on their class side, SOM programs with run."""
    source = path.read_text(encoding="utf-8")
    name = path.stem
    if "benchmark:" in source:
        return f"{name} benchmark: 2"
    if re.search(r"\brun: \w+ = \(", source):
        return f"{name} new run: (Array with: '{name}')"
    if re.search(r"\brun = \(", source):
        return f"{name} new run"
    return f"{name} new printString"


def finish(machine: Any, proc: Any, output: list[str]) -> Outcome:
    scheduler = machine.scheduler
    deadline = time.monotonic() + SOFT_SECONDS
    scheduler.add_timer(SOFT_SECONDS, lambda: None)         # wakes a scheduler waiting on timers
    proc.report_crash = False
    result = scheduler.run_until(lambda: not proc.alive or time.monotonic() > deadline)
    printed = "".join(output)
    if result == "exit":
        return Outcome("exit", "", printed)
    if result == "deadlock":
        return Outcome("deadlock", "", printed)
    if proc.alive:
        return Outcome("timeout", "the soft deadline", printed)
    reason = proc.exit_reason
    if reason == machine.universe.symbol("normal"):
        return Outcome("value", "", printed)
    text = machine.describe_reason(reason)
    return Outcome("error", text + "\n" + "\n".join(proc.crash_trace or []), printed)


def assert_no_internal_text(outcome: Outcome) -> None:
    """No Python exception and no traceback or internal-error text in anything the VM
    produced."""
    assert outcome.kind != "crash", outcome.text
    for text in (outcome.text, outcome.output):
        assert not TRACEBACK.search(text), text
        assert "vm: fatal" not in text and "internal error" not in text.lower(), text
