"""The REPL's front ends: an interactive terminal (prompt-toolkit: multi-line editing,
highlighting, bracket matching, completion, searchable history) and a plain piped mode
for scripts and tests (no prompt, no banner, one result per line).

The evaluation itself is ``repl.session``; this module only reads and shows, through
the session's console (so a result starts on a line of its own, after output that left
one open). Neither mode lets a Python exception out: a history file that cannot be
used means a session without history, said once.
"""
from __future__ import annotations

import errno
import os
import re
import sys
from collections.abc import Callable, Iterable

from smalltalk_vm.repl.session import ReplSession, Result
from smalltalk_vm.repl.source import completion_context, is_complete
from smalltalk_vm.vm.errors import os_error_text

BANNER = "Smalltalk VM — type :help for help, Ctrl-D to quit."
PSEUDO_VARIABLES = ["self", "super", "nil", "true", "false", "thisContext"]


def history_path() -> str:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "smalltalk-vm", "repl_history")


def format_result(result: Result, source: str = "") -> tuple[str, bool]:
    """The text to show for a result, and whether it goes to the error stream."""
    if result.kind in ("value", "defined", "output"):
        return result.text, False
    if result.kind == "syntax":
        lines = [f"<repl>:{result.line}:{result.column}: {result.text}"]
        source_lines = source.splitlines()
        if 0 < result.line <= len(source_lines):
            # Bytes that were not UTF-8 (surrogate escapes) show as U+FFFD.
            lines.append("  " + re.sub("[\ud800-\udfff]", "\ufffd", source_lines[result.line - 1]))
            lines.append("  " + " " * max(result.column - 1, 0) + "^")
        return "\n".join(lines), True
    if result.kind == "error":
        return "\n".join([f"ERROR: {result.text}", *("  " + line for line in result.trace)]), True
    if result.kind == "interrupted":
        return "interrupted", True
    return result.text, False


def handle(session: ReplSession, text: str) -> Result:
    stripped = text.strip()
    if stripped.startswith(":"):
        return session.command(stripped)
    return session.evaluate(text)


EXIT_INTERNAL = 70          # EX_SOFTWARE: the VM itself failed


def exit_status(session: ReplSession, had_error: bool = False) -> int:
    """The status a session ends with, and the one place that reports a VM thread that
    died: then 70, after one line on stderr. Otherwise the program's own `system
    exit:` status wins, else 1 if a do-it failed."""
    failure = session.host.failure
    if failure is not None:
        session.console.write_error(f"vm: internal error: the VM stopped: {failure} "
                                    "(a defect of the VM, not of your program; please report it)\n")
        return EXIT_INTERNAL
    status = session.universe.exit_status
    if status is not None:
        return status
    return 1 if had_error else 0


# ---------------------------------------------------------------------- piped

def run_piped(session: ReplSession, lines: Iterable[str]) -> int:
    """One do-it per line, or per complete input when brackets or quotes span lines.

    Like sqlite3 in batch mode, a failed do-it does not stop the session, but the exit
    status is 1 at the end so that a script can tell something went wrong.
    """
    pending = ""
    had_error = False
    for line in lines:
        pending += line
        if not pending.strip():
            pending = ""
            continue
        if not pending.strip().startswith(":") and not is_complete(pending):
            continue
        going_on, failed = _show(session, pending)
        had_error |= failed
        if not going_on:
            return exit_status(session, had_error)
        pending = ""
    if pending.strip():
        _, failed = _show(session, pending)
        had_error |= failed
    return exit_status(session, had_error)


def _show(session: ReplSession, text: str) -> tuple[bool, bool]:
    """Evaluate and print; answers (the session goes on, this do-it failed)."""
    result = handle(session, text)
    if result.kind == "quit":
        return False, False
    shown, is_error = format_result(result, text)
    session.console.show(shown, is_error)
    return session.host.alive and session.console.failed is None, is_error


# ---------------------------------------------------------------------- interactive

def run_interactive(session: ReplSession) -> int:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import Completer, Completion
    from prompt_toolkit.filters import is_searching
    from prompt_toolkit.key_binding import KeyBindings
    from prompt_toolkit.layout.processors import HighlightMatchingBracketProcessor
    from prompt_toolkit.lexers import PygmentsLexer
    from prompt_toolkit.patch_stdout import patch_stdout

    from smalltalk_vm.repl.lexer import SomLexer

    class SomCompleter(Completer):
        def get_completions(self, document, complete_event):
            before = document.text_before_cursor
            stripped = before.lstrip()
            if stripped.startswith(":") and " " not in stripped:
                for name in sorted(session.COMMANDS):
                    if name.startswith(stripped):
                        yield Completion(name, start_position=-len(stripped))
                return
            receiver, word = completion_context(before)
            if receiver is None:
                classes, variables = session.names()
                candidates = variables + classes + PSEUDO_VARIABLES
            else:
                candidates = session.selectors_for(receiver)
            for name in candidates:
                if name.startswith(word) and name != word:
                    yield Completion(name, start_position=-len(word))

    bindings = KeyBindings()

    @bindings.add("enter", filter=~is_searching)
    def _submit_when_complete(event) -> None:
        buffer = event.current_buffer
        text = buffer.text
        if not text.strip() or text.strip().startswith(":") or is_complete(text):
            buffer.validate_and_handle()
        else:
            buffer.insert_text("\n")

    @bindings.add("escape", "enter")
    def _newline(event) -> None:
        event.current_buffer.insert_text("\n")

    console = session.console
    console.write(BANNER + "\n")
    history = open_history(lambda line: console.write_error(line + "\n"))
    prompt = PromptSession(
        multiline=True, key_bindings=bindings, lexer=PygmentsLexer(SomLexer),
        completer=SomCompleter(), history=history,
        input_processors=[HighlightMatchingBracketProcessor()],
        prompt_continuation=lambda width, line, wrap: "." * (width - 1) + " ")
    with patch_stdout(raw=True):
        while session.host.alive and console.failed is None:
            console.end_line()
            console.at_prompt = True
            try:
                text = prompt.prompt("st> ")
            except KeyboardInterrupt:
                continue
            except EOFError:
                break
            finally:
                console.at_prompt = False
            if not text.strip():
                continue
            result = handle(session, text)
            if result.kind == "quit":
                break
            shown, is_error = format_result(result, text)
            console.show(shown, is_error)
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


def run(session: ReplSession) -> int:
    if sys.stdin.isatty() and sys.stdout.isatty():
        return run_interactive(session)
    # Bytes that are not UTF-8 reach the session as escapes it refuses with a position,
    # rather than failing the read of the whole input.
    reconfigure = getattr(sys.stdin, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="surrogateescape")
    return run_piped(session, sys.stdin)
