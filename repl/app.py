"""The REPL's front ends, terminal side: an interactive terminal (prompt-toolkit:
multi-line editing with auto-indent, highlighting in a chosen palette, bracket
matching, completion, searchable history) and a plain piped mode for scripts and tests
(no prompt, no banner, no colour, one result per input).

Both talk to a ``repl.protocol.Session`` only — plain data in, ``Result``s out — so the
same front ends can drive a VM in this process or a remote one. What a result looks
like is ``repl.render``; colours are ``repl.theme``; when Enter runs an input and what
completion offers are ``repl.editing``. The terminal-side command `:theme` is handled
here. Neither mode lets a Python exception out: a history file that cannot be used
means a session without history, said once.
"""
from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

from smalltalk_vm.repl import editing, theme
from smalltalk_vm.repl.protocol import Result, Session
from smalltalk_vm.repl.render import plain, render
from smalltalk_vm.repl.source import completion_context, is_complete
from smalltalk_vm.vm.errors import os_error_text

BANNER = "Smalltalk VM — type :help for help, Ctrl-D to quit."
PSEUDO_VARIABLES = ["self", "super", "nil", "true", "false", "thisContext"]
TERMINAL_COMMANDS = [":theme"]
EXIT_INTERNAL = 70          # EX_SOFTWARE: the VM itself failed


def history_path() -> str:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "smalltalk-vm", "repl_history")


def handle(session: Session, text: str) -> Result:
    stripped = text.strip()
    if stripped.startswith(":"):
        return session.command(stripped)
    return session.evaluate(text)


def exit_status(session: Session, had_error: bool = False) -> int:
    """The status a session ends with, and the one place that reports a VM thread that
    died: then 70, after one line on stderr. Otherwise the program's own `system
    exit:` status wins, else 1 if a do-it failed."""
    failure = session.failure
    if failure is not None:
        session.console.write_error(f"vm: internal error: the VM stopped: {failure} "
                                    "(a defect of the VM, not of your program; please report it)\n")
        return EXIT_INTERNAL
    status = session.exit_status
    if status is not None:
        return status
    return 1 if had_error else 0


def theme_command(argument: str, current: str) -> tuple[Result, str]:
    """`:theme NAME`: the Result to show and the palette now in use."""
    if not argument:
        return Result("output", f"theme {current} (choose one of {', '.join(theme.THEMES)})"), current
    if argument not in theme.THEMES:
        return Result("error", f"no theme {argument}: choose one of {', '.join(theme.THEMES)}"), current
    return Result("output", f"theme {argument}"), argument


# ---------------------------------------------------------------------- piped

def run_piped(session: Session, lines: Iterable[str]) -> int:
    """One do-it per line, or per complete input when brackets or quotes span lines.

    Like sqlite3 in batch mode, a failed do-it does not stop the session, but the exit
    status is 1 at the end so that a script can tell something went wrong.
    """
    pending = ""
    had_error = False
    palette = theme.initial_theme()
    for line in lines:
        pending += line
        if not pending.strip():
            pending = ""
            continue
        if not pending.strip().startswith(":") and not is_complete(pending):
            continue
        going_on, failed, palette = _show(session, pending, palette)
        had_error |= failed
        if not going_on:
            return exit_status(session, had_error)
        pending = ""
    if pending.strip():
        _, failed, _ = _show(session, pending, palette)
        had_error |= failed
    return exit_status(session, had_error)


def _show(session: Session, text: str, palette: str) -> tuple[bool, bool, str]:
    """Evaluate and print; answers (the session goes on, this do-it failed, palette)."""
    name, _, argument = text.strip().partition(" ")
    if name in TERMINAL_COMMANDS:
        result, palette = theme_command(argument.strip(), palette)
    else:
        result = handle(session, text)
    if result.kind == "quit":
        return False, False, palette
    fragments, is_error = render(result, text)
    if fragments:
        session.console.show(plain(fragments), is_error)
    return session.alive and session.console.failed is None, is_error, palette


# ---------------------------------------------------------------------- interactive

