"""The REPL's round 2 in a real pseudo-terminal (the harness of test_repl_interactive):
the debugger (a failed do-it kept stopped, :debug, :frame, :eval, :restart after
redefining the method, :proceed, :return, :abandon, :debug PID), printIt versus doIt
and the last values `_` and `__`, the inspector (drilling into nested Arrays and a
Dictionary, :up, paging), palettes (:theme, the environment, errors in red), the Enter
rule and auto-indent, and the completion menu. The debugging transcript in
docs/repl.md is produced here (UPDATE_DOCS=1 rewrites it) and checked to be current.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest
from conftest import ROOT
from test_repl_interactive import CONTINUATION, PROMPT, Terminal


@pytest.fixture
def start(tmp_path) -> Iterator:
    """Start REPLs on demand (each with its own history); every one is killed at the end."""
    terminals: list[Terminal] = []

    def launch(env: dict[str, str] | None = None) -> Terminal:
        terminal = Terminal(str(tmp_path / f"state{len(terminals)}"), env)
        terminals.append(terminal)
        terminal.expect(PROMPT, timeout=20)
        return terminal

    try:
        yield launch
    finally:
        for terminal in terminals:
            terminal.close()


# ---------------------------------------------------------------------- the debugger


def test_a_failed_do_it_stops_and_the_method_is_fixed_and_restarted(start):
    terminal = start()
    terminal.step("Account = Object ( | balance | balance = ( ^ balance ) )", "^defined class Account$")
    terminal.step("Account >> deposit: amount = ( | before | before := balance. balance := before + amount )",
                  "^defined Account>>deposit:$")
    terminal.step("account := Account new", PROMPT)
    shown = terminal.step("account deposit: 50", r"stopped at MessageNotUnderstood")
    assert "ERROR: Method + not found in class Nil" in shown
    assert any("Account>>deposit: (<repl>:1)" in line for line in shown)
    frames = terminal.step(":debug", r"Nil>>doIt")
    assert frames[0] == "process 2 stopped at MessageNotUnderstood: Method + not found in class Nil"
    assert "   3  Account>>deposit: (<repl>:1)" in frames
    # The frame of the broken method: its source line, receiver, argument, temporary.
    frame = terminal.step(":frame 3", r"before: ")
    assert frame[:2] == ["frame 3: Account>>deposit: (<repl>:1)",
                         "    deposit: amount = ( | before | before := balance. balance := before + amount )"]
    assert frame[2:] == ["  self: an Account", "  amount (argument): 50", "  before: nil"]
    # Evaluated in that frame: its temporary and argument, and self's field.
    terminal.evaluate(":eval before isNil & (amount = 50)", "true")
    terminal.evaluate(":eval balance printString", "'nil'")
    # Fix the method, restart the frame: the do-it finishes with the new definition.
    terminal.step("Account >> deposit: amount = ( balance := (balance ifNil: [ 0 ]) + amount )",
                  "^defined Account>>deposit:$")
    terminal.evaluate(":restart", "an Account")
    terminal.evaluate("account balance", "50")
    terminal.evaluate(":debug", "ERROR: nothing to debug: a do-it that fails stops here for :debug, "
                      "and :debug PID attaches to a live process")


def test_proceed_resumes_a_resumable_warning_with_nil_or_a_value(start):
    terminal = start()
    shown = terminal.step("(Warning signal: 'low on fuel') ifNil: [ 'went on' ]", "stopped at Warning")
    assert shown[0] == "WARNING: low on fuel"
    terminal.evaluate(":proceed", "'went on'")
    terminal.step("(Warning signal: 'guess') + 1", "stopped at Warning")
    terminal.evaluate(":proceed 41", "42")
    # An Error is not resumable: proceed refuses, and the process stays stopped.
    terminal.step("nil foo: 1 bar: 2", "stopped at MessageNotUnderstood")
    terminal.step("Error signal: 'broken'", "stopped at Error")
    terminal.evaluate(":proceed", "ERROR: Error is not resumable: use :return, :restart or :abandon")
    terminal.evaluate(":return 7", "7")


def test_a_halt_is_a_breakpoint_whose_temporaries_can_be_changed(start):
    terminal = start()
    terminal.step("Probe = Object ( twice = ( | t | t := 5. self halt. ^ t * 2 ) )", "^defined class Probe$")
    shown = terminal.step("Probe new twice", "stopped at Halt")
    assert shown[0] == "HALT: halt"
    frame = terminal.step(":frame 2", r"^  t: 5$")
    assert frame[0] == "frame 2: Probe>>twice (<repl>:1)"
    terminal.evaluate(":eval t := 21", "21")
    terminal.evaluate(":proceed", "42")


def test_return_from_a_frame_and_abandon_which_runs_the_ensure_blocks(start):
    terminal = start()
    terminal.step("Probe = Object ( fail = ( ^ 1 / 0 ) outer = ( ^ self fail + 1 ) )", "^defined class Probe$")
    terminal.step("Probe new outer", "stopped at ZeroDivide")
    frames = terminal.step(":debug", r"Nil>>doIt")
    fail = next(line for line in frames if "Probe>>fail" in line)
    terminal.step(":frame " + fail.split()[0], "frame")
    terminal.evaluate(":return 9", "10")               # fail answers 9; outer adds 1
    shown = terminal.step("[ 1 / 0 ] ensure: [ 'cleaned up' println ]", "stopped at ZeroDivide")
    assert "cleaned up" not in shown                   # the stack is intact: nothing unwound yet
    after = terminal.step(":abandon", r"abandoned$")
    assert after[0] == "cleaned up"
    assert re.fullmatch(r"process \d+ abandoned", after[1])


def test_ctrl_c_interrupts_a_restarted_do_it_that_loops(start):
    terminal = start()
    terminal.step("Probe = Object ( spin = ( ^ nil foo ) )", "^defined class Probe$")
    terminal.step("Probe new spin", "stopped at MessageNotUnderstood")
    terminal.step("Probe >> spin = ( [ true ] whileTrue: [ ] )", "^defined Probe>>spin$")
    terminal.step(":debug", r"Nil>>doIt")
    terminal.step(":frame 3", r"^frame 3: Probe>>spin")
    terminal.type(":restart\r")
    terminal.wait_until_evaluating()
    terminal.drain(0.3)
    terminal.interrupt()
    terminal.expect("interrupted$")
    terminal.evaluate(":debug", "ERROR: nothing to debug: a do-it that fails stops here for :debug, "
                      "and :debug PID attaches to a live process")
    terminal.evaluate("6 * 7", "42")


def test_a_newer_failure_abandons_the_older_stopped_do_it(start):
    terminal = start()
    terminal.step("[ 1 / 0 ] ensure: [ 'first cleaned' println ]", "stopped at ZeroDivide")
    shown = terminal.step("nil bar", "stopped at MessageNotUnderstood")
    assert "first cleaned" in shown
    terminal.step(":debug", "stopped at MessageNotUnderstood: Method bar not found in class Nil")


def test_debug_pid_suspends_a_running_process_and_proceed_lets_it_go(start):
    terminal = start()
    terminal.step("worker := [ [ true ] whileTrue: [ count := (count ifNil: [ 0 ]) + 1 ] ] spawn", PROMPT)
    pid = terminal.step("worker pid", r"^\d+$")[-1]
    frames = terminal.step(f":debug {pid}", r"suspended")
    assert frames[0] == f"process {pid} suspended (runnable)"
    terminal.evaluate("worker status", "#suspended")
    terminal.step("seen := count. Process sleep: 200", PROMPT)
    terminal.evaluate("count = seen", "true")          # it does not run while suspended
    terminal.evaluate(":eval count := 0", "0")
    terminal.evaluate(":proceed", f"process {pid} resumed")
    terminal.evaluate("Process sleep: 200. count > 0", "true")
    terminal.step(f":debug {pid}", r"suspended")
    terminal.evaluate(":abandon", f"process {pid} abandoned")
    terminal.evaluate("worker isAlive", "false")


# ---------------------------------------------------------------------- printIt and doIt


def test_values_that_are_not_wanted_are_not_echoed_and_underscores_hold_the_last_ones(start):
    terminal = start()
    shown = terminal.step("x := 3 + 4", PROMPT)
    assert "7" not in shown
    assert terminal.step("'hello' println", r"^hello$") == ["hello"]    # printed once, not echoed
    assert "8" not in terminal.step("x + 1.", PROMPT)                    # a trailing period: doIt
    terminal.evaluate("3 + 4", "7")
    terminal.evaluate("_", "7")
    terminal.evaluate("_ * 2", "14")
    terminal.evaluate("__", "7")
    terminal.evaluate("_ + __", "21")


# ---------------------------------------------------------------------- the inspector


def test_the_inspector_drills_into_nested_arrays_and_back_up(start):
    terminal = start()
    view = terminal.step(":inspect #(1 #(2 #(3 4)) 'x')", r"^\s+3  'x'$")
    assert view == ["#(1 #(2 #(3 4)) 'x')  (Array, 3 elements)", "     1  1", "     2  #(2 #(3 4))", "     3  'x'"]
    view = terminal.step(":inspect 2", r"up goes back")
    assert view == ["#(2 #(3 4))  (Array, 2 elements)", "     1  2", "     2  #(3 4)", "  (:up goes back)"]
    view = terminal.step(":inspect 2", r"up goes back")
    assert view[0] == "#(3 4)  (Array, 2 elements)"
    view = terminal.step(":up", r"up goes back")
    assert view[0] == "#(2 #(3 4))  (Array, 2 elements)"
    view = terminal.step(":up", r"^\s+3  'x'$")
    assert view[0] == "#(1 #(2 #(3 4)) 'x')  (Array, 3 elements)"


def test_the_inspector_shows_a_dictionary_as_keys_and_values_and_pages(start):
    terminal = start()
    terminal.step("d := Dictionary new. d at: #apple put: 3; at: #pear put: #(5 6). d size", "^2$")
    view = terminal.step(":inspect d", r":raw shows them")
    assert view == ["a Dictionary(#apple->3 #pear->#(5 6))  (Dictionary, 2 entries)",
                    "     1  #apple -> 3", "     2  #pear -> #(5 6)", "  (4 fields: :raw shows them)"]
    view = terminal.step(":inspect 2", r"up goes back")
    assert view[:3] == ["#(5 6)  (Array, 2 elements)", "     1  5", "     2  6"]
    terminal.step(":up", r":raw shows them")
    raw = terminal.step(":raw", r"index: ")
    assert raw[0] == "a Dictionary(#apple->3 #pear->#(5 6))  (Dictionary, 4 fields)"
    assert raw[3] == "     3  count: 2"
    # 250 elements: 100 at a time.
    first = terminal.step(":inspect (1 to: 250) collect: [ :i | i * i ]", r"150 more")
    assert first[1:3] == ["     1  1", "     2  4"]
    assert first[-1] == "  ... 150 more: :more shows the next page"
    second = terminal.step(":more", r"50 more")
    assert second[1] == "   101  10201"


def test_the_inspector_shows_an_objects_fields_and_a_proxy_without_asking_the_far_object(start):
    terminal = start()
    terminal.step("Point3 = Object ( | x y z | x: a = ( x := a. y := #(7 8). z := 'zed' ) )", "^defined class Point3$")
    view = terminal.step(":inspect Point3 new x: 1", r"^\s+3  z: 'zed'$")
    assert view == ["a Point3  (Point3, 3 fields)", "     1  x: 1", "     2  y: #(7 8)", "     3  z: 'zed'"]
    assert terminal.step(":inspect 2", r"up goes back")[0] == "#(7 8)  (Array, 2 elements)"
    # A proxy (the distributed layer's shape: a root class of its own, answering
    # isRemote) shows its own printString and fields; the far one is asked only on demand.
    terminal.step("FarProxy = nil ( | node target forwarded | node: n target: t = ( node := n. target := t ) "
                  "forwarded = ( ^ forwarded ) isRemote = ( ^ true ) printString = ( ^ 'a proxy on ' , node ) "
                  "doesNotUnderstand: s arguments: a = ( forwarded := s. ^ target perform: s withArguments: a ) )",
                  "^defined class FarProxy$")
    terminal.step("Far = Object ( printOn: s = ( s nextPutAll: 'the far object' ) )", "^defined class Far$")
    terminal.step("proxy := FarProxy new node: 'b' target: Far new", PROMPT)
    view = terminal.step(":inspect proxy", r":inspect 4\)$")
    assert view[:2] == ["a proxy on b  (FarProxy, remote proxy)", "  a proxy for an object on another node"]
    assert view[-1] == "     4  far printString: (ask the far node: :inspect 4)"
    terminal.evaluate("proxy forwarded", "nil")            # showing the proxy sent nothing through it
    terminal.evaluate(":inspect 4", "the far object")
    terminal.evaluate("proxy forwarded", "#printStringLimitedTo:")   # asked now, bounded


# ---------------------------------------------------------------------- palettes

RED = "\x1b[31m"


def test_errors_are_red_and_themes_switch_the_palette(start):
    terminal = start()
    terminal.step("3 zork", "stopped")
    assert RED + "ERROR: Method zork" in terminal.raw.decode()
    for name, error_colour, class_colour in [("dark", "\x1b[91m", "96;1"), ("light", "\x1b[38;5;124m", "38;5;17")]:
        terminal.evaluate(f":theme {name}", f"theme {name}")
        mark = len(terminal.raw)
        terminal.step("Object zork", "stopped")
        drawn = terminal.raw[mark:].decode()
        assert error_colour + "ERROR: Method zork" in drawn, name
        assert class_colour in drawn, name             # the input's class name, in this palette
    terminal.evaluate(":theme none", "theme none")
    mark = len(terminal.raw)
    terminal.step("Object zork", "stopped")
    drawn = terminal.raw[mark:].decode()
    assert "ERROR: Method zork" in drawn
    assert not re.search(r"\x1b\[[0-9;]*(?:3[0-9]|9[0-7]|38;5;[0-9]+)m", drawn), repr(drawn)
    terminal.evaluate(":theme sepia", "ERROR: no theme sepia: choose one of default, dark, light, none")


def test_the_palette_comes_from_the_environment(start):
    terminal = start(env={"SMALLTALK_VM_THEME": "light"})
    terminal.evaluate(":theme", "theme light (choose one of default, dark, light, none)")
    terminal.step("nil zork", "stopped")
    assert "\x1b[38;5;124mERROR: Method zork" in terminal.raw.decode()
    plain = start(env={"NO_COLOR": "1"})
    plain.evaluate(":theme", "theme none (choose one of default, dark, light, none)")


# ---------------------------------------------------------------------- entering input


def test_enter_waits_for_a_keyword_argument_and_indents_inside_brackets(start):
    terminal = start()
    terminal.type("#(1 2 3) inject: 0\r")
    terminal.expect(CONTINUATION)
    terminal.drain(0.5)
    assert "ERROR" not in terminal.screen_text            # inject: alone was not sent
    terminal.evaluate("into: [ :a :b | a + b ]", "6")
    terminal.type("3 max:\r")
    terminal.expect(CONTINUATION)
    terminal.evaluate("4", "4")
    # Inside brackets a new line is indented (the column of the error shows it)...
    for line in ("#(1 2 3) collect: [ :x |", "x + + 1"):
        terminal.type(line + "\r")
        terminal.expect(CONTINUATION)
    terminal.type("]\r")
    terminal.expect(r"^<repl>:2:7: unexpected binary operator '\+'$")
    terminal.expect(r"^    x \+ \+ 1$")
    # ... and a closing bracket typed first on a line takes the level back.
    for line in ("#(1 2 3) collect: [ :x |", "x"):
        terminal.type(line + "\r")
        terminal.expect(CONTINUATION)
    terminal.type("] + + 1\r")
    terminal.expect(r"^<repl>:3:5: unexpected binary operator '\+'$")
    # Enter on an empty line runs the input anyway.
    terminal.type("3 between: 1\r")
    terminal.expect(CONTINUATION)
    terminal.type("\r")
    terminal.expect(r"ERROR: Method between: not found in class Integer")


def test_the_menu_opens_after_a_name_prefix_not_after_a_space_and_hides_primitives(start):
    terminal = start()
    terminal.seen = len(terminal.screen_text)
    terminal.type("3 ")
    assert "printString" not in terminal.drain(0.8)         # no menu after a space
    terminal.type("pri")
    terminal.expect("printString")                          # while typing a name: the menu
    terminal.type("\x03")                                   # discard the line
    mark = len(terminal.screen_text)
    terminal.type("thisContext pri")
    terminal.drain(0.5)
    terminal.type("\t")
    terminal.drain(0.8)
    offered = terminal.screen_text[mark:]
    assert "printString" in offered and "primReturn:" not in offered
    terminal.type("\x03")
    terminal.type("thisContext prim")
    terminal.drain(0.3)
    terminal.type("\t")
    terminal.expect("primReturn:")                          # asked for by name: shown


# ---------------------------------------------------------------------- the docs transcript

DOC = os.path.join(ROOT, "docs", "repl.md")
BEGIN, END = "<!-- transcript: test_repl_debugger.py -->\n```\n", "```\n<!-- end of transcript -->"
TRANSCRIPT_STEPS = [
    ("Account = Object ( | balance | balance = ( ^ balance ) )", "^defined class"),
    ("Account >> deposit: amount = ( | before | before := balance. balance := before + amount )", "^defined"),
    ("account := Account new", PROMPT),
    ("account deposit: 50", "stopped at"),
    (":debug", r"Nil>>doIt"),
    (":frame 3", r"before: "),
    (":eval before isNil", "^true$"),
    ("Account >> deposit: amount = ( balance := (balance ifNil: [ 0 ]) + amount )", "^defined"),
    (":restart", "^an Account$"),
    ("account balance", "^50$"),
    ("(Warning signal: 'low on fuel') ifNil: [ 'went on' ]", "stopped at"),
    (":proceed", "^'went on'$"),
]


def test_the_debugging_transcript_in_the_docs_is_what_the_repl_shows(start):
    terminal = start()
    lines = []
    for source, until in TRANSCRIPT_STEPS:
        lines.append("st> " + source)
        lines.extend(line.replace(ROOT + os.sep, "") for line in terminal.step(source, until))
    transcript = "\n".join(lines) + "\n"
    with open(DOC, encoding="utf-8") as handle:
        doc = handle.read()
    begin, end = doc.index(BEGIN) + len(BEGIN), doc.index(END)
    if os.environ.get("UPDATE_DOCS"):
        with open(DOC, "w", encoding="utf-8") as handle:
            handle.write(doc[:begin] + transcript + doc[end:])
    else:
        assert doc[begin:end] == transcript
