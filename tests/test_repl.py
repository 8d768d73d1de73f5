"""The REPL without a terminal: `vm repl` with piped stdin (one do-it per line or per
complete input, results on stdout, errors on stderr, no prompt or banner), its `:`
commands and images; plus unit tests of the text helpers in repl/source.py and of the
completion data a session offers."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Sequence

import pytest
from conftest import ROOT, run_vm

from smalltalk_vm.repl.source import completion_context, is_complete


def repl(*lines: str, args: Sequence[str] = ()) -> subprocess.CompletedProcess:
    """Pipe ``lines`` into `vm repl` and answer the finished process."""
    return run_vm(["repl", *args], input="".join(line + "\n" for line in lines), timeout=60)


def out_lines(result: subprocess.CompletedProcess) -> list[str]:
    return result.stdout.splitlines()


# ---------------------------------------------------------------------- do-its

def test_arithmetic_prints_only_the_results():
    result = repl("3 + 4", "1000000000000 * 1000000000000", "(1 to: 4) collect: [ :i | i * i ]")
    assert result.returncode == 0, result.stderr
    # No prompt, no banner: stdout is exactly one line per result.
    assert out_lines(result) == ["7", "1" + "0" * 24, "#(1 4 9 16)"]
    assert result.stderr == ""


def test_empty_input_prints_nothing_and_exits_cleanly():
    result = run_vm(["repl"], input="", timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_class_and_method_defined_as_do_its_then_used():
    result = repl(
        "Point3 = Object ( | x y z | x: ax y: ay z: az = ( x := ax. y := ay. z := az ) )",
        "Point3 >> sum = ( ^ x + y + z )",
        "Point3 class >> origin = ( ^ self new x: 0 y: 0 z: 0 )",
        "(Point3 new x: 1 y: 2 z: 3) sum",
        "Point3 origin sum",
    )
    assert result.returncode == 0, result.stderr
    assert out_lines(result) == [
        "defined class Point3",
        "defined Point3>>sum",
        "defined Point3 class>>origin",
        "6",
        "0",
    ]


def test_redefining_a_method_replaces_it_for_existing_instances():
    result = repl(
        "Greeter = Object ( greet = ( ^ 'hello' ) )",
        "g := Greeter new",
        "g greet",
        "Greeter >> greet = ( ^ 'bonjour' )",
        "g greet",
    )
    assert out_lines(result)[-1] == "'bonjour'"
    assert out_lines(result)[2] == "'hello'"


def test_redefining_a_class_keeps_instance_values_by_variable_name():
    result = repl(
        "P3 = ( | x y | x = ( ^x ) y = ( ^y ) setX: ax y: ay = ( x := ax. y := ay ) )",
        "P4 = P3 ( | z | z = ( ^z ) z: az = ( z := az ) )",
        "p := P3 new setX: 1 y: 2",
        "q := (P4 new setX: 10 y: 20) z: 30; yourself",
        # w is new and comes first: every old field moves.
        "P3 = ( | w y x | x = ( ^x ) y = ( ^y ) w = ( ^w ) )",
        "{ p x. p y. p w }",
        "{ q x. q y. q w. q z }",
        # P4's own methods were compiled for the old positions: they are compiled again.
        "q z: 31. q z",
        "P3 = ( | x | x = ( ^x ) )",
        "{ q x. q z }",
    )
    assert result.returncode == 0, result.stderr
    assert out_lines(result)[5:] == ["#(1 2 nil)", "#(10 20 nil 30)", "31",
                                     "defined class P3", "#(10 31)"]


def test_redefining_a_class_keeps_class_side_values_by_name():
    result = repl(
        "Counter = ( ---- | count label | count = ( ^count ) count: c = ( count := c ) )",
        "Counter count: 5",
        "Counter = ( ---- | label total count | count = ( ^count ) total = ( ^total ) )",
        "{ Counter count. Counter total }",
    )
    assert result.returncode == 0, result.stderr
    assert out_lines(result)[-1] == "#(5 nil)"


def test_workspace_variable_persists_between_inputs():
    result = repl("total := 40", "total := total + 2", "total * 10", "| local | local := 5", "local")
    assert result.returncode == 0, result.stderr
    # A declared temporary lives for its own input only; `local` is then unknown (nil).
    assert out_lines(result) == ["40", "42", "420", "5", "nil"]


def test_assigning_to_a_class_name_is_refused_and_the_class_survives():
    result = repl("Object := 3", "Object", "x := 1", "x")
    assert "Object" in result.stderr
    assert "cannot assign" in result.stderr
    assert out_lines(result) == ["Object", "1", "1"]


def test_multi_line_input_is_evaluated_once_complete():
    result = repl(
        "(1 to: 3) inject: 0 into: [ :sum :each |",
        "    sum + each ]",
        "Stack = Object (",
        "    | items |",
        "    push: x = ( items isNil ifTrue: [ items := Vector new ]. items append: x )",
        "    top = ( ^ items last )",
        ")",
        "s := Stack new. s push: 'a ( ['; push: 'b'. s top",
    )
    assert result.returncode == 0, result.stderr
    assert out_lines(result) == ["6", "defined class Stack", "'b'"]


def test_a_string_with_brackets_does_not_hold_the_input_open():
    result = repl("'(([[' size", "'it''s [' size", "$( value")
    assert out_lines(result) == ["4", "6", "40"]


def test_does_not_understand_is_reported_and_the_session_goes_on():
    result = repl("3 foo", "1 + 2")
    assert out_lines(result) == ["3"]
    assert result.returncode == 1, "a failed do-it makes the exit status 1 at the end"
    errors = result.stderr.splitlines()
    assert errors[0].startswith("ERROR: ")
    assert "foo" in errors[0] and "Integer" in errors[0]
    # The trace's innermost frames are in the library; the do-it itself is listed.
    assert any("<repl>:1" in line for line in errors[1:])
    assert out_lines(result) == ["3"]


def test_run_time_error_shows_a_smalltalk_trace_of_session_methods():
    result = repl(
        "Calc = Object ( inner = ( ^ 1 / 0 ) outer = ( ^ self inner ) )",
        "Calc new outer",
        "'still here'",
    )
    errors = result.stderr.splitlines()
    assert errors[0].startswith("ERROR: ")
    frames = [line.strip() for line in errors[1:]]
    inner = next(i for i, f in enumerate(frames) if f.startswith("Calc>>inner"))
    outer = next(i for i, f in enumerate(frames) if f.startswith("Calc>>outer"))
    assert inner < outer
    assert out_lines(result) == ["defined class Calc", "'still here'"]


def test_syntax_error_points_at_the_column_and_the_session_goes_on():
    result = repl("3 + + 4", "5 * 5")
    errors = result.stderr.splitlines()
    assert re.match(r"<repl>:1:5: ", errors[0]), errors
    # The source line and a caret under column 5.
    assert errors[1].strip() == "3 + + 4"
    assert errors[2].index("^") - errors[1].index("3") == 4
    assert out_lines(result) == ["25"]
    assert result.returncode == 1


def test_the_programs_own_exit_status_wins_over_failed_do_its():
    result = repl("3 foo", "system exit: 7", "4")
    assert result.returncode == 7


def test_syntax_error_on_a_later_line_of_a_multi_line_input():
    result = repl("(1 +", "  ) foo", "7")
    assert re.match(r"<repl>:2:3: ", result.stderr), result.stderr
    assert out_lines(result) == ["7"]


def test_failing_print_string_is_reported_not_fatal():
    result = repl("Broken = Object ( printOn: aStream = ( ^ nil bar ) )", "Broken new", "8")
    assert result.stderr.startswith("ERROR: ")
    assert "bar" in result.stderr
    assert out_lines(result) == ["defined class Broken", "8"]


def test_long_results_are_cut_short():
    result = repl("(1 to: 100000) asArray")
    line, = out_lines(result)
    assert line.startswith("#(1 2 3 ")
    assert 1000 < len(line) < 20_000
    assert line.endswith("...")


# ---------------------------------------------------------------------- commands

def test_help_lists_the_commands():
    result = repl(":help")
    for command in (":save", ":load", ":inspect", ":browse", ":processes", ":quit"):
        assert command in result.stdout
    assert result.stderr == ""


def test_unknown_command_is_an_error():
    result = repl(":frobnicate", "1")
    assert result.stderr.startswith("ERROR: ")
    assert ":frobnicate" in result.stderr
    assert out_lines(result) == ["1"]


def test_quit_ends_the_session():
    result = repl("1", ":quit", "2")
    assert result.returncode == 0
    assert out_lines(result) == ["1"]


def test_spawned_process_keeps_running_between_inputs_and_is_listed():
    result = repl(
        "parked := [ Process receive ] spawn",
        "parked pid",
        ":processes",
        "parked isAlive",
    )
    assert result.returncode == 0, result.stderr
    lines = out_lines(result)
    pid = lines[1]
    assert pid.isdigit()
    header, *rows = lines[2:-1]
    assert "pid" in header and "status" in header
    row = next(r for r in rows if r.split()[0] == pid)
    assert "waiting" in row
    assert lines[-1] == "true"


def test_a_spawned_process_works_between_inputs():
    result = repl(
        "box := Vector new",
        "echo := [ [ true ] whileTrue: [ box append: Process receive * 2 ] ] spawn",
        "echo send: 21",
        "Process sleep: 20. box",
        "echo send: 50. Process sleep: 20. box asArray",
    )
    assert out_lines(result)[-2:] == ["a Vector(42)", "#(42 100)"]


def test_inspect_shows_class_and_instance_variables():
    result = repl(
        "Pair2 = Object ( | left right | left: l right: r = ( left := l. right := r ) )",
        ":inspect Pair2 new left: 7 right: 'x'",
    )
    assert result.returncode == 0, result.stderr
    shown = out_lines(result)[1:]
    assert shown[0] == "a Pair2  (Pair2, 2 fields)"
    fields = [line.split(None, 1) for line in shown[1:]]
    assert fields == [["1", "left: 7"], ["2", "right: 'x'"]]


def test_inspect_needs_an_expression():
    result = repl(":inspect", "1")
    assert result.stderr.startswith("ERROR: ")
    assert out_lines(result) == ["1"]


def test_browse_a_class_defined_in_the_session():
    result = repl("Shape = Object ( | sides | sides = ( ^ sides ) )", ":browse Shape")
    browsed = "\n".join(out_lines(result)[1:])
    assert browsed.startswith("Shape = Object (")
    assert "sides = ( ^ sides )" in browsed


def test_browse_shows_methods_added_after_the_class_definition():
    result = repl(
        "Shape = Object ( | sides | sides = ( ^ sides ) )",
        "Shape >> describe = ( ^ 'a shape' )",
        ":browse Shape",
    )
    browsed = "\n".join(out_lines(result)[2:])
    assert "sides = ( ^ sides )" in browsed
    assert "describe = ( ^ 'a shape' )" in browsed


def test_browse_a_library_class_and_an_unknown_name():
    result = repl(":browse Vector", ":browse NoSuchClass")
    assert "Vector = Object (" in result.stdout
    assert "append: element" in result.stdout
    assert result.stderr.startswith("ERROR: ")
    assert "NoSuchClass" in result.stderr


def test_load_files_in_a_class(tmp_path):
    source = tmp_path / "Tally.som"
    source.write_text("Tally = Object (\n    | n |\n    bump = ( n := (n ifNil: [ 0 ]) + 1. ^ n )\n)\n")
    result = repl(f":load {source}", "t := Tally new. t bump. t bump", ":browse Tally",
                  f":load {tmp_path / 'Missing.som'}", "'after'")
    lines = out_lines(result)
    assert lines[0] == "defined class Tally"
    assert lines[1] == "2"
    assert "bump = (" in result.stdout
    assert result.stderr.startswith("ERROR: ")
    assert lines[-1] == "'after'"


def test_load_reports_a_syntax_error_in_the_file(tmp_path):
    source = tmp_path / "Faulty.som"
    source.write_text("Faulty = Object (\n    go = ( ^ 3 + + 4 )\n)\n")
    result = repl(f":load {source}", "'after'")
    assert "Faulty.som:2:" in result.stderr
    assert out_lines(result) == ["'after'"]


def test_saved_image_keeps_workspace_and_classes_for_a_new_process(tmp_path):
    image = tmp_path / "session.image"
    first = repl(
        "Account = Object ( | balance | deposit: n = ( balance := (balance ifNil: [ 0 ]) + n. ^ balance ) )",
        "Account >> balance = ( ^ balance )",
        "acct := Account new. acct deposit: 30",
        "greeting := 'hello'",
        f":save {image}",
    )
    assert first.returncode == 0, first.stderr
    assert out_lines(first)[-1] == f"saved {image}"
    assert image.exists()

    second = repl("acct balance", "acct deposit: 12", "greeting , ' again'",
                  "Account new deposit: 5", "later := 99", ":save", args=["--image", str(image)])
    assert second.returncode == 0, second.stderr
    assert out_lines(second) == ["30", "42", "'hello again'", "5", "99", f"saved {image}"]

    # `:save` with no file saves back to the image the session started from.
    third = repl("later + acct balance", args=["--image", str(image)])
    assert out_lines(third) == ["141"]


def test_saved_image_keeps_a_parked_process(tmp_path):
    image = tmp_path / "procs.image"
    repl("results := Vector new",
         "worker := [ results append: Process receive ] spawn",
         f":save {image}")
    resumed = repl("worker isAlive", "worker send: 'ping'. Process sleep: 20. results asArray",
                   args=["--image", str(image)])
    assert out_lines(resumed) == ["true", "#('ping')"]


# ---------------------------------------------------------------------- repl/source.py

@pytest.mark.parametrize("text", [
    "3 + 4",
    "'a ( [ {' size",
    "'it''s (' size",
    "'don\\'t [' size",
    "'back\\\\' size",
    "\"a ( comment\" 3",
    "3 \"[\" + 4",
    "$( printString",
    "$' printString",
    "$\" printString",
    "#($( $) $[ $]) size",
    "#'a (' size",
    "[ :x | [ :y | x + y ] ]",
    "{ 1. { 2. 3 } }",
    "Foo = Object (\n  bar = ( ^ [ 1 ] )\n)",
    "3 )",                       # stray closer: complete, the compiler reports it
])
def test_is_complete(text: str):
    assert is_complete(text)


@pytest.mark.parametrize("text", [
    "'unterminated",
    "'it''s",
    "'ends in an escaped quote\\'",
    "\"open comment ( 3",
    "(3 + 4",
    "[ :x | [ :y | x + y ]",
    "{ 1. 2",
    "Foo = Object (\n  bar = ( ^ 1 )\n",
    "#($( $[",
    "x := $' , 'abc",
])
def test_is_not_complete(text: str):
    assert not is_complete(text)


@pytest.mark.parametrize("before, expected", [
    ("3 pr", ("3", "pr")),
    ("x foo: y ba", ("y", "ba")),
    ("Vec", (None, "Vec")),
    ("x := Vec", (None, "Vec")),
    ("x := ", (None, "")),
    ("x:=ab", (None, "ab")),
    ("3.5 fl", ("3.5", "fl")),
    ("'abc' si", ("'abc'", "si")),
    ("#foo si", ("#foo", "si")),
    ("$a as", ("$a", "as")),
    ("(3 + 4) pr", ("", "pr")),
    ("[ 1 ] va", ("", "va")),
    ("1 to: 3 do: [ :i | Tr", (None, "Tr")),
    ("a := 3. a pr", ("a", "pr")),
])
def test_completion_context(before: str, expected: tuple):
    assert completion_context(before) == expected


def test_completion_after_a_cascade_offers_selectors():
    # After `;` a selector follows (to the cascade's receiver), not a variable or class.
    receiver, word = completion_context("c increment; inc")
    assert word == "inc"
    assert receiver is not None


# ---------------------------------------------------------------------- completion data

@pytest.fixture(scope="module")
def session():
    from smalltalk_vm.image.boot import make_machine
    from smalltalk_vm.repl.session import ReplSession
    repl_session = ReplSession(make_machine([]))
    yield repl_session
    repl_session.close()


def test_selectors_for_a_literal_are_its_class_protocol(session):
    selectors = session.selectors_for("3")
    assert "printString" in selectors and "+" in selectors and "timesRepeat:" in selectors
    assert "at:put:" not in selectors
    assert "size" in session.selectors_for("'abc'")


def test_selectors_for_an_unknown_receiver_are_all_known_selectors(session):
    selectors = session.selectors_for("")
    assert {"printString", "at:put:", "timesRepeat:", "on:do:"} <= set(selectors)


def test_workspace_variables_are_offered_and_typed(session):
    assert session.evaluate("counterForCompletion := 'text'").text == "'text'"
    _classes, variables = session.names()
    assert "counterForCompletion" in variables
    assert "size" in session.selectors_for("counterForCompletion")
    assert "timesRepeat:" not in session.selectors_for("counterForCompletion")


def test_library_class_names_are_offered_before_first_use(session):
    classes, _ = session.names()
    # Classes in lib/ that no input has mentioned yet must still complete.
    assert {"Object", "Integer", "Supervisor", "Dictionary", "Vector"} <= set(classes)


# ---------------------------------------------------------------------- what a newcomer meets

def test_load_and_browse_of_bad_files_give_one_error_each_and_the_session_goes_on(tmp_path):
    (tmp_path / "Latin.som").write_bytes(b"Latin = ( name = ( ^ 'caf\xe9' ) )\n")
    (tmp_path / "Binary.som").write_bytes(bytes(range(256)))
    (tmp_path / "Broken.som").write_text("Broken = ( go = ( ^ 3 + ) )\n")
    (tmp_path / "Loop.som").symlink_to("Loop.som")
    os.mkfifo(tmp_path / "Fifo.som")
    loads = [f":load {tmp_path / name}" for name in
             ("Latin.som", "Binary.som", "Broken.som", "Missing.som", "Loop.som", "Fifo.som", "")]
    result = repl(*loads, ":browse Latin", ":browse Broken", ":browse", ":load", "'still here'",
                  args=["-cp", str(tmp_path)])
    assert out_lines(result) == ["'still here'"]
    errors = result.stderr.splitlines()
    broken = f"{tmp_path / 'Broken.som'}:1:25: unexpected "          # the parser words the rest
    assert errors[2].startswith(f"ERROR: {broken}")
    assert errors[8].startswith(f"ERROR: cannot load Broken: {broken}")
    assert errors[:2] + errors[3:8] + errors[9:] == [
        f"ERROR: {tmp_path / 'Latin.som'}:1:26: not UTF-8 text",
        f"ERROR: {tmp_path / 'Binary.som'}:2:118: not UTF-8 text",
        f"ERROR: {tmp_path / 'Missing.som'}: No such file or directory",
        f"ERROR: {tmp_path / 'Loop.som'}: Too many levels of symbolic links",
        f"ERROR: {tmp_path / 'Fifo.som'}: not a regular file",
        f"ERROR: {tmp_path}: Is a directory",
        f"ERROR: cannot load Latin: {tmp_path / 'Latin.som'}:1:26: not UTF-8 text",
        "ERROR: :browse needs a class name",
        "ERROR: :load needs a .som file",
    ]
    assert result.returncode == 1          # do-its failed (the piped mode's rule)


def test_input_that_is_not_utf8_is_refused_with_its_position():
    child = subprocess.run([sys.executable, "-m", "smalltalk_vm.cli.main", "repl"],
                           input=b"3\n'caf\xe9'\n4\n", capture_output=True, timeout=60, cwd=ROOT,
                           env=dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")))
    assert child.stdout == b"3\n4\n"
    assert child.stderr.decode() == "<repl>:1:5: not UTF-8 text\n  'caf\ufffd'\n      ^\n"


def test_a_result_after_output_without_a_newline_starts_a_line_of_its_own():
    result = repl("'abc' print", "'line' println", "'x' print. 'y' print. 3", "4")
    assert result.stdout == "abc\n'abc'\nline\n'line'\nxy\n3\n4\n"


def test_output_of_a_background_process_does_not_hold_the_next_result_on_its_line():
    # The background process prints while the second do-it sleeps (it runs as soon as
    # the do-it parks), leaving the line open: the result 7 still gets a line of its own.
    result = repl("p := [ Process receive. 'tick' print ] spawn. nil", "p send: #go. Process sleep: 200. 7")
    assert result.stdout == "nil\ntick\n7\n"
    error = repl("'partial' print. nil foo")
    assert (error.stdout, error.stderr.splitlines()[0]) == ("partial\n", "ERROR: Method foo not found in class Nil")


def test_a_do_it_that_ends_its_process_normally_shows_nil_and_the_session_goes_on():
    result = repl("'before' println. Process current exit: #normal. 'after' println", "3 + 4")
    assert (result.returncode, result.stdout, result.stderr) == (0, "before\nnil\n7\n", "")


def test_a_vm_thread_that_dies_is_reported_once_with_status_70():
    """A defect that kills the VM thread (made here by breaking the scheduler loop)
    ends the session with one line naming it, not silently with status 0."""
    program = ("import sys\n"
               "from smalltalk_vm.vm.scheduler import Scheduler\n"
               "def broken(self, done):\n"
               "    raise RuntimeError('the scheduler broke')\n"
               "Scheduler.run_until = broken\n"
               "import smalltalk_vm.cli.main as cli\n"
               "sys.argv = ['vm', 'repl']\n"
               "cli.entry_point()\n")
    result = subprocess.run([sys.executable, "-c", program], input="3 + 4\n:processes\n5\n",
                            capture_output=True, text=True, timeout=60, cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")))
    assert (result.returncode, result.stdout) == (70, "")
    assert result.stderr == ("vm: internal error: the VM stopped: RuntimeError: the scheduler broke "
                             "(a defect of the VM, not of your program; please report it)\n")
