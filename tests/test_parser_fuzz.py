"""Fuzz tests of the compiler front end: whatever text it is given, parsing and
compiling either succeed or raise ``SmalltalkSyntaxError`` positioned at line >= 1,
column >= 1 — never another Python exception, never a RecursionError on deep nesting.
Also the reported form of syntax errors (``file:line:column: message``) in the API and
from the ``vm`` command.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from conftest import ROOT, VMSession, run_vm
from hypothesis import given, settings
from hypothesis import strategies as st

from smalltalk_vm.compiler.front import compile_input
from smalltalk_vm.compiler.parser import parse_class, parse_doit, parse_input, parse_method_doit
from smalltalk_vm.vm.errors import SmalltalkSyntaxError

FUZZ = settings(max_examples=250, deadline=None, derandomize=True)
LOCATED = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<column>\d+): (?P<message>.+)$", re.S)
LIB_DIR = os.path.join(ROOT, "lib")
FILENAME = "fuzz.som"


def lib_sources() -> list[str]:
    """Every class file of lib/, its class renamed ``Fuzz<Name>`` so that compiling a
    mutant can never redefine a kernel class of the machine under test."""
    header = re.compile(r'^((?:\s|"[^"]*")*)([A-Za-z]\w*)(\s*=)')
    sources = []
    for name in sorted(os.listdir(LIB_DIR)):
        if name.endswith(".som"):
            with open(os.path.join(LIB_DIR, name), encoding="utf-8") as handle:
                sources.append(header.sub(r"\1Fuzz\2\3", handle.read(), count=1))
    return sources


LIB_SOURCES = lib_sources()


def assert_well_located(error: SmalltalkSyntaxError, filename: str = FILENAME) -> None:
    assert error.line >= 1 and error.column >= 1, f"bad position in {error!s}"
    assert error.filename == filename
    assert str(error) == f"{filename}:{error.line}:{error.column}: {error.message}"
    assert error.message.strip(), "an empty message"


def only_syntax_errors(action: Callable[[], Any]) -> None:
    """Run ``action``; a SmalltalkSyntaxError must be well located, and anything else
    but success propagates (and fails the test)."""
    try:
        action()
    except SmalltalkSyntaxError as error:
        assert_well_located(error)


# ---------------------------------------------------------------- strategies

SOURCE_CHARACTERS = list("()[]{}.:;^#$'\"|-+*/\\<>=~&,@%!?_ \n\t\r") + list("abcxyzAFZ019r.e")
VOCABULARY = [
    "Foo", "Bar", "=", "(", ")", "[", "]", "{", "}", "|", "x", "y", ":x", ":y", "^", ".", ";",
    "foo:", "bar:", "at:put:", "+", "-", "*", "/", "//", "<", ">=", "~=", "==", "->", ">>",
    ">>>", "~>", ":=", "3", "-2", "1.5", "2.0e10", "16r1F", "123456789012345678901234567890",
    "'str'", "'it''s'", "#sym", "#at:put:", "#+", "#'a b'", "#(", "$a", "$ ", "----",
    "class", "primitive", "self", "super", "nil", "true", "false", "thisContext", "system",
    "\"comment\"", "\n", "ifTrue:", "whileTrue:", "to:", "do:", "value",
]

random_text = st.text(alphabet=st.one_of(st.sampled_from(SOURCE_CHARACTERS), st.characters()),
                      max_size=120)
token_soup = st.lists(st.sampled_from(VOCABULARY), max_size=40).map(" ".join)
token_soup_tight = st.lists(st.sampled_from(VOCABULARY), max_size=40).map("".join)


@st.composite
def mutated_lib_source(draw: st.DrawFn) -> str:
    """A real lib/ class file (or a stretch of one) with a few characters deleted,
    inserted or replaced."""
    text = draw(st.sampled_from(LIB_SOURCES))
    if draw(st.booleans()):
        start = draw(st.integers(0, len(text) - 1))
        length = draw(st.integers(1, 400))
        text = text[start:start + length]
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, len(text)))
        operation = draw(st.sampled_from(["delete", "insert", "replace"]))
        character = draw(st.sampled_from(SOURCE_CHARACTERS))
        if operation == "delete":
            text = text[:position] + text[position + 1:]
        elif operation == "insert":
            text = text[:position] + character + text[position:]
        else:
            text = text[:position] + character + text[position + 1:]
    return text


# Near-valid programs built from the grammar, with names drawn from a small pool so
# that duplicate declarations, pseudo-variables as names, assignments to arguments and
# undeclared variables (errors found by the code generator, not the parser) turn up.
NAMES = ["a", "b", "x", "self", "super", "nil", "thisContext", "Undeclared"]
names = st.sampled_from(NAMES)
leaf = st.one_of(names, st.sampled_from(["3", "-2", "1.5", "'s'", "#sym", "$c", "#(1 $a #b)"]))


def _compound(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds("{} + {}".format, inner, inner),
        st.builds("{} foo".format, inner),
        st.builds("{} at: {} put: {}".format, inner, inner, inner),
        st.builds("({})".format, inner),
        st.builds("{} := {}".format, names, inner),
        st.builds("[ {} | {} ]".format, st.lists(names.map(":{}".format), min_size=1, max_size=3).map(" ".join),
                  inner),
        st.builds("[ | {} | {} ]".format, st.lists(names, max_size=3).map(" ".join), inner),
        st.builds("{{ {}. {} }}".format, inner, inner),
        st.builds("{} ifTrue: [ {} ] ifFalse: [ ^ {} ]".format, inner, inner, inner),
        st.builds("1 to: {} do: [ :{} | {} ]".format, inner, names, inner),
        st.builds("{} foo; bar: {}".format, inner, inner),
    )


expressions = st.recursive(leaf, _compound, max_leaves=12)
statement_lists = st.lists(expressions, min_size=1, max_size=4).map(".\n".join)
temps = st.lists(names, max_size=3).map(lambda ns: f"| {' '.join(ns)} | " if ns else "")
structured_doit = st.builds("{}{}".format, temps, statement_lists)
method_patterns = st.one_of(
    st.just("run"),
    st.builds("+ {}".format, names),
    st.builds("at: {} put: {}".format, names, names),
)
structured_class = st.builds(
    "FuzzMade = (\n  | {} |\n  {} = ( {}{} )\n)\n".format,
    st.lists(names, max_size=3).map(" ".join), method_patterns, temps, statement_lists)

any_source = st.one_of(random_text, token_soup, token_soup_tight, mutated_lib_source(),
                       structured_doit, structured_class)


@pytest.fixture(scope="module")
def fuzz_vm() -> VMSession:
    """A machine that fuzzed class and method definitions may be compiled into."""
    return VMSession()


# ---------------------------------------------------------------- properties

def test_unmutated_lib_sources_parse():
    """The base of the mutants is valid, so mutants are near-valid programs."""
    assert len(LIB_SOURCES) >= 20
    for text in LIB_SOURCES:
        assert parse_class(text, FILENAME).name.startswith("Fuzz")


@FUZZ
@given(any_source)
def test_parsers_raise_only_located_syntax_errors(text):
    for parse in (parse_class, parse_doit, parse_input, parse_method_doit):
        only_syntax_errors(lambda parse=parse: parse(text, FILENAME))


@contextmanager
def globals_restored(universe: Any) -> Iterator[None]:
    """Forget the classes a fuzzed definition made, so every example starts from the
    same machine (hypothesis needs that to shrink) and a later example cannot build an
    inheritance cycle from an earlier one's class (a known hang, tested below)."""
    saved = dict(universe.globals)
    try:
        yield
    finally:
        universe.globals.clear()
        universe.globals.update(saved)


