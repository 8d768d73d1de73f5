"""The interactive REPL in a real pseudo-terminal (stdlib pty): evaluation, multi-line
input, Tab completion, Ctrl-C interrupting a busy loop, history across restarts, Ctrl-D.

The child gets the pty as its controlling terminal (setsid + TIOCSCTTY) so that Ctrl-C
typed while an evaluation runs becomes SIGINT, as in a real terminal. Screen output is
matched after stripping ANSI escape sequences, with bounded waits throughout.
"""
from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import shlex
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator

import pytest
from conftest import ROOT

ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"                 # CSI: cursor moves, colours, erases
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"       # OSC: window titles
    r"|\x1b[()][0-9A-Za-z]|\x1b[=>78]")         # charset and keypad modes
BACKSPACED = re.compile(r"[^\n]\x08")            # a character the cursor went back over
PROMPT = "st>"
CONTINUATION = r"^\.\.\."                    # the prompt of a continued input
REDRAWN = re.compile(r"^ ?(?:st>|\.\.\.)(?: |$)")   # a prompt or continuation line drawn again


def repl_command() -> list[str]:
    """The REPL under test: this checkout's, or the command in REPL_UNDER_TEST (to check
    that a test fails on an older build: REPL_UNDER_TEST="/work/base/.venv/bin/vm repl")."""
    other = os.environ.get("REPL_UNDER_TEST")
    if other:
        return shlex.split(other)
    return [sys.executable, "-m", "smalltalk_vm.cli.main", "repl"]


class Terminal:
    """`vm repl` running in a pseudo-terminal, and what it has shown so far."""

    def __init__(self, state_home: str, env: dict[str, str] | None = None) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        environment = {name: value for name, value in os.environ.items()
                       if name not in ("SMALLTALK_VM_THEME", "NO_COLOR")}   # the default palette
        environment.update(TERM="xterm", XDG_STATE_HOME=state_home)
        # An older build under test brings its own modules, and runs outside this checkout.
        other_build = bool(os.environ.get("REPL_UNDER_TEST"))
        if not other_build:
            environment["PYTHONPATH"] = ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")
        environment.update(env or {})

        def become_terminal_owner() -> None:
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.process = subprocess.Popen(
            repl_command(), stdin=slave, stdout=slave,
            stderr=slave, cwd=os.path.dirname(state_home) if other_build else ROOT, env=environment,
            preexec_fn=become_terminal_owner)  # noqa: PLW1509 — the test is single-threaded here; a pty needs a session
        os.close(slave)
        self.master = master
        self.raw = b""
        self.seen = 0                      # matches are searched after this point
        self.cursor_requests_answered = 0

    @property
    def screen_text(self) -> str:
        text = ANSI.sub("", self.raw.decode(errors="replace")).replace("\r", "")
        return BACKSPACED.sub("", text)

    def _read(self, wait: float) -> bool:
        """Read what is available within ``wait`` seconds; False once the child is gone."""
        ready, _, _ = select.select([self.master], [], [], wait)
        if not ready:
            return self.process.poll() is None
        try:
            data = os.read(self.master, 65536)
        except OSError:                    # EIO: the child closed the terminal
            return False
        self.raw += data
        self._answer_cursor_position_requests()
        return bool(data)

    def _answer_cursor_position_requests(self) -> None:
        """Answer "where is the cursor?" as a real terminal does. Unanswered, the line
        editor waits a second for the answer every time an input ends. (Always row 1:
        the editor only uses it to know how much room there is below the prompt.)"""
        asked = self.raw.count(b"\x1b[6n")
        if asked > self.cursor_requests_answered:
            os.write(self.master, b"\x1b[1;1R" * (asked - self.cursor_requests_answered))
            self.cursor_requests_answered = asked

    def expect(self, pattern: str, timeout: float = 10.0) -> re.Match:
        """Wait until ``pattern`` (a regex, multiline) shows after the last match."""
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.screen_text, self.seen)
            if match:
                self.seen = match.end()
                return match
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(min(left, 0.1)):
                match = regex.search(self.screen_text, self.seen)
                if match:
                    self.seen = match.end()
                    return match
                raise AssertionError(f"{pattern!r} not shown; after the last match the "
                                     f"screen had: {self.screen_text[self.seen:]!r}")

    def drain(self, seconds: float) -> str:
        """Read for ``seconds``; answer the new text (not consumed by later expects)."""
        start = len(self.screen_text)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self._read(0.05):
            pass
        return self.screen_text[start:]

    def line_editing(self) -> bool:
        """Whether the line editor has the terminal (raw mode: no signals from keys)."""
        return not termios.tcgetattr(self.master)[3] & termios.ISIG

    def type(self, keys: str, timeout: float = 10.0) -> None:
        """Type ``keys`` once the line editor is reading: keys typed ahead while an
        evaluation still runs would meet the terminal's cooked mode (^D as end of
        file, echo by the terminal) instead of the editor."""
        deadline = time.monotonic() + timeout
        while not self.line_editing():
            assert time.monotonic() < deadline, "the REPL never came back to its prompt"
            self._read(0.02)
        os.write(self.master, keys.encode())

    def interrupt(self) -> None:
        """Ctrl-C while an evaluation runs (the terminal turns it into SIGINT)."""
        os.write(self.master, b"\x03")

    def step(self, source: str, until: str, timeout: float = 10.0) -> list[str]:
        """Type ``source`` and Enter, wait for ``until`` (a regex) and answer the lines
        the REPL printed for it: the screen without the prompt's own redrawing (its
        prompt and continuation lines, blank reserved lines)."""
        start = len(self.screen_text)
        self.type(source + "\r")
        self.expect(until, timeout)
        self.drain(0.3)
        return [line for line in self.screen_text[start:].split("\n")
                if line.strip() and not REDRAWN.match(line)]

    def evaluate(self, source: str, result_line: str, timeout: float = 10.0) -> None:
        """Type ``source`` and Enter; wait for a line that is exactly ``result_line``."""
        self.type(source + "\r")
        self.expect("^" + re.escape(result_line) + "$", timeout)

    def wait_until_evaluating(self, timeout: float = 5.0) -> None:
        """Wait until the line editor has left raw mode (ISIG back on: an evaluation is
        under way), so that Ctrl-C becomes a signal rather than a key."""
        deadline = time.monotonic() + timeout
        while self.line_editing():
            assert time.monotonic() < deadline, "the REPL never left raw mode"
            self._read(0.02)

    def wait_for_exit(self, timeout: float = 10.0) -> int:
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self._read(0.05)
        assert self.process.poll() is not None, "the REPL did not exit"
        return self.process.returncode

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        os.close(self.master)


