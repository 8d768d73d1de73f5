"""What crosses between the REPL's two halves: the terminal side (``repl.app``,
``repl.render``, ``repl.editing``, ``repl.theme``: reading keys, drawing, colours) and
the session side, which runs next to the VM (``repl.session`` for a VM in this process;
a remote shell implements the same ``Session`` over the network).

Rules:
- Only plain data crosses: strings, numbers, booleans, lists and dicts of them (a
  ``Result`` is a dataclass of such fields, ``dataclasses.asdict`` makes it a dict). No
  VM object, no Python object of the session side, ever reaches the terminal side.
- Every call answers; none raises for anything a user typed. A session whose VM has
  stopped answers ``Result("quit", reason)``.
- The terminal side decides only presentation: what to show, in which colours, when
  Enter runs an input. Everything about meaning (what a do-it's value is, whether it is
  echoed, what a frame holds) is decided by the session side.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

# Result kinds, and what the terminal side shows for each:
#   value        text is a printString: shown
#   done         a do-it whose value is not wanted (an assignment, a print): nothing
#   defined      "defined class X" / "defined X>>sel": shown
#   output       text a command answered: shown
#   error        ERROR: text, then the trace; data["stopped"] = pid when the failed
#                process is kept stopped for the debugger
#   syntax       <repl>:line:column: text, then the source line and a caret
#   interrupted  Ctrl-C ended the evaluation
#   debug        data: a process's frames (see repl.debugging)
#   frame        data: one frame's source line, receiver and variables
#   inspect      data: an inspector view (see repl.inspector)
#   quit         the session is over (text: why, when the VM stopped)
ERROR_KINDS = frozenset({"error", "syntax", "interrupted"})


@dataclass
class Result:
    kind: str
    text: str = ""
    trace: list[str] = field(default_factory=list)
    column: int = 0
    line: int = 0
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def is_error(self) -> bool:
        return self.kind in ERROR_KINDS


class Session(Protocol):
    """A REPL session as the terminal side sees it. Called from one thread (the
    terminal's); ``evaluate`` and resuming debugger commands block until the evaluation
    ends, stops at an error, or Ctrl-C (SIGINT) interrupts it."""

    console: Any        # where results and the VM's output are written (vm.console.Console)

    def set_interactive(self, interactive: bool) -> None:
        """Interactive sessions keep a failed do-it stopped for the debugger and echo
        only the values that are wanted; piped ones print every value and let a failed
        do-it end at once, as scripts expect."""

    def evaluate(self, text: str) -> Result: ...

    def command(self, line: str) -> Result:
        """A line starting with ':' (see ``command_names``)."""

    def command_names(self) -> list[str]: ...

    def names(self) -> tuple[list[str], list[str]]:
        """(class names and other globals, workspace variables), for completion."""

    def selectors_for(self, receiver: str | None) -> list[str]:
        """Selectors to offer after ``receiver`` (its text; None: every selector)."""

    @property
    def alive(self) -> bool: ...

    @property
    def failure(self) -> str | None:
        """Why the VM itself stopped, when it failed (a defect of the VM)."""

    @property
    def exit_status(self) -> int | None:
        """The status the program asked for (`system exit: n`), if it did."""

    def close(self) -> None: ...
