"""Output groups: where a process's `print`/`println` output goes — Erlang's group
leader. A process belongs to the group of the process that spawned it (work posted
from outside a process, such as a remote shell's evaluation, gets the scheduler's
``outside_group`` while it runs); the VM's output goes to the writers registered for
the current process's group, and to the machine's own output when it has none or its
writers are gone.

Rules:
- The group is an opaque key on the Process (``Process.group``); an image never keeps
  it (a group belongs to a connection, not to the VM's state).
- ``install`` wraps the machine's output once; groups are added and removed at any
  time. A group removed while its processes live sends their later output to the
  machine's own output, never nowhere.
- Writers are called on the VM thread and must not block (a remote shell's queue
  them). Registration may happen on any thread: the table is replaced, not mutated,
  so the VM thread always reads a whole one.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

Writer = Callable[[str], Any]


class OutputGroups:
    """The output groups of one machine. Any thread may register and remove groups;
    the wrapped output runs on the VM thread. Never blocks, never raises."""

    def __init__(self, machine: Any) -> None:
        self.machine = machine
        self.universe = machine.universe
        self.scheduler = machine.scheduler
        self._groups: dict[Any, tuple[Writer, Writer]] = {}
        self._own: tuple[Writer, Writer] | None = None

    def install(self) -> None:
        """Route the machine's output through the groups (its present output stays the
        default)."""
        if self._own is not None:
            return
        universe = self.universe
        self._own = (universe.output, universe.error_output)
        universe.output = lambda text: self._write(text, 0)
        universe.error_output = lambda text: self._write(text, 1)

    def add(self, key: Any, write: Writer, write_error: Writer) -> None:
        self._groups = {**self._groups, key: (write, write_error)}

    def remove(self, key: Any) -> None:
        self._groups = {k: v for k, v in self._groups.items() if k != key}

    def _write(self, text: str, stream: int) -> None:
        proc = self.scheduler.current
        group = proc.group if proc is not None else self.scheduler.outside_group
        writers = self._groups.get(group) if group is not None else None
        if writers is None:
            writers = self._own
        writers[stream](text)