@FUZZ
@given(any_source)
def test_compile_input_raises_only_located_syntax_errors(fuzz_vm, text):
    with globals_restored(fuzz_vm.universe):
        only_syntax_errors(lambda: compile_input(fuzz_vm.universe, text, FILENAME))


@FUZZ
@given(st.one_of(mutated_lib_source(), token_soup,
                 st.builds("{} = ( {}{} )".format, method_patterns, temps, statement_lists)))
def test_compiling_mutated_methods_as_method_doits(fuzz_vm, text):
    """Fuzzed text as the method of a `FuzzTarget >> ...` method do-it."""
    if "FuzzTarget" not in fuzz_vm.universe.globals:
        fuzz_vm.define("FuzzTarget = ( | a b | )")
    with globals_restored(fuzz_vm.universe):
        only_syntax_errors(lambda: compile_input(fuzz_vm.universe, "FuzzTarget >> " + text, FILENAME))


# ---------------------------------------------------------------- deep nesting

DEPTH = 5000
NESTINGS = {
    "parentheses": "(" * DEPTH + "1" + ")" * DEPTH,
    "blocks": "[" * DEPTH + "1" + "]" * DEPTH,
    "brace arrays": "{" * DEPTH + "1" + "}" * DEPTH,
    "literal arrays": "#(" + "(" * DEPTH + ")" * DEPTH + ")",
    "binary chain": "1" + " + 1" * DEPTH,
    "unclosed parentheses": "(" * DEPTH + "1",
    "unclosed blocks": "[" * DEPTH + "1",
}
NESTED_VALUES = {"parentheses": "1", "binary chain": str(DEPTH + 1)}


