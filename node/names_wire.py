"""What the global-name frames carry, as VM values (they travel in the wire codec, so
processes travel as references): lock reports and the changes a transaction commits.

Shapes (Arrays; names and node names are Symbols):
- entry: ``{ name. process. registrar node. has a resolver (Boolean) }``
- report for a name lock: ``{ process holding the name here, or nil. whether the
  probed process is alive (true/false: it is a process of this node), or nil }``
- report for the whole-table lock: ``{ entries. this node's group. the nodes this node
  is connected to }`` (the two lists Arrays of node names)
- changes: an Array of ``{ #set. entry }``, ``{ #drop. name. process }`` and
  ``{ #merge. members. entries }`` (the group and table every member now has).

Reading is strict: anything of another shape is ``BadFrame`` (the connection it came on
is closed). VM thread only (it makes symbols and arrays).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smalltalk_vm.node.codeload import BadFrame
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.globalnames import Entry, is_process
from smalltalk_vm.vm.objects import VArray


@dataclass
class NameReport:
    holder: Any              # the process holding the name there, or None
    probe_alive: bool | None


@dataclass
class WholeReport:
    entries: dict[str, Entry]
    group: set[str]
    peers: set[str]


class NamesCodec:
    """Builds and reads the values above for one VM."""

    def __init__(self, universe: Any) -> None:
        self.vm = universe

    # ------------------------------------------------------------------ small pieces

    def _sym(self, text: str) -> int:
        return self.vm.symbol(text)

    def _text(self, value: Any, what: str) -> str:
        if not V.is_symbol(value):
            raise BadFrame(f"{what} must be a Symbol")
        return self.vm.symbol_name(value)

    def _array(self, value: Any, what: str, size: int | None = None) -> list:
        if type(value) is not VArray or (size is not None and len(value.items) != size):
            raise BadFrame(f"{what} must be an Array" + (f" of {size}" if size is not None else ""))
        return value.items

    def _process(self, value: Any, what: str) -> Any:
        if not is_process(value):
            raise BadFrame(f"{what} must be a process")
        return value

    def _names(self, value: Any, what: str) -> set[str]:
        return {self._text(item, what) for item in self._array(value, what)}

    def node_list(self, names: set[str] | list[str]) -> VArray:
        return self.vm.new_array([self._sym(n) for n in sorted(names)])

    # ------------------------------------------------------------------ entries

    def entry(self, name: str, entry: Entry) -> VArray:
        return self.vm.new_array([self._sym(name), entry.pid, self._sym(entry.registrar),
                                  V.TRUE if entry.custom else V.FALSE])

    def read_entry(self, value: Any) -> tuple[str, Entry]:
        name, pid, registrar, custom = self._array(value, "an entry", 4)
        if custom not in (V.TRUE, V.FALSE):
            raise BadFrame("an entry's resolver flag must be a Boolean")
        return (self._text(name, "a global name"),
                Entry(self._process(pid, "an entry's process"), self._text(registrar, "a registrar"),
                      custom == V.TRUE))

    def entries(self, entries: dict[str, Entry]) -> VArray:
        return self.vm.new_array([self.entry(name, e) for name, e in sorted(entries.items())])

    def read_entries(self, value: Any) -> dict[str, Entry]:
        return dict(self.read_entry(item) for item in self._array(value, "entries"))

    # ------------------------------------------------------------------ reports

    def name_report(self, holder: Any, probe_alive: bool | None) -> VArray:
        alive = V.NIL if probe_alive is None else (V.TRUE if probe_alive else V.FALSE)
        return self.vm.new_array([V.NIL if holder is None else holder, alive])

    def read_name_report(self, value: Any) -> NameReport:
        holder, alive = self._array(value, "a name report", 2)
        if alive not in (V.TRUE, V.FALSE, V.NIL):
            raise BadFrame("a name report's liveness must be a Boolean or nil")
        return NameReport(None if holder == V.NIL else self._process(holder, "a holder"),
                          None if alive == V.NIL else alive == V.TRUE)

    def whole_report(self, entries: dict[str, Entry], group: set[str], peers: set[str]) -> VArray:
        return self.vm.new_array([self.entries(entries), self.node_list(group), self.node_list(peers)])

    def read_whole_report(self, value: Any) -> WholeReport:
        entries, group, peers = self._array(value, "a table report", 3)
        return WholeReport(self.read_entries(entries), self._names(group, "a group"),
                           self._names(peers, "a peer list"))

    # ------------------------------------------------------------------ changes

    def set_op(self, name: str, entry: Entry) -> VArray:
        return self.vm.new_array([self._sym("set"), self.entry(name, entry)])

    def drop_op(self, name: str, pid: Any) -> VArray:
        return self.vm.new_array([self._sym("drop"), self._sym(name), pid])

    def merge_op(self, members: set[str], entries: dict[str, Entry]) -> VArray:
        return self.vm.new_array([self._sym("merge"), self.node_list(members), self.entries(entries)])

    def read_ops(self, value: Any) -> list[tuple]:
        ops = []
        for item in self._array(value, "the changes"):
            parts = self._array(item, "a change")
            kind = self._text(parts[0], "a change's kind") if parts else ""
            if kind == "set" and len(parts) == 2:
                ops.append(("set", *self.read_entry(parts[1])))
            elif kind == "drop" and len(parts) == 3:
                ops.append(("drop", self._text(parts[1], "a global name"), self._process(parts[2], "a holder")))
            elif kind == "merge" and len(parts) == 3:
                ops.append(("merge", self._names(parts[1], "a group"), self.read_entries(parts[2])))
            else:
                raise BadFrame(f"an unknown change {kind!r}")
        return ops
