"""The REPL's inspector, session side: `:inspect EXPR`, `:inspect N` (go into entry N),
`:up`, `:more` (the next page) and `:raw` (a collection's fields instead of its
contents). It answers plain data (``Result`` kind 'inspect'); the terminal side draws it.

What a view holds, by kind of object:
- an object with named fields: its fields, in order (all of them, superclasses' first);
- an Array or ByteArray: its indexed elements;
- a collection written in the language (an object whose class understands
  ``keysAndValuesDo:`` or ``do:``): its logical contents as its own iteration yields
  them (a Dictionary as key -> value), its fields one `:raw` away;
- a remote proxy: its own fields and printString (no round trip), and one entry that
  asks the far node for the far object's printString;
- a block, an activation, a process, a class: the parts a debugging user reaches for;
- anything else (numbers, strings, symbols, characters, nil): its printString alone.

Entries are numbered from 1 across the whole view and shown 100 at a time. Reading an
object's structure is reflection on the VM thread; everything that runs the object's
own code (iteration, printString) runs in a helper process (``repl.helpers``) with a
deadline, so a broken or endless collection shows a note instead of hanging the REPL.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smalltalk_vm.compiler import ast as A
from smalltalk_vm.compiler.front import check_text, compile_input
from smalltalk_vm.compiler.parser import parse_input
from smalltalk_vm.repl.helpers import is_proxy
from smalltalk_vm.repl.protocol import Result
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.errors import LoadError
from smalltalk_vm.vm.objects import Closure, Context, Instance, VArray, VBytes, VClass
from smalltalk_vm.vm.primitives.context import describe_context
from smalltalk_vm.vm.process import Process

PAGE = 100                  # entries shown at a time
CONTENTS_TIMEOUT = 3.0      # seconds a collection's own iteration may take
FAR_TIMEOUT = 35.0          # a proxy's call is bounded by its own timeout (30 s by default)
FAR = object()              # the value of a proxy's "ask the far node" entry


@dataclass
class View:
    """One inspected object and how it is shown (session side; ``entries`` hold VM
    values: (label, value) pairs, the label a string or a VM value to print)."""
    value: Any
    page: int = 0
    raw: bool = False
    entries: list[tuple[Any, Any]] = field(default_factory=list)
    heading: str = ""
    total: int = 0
    notes: list[str] = field(default_factory=list)
    hidden_fields: int = 0


class InspectorCommands:
    """The inspector's state for one session: the path of views from the object given
    to `:inspect` down to the one shown. Called on the session's thread."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.universe = session.universe
        self.path: list[View] = []

    def table(self) -> dict[str, Callable[[str], Result]]:
        return {":inspect": self.inspect, ":up": self.up, ":more": self.more, ":raw": self.raw}

    # ------------------------------------------------------------------ commands

    def inspect(self, argument: str) -> Result:
        if not argument:
            return Result("error", ":inspect needs an expression (or, in an inspector, an entry number)")
        if argument.isdigit() and self.path:
            return self._enter(int(argument))
        outcome = self.session.finish(lambda: self._spawn_expression(argument), source=argument)
        if outcome.status != "value":
            return self.session.present(outcome)
        self.path = [View(outcome.value)]
        return self._show()

    def _spawn_expression(self, text: str) -> Process:
        text = check_text(text, "<repl>")
        if not isinstance(parse_input(text, "<repl>"), A.DoIt):
            raise LoadError(":inspect takes an expression, not a definition")
        compiled = compile_input(self.universe, text, "<repl>", workspace=True)
        return self.session.machine.spawn_method(V.NIL, compiled.method)

    def _enter(self, number: int) -> Result:
        view = self.path[-1]
        if not 1 <= number <= len(view.entries):
            if number <= view.total:
                return Result("error", f"entry {number} is not read yet: :more shows the next entries")
            return Result("error", f"there is no entry {number} (the view has {len(view.entries)})")
        value = view.entries[number - 1][1]
        if value is FAR:
            return self._far(view.value)
        self.path.append(View(value))
        return self._show()

    def up(self, argument: str) -> Result:
        if len(self.path) < 2:
            return Result("error", "nothing to go up to" if self.path else "nothing is being inspected")
        self.path.pop()
        return self._show()

    def more(self, argument: str) -> Result:
        if not self.path:
            return Result("error", "nothing is being inspected")
        view = self.path[-1]
        if (view.page + 1) * PAGE >= view.total:
            return Result("error", "no more entries")
        view.page += 1
        return self._show()

    def raw(self, argument: str) -> Result:
        if not self.path:
            return Result("error", "nothing is being inspected")
        view = self.path[-1]
        view.raw = not view.raw
        view.page = 0
        return self._show()

    def _far(self, proxy: Any) -> Result:
        """The far object's printString, sent through the proxy's forwarding hook: the
        node layer's proxy answers printString and printStringLimitedTo: itself, without
        a round trip, so only doesNotUnderstand:arguments: reaches the far object."""
        universe = self.universe
        outcome = self.session.finish(
            lambda: self.session.machine.spawn_send(
                proxy, "doesNotUnderstand:arguments:",
                [universe.symbol("printStringLimitedTo:"), universe.new_array([universe.make_int(10_000)])]),
            timeout=FAR_TIMEOUT)
        if outcome.status != "value":
            return self.session.present(outcome)
        return self.session.print_value(outcome.value, "displayStringLimitedTo:")

    # ------------------------------------------------------------------ views

    def _show(self) -> Result:
        view = self.path[-1]
        self.session.host.call(lambda: self._read(view))
        if view.heading == "contents":
            self._read_contents(view)
        first = view.page * PAGE
        page = view.entries[first:first + PAGE]
        labels_to_print = [label for label, _ in page if not isinstance(label, str)]
        printed = self.session.print_all([view.value, *labels_to_print,
                                          *(value for _, value in page if value is not FAR)])
        title, printed = printed[0], iter(printed[1:])
        labels = [label if isinstance(label, str) else next(printed) for label, _ in page]
        entries = [{"index": first + i, "label": label,
                    "value": f"(ask the far node: :inspect {first + i})" if value is FAR else next(printed)}
                   for i, (label, (_, value)) in enumerate(zip(labels, page), 1)]
        return Result("inspect", data={
            "title": title, "class": self.session.host.call(lambda: self._class_name(view.value)),
            "depth": len(self.path), "heading": view.heading, "total": view.total, "entries": entries,
            "more": max(view.total - first - len(page), 0), "notes": list(view.notes),
            "hidden_fields": view.hidden_fields})

    def _class_name(self, value: Any) -> str:
        return self.universe.class_of(value).name

    def _read(self, view: View) -> None:
        """VM thread: the entries reflection can read (everything but a collection's
        logical contents, which its own code yields: ``heading`` 'contents' asks for them)."""
        view.entries, view.notes, view.hidden_fields = [], [], 0
        fields = self._fields(view.value)
        reader = next((read for applies, read in _READERS if applies(self, view)), None)
        if reader is not None:
            reader(self, view, fields)
        else:
            view.heading, view.entries = ("fields", fields) if fields else ("", [])
        view.total = len(view.entries)

    # One reader per kind of object, tried in this order (a proxy before a collection,
    # which it may look like); what none of them takes shows its fields, if any.

    def _read_elements(self, view: View, fields: list) -> None:
        value = view.value
        view.heading = "elements"
        if type(value) is VArray:
            view.entries = [(f"[{i}]", item) for i, item in enumerate(value.items, 1)]
        else:
            view.entries = [(f"[{i}]", self.universe.make_int(byte)) for i, byte in enumerate(value.data, 1)]

    def _read_proxy(self, view: View, fields: list) -> None:
        view.heading = "proxy"
        view.entries = [*fields, ("far printString", FAR)]
        view.notes.append("a proxy for an object on another node")

    def _read_collection(self, view: View, fields: list) -> None:
        view.heading = "contents"
        view.hidden_fields = len(fields)
        view.entries = fields          # kept until the contents are read

    def _read_block(self, view: View, fields: list) -> None:
        value = view.value
        method = value.code.home_method
        view.heading = "block"
        view.entries = [("receiver", value.receiver), ("outer context", value.outer or V.NIL),
                        ("method", method if method is not None else V.NIL)]

    def _read_frame(self, view: View, fields: list) -> None:
        value = view.value
        view.heading = "frame"
        view.entries = [("receiver", value.receiver), ("sender", value.sender or V.NIL),
                        *((name, item) for _, name, item in self.universe.debugger.variables(value))]
        view.notes.append(describe_context(value))

    def _read_process(self, view: View, fields: list) -> None:
        value = view.value
        top = value.ctx if value.ctx is not None else V.NIL
        view.heading = "process"
        view.entries = [("status", self.universe.symbol("suspended" if value.suspended else value.state)),
                        ("top frame", top),
                        *((f"message {i}", item) for i, item in enumerate(value.mailbox or (), 1))]

    def _read_class(self, view: View, fields: list) -> None:
        value = view.value
        view.heading = "class"
        view.entries = [("superclass", value.superclass or V.NIL), *fields]
        view.notes.append(f"{len(value.methods)} methods, {len(value.cls.methods)} on the class side")

    def _fields(self, value: Any) -> list[tuple[Any, Any]]:
        if type(value) is Instance:
            names = self.universe.all_field_names(value.cls)
            return list(zip(names, value.fields))
        if isinstance(value, VClass):
            return list(zip(value.cls.instance_fields, value.fields))
        return []

    def _is_collection(self, value: Instance) -> bool:
        lookup = self.universe.lookup
        return lookup(value.cls, "keysAndValuesDo:") is not None or lookup(value.cls, "do:") is not None

    def _read_contents(self, view: View) -> None:
        """The logical contents, as the collection's own iteration yields them."""
        session = self.session
        limit = (view.page + 1) * PAGE
        args = [view.value, self.universe.make_int(limit)]
        outcome = session.finish(lambda: session.helper("contentsOf:limit:", args), timeout=CONTENTS_TIMEOUT)
        if outcome.status != "value":
            reason = "it did not finish in time" if outcome.status == "timeout" else outcome.text or outcome.status
            view.notes.append(f"its contents could not be read ({reason}): its fields are shown")
            view.heading = "fields"
            view.hidden_fields = 0
            return
        session.host.call(lambda: self._unpack_contents(view, outcome.value))

    def _unpack_contents(self, view: View, answer: Any) -> None:
        """VM thread: #(kind total items) from the helper into the view's entries."""
        universe = self.universe
        kind, total, items = answer.items
        items = items.items
        view.total = universe.int_of(total)
        if universe.symbol_name(kind) == "pairs":
            pairs = list(zip(items[0::2], items[1::2]))
            if all(key == universe.make_int(i) for i, (key, _) in enumerate(pairs, 1)):
                view.heading = "elements"          # a sequence: index -> element
                view.entries = [(f"[{i}]", item) for i, (_, item) in enumerate(pairs, 1)]
            else:
                view.heading = "contents"
                view.entries = pairs
        else:
            view.heading = "elements"
            view.entries = [(f"[{i}]", item) for i, item in enumerate(items, 1)]


_READERS: tuple[tuple[Callable[[InspectorCommands, View], bool],
                      Callable[[InspectorCommands, View, list], None]], ...] = (
    (lambda self, view: type(view.value) in (VArray, VBytes), InspectorCommands._read_elements),
    (lambda self, view: is_proxy(self.universe, view.value), InspectorCommands._read_proxy),
    (lambda self, view: type(view.value) is Instance and not view.raw and self._is_collection(view.value),
     InspectorCommands._read_collection),
    (lambda self, view: type(view.value) is Closure, InspectorCommands._read_block),
    (lambda self, view: isinstance(view.value, Context), InspectorCommands._read_frame),
    (lambda self, view: type(view.value) is Process, InspectorCommands._read_process),
    (lambda self, view: isinstance(view.value, VClass), InspectorCommands._read_class),
)
