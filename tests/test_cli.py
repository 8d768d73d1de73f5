"""End-to-end behaviour of the `vm` command line: eval printing, run (class name via
-cp, .som path, errors with a Smalltalk stack trace, missing programs), disasm and
test, each run as a subprocess."""
from __future__ import annotations

import re
from pathlib import Path

from conftest import run_vm


def write_class(folder: Path, name: str, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.som"
    path.write_text(source, encoding="utf-8")
    return path


def assert_clean_failure(result, status: int = 1) -> None:
    assert result.returncode == status, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr


# ---------------------------------------------------------------------- eval

def test_eval_prints_the_value() -> None:
    result = run_vm(["eval", "3 + 4"])
    assert (result.returncode, result.stdout, result.stderr) == (0, "7\n", "")


def test_eval_prints_a_string_quoted_and_a_symbol_with_hash() -> None:
    assert run_vm(["eval", "'hello' + ' world'"]).stdout == "'hello world'\n"
    assert run_vm(["eval", "'it''s'"]).stdout == "'it''s'\n"
    assert run_vm(["eval", "#foo:bar:"]).stdout == "#foo:bar:\n"
    assert run_vm(["eval", "'abc' asSymbol"]).stdout == "#abc\n"


def test_eval_of_statements_with_temporaries_prints_the_last_value() -> None:
    result = run_vm(["eval", "| a b | a := 6. b := a * 7. b"])
    assert (result.returncode, result.stdout) == (0, "42\n")


# ---------------------------------------------------------------------- run

GREETER = """Greeter = (
    run: args = ( ('hello from ' + (args at: 1) + ' with ' + (args length - 1) + ' words') println.
                  Helper new where println )
)
"""


def helper_source(where: str) -> str:
    return f"Helper = (\n    where = ( ^ '{where}' )\n)\n"


def test_run_a_class_name_found_on_the_classpath(tmp_path: Path) -> None:
    first = tmp_path / "first"
    second = tmp_path / "second"
    write_class(second, "Greeter", GREETER)
    write_class(second, "Helper", helper_source("second"))
    write_class(first, "Helper", helper_source("first"))
    result = run_vm(["run", "-cp", f"{first}:{second}", "Greeter", "a", "b"])
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "hello from Greeter with 2 words\nfirst\n"


def test_run_a_file_puts_its_folder_first_on_the_classpath(tmp_path: Path) -> None:
    program_folder = tmp_path / "program"
    other = tmp_path / "other"
    path = write_class(program_folder, "Greeter", GREETER)
    write_class(program_folder, "Helper", helper_source("program folder"))
    write_class(other, "Helper", helper_source("classpath"))
    result = run_vm(["run", "-cp", str(other), str(path)])
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "hello from Greeter with 0 words\nprogram folder\n"


def test_a_program_folder_class_shadows_a_library_class(tmp_path: Path) -> None:
    write_class(tmp_path, "Pair", "Pair = (\n    describe = ( ^ 'my own Pair' )\n)\n")
    path = write_class(tmp_path, "UsesPair", "UsesPair = (\n    run = ( Pair new describe println )\n)\n")
    result = run_vm(["run", str(path)])
    assert (result.returncode, result.stdout, result.stderr) == (0, "my own Pair\n", "")


MAIN_WITH_ERROR = """Main = (
    run = (
        'start' println.
        self first.
        'not reached' println
    )
    first = ( ^ Worker new second )
)
"""
# Main>>run sends `first` on line 4; Main>>first sends `second` on line 7.

WORKER = """Worker = (
    second = (
        ^ self third: 0
    )

    third: n = (
        ^ self error: 'deep failure ' + n
    )
)
"""
# Worker>>second sends `third:` on line 3; Worker>>third: sends `error:` on line 7.


def test_unhandled_error_prints_error_line_and_smalltalk_stack_trace(tmp_path: Path) -> None:
    write_class(tmp_path, "Main", MAIN_WITH_ERROR)
    write_class(tmp_path, "Worker", WORKER)
    result = run_vm(["run", "-cp", str(tmp_path), "Main"])
    assert_clean_failure(result)
    assert result.stdout == "start\n"
    lines = result.stderr.splitlines()
    assert lines[0] == "ERROR: deep failure 0"
    expected_frames = [("Worker>>third:", "Worker.som", 7),
                       ("Worker>>second", "Worker.som", 3),
                       ("Main>>first", "Main.som", 7),
                       ("Main>>run", "Main.som", 4)]
    positions = []
    for method, file_name, line in expected_frames:
        pattern = re.compile(r"^\s*" + re.escape(method) + r" \((?:.*/)?" + re.escape(file_name)
                             + ":" + str(line) + r"\)\s*$")
        matching = [i for i, text in enumerate(lines) if pattern.match(text)]
        assert len(matching) == 1, (method, result.stderr)
        positions.append(matching[0])
    assert positions == sorted(positions), result.stderr
    assert positions[0] > 0
    frame_pattern = re.compile(r"^\s*\S.*>>\S+ \(.+:\d+\)\s*$")
    assert all(frame_pattern.match(text) for text in lines[1:]), result.stderr


def test_unhandled_zero_divide_exits_with_status_1(tmp_path: Path) -> None:
    path = write_class(tmp_path, "Divide", "Divide = (\n    run = ( (1 / 0) println )\n)\n")
    result = run_vm(["run", str(path)])
    assert_clean_failure(result)
    assert result.stdout == ""
    assert result.stderr.startswith("ERROR: ")
    assert re.search(r"Divide>>run \((?:.*/)?Divide\.som:2\)", result.stderr), result.stderr


def test_run_of_a_missing_class_fails_with_one_line(tmp_path: Path) -> None:
    result = run_vm(["run", "-cp", str(tmp_path), "NoSuchClass"])
    assert_clean_failure(result)
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "NoSuchClass" in result.stderr


def test_run_of_a_missing_file_fails_with_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "Nope.som"
    result = run_vm(["run", str(missing)])
    assert_clean_failure(result)
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Nope.som" in result.stderr


def test_run_of_a_file_with_a_syntax_error_fails_with_one_line(tmp_path: Path) -> None:
    path = write_class(tmp_path, "Broken", "Broken = (\n    run = ( 3 + )\n)\n")
    result = run_vm(["run", str(path)])
    assert_clean_failure(result)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Broken.som" in result.stderr


# ---------------------------------------------------------------------- disasm

def test_disasm_lists_bytecode_of_a_method() -> None:
    result = run_vm(["disasm", "Integer>>max:"])
    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert "Integer>>max:" in lines[0]
    instructions = [line for line in lines if re.match(r"^\s*\d+\s+[A-Z][A-Z_0-9]*\b", line)]
    assert len(instructions) >= 3, result.stdout
    # Integer>>max: compares the receiver with its argument.
    assert any("#<" in line or "#>" in line for line in instructions), result.stdout


def test_disasm_of_a_class_side_primitive_says_primitive() -> None:
    result = run_vm(["disasm", "Integer class>>fromString:"])
    assert (result.returncode, result.stderr) == (0, "")
    assert "fromString:" in result.stdout
    assert "primitive" in result.stdout.lower()


def test_disasm_of_an_unknown_method_fails_cleanly() -> None:
    result = run_vm(["disasm", "Integer>>noSuchSelectorHere"])
    assert_clean_failure(result)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


# ---------------------------------------------------------------------- test

PASSING_TEST = """PassingTest = TestCase (
    testAddition = ( self assert: 3 + 4 equals: 7 )
)
"""

FAILING_TEST = """FailingTest = TestCase (
    testWrongSum = ( self assert: 2 + 2 equals: 5 )
)
"""

MORE_PASSING_TEST = """MorePassingTest = TestCase (
    testTruth = ( self assert: true. self deny: false )
)
"""


def summary_line(output: str) -> str:
    lines = [line for line in output.splitlines() if re.search(r"\d+ passed, \d+ failed", line)]
    assert len(lines) == 1, output
    return lines[0]


def test_vm_test_reports_a_failure_and_exits_1(tmp_path: Path) -> None:
    write_class(tmp_path, "PassingTest", PASSING_TEST)
    write_class(tmp_path, "FailingTest", FAILING_TEST)
    result = run_vm(["test", str(tmp_path)])
    assert_clean_failure(result)
    assert "1 passed, 1 failed" in summary_line(result.stdout)
    assert "testWrongSum" in result.stdout


def test_vm_test_with_only_passing_tests_exits_0(tmp_path: Path) -> None:
    write_class(tmp_path, "PassingTest", PASSING_TEST)
    write_class(tmp_path, "MorePassingTest", MORE_PASSING_TEST)
    result = run_vm(["test", str(tmp_path)])
    assert (result.returncode, result.stderr) == (0, "")
    assert "2 passed, 0 failed" in summary_line(result.stdout)
