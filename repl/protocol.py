"""What crosses between the REPL's two halves: the terminal side (``repl.app``,
``repl.render``, ``repl.editing``, ``repl.theme``: reading keys, drawing, colours) and
the session side, which runs next to the VM (``repl.session`` for a VM in this process;
a remote shell implements the same ``Session`` over the network).

Rules:
- Only plain data crosses: strings, numbers, booleans, None, lists and dicts of them
  (``Result.to_plain`` / ``Result.from_plain`` turn a Result into such a dict and back,
  refusing anything else). No VM object, no Python object of the session side, ever
  reaches the terminal side. ``RESULT_DATA`` lists what ``Result.data`` holds per kind.
- Every call answers; none raises for anything a user typed. A session whose VM has
  stopped answers ``Result("quit", reason)``.
- The terminal side decides only presentation: what to show, in which colours, when
  Enter runs an input, and its own command `:theme`. Everything about meaning (what a
  do-it's value is, whether it is echoed, what a frame holds, every other `:` command)
  is decided by the session side.
- ``Session.console`` is the one object that is not data: the terminal's own output
  (a ``vm.console.Console`` in the terminal's process). The terminal side writes its
  results through it; a session writes the VM's output (``print``, ``println``, the
  error stream) into it as it comes — a local session by handing it to the machine, a
  remote one by writing what arrives from the far VM.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Protocol

from smalltalk_vm.vm.console import Console

# Result kinds: what the terminal side shows for each, and the keys of ``data`` it reads
# (a missing optional key, marked ?, means "none").
#   value        text is a printString: shown
#   done         a do-it whose value is not wanted (an assignment, a print): nothing
#   defined      "defined class X" / "defined X>>sel": shown
#   output       text a command answered: shown
#   error        LABEL: text, then the trace (lines "Class>>selector (file:line)").
#                data: label? ("ERROR" for an Error, else the exception class's name in
#                capitals: "WARNING", "HALT"), stopped? (the pid of the
#                process kept stopped for the debugger), exception? (its class name)
#   syntax       file:line:column: text, then the source line and a caret.
#                data: file? (default "<repl>"), source? (default: the input)
#   interrupted  Ctrl-C ended the evaluation
#   debug        a process's frames. data: pid, status ("stopped at Class: reason" or
#                "suspended (state)"), frames (a list of {index, where, source,
#                selected}), more (frames not listed)
#   frame        one frame. data: index, where, source, receiver (its printString),
#                variables (a list of {role: "argument", "temporary" or "outer" (of an
#                enclosing block or method), name, value}),
#                redefined (its method has a newer definition)
#   inspect      an inspector view. data: title (the printString), class, depth (1: the
#                first object), heading ("fields", "elements", "contents", "proxy",
#                "block", "frame", "process", "class" or ""), total, entries (a list of
#                {index, label, value}), more (entries after this page), notes (lines),
#                hidden_fields (fields not shown: `:raw` shows them)
#   quit         the session is over (text: why, when the VM stopped)
RESULT_DATA: dict[str, frozenset[str]] = {
    "value": frozenset(), "done": frozenset(), "defined": frozenset(), "output": frozenset(),
    "error": frozenset(), "syntax": frozenset(), "interrupted": frozenset(), "quit": frozenset(),
    "debug": frozenset({"pid", "status", "frames", "more"}),
    "frame": frozenset({"index", "where", "source", "receiver", "variables", "redefined"}),
    "inspect": frozenset({"title", "class", "depth", "heading", "total", "entries", "more",
                          "notes", "hidden_fields"}),
}
ERROR_KINDS = frozenset({"error", "syntax", "interrupted"})
PLAIN_SCALARS = (str, int, float, bool, type(None))


def is_plain(value: Any) -> bool:
    """Whether ``value`` is plain data: a scalar, or lists and string-keyed dicts of them."""
    if isinstance(value, PLAIN_SCALARS):
        return True
    if isinstance(value, list):
        return all(is_plain(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and is_plain(item) for key, item in value.items())
    return False


@dataclass
class Result:
    """One answer of a session. Plain data only (see ``RESULT_DATA``)."""
    kind: str
    text: str = ""
    trace: list[str] = field(default_factory=list)
    column: int = 0
    line: int = 0
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def is_error(self) -> bool:
        return self.kind in ERROR_KINDS

    def to_plain(self) -> dict[str, Any]:
        """This Result as a dict of plain data (what a remote session sends)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_plain(cls, plain: Any) -> Result:
        """The Result a dict made by ``to_plain`` describes (what a remote session
        receives). Raises ValueError, naming the fault, for anything else: an unknown
        kind or field, a field of the wrong type, data that is not plain or lacks a key
        its kind needs."""
        if not isinstance(plain, dict):
            raise ValueError(f"a result is a dict, not {type(plain).__name__}")
        unknown = [name for name in plain if name not in RESULT_FIELDS]
        if unknown:
            raise ValueError(f"unknown result fields: {', '.join(sorted(map(repr, unknown)))}")
        kind = plain.get("kind")
        if not isinstance(kind, str) or kind not in RESULT_DATA:
            raise ValueError(f"unknown result kind {kind!r}")
        for name, expected in (("text", str), ("column", int), ("line", int), ("trace", list), ("data", dict)):
            if name in plain and (not isinstance(plain[name], expected) or isinstance(plain[name], bool)):
                raise ValueError(f"result field {name} is a {type(plain[name]).__name__}, not a {expected.__name__}")
        if not all(isinstance(line, str) for line in plain.get("trace", [])):
            raise ValueError("a result's trace is a list of strings")
        data = plain.get("data", {})
        if not is_plain(data):
            raise ValueError("a result's data is not plain data")
        missing = RESULT_DATA[kind] - set(data)
        if missing:
            raise ValueError(f"a {kind} result lacks {', '.join(sorted(missing))}")
        return cls(**plain)


RESULT_FIELDS = frozenset(f.name for f in dataclasses.fields(Result))


class Session(Protocol):
    """A REPL session as the terminal side sees it. Called from one thread (the
    terminal's); ``evaluate`` and the `:` commands that resume a process block until the
    evaluation ends, stops at an error, or Ctrl-C interrupts it: the session itself
    turns SIGINT into ending (or, for a remote one, asking the far VM to end) the
    process it waits for, and answers ``Result("interrupted")``."""

    console: Console    # the terminal's output: results and the VM's output go through it

    def set_interactive(self, interactive: bool) -> None:
        """Interactive sessions keep a failed do-it stopped for the debugger and echo
        only the values that are wanted; piped ones print every value and let a failed
        do-it end at once, as scripts expect. Called once, before the first input."""

    def evaluate(self, text: str) -> Result:
        """A do-it, a class definition or a method definition, as typed."""

    def command(self, line: str) -> Result:
        """A line starting with ':' (see ``command_names``), as typed."""

    def command_names(self) -> list[str]:
        """The `:` commands this session answers (for completion and :help)."""

    def names(self) -> tuple[list[str], list[str]]:
        """(class names and other globals, workspace variables), for completion."""

    def selectors_for(self, receiver: str | None) -> list[str]:
        """Selectors to offer after ``receiver`` (its text; None: every selector)."""

    @property
    def alive(self) -> bool:
        """Whether the VM still runs (False: the terminal side ends the loop)."""

    @property
    def failure(self) -> str | None:
        """Why the VM itself stopped, when it failed (a defect of the VM)."""

    @property
    def exit_status(self) -> int | None:
        """The status the program asked for (`system exit: n`), if it did."""

    def close(self) -> None:
        """End the session (a local one stops its VM); output is flushed."""
