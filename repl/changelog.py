"""The change log: a file that receives every do-it, class definition and method
definition a REPL accepts, written to the disk *before* the input is evaluated, so
that typed code survives the REPL being killed (`kill -9`), the VM failing or the
machine losing power — Pharo's Epicea log, in a file of lines.

Rules:
- One JSON object per line. A change: ``{"change": kind, "time": ISO-8601 UTC,
  "source": text, "node": name or null}`` with kind ``doit``, ``class`` or ``method``.
  A save mark: ``{"mark": "save", "time": ..., "image": path}``, written when the
  session saved its image. Changes are numbered from 1 in the order of the file.
- ``append`` writes one line, flushes it and fsyncs the file before it answers: once
  it has answered, the change is on the disk.
- "Unsaved" changes are those after the last save mark and, when the log belongs to
  an image file, also newer than that file (an image saved by someone else, e.g. a
  program's `system saveImage:`, counts as a save too).
- Reading never fails on what a crash can leave: a line that is not a whole entry (the
  last one, cut by `kill -9` in the middle of a write) is skipped and counted in
  ``damaged``. A log that cannot be read or written raises ``ChangeLogError`` with a
  one-line reason; the REPL then goes on without one.

Where the log lives (``log_path``): next to the image it belongs to (``FILE.changes``
for ``FILE``), else in the per-user state folder (``$XDG_STATE_HOME/smalltalk-vm/``,
``changes`` for a session without an image, ``changes-NODE`` for a remote shell into
node NODE). No VM object is touched here; any thread may call it, one at a time.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from smalltalk_vm.vm.errors import os_error_text

CHANGE_KINDS = ("doit", "class", "method")


class ChangeLogError(Exception):
    """The change log cannot be used: the reason is one line, naming the file."""


@dataclass(frozen=True)
class Change:
    number: int
    kind: str
    time: str
    source: str
    node: str | None = None


@dataclass
class Contents:
    changes: list[Change]
    unsaved_from: int        # the number of the first unsaved change (len + 1: none)
    damaged: int = 0         # lines skipped: not whole entries

    @property
    def unsaved(self) -> list[Change]:
        return [c for c in self.changes if c.number >= self.unsaved_from]


def state_folder() -> str:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "smalltalk-vm")


def log_path(image: str | None = None, node: str | None = None) -> str:
    """The change log of a session on ``image`` (a file), or of a remote shell into
    ``node``, or of a session with neither."""
    if node is not None:
        safe = re.sub(r"[^A-Za-z0-9_.@-]", "_", node)
        return os.path.join(state_folder(), f"changes-{safe}")
    if image is not None:
        return os.path.abspath(image) + ".changes"
    return os.path.join(state_folder(), "changes")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _epoch(stamp: str) -> float | None:
    try:
        return datetime.fromisoformat(stamp).timestamp()
    except (TypeError, ValueError):
        return None


class ChangeLog:
    """One change log file. ``image`` is the image file the log belongs to, if any
    (its modification time counts as a save). Raises ChangeLogError."""

    def __init__(self, path: str, image: str | None = None, node: str | None = None) -> None:
        self.path = path
        self.image = image
        self.node = node

    def append(self, kind: str, source: str) -> None:
        """Record a change; it is on the disk when this answers."""
        self._write({"change": kind, "time": _now(), "source": source, "node": self.node})

    def mark_saved(self, image: str) -> None:
        self._write({"mark": "save", "time": _now(), "image": os.path.abspath(image)})

    def _write(self, entry: dict) -> None:
        line = json.dumps(entry, ensure_ascii=True) + "\n"
        try:
            folder = os.path.dirname(self.path)
            if folder:
                os.makedirs(folder, exist_ok=True)
            descriptor = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                if _ends_open(descriptor):
                    line = "\n" + line        # a line cut by a crash stays a line of its own
                os.write(descriptor, line.encode("ascii"))
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        except OSError as error:
            raise ChangeLogError(f"change log {os_error_text(error, self.path)}") from None

    def read(self) -> Contents:
        try:
            with open(self.path, "rb") as handle:
                raw = handle.read()
        except FileNotFoundError:
            return Contents([], 1)
        except OSError as error:
            raise ChangeLogError(f"change log {os_error_text(error, self.path)}") from None
        changes: list[Change] = []
        saved_through = 0            # changes up to this number are in a saved image
        damaged = 0
        for line in raw.split(b"\n"):
            if not line.strip():
                continue
            entry = _entry(line)
            if entry is None:
                damaged += 1
            elif "mark" in entry:
                saved_through = len(changes)
            else:
                changes.append(Change(len(changes) + 1, entry["change"], entry["time"], entry["source"],
                                      entry.get("node")))
        image_time = self._image_time()
        if image_time is not None:
            for change in changes[saved_through:]:
                stamp = _epoch(change.time)
                if stamp is not None and stamp <= image_time:
                    saved_through = change.number
        return Contents(changes, saved_through + 1, damaged)

    def _image_time(self) -> float | None:
        if self.image is None:
            return None
        try:
            return os.stat(self.image).st_mtime
        except OSError:
            return None


def _ends_open(descriptor: int) -> bool:
    """Whether the file's last byte is not a line end (a write cut short)."""
    size = os.fstat(descriptor).st_size
    return size > 0 and os.pread(descriptor, 1, size - 1) != b"\n"


def _entry(line: bytes) -> dict | None:
    """A whole, well-formed entry, or None."""
    try:
        entry = json.loads(line.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("time"), str):
        return None
    if entry.get("mark") == "save":
        return entry
    if entry.get("change") in CHANGE_KINDS and isinstance(entry.get("source"), str) \
            and isinstance(entry.get("node"), str | None):
        return entry
    return None


def parse_range(argument: str, last: int) -> range | None:
    """``N`` or ``N-M`` (numbers of changes, 1..last) as a range; None if malformed."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", argument)
    if match is None:
        return None
    first = int(match.group(1))
    final = int(match.group(2)) if match.group(2) else first
    if not 1 <= first <= final <= last:
        return None
    return range(first, final + 1)