@pytest.fixture
def state_home(tmp_path) -> str:
    return str(tmp_path / "state")


@pytest.fixture
def start(state_home) -> Iterator:
    """Start REPLs on demand; every one is killed at the end, whatever happened."""
    terminals: list[Terminal] = []

    def launch(env: dict[str, str] | None = None) -> Terminal:
        terminal = Terminal(state_home, env)
        terminals.append(terminal)
        terminal.expect(PROMPT, timeout=20)
        return terminal

    try:
        yield launch
    finally:
        for terminal in terminals:
            terminal.close()


def test_typing_an_expression_shows_its_value_and_ctrl_d_quits(start):
    terminal = start()
    terminal.evaluate("3 + 4", "7")
    terminal.evaluate("'ab' , 'cd'", "'abcd'")
    terminal.expect(PROMPT)
    terminal.type("\x04")
    assert terminal.wait_for_exit() == 0


def test_errors_are_shown_and_the_session_goes_on(start):
    terminal = start()
    terminal.type("3 zork\r")
    terminal.expect(r"^ERROR: .*zork")
    terminal.type("3 + + 4\r")
    terminal.expect(r"<repl>:1:5: ")
    terminal.evaluate("6 * 7", "42")


def test_multi_line_class_definition(start):
    terminal = start()
    terminal.type("Temperature = Object (\r")
    terminal.expect(CONTINUATION)
    terminal.type("  | celsius |\r")
    terminal.expect(CONTINUATION)
    terminal.type("  celsius: c = ( celsius := c )\r")
    terminal.expect(CONTINUATION)
    terminal.type("  fahrenheit = ( ^ celsius * 9 / 5 + 32 )\r")
    terminal.expect(CONTINUATION)
    # Enter inside the unbalanced definition only continued the input.
    assert "defined" not in terminal.screen_text
    assert "ERROR" not in terminal.screen_text
    terminal.type(")\r")
    terminal.expect("^defined class Temperature$")
    terminal.evaluate("(Temperature new celsius: 100) fahrenheit", "212")


