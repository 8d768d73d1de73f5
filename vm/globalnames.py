"""Global names as the VM sees them: the table of names a node shares with its group,
and the interface through which the ``Global`` primitives reach whoever keeps it.

Rules:
- A global name is a Symbol's text; it names one process, and a process holds at most
  one global name (Erlang's default). A process that dies loses its name before its
  links and monitors hear of the death (the death hook runs first), as a locally
  registered name does.
- The VM never imports the node layer: ``universe.distribution.names`` is a
  ``GlobalNames``. A VM that is not a node has ``LocalNames``, a cluster of one where
  every operation completes at once; a node has the node layer's agreement among the
  nodes it is grouped with (``node.globalnames``).
- Operations that may wait for other nodes answer through ``reply`` (on the VM
  thread, later or at once) with the value the primitive answers: true, false, or an
  exception object for the caller to signal. Lookups answer at once from the table.

VM thread only; nothing here blocks.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.distribution import RemoteProcess
from smalltalk_vm.vm.process import Process

Reply = Callable[[Any], None]


@dataclass(frozen=True)
class Entry:
    """One registration: the process, the node where ``register:as:`` was called, and
    whether that node keeps a resolver block for it."""
    pid: Any
    registrar: str
    custom: bool = False


class NameTable:
    """Names to entries, and each process's name. Pure data."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        self.by_pid: dict[Any, str] = {}

    def get(self, name: str) -> Entry | None:
        return self.entries.get(name)

    def name_of(self, pid: Any) -> str | None:
        return self.by_pid.get(pid)

    def set(self, name: str, entry: Entry) -> None:
        old = self.entries.get(name)
        if old is not None:
            self.by_pid.pop(old.pid, None)
        other = self.by_pid.get(entry.pid)
        if other is not None and other != name:
            self.entries.pop(other, None)
        self.entries[name] = entry
        self.by_pid[entry.pid] = name

    def drop(self, name: str, pid: Any = None) -> Entry | None:
        """Remove ``name`` (only if ``pid`` holds it, when given); the removed entry."""
        entry = self.entries.get(name)
        if entry is None or (pid is not None and entry.pid is not pid):
            return None
        del self.entries[name]
        if self.by_pid.get(entry.pid) == name:
            del self.by_pid[entry.pid]
        return entry

    def drop_where(self, doomed: Callable[[Entry], bool]) -> list[tuple[str, Entry]]:
        gone = [(name, entry) for name, entry in self.entries.items() if doomed(entry)]
        for name, entry in gone:
            self.drop(name, entry.pid)
        return gone

    def replace(self, entries: dict[str, Entry]) -> None:
        self.entries = {}
        self.by_pid = {}
        for name, entry in entries.items():
            self.set(name, entry)

    def names(self) -> list[str]:
        return sorted(self.entries)


def is_process(value: Any) -> bool:
    return type(value) is Process or type(value) is RemoteProcess


class GlobalNames(ABC):
    """What the ``Global`` primitives ask. VM thread only; never blocks; ``reply`` is
    called on the VM thread with the primitive's answer."""

    @abstractmethod
    def register(self, name: str, target: Any, resolver: Any, reply: Reply) -> None: ...

    @abstractmethod
    def unregister(self, name: str, reply: Reply) -> None: ...

    @abstractmethod
    def named(self, name: str) -> Any: ...

    @abstractmethod
    def names(self) -> list[str]: ...


class LocalNames(GlobalNames):
    """The global names of a VM that is not a node: it is the whole cluster, so every
    operation is decided here at once. Partitions never happen, so a resolver block is
    checked and then never run."""

    def __init__(self, universe: Any) -> None:
        self.vm = universe
        self.table = NameTable()
        self._hooked = False

    def _hook(self) -> None:
        if not self._hooked:
            self._hooked = True
            # First, so that the name is gone before links and monitors are told.
            self.vm.scheduler.on_death.insert(0, self._died)

    def _died(self, proc: Any, reason: Any) -> None:
        name = self.table.name_of(proc)
        if name is not None:
            self.table.drop(name, proc)

    def register(self, name: str, target: Any, resolver: Any, reply: Reply) -> None:
        self._hook()
        if type(target) is RemoteProcess or not target.alive:
            reply(V.FALSE)              # alone, this VM reaches no other node's process
            return
        if self.table.get(name) is not None or self.table.name_of(target) is not None:
            reply(V.FALSE)
            return
        self.table.set(name, Entry(target, "", resolver != V.NIL))
        reply(V.TRUE)

    def unregister(self, name: str, reply: Reply) -> None:
        reply(V.TRUE if self.table.drop(name) is not None else V.FALSE)

    def named(self, name: str) -> Any:
        entry = self.table.get(name)
        return entry.pid if entry is not None else V.NIL

    def names(self) -> list[str]:
        return self.table.names()