@pytest.mark.parametrize("shape", list(NESTINGS))
def test_deep_nesting_compiles_or_is_a_syntax_error(fuzz_vm, shape):
    text = NESTINGS[shape]
    assert sys.getrecursionlimit() <= 1000 + 100, "the test must run at the default limit"
    only_syntax_errors(lambda: parse_input(text, FILENAME))
    compiled = []
    only_syntax_errors(lambda: compiled.append(compile_input(fuzz_vm.universe, text, FILENAME)))
    if compiled and shape in NESTED_VALUES:
        # What compiles must also run, without deep Python recursion either.
        outcome = fuzz_vm.machine.evaluate(compiled[0].method)
        assert outcome.status == "value", outcome.error_text
        assert fuzz_vm.machine.print_string(outcome.value) == NESTED_VALUES[shape]


# ---------------------------------------------------------------- cyclic classes

def test_class_that_would_inherit_from_itself_is_a_syntax_error():
    """Redefining a class so that it inherits from itself (or from its own subclass)
    must be refused, not hang. Run in a child process so a hang is bounded."""
    program = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.path.join(ROOT, 'tests')!r})
        from conftest import VMSession
        from smalltalk_vm.compiler.front import compile_input
        from smalltalk_vm.vm.errors import SmalltalkSyntaxError
        vm = VMSession()
        vm.define("Cyc = ( x = ( ^ 1 ) )")
        vm.define("CycSub = Cyc ( )")
        for text in ("Cyc = Cyc ( )", "Cyc = CycSub ( )"):
            try:
                compile_input(vm.universe, text, "cyc.som")
                print("accepted", text)
            except SmalltalkSyntaxError as error:
                print("refused", error.line, error.column)
    """)
    try:
        result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                                timeout=5, cwd=ROOT)
    except subprocess.TimeoutExpired:
        pytest.fail("compiling `Cyc = Cyc ( )` after Cyc exists does not terminate")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines == ["refused 1 1", "refused 1 1"], result.stdout


# ---------------------------------------------------------------- reporting

def syntax_error_of(parse: Callable[[str, str], Any], text: str) -> SmalltalkSyntaxError:
    with pytest.raises(SmalltalkSyntaxError) as info:
        parse(text, "bad.som")
    error = info.value
    match = LOCATED.match(str(error))
    assert match, f"not file:line:column: message: {error!s}"
    assert (match["file"], int(match["line"]), int(match["column"]), match["message"]) == \
        ("bad.som", error.line, error.column, error.message)
    return error


@pytest.mark.parametrize("text, line, column, words", [
    ("'abc", 1, 1, "unterminated"),
    ("x := 1.\n  y := 'abc\n", 2, 8, "unterminated"),
    ("\"a comment that never ends", 1, 1, "unterminated"),
    ("3 +", 1, 4, "end of input"),
    ("3 +\n\n", 3, 1, "end of input"),
    ("(1 + 2", 1, 7, "')'"),
    ("1 + 2)", 1, 6, "')'"),
    ("\n\n   ] ", 3, 4, "']'"),
    ("a := := 3", 1, 6, ":="),
    ("99r1", 1, 1, "radix"),
])
def test_statement_syntax_error_positions(text, line, column, words):
    for parse in (parse_doit, parse_input):
        error = syntax_error_of(parse, text)
        assert (error.line, error.column) == (line, column), str(error)
        assert words in error.message


@pytest.mark.parametrize("text, line, column, words", [
    ("Foo = (\n  bar = ( ^ 1 ) \n", 3, 1, "')'"),               # the class's `)` missing
    ("Foo = (\n  bar = ( ^ 1 + )\n)\n", 2, 17, "')'"),           # operand missing
    ("Foo = (\n  bar = ( ^ 'abc )\n)\n", 2, 13, "unterminated"),
    ("Foo = (\n  bar: = ( ^ 1 )\n)\n", 2, 8, "="),
])
def test_class_syntax_error_positions(text, line, column, words):
    for parse in (parse_class, parse_input):
        error = syntax_error_of(parse, text)
        assert (error.line, error.column) == (line, column), str(error)
        assert words in error.message


@pytest.mark.parametrize("text, line", [
    ("| a a | a", 1),                                  # found by the code generator
    ("| x |\nx := 1.\n[ :y :y | y ]", 3),
    ("Foo = (\n  bar: a baz: a = ( ^ a )\n)\n", 2),
    ("y := 3", 1),
])
def test_code_generator_errors_are_located_too(fuzz_vm, text, line):
    with globals_restored(fuzz_vm.universe), pytest.raises(SmalltalkSyntaxError) as info:
        compile_input(fuzz_vm.universe, text, "bad.som")
    error = info.value
    assert error.line == line, str(error)
    assert 1 <= error.column <= len(text.splitlines()[line - 1]), str(error)


def test_compile_input_reports_the_given_file_name(fuzz_vm):
    with pytest.raises(SmalltalkSyntaxError) as info:
        compile_input(fuzz_vm.universe, "1 +\n 2 +", "my/doit.st")
    assert str(info.value).startswith("my/doit.st:2:5: ")


def assert_one_line_report(result: subprocess.CompletedProcess, prefix: str) -> None:
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got: {result.stderr!r}"
    assert lines[0].startswith(prefix), lines[0]
    assert LOCATED.match(lines[0]), lines[0]


def test_vm_run_of_a_file_with_a_syntax_error(tmp_path):
    path = tmp_path / "Broken.som"
    path.write_text("Broken = (\n    run = ( ^ 3 + )\n)\n", encoding="utf-8")
    result = run_vm(["run", str(path)])
    assert_one_line_report(result, f"{path}:2:19: ")
    assert result.stdout == ""


def test_vm_run_reports_a_syntax_error_in_a_lazily_loaded_class(tmp_path):
    """The class with the error is loaded while the program runs: it is a run-time
    error then, but its text still carries the located syntax error, and no Python
    traceback is shown."""
    (tmp_path / "Main.som").write_text("Main = (\n  run = ( Helper new hello )\n)\n", encoding="utf-8")
    (tmp_path / "Helper.som").write_text("Helper = (\n  hello = (\n    'oops println\n  )\n)\n",
                                         encoding="utf-8")
    result = run_vm(["run", "-cp", str(tmp_path), "Main"])
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{tmp_path / 'Helper.som'}:3:5: unterminated" in result.stderr


def test_vm_eval_of_a_syntax_error():
    result = run_vm(["eval", "3 +"])
    assert_one_line_report(result, "<eval>:1:4: ")
