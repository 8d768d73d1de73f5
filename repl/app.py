"""The REPL's front ends: an interactive terminal (prompt-toolkit: multi-line editing,
highlighting, bracket matching, completion, searchable history) and a plain piped mode
for scripts and tests (no prompt, no banner, one result per line).

The evaluation itself is ``repl.session``; this module only reads and shows.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import TextIO

from smalltalk_vm.repl.session import ReplSession, Result
from smalltalk_vm.repl.source import completion_context, is_complete

EXIT_VM_FAILED = 70          # as `vm run`: the VM itself failed, not the program
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
            lines.append("  " + source_lines[result.line - 1])
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


def exit_status(session: ReplSession, had_error: bool = False) -> int:
    """The program's own `system exit:` status wins; otherwise 1 if a do-it failed."""
    status = session.universe.exit_status
    if status is not None:
        return status
    return 1 if had_error else 0


# ---------------------------------------------------------------------- piped

def run_piped(session: ReplSession, lines: Iterable[str], out: TextIO, err: TextIO) -> int:
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
        going_on, failed = _show(session, pending, out, err)
        had_error |= failed
        if not going_on:
            return exit_status(session, had_error)
        pending = ""
    if pending.strip():
        _, failed = _show(session, pending, out, err)
        had_error |= failed
    return exit_status(session, had_error)


def _show(session: ReplSession, text: str, out: TextIO, err: TextIO) -> tuple[bool, bool]:
    """Evaluate and print; answers (the session goes on, this do-it failed)."""
    result = handle(session, text)
    if result.kind == "quit":
        return False, False
    shown, is_error = format_result(result, text)
    stream = err if is_error else out
    if is_error:
        out.flush()
    stream.write(shown + "\n")
    stream.flush()
    return session.host.alive, is_error


# ---------------------------------------------------------------------- interactive

def run_interactive(session: ReplSession) -> int:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import Completer, Completion
    from prompt_toolkit.filters import is_searching
    from prompt_toolkit.history import FileHistory
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

    path = history_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    prompt = PromptSession(
        multiline=True, key_bindings=bindings, lexer=PygmentsLexer(SomLexer),
        completer=SomCompleter(), history=FileHistory(path),
        input_processors=[HighlightMatchingBracketProcessor()],
        prompt_continuation=lambda width, line, wrap: "." * (width - 1) + " ")
    print(BANNER)
    with patch_stdout(raw=True):
        while session.host.alive:
            try:
                text = prompt.prompt("st> ")
            except KeyboardInterrupt:
                continue
            except EOFError:
                break
            if not text.strip():
                continue
            result = handle(session, text)
            if result.kind == "quit":
                break
            shown, is_error = format_result(result, text)
            print(shown, file=sys.stderr if is_error else sys.stdout, flush=True)
    return exit_status(session)


def run(session: ReplSession) -> int:
    if sys.stdin.isatty() and sys.stdout.isatty():
        status = run_interactive(session)
    else:
        status = run_piped(session, sys.stdin, sys.stdout, sys.stderr)
    failure = session.host.failure
    if failure is not None:             # the VM thread died: say why, never exit 0
        sys.stdout.flush()
        sys.stderr.write(f"vm: fatal: {failure}\n")
        return EXIT_VM_FAILED
    return status
