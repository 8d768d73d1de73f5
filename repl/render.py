"""How the terminal side shows a ``Result``: as fragments of (style name, text), which
``repl.theme.paint`` colours for a terminal and ``plain`` joins for a pipe. Pure
functions over plain data; nothing here knows the VM.

Layouts:
- errors: ``ERROR: text``, the trace indented, and, when the process was kept stopped,
  how to debug or end it;
- a syntax error: ``file:line:column: message``, the line, a caret under the column;
- the debugger's frames: one per line (``>`` marks the selected one), each followed by
  its source line;
- a frame: where it is, its source line, its receiver and variables;
- an inspector view: the object's printString and class, then its numbered entries.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from smalltalk_vm.repl.protocol import Result

Fragments = list[tuple[str, str]]


def plain(fragments: Iterable[tuple[str, str]]) -> str:
    return "".join(text for _, text in fragments)


def render(result: Result, source: str = "") -> tuple[Fragments, bool]:
    """The fragments to show for ``result`` (``source``: the input it answers), and
    whether they belong on the error stream. No fragments: nothing to show."""
    kind = result.kind
    if kind in ("value", "defined", "output"):
        return [("", result.text)], False
    if kind == "done":
        return [], False
    renderer = _RENDERERS.get(kind)
    if renderer is None:
        return [("", result.text)], False
    return renderer(result, source), kind in ("error", "syntax", "interrupted")


def _syntax(result: Result, source: str) -> Fragments:
    source = result.data.get("source", source)
    filename = result.data.get("file", "<repl>")
    out: Fragments = [("error", f"{filename}:{result.line}:{result.column}: {result.text}")]
    source_lines = source.splitlines()
    if 0 < result.line <= len(source_lines):
        # Bytes that were not UTF-8 (surrogate escapes) show as U+FFFD.
        line = re.sub("[\ud800-\udfff]", "\ufffd", source_lines[result.line - 1])
        out.append(("", "\n  " + line))
        out.append(("error", "\n  " + " " * max(result.column - 1, 0) + "^"))
    return out


def _error(result: Result, source: str) -> Fragments:
    out: Fragments = [("error", f"{result.data.get('label', 'ERROR')}: {result.text}")]
    out.extend(("", "\n  " + line) for line in result.trace)
    pid = result.data.get("stopped")
    if pid is not None:
        exception = result.data.get("exception", "an exception")
        out.append(("dim", f"\nprocess {pid} stopped at {exception}: :debug shows its frames, :abandon ends it"))
    return out


def _interrupted(result: Result, source: str) -> Fragments:
    return [("error", "interrupted")]


def _frames(result: Result, source: str) -> Fragments:
    data = result.data
    out: Fragments = [("heading", f"process {data['pid']} {data['status']}")]
    for frame in data["frames"]:
        marker = ">" if frame["selected"] else " "
        style = "selected" if frame["selected"] else ""
        out.append((style, f"\n{marker}{frame['index']:>3}  {frame['where']}"))
        if frame["source"]:
            out.append(("dim", f"\n        {frame['source']}"))
    if data["more"]:
        out.append(("dim", f"\n  ... {data['more']} more frames (:frame N selects any)"))
    return out


def _frame(result: Result, source: str) -> Fragments:
    data = result.data
    out: Fragments = [("heading", f"frame {data['index']}: {data['where']}")]
    if data["source"]:
        out.append(("dim", f"\n    {data['source']}"))
    out.append(("", f"\n  self: {data['receiver']}"))
    for variable in data["variables"]:
        role = "" if variable["role"] == "temporary" else f" ({variable['role']})"
        out.append(("", f"\n  {variable['name']}{role}: {variable['value']}"))
    if data["redefined"]:
        out.append(("dim", "\n  (its method has been redefined since: :restart runs the new definition)"))
    return out


_HEADINGS = {
    "fields": "field", "elements": "element", "contents": "entry",
    "proxy": "remote proxy", "block": "block", "frame": "frame", "process": "process", "class": "class",
}
_COUNTED = {"fields", "elements", "contents"}
_PLURALS = {"entry": "entries"}


def _counted(word: str, n: int) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {_PLURALS.get(word, word + 's')}"


def _inspect(result: Result, source: str) -> Fragments:
    data = result.data
    heading = _HEADINGS.get(data["heading"], "")
    if data["heading"] in _COUNTED:
        heading = _counted(heading, data["total"])
    out: Fragments = [("", data["title"]), ("dim", f"  ({data['class']}{', ' + heading if heading else ''})")]
    for note in data["notes"]:
        out.append(("dim", f"\n  {note}"))
    pair = data["heading"] == "contents"
    for entry in data["entries"]:
        separator = " -> " if pair else ": "
        label = "" if entry["label"].startswith("[") else entry["label"] + separator
        out.append(("dim", f"\n  {entry['index']:>4}  "))
        out.append(("", f"{label}{entry['value']}"))
    if data["more"]:
        out.append(("dim", f"\n  ... {data['more']} more: :more shows the next page"))
    if data["hidden_fields"]:
        out.append(("dim", f"\n  ({_counted('field', data['hidden_fields'])}: :raw shows them)"))
    if data["depth"] > 1:
        out.append(("dim", "\n  (:up goes back)"))
    return out


_RENDERERS = {
    "syntax": _syntax, "error": _error, "interrupted": _interrupted,
    "debug": _frames, "frame": _frame, "inspect": _inspect,
}
