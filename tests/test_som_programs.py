"""End-to-end runs of the SOM-style programs in tests/som/: each program runs as
`vm run -cp <its folder> <File.som or ClassName> [words...]`, and its stdout must equal
tests/som/<name>.expected exactly, with the exit status (and, for programs meant to
fail, the first stderr line) this table gives."""
from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from conftest import run_vm

SOM_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "som")


@dataclass(frozen=True)
class Program:
    name: str                       # folder tests/som/<name>/ and tests/som/<name>.expected
    target: str                     # a file in that folder (passed as a path) or a class name
    words: tuple[str, ...] = ()     # command-line words after the target
    status: int = 0
    stderr_first_line: str | None = None   # required for programs that fail


PROGRAMS = [
    Program("reflection", "Reflection.som"),
    Program("unknown_global", "UnknownGlobal.som"),
    Program("dnu", "Dnu"),
    Program("escaped", "Escaped.som"),
    Program("escaped_unhandled", "EscapedUnhandled.som", status=1,
            stderr_first_line="ERROR: Block has escaped and cannot be executed"),
    Program("arguments", "Arguments", words=("alpha", "42", "--flag")),
    Program("run_unary", "RunUnary", words=("extra", "words")),
    Program("exit_status", "ExitStatus.som", status=3),
    Program("nonlocal", "NonLocal.som"),
    Program("closures", "Closures"),
    Program("argument_assignment", "ArgumentAssignment.som"),
    Program("super", "Super.som"),
    Program("cascades", "Cascades"),
    Program("literals", "Literals.som"),
    Program("brace_arrays", "BraceArrays"),
    Program("strings", "Strings.som"),
    Program("numbers", "Numbers"),
    Program("collections", "Collections.som"),
    Program("foreign_idioms", "ForeignIdioms.som"),
]


def command_for(program: Program) -> list[str]:
    folder = os.path.join(SOM_DIR, program.name)
    target = program.target
    if target.endswith(".som"):
        target = os.path.join(folder, target)
    return ["run", "-cp", folder, target, *program.words]


def read_expected(program: Program) -> str:
    with open(os.path.join(SOM_DIR, program.name + ".expected"), encoding="utf-8") as handle:
        return handle.read()


@pytest.mark.parametrize("program", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_program_output(program: Program) -> None:
    expected = read_expected(program)
    result = run_vm(command_for(program), timeout=60)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stdout == expected, result.stderr
    assert result.returncode == program.status, result.stderr
    if program.stderr_first_line is None:
        assert result.stderr == ""
    else:
        assert result.stderr.splitlines()[:1] == [program.stderr_first_line]


def test_every_program_folder_is_listed_and_has_expected_output() -> None:
    folders = sorted(entry for entry in os.listdir(SOM_DIR)
                     if os.path.isdir(os.path.join(SOM_DIR, entry)))
    assert folders == sorted(p.name for p in PROGRAMS)
    for program in PROGRAMS:
        assert os.path.isfile(os.path.join(SOM_DIR, program.name + ".expected")), program.name
        class_file = program.target if program.target.endswith(".som") else program.target + ".som"
        assert os.path.isfile(os.path.join(SOM_DIR, program.name, class_file)), program.name