def test_tab_completion_offers_selectors_of_the_receiver(start):
    terminal = start()
    terminal.seen = len(terminal.screen_text)
    terminal.type("3 pr")
    terminal.drain(0.3)
    terminal.type("\t")
    # The menu of Integer's selectors (it may open while typing already).
    terminal.expect(r"printString")
    # Tab inserted "print" (the common part, or the first offer); complete
    # "printStr" to printString and run it.
    terminal.type("Str")
    terminal.drain(0.3)
    terminal.type("\t")
    terminal.drain(0.3)
    terminal.evaluate("", "'3'")


def test_ctrl_c_interrupts_a_busy_loop_and_the_vm_goes_on(start):
    terminal = start()
    terminal.type("bystander := [ Process receive ] spawn\r")
    terminal.expect(PROMPT)
    terminal.evaluate("bystander isAlive", "true")
    terminal.type("[ true ] whileTrue: [ ]\r")
    terminal.wait_until_evaluating()
    terminal.drain(0.3)
    assert "interrupted" not in terminal.screen_text   # still looping
    terminal.interrupt()
    terminal.expect("interrupted$", timeout=10)    # after the echoed ^C
    terminal.evaluate("6 * 7", "42")
    # At the prompt, Ctrl-C is a key: it throws away the line being typed.
    terminal.type("12345 zork")
    terminal.drain(0.2)
    terminal.type("\x03")
    terminal.evaluate("6 * 9", "54")
    assert "ERROR" not in terminal.screen_text    # "12345 zork6 * 9" was never run
    # The interrupt stopped only the evaluation: a process spawned earlier lives on.
    terminal.evaluate("bystander isAlive", "true")


def _session_with_distinctive_input(start, state_home) -> None:
    first = start()
    first.evaluate("'history-' , 'probe'", "'history-probe'")
    first.type("\x04")
    assert first.wait_for_exit() == 0
    assert os.path.isfile(os.path.join(state_home, "smalltalk-vm", "repl_history"))


def test_history_survives_a_restart_up_arrow(start, state_home):
    _session_with_distinctive_input(start, state_home)
    second = start()
    second.type("\x1b[A")                 # Up: the last input of the previous session
    second.drain(0.3)
    second.evaluate("", "'history-probe'")


def test_history_survives_a_restart_ctrl_r_search(start, state_home):
    _session_with_distinctive_input(start, state_home)
    second = start()
    second.evaluate("1 + 1", "2")
    second.type("\x12probe")              # Ctrl-R, then part of the earlier input
    second.expect(r"probe")
    second.drain(0.3)
    second.type("\r")
    # Enter accepts the search; a second Enter runs it when the first does not.
    if "'history-probe'" not in second.drain(1.0):
        second.type("\r")
    second.expect(r"^'history-probe'$", timeout=5)


@pytest.mark.parametrize("spoil", ["history is a folder", "state home is a file"])
def test_a_history_that_cannot_be_kept_means_a_session_without_it(start, state_home, spoil):
    history = os.path.join(state_home, "smalltalk-vm", "repl_history")
    if spoil == "history is a folder":
        os.makedirs(history)
        reason = f"{history}: Is a directory"
    else:
        with open(state_home, "w") as handle:
            handle.write("a file where the state folder should be")
        reason = f"{os.path.dirname(history)}: Not a directory"
    terminal = start()
    terminal.evaluate("3 + 4", "7")
    terminal.type("\x1b[A")                 # Up: this session's history still works
    terminal.drain(0.3)
    terminal.evaluate("", "7")
    text = terminal.screen_text
    assert text.count("no history this session") == 1, text
    assert f"no history this session: {reason}" in text, text
    assert "Traceback" not in text


def test_background_output_at_the_prompt_leaves_the_prompt_a_line_of_its_own(start):
    terminal = start()
    terminal.evaluate("[ Process sleep: 500. 'tick' print ] spawn. nil", "nil")
    terminal.expect(PROMPT)
    terminal.expect(r"^tick$")              # not "tickst> "
    terminal.expect(PROMPT)
    terminal.evaluate("6 * 7", "42")


def test_a_history_that_stops_working_is_said_once_and_the_session_goes_on(start, state_home):
    terminal = start()
    terminal.evaluate("1 + 1", "2")
    history = os.path.join(state_home, "smalltalk-vm", "repl_history")
    os.unlink(history)
    os.mkdir(history)                         # appending to it now fails
    terminal.evaluate("2 + 2", "4")
    terminal.evaluate("3 + 3", "6")
    text = terminal.screen_text
    assert text.count("history no longer saved") == 1, text
    assert f"history no longer saved: {history}: Is a directory" in text, text
