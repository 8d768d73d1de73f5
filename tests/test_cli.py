"""End-to-end behaviour of the `vm` command line: eval printing, run (class name via
-cp, .som path, errors with a Smalltalk stack trace, missing programs), disasm and
test, each run as a subprocess."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, run_vm


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


def test_a_test_that_ends_its_own_process_ends_only_itself(tmp_path: Path) -> None:
    write_class(tmp_path, "LeavingTest", """LeavingTest = TestCase (
    | log |
    testBefore = ( self assert: true )
    testLeaves = ( Process current exit: #normal. self assert: false )
    testKilledThroughALink = ( [ 1 / 0 ] spawnLink. Process sleep: 1000 )
    testAfter = ( self assert: 1 equals: 1 )
    tearDown = ( system printString: 'tearDown ' + testSelector + '. ' )
)
""")
    result = run_vm(["test", str(tmp_path)])
    assert_clean_failure(result)
    assert "2 passed, 2 failed" in summary_line(result.stdout)
    assert "ERROR: LeavingTest>>#testLeaves: its process ended (#normal) before the test did" in result.stdout
    assert "tearDown testLeaves." in result.stdout          # still run, by the runner
    assert ("ERROR: LeavingTest>>#testKilledThroughALink: its process ended (ZeroDivide: Division by zero.)"
            in result.stdout)


# ---------------------------------------------------------------------- eval: what the REPL accepts

def test_eval_of_several_do_its_shares_workspace_variables_and_definitions() -> None:
    result = run_vm(["eval",
                     "Counter = Object ( | n | bump = ( n := (n ifNil: [ 0 ]) + 1. ^ n ) )",
                     "Counter >> twice = ( self bump. ^ self bump )",
                     "c := Counter new",
                     "c twice",
                     "c bump + 10"])
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    assert result.stdout == "a Counter\n2\n13\n"      # definitions are silent


def test_eval_stops_at_the_first_failing_do_it() -> None:
    result = run_vm(["eval", "1", "nil foo", "3"])
    assert result.returncode == 1
    assert result.stdout == "1\n"
    assert result.stderr.startswith("ERROR: Method foo not found in class Nil")
    # Each do-it is compiled when its turn comes (it may use a class an earlier one defined).
    syntax = run_vm(["eval", "1", "2 +"])
    assert (syntax.returncode, syntax.stdout, syntax.stderr) == (1, "1\n", "<eval 2>:1:4: unexpected end of input\n")


def test_eval_of_a_do_it_that_ends_its_process_normally() -> None:
    result = run_vm(["eval", "'before' println. Process current exit: #normal. 'after' println", "3"])
    assert (result.returncode, result.stdout, result.stderr) == (0, "before\nnil\n3\n", "")


def test_eval_result_after_output_without_a_newline_starts_a_line() -> None:
    result = run_vm(["eval", "'abc' print. 42"])
    assert (result.returncode, result.stdout) == (0, "abc\n42\n")
    result = run_vm(["eval", "'abc' println. 42"])
    assert result.stdout == "abc\n42\n"


def test_eval_refuses_an_argument_that_is_not_utf8() -> None:
    argument = b"'caf\xe9'".decode("utf-8", "surrogateescape")    # the bytes a Latin-1 terminal sends
    result = run_vm(["eval", argument])
    assert (result.returncode, result.stdout, result.stderr) == (1, "", "<eval>:1:5: not UTF-8 text\n")


# ---------------------------------------------------------------------- help and version

def test_version_is_the_creator_recorded_in_images(tmp_path: Path) -> None:
    version = run_vm(["--version"])
    assert version.returncode == 0
    assert re.fullmatch(r"smalltalk-vm \S+ \(image format \d+, Python 3\.\d+\.\d+\)\n", version.stdout)
    image = tmp_path / "v.image"
    run_vm(["eval", f"system saveImage: '{image}'"])
    info = run_vm(["image", "info", str(image)])
    creator = next(line for line in info.stdout.splitlines() if line.startswith("creator:"))
    assert creator.split()[1:] == version.stdout.split()[:2]


HELP_SUBCOMMANDS = [["run"], ["eval"], ["disasm"], ["test"], ["repl"], ["image"], ["image", "info"], ["cluster"],
                    ["cluster", "status"], ["cluster", "processes"], []]


def help_entries(text: str) -> dict[str, str]:
    """argument -> its help, from the argument sections of argparse's --help text."""
    entries: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        if not line.startswith(" "):
            current = "section" if line.endswith(":") and line != "usage:" and not line.startswith("usage") else None
            continue
        if current is None:
            continue
        match = re.match(r"^  (\S.*?)(?:\s{2,}(\S.*))?$", line)
        if match:
            current = match.group(1)
            entries[current] = match.group(2) or ""
        elif current in entries:
            entries[current] += " " + line.strip()
    return entries


@pytest.mark.parametrize("subcommand", HELP_SUBCOMMANDS, ids=lambda words: " ".join(words) or "vm")
def test_every_argument_has_help_text(subcommand: list[str]) -> None:
    result = run_vm([*subcommand, "--help"])
    assert result.returncode == 0, result.stderr
    entries = help_entries(result.stdout)
    assert entries, result.stdout
    undocumented = [name for name, text in entries.items() if not text.strip()]
    assert undocumented == [], result.stdout


def test_bench_help_names_vm_bench() -> None:
    result = run_vm(["bench", "--help"])
    assert result.returncode == 0
    assert result.stdout.startswith("usage: vm bench ")


@pytest.mark.parametrize("source, message", [
    ("3 + )", "<eval>:1:5: unexpected ')'"),
    ("#(1 2) . .", "<eval>:1:10: unexpected '.'"),
    ("x := 3 3", "<eval>:1:8: unexpected number '3'"),        # a kind of token: named, then shown
])
def test_a_syntax_error_names_the_token_once(source: str, message: str) -> None:
    result = run_vm(["eval", source])
    assert (result.returncode, result.stderr) == (1, message + "\n")


@pytest.mark.parametrize("command, loads_grpc", [("eval", False), ("run", False), ("repl", False),
                                                 ("cluster", True), (None, True)])
def test_only_the_cluster_commands_parse_with_the_grpc_client(command: str | None, loads_grpc: bool) -> None:
    """`vm eval` and the other local commands build their parser without `vm cluster`,
    whose client imports gRPC (a third of their start-up); `vm cluster` and `vm --help`
    get the whole parser."""
    probe = ("import sys\nfrom smalltalk_vm.cli import main\n"
             "main.build_parser(sys.argv[1] or None)\nprint('grpc' in sys.modules)")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, "-c", probe, command or ""], capture_output=True, text=True,
                            timeout=120, env=env, cwd=ROOT)
    assert (result.returncode, result.stdout.strip()) == (0, str(loads_grpc)), result.stderr