class Interactive:
    """The interactive loop's state (the terminal thread's only): the palette in use
    and the selectors the Enter rule knows, read once per prompt."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.palette = theme.initial_theme()
        self._selectors: list[str] | None = None

    def known_selectors(self) -> list[str]:
        if self._selectors is None:
            try:
                self._selectors = self.session.selectors_for(None)
            except Exception:             # the VM busy or gone: the rule then knows none
                self._selectors = []
        return self._selectors

    def new_prompt(self) -> None:
        self._selectors = None            # definitions may have added selectors

    def show(self, result: Result, source: str) -> None:
        fragments, is_error = render(result, source)
        if fragments:
            self.session.console.show(theme.paint(fragments, self.palette), is_error)

    def prompt_options(self) -> dict[str, Any]:
        return {"style": theme.input_style(self.palette), "color_depth": theme.color_depth(self.palette),
                "include_default_pygments_style": False}


def run_interactive(session: Session) -> int:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import Completer, Completion
    from prompt_toolkit.filters import is_searching
    from prompt_toolkit.key_binding import KeyBindings
    from prompt_toolkit.layout.processors import HighlightMatchingBracketProcessor
    from prompt_toolkit.lexers import PygmentsLexer
    from prompt_toolkit.patch_stdout import patch_stdout

    from smalltalk_vm.repl.lexer import SomLexer

    session.set_interactive(True)
    loop = Interactive(session)

    class SomCompleter(Completer):
        def get_completions(self, document, complete_event):
            before = document.text_before_cursor
            stripped = before.lstrip()
            if stripped.startswith(":") and " " not in stripped:
                for name in sorted(session.command_names() + TERMINAL_COMMANDS):
                    if name.startswith(stripped):
                        yield Completion(name, start_position=-len(stripped))
                return
            if not complete_event.completion_requested and not editing.opens_menu_while_typing(before):
                return
            receiver, word = completion_context(before)
            if receiver is None:
                classes, variables = session.names()
                candidates = variables + classes + PSEUDO_VARIABLES
            else:
                candidates = session.selectors_for(receiver)
            for name in editing.offered(candidates, word):
                yield Completion(name, start_position=-len(word))

    bindings = KeyBindings()

    @bindings.add("enter", filter=~is_searching)
    def _enter(event) -> None:
        buffer = event.current_buffer
        if editing.enter_runs(buffer.text, loop.known_selectors()):
            buffer.validate_and_handle()
        else:
            buffer.insert_text("\n" + editing.indentation(buffer.document.text_before_cursor))

    @bindings.add("escape", "enter")
    def _newline(event) -> None:
        buffer = event.current_buffer
        buffer.insert_text("\n" + editing.indentation(buffer.document.text_before_cursor))

    def _closing_bracket(event) -> None:
        buffer = event.current_buffer
        back = editing.dedent_before_closing(buffer.document.current_line_before_cursor)
        if back:
            buffer.delete_before_cursor(back)
        buffer.insert_text(event.data)

    for closer in ")]}":
        bindings.add(closer, filter=~is_searching)(_closing_bracket)

    console = session.console
    console.write(BANNER + "\n")
    history = open_history(lambda line: console.write_error(line + "\n"))
    prompt = PromptSession(
        multiline=True, key_bindings=bindings, lexer=PygmentsLexer(SomLexer),
        completer=SomCompleter(), history=history,
        input_processors=[HighlightMatchingBracketProcessor()],
        prompt_continuation=lambda width, line, wrap: "." * (width - 1) + " ")
    with patch_stdout(raw=True):
        while session.alive and console.failed is None:
            console.end_line()
            console.at_prompt = True
            loop.new_prompt()
            try:
                text = prompt.prompt("st> ", **loop.prompt_options())
            except KeyboardInterrupt:
                continue
            except EOFError:
                break
            finally:
                console.at_prompt = False
            if not text.strip():
                continue
            name, _, argument = text.strip().partition(" ")
            if name in TERMINAL_COMMANDS:
                result, loop.palette = theme_command(argument.strip(), loop.palette)
            else:
                result = handle(session, text)
            if result.kind == "quit":
                break
            loop.show(result, text)
    return exit_status(session)


def open_history(report: Callable[[str], None]) -> object:
    """The history kept in ``history_path()``; when that file cannot be made or used,
    one for this session only. Either way a problem is reported once, through
    ``report``, and never ends the session."""
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    class KeptHistory(FileHistory):
        """Appends each input to the file; if that stops working, says so once."""
        failed = False

        def store_string(self, string: str) -> None:
            try:
                super().store_string(string)
            except OSError as error:
                if not self.failed:
                    self.failed = True
                    report(f"history no longer saved: {os_error_text(error, path)}")

    path = history_path()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.isdir(path):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        with open(path, "ab"):
            pass                       # it can be created and appended to
    except OSError as error:
        report(f"no history this session: {os_error_text(error, None if error.filename else path)}")
        return InMemoryHistory()
    return KeptHistory(path)


def run(session: Session) -> int:
    if sys.stdin.isatty() and sys.stdout.isatty():
        return run_interactive(session)
    # Bytes that are not UTF-8 reach the session as escapes it refuses with a position,
    # rather than failing the read of the whole input.
    reconfigure = getattr(sys.stdin, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="surrogateescape")
    return run_piped(session, sys.stdin)
