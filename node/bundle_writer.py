"""Writing a frozen process as a bundle (the layout is ``node.bundle_format``).

Rules:
- What travels by value: the process's contexts (its own chain of senders, live), the
  contexts its blocks close over (a context of another process, or one that has
  returned, travels as a returned copy: its variables are the copy's and a ``^`` into
  it fails as from an escaped block), closures, and every ordinary object they reach,
  sharing and cycles kept.
- What travels by name: classes (with their version), methods (class, side, selector,
  and a digest of their bytecode, never the bytecode), blocks (their place in their
  method), do-its (their source text), symbols, the values of global variables and the
  VM's singletons. By identity: the process itself, other processes (pids), Nodes and
  references to objects (through the node layer's ``NodeRefs``).
- What cannot travel refuses the move with ``MoveRefused``, naming the object's class
  and the chain of fields it was reached through: code that no name finds on another
  node (old code of a reloaded class, debugger evaluations), an instance of a class
  that is no longer the one its name stands for, an unresolved Promise, a process or
  reference without a node layer to name it.

VM thread only; never blocks; changes nothing (a refusal leaves the process frozen, as
it was). The walk is iterative: no recursion on the depth of the object graph.
"""
from __future__ import annotations

import time
from collections import deque
from typing import Any

import cbor2

from smalltalk_vm.node import bundle_format as F
from smalltalk_vm.node.bundle_format import MoveRefused
from smalltalk_vm.node.bundle_freeze import Frozen
from smalltalk_vm.node.wire_tags import WireError
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.codeversions import DOIT_SELECTOR
from smalltalk_vm.vm.distribution import RemoteProcess
from smalltalk_vm.vm.objects import (
    LAUNCHER_FILE,
    BlockContext,
    Closure,
    CompiledBlock,
    CompiledMethod,
    Context,
    Instance,
    LargeInt,
    VArray,
    VBytes,
    VClass,
    VString,
    inherits,
)
from smalltalk_vm.vm.process import FROZEN, WAIT_BEYOND, Process
from smalltalk_vm.vm.proxies import RemoteObject
from smalltalk_vm.vm.versions import class_version

_MAYBE_BY_REFERENCE = (Instance, VArray, VString, VBytes)
PATH_STEPS = 4          # how many links of the "reached from" chain a refusal names


def encode(frozen: Frozen, node_refs: Any = None) -> bytes:
    """The bundle of a frozen process; MoveRefused names what cannot travel."""
    if frozen.proc.state != FROZEN:
        raise MoveRefused(f"process {frozen.pid} cannot move: it is no longer frozen (it ended, or was unfrozen)")
    writer = BundleWriter(frozen, node_refs)
    try:
        data = writer.write()
    except MoveRefused:
        raise
    except WireError as error:                      # the node layer's refusal of a reference
        raise MoveRefused(f"process {frozen.pid} cannot move: {error}") from None
    except (ValueError, TypeError, OverflowError, cbor2.CBOREncodeError) as error:
        raise MoveRefused(f"process {frozen.pid} cannot move: its state cannot be encoded "
                          f"({type(error).__name__}: {error})") from None
    frozen.encoded_messages = frozen.proc.message_count()
    return data


def unit_title(unit: Any) -> str:
    method = unit.home_method
    holder = method.holder if method is not None else None
    where = f"{holder.name if holder is not None else '?'}>>{method.selector if method is not None else '?'}"
    return f"[] in {where}" if type(unit) is CompiledBlock else where


class BundleWriter:
    """One encode of one frozen process. VM thread only; raises MoveRefused."""

    def __init__(self, frozen: Frozen, node_refs: Any) -> None:
        vm = frozen.vm
        self.vm = vm
        self.frozen = frozen
        self.proc = frozen.proc
        self.refs = node_refs
        self.records: list[Any] = []
        self.index: dict[int, int] = {}
        self.pending: deque = deque()
        self.reached: dict[int, tuple[Any, Any, int]] = {}     # id -> (parent object, how, index)
        self.classes: list[list] = []
        self.class_index: dict[int, int] = {}
        self.codes: list[list] = []
        self.code_index: dict[int, int] = {}
        self.block_places: dict[int, tuple[Any, int]] = {}
        self.symbols: list[str] = []
        self.symbol_index: dict[int, int] = {}
        own = set()
        walker = self.proc.ctx
        while walker is not None:
            own.add(id(walker))
            walker = walker.sender
        self.own_contexts = own
        named: dict[int, list] = {}
        for name, value in vm.globals.items():
            if type(value) is not int and type(value) is not float and type(value) is not VClass:
                named.setdefault(id(value), [F.OBJ_GLOBAL, name])
        for name, attribute in F.WELL_KNOWN.items():
            named[id(getattr(vm, attribute))] = [F.OBJ_WELL_KNOWN, name]
        self.named = named
        self.promise_class = vm.globals.get("Promise")
        self.pending_symbol = vm.symbol("pending")

    # ------------------------------------------------------------------ refusals

    def refuse(self, what: str, obj: Any = None, how: str | None = None, why: str = "") -> MoveRefused:
        """A refusal naming ``what``, the chain it was reached through (up to the
        variable of a context that holds it), and ``why``."""
        steps = []
        if how is not None:
            steps.append(how)
        walker = obj
        while walker is not None and len(steps) < PATH_STEPS:
            parent, how, index = self.reached.get(id(walker), (None, None, -1))
            if how is None:
                break
            label = how if index < 0 else how(parent, index)
            if not steps or steps[-1] != label:
                steps.append(label)
            if isinstance(parent, Context):
                break                   # a variable of an activation: what a reader looks for
            walker = parent
        where = f" (reached from {', from '.join(steps)})" if steps else ""
        return MoveRefused(f"process {self.proc.pid} cannot move: {what}{where}{': ' + why if why else ''}")

    # ------------------------------------------------------------------ values

    def word(self, value: Any, parent: Any, how: Any, index: int = -1) -> Any:
        """The bundle word of ``value``, met in ``parent`` as ``how`` says: a text, or a
        function of (parent, index) that writes it only if a refusal needs it."""
        kind = type(value)
        if kind is float:
            return value
        if kind is int:
            if V.SYM_BASE <= value < V.SYM_LIMIT:
                found = self.symbol_index.get(value)
                if found is None:
                    found = self.symbol_index[value] = len(self.symbols)
                    self.symbols.append(self.vm.symbol_name(value))
                return V.SYM_BASE + found
            return value
        if value is None:
            return V.NIL
        key = id(value)
        found = self.index.get(key)
        if found is None:
            found = self.index[key] = len(self.records)
            self.records.append(None)
            self.reached[key] = (parent, how, index)
            self.pending.append(value)
        return V.REF_BASE + found

    def words(self, values: Any, parent: Any, how: Any) -> list:
        word = self.word
        return [word(v, parent, how, i) for i, v in enumerate(values)]

    # ------------------------------------------------------------------ names

    def class_ref(self, cls: VClass, user: Any = None, how: str | None = None) -> int:
        key = id(cls)
        found = self.class_index.get(key)
        if found is not None:
            return found
        vm = self.vm
        base_name = cls.name[:-len(" class")] if cls.is_meta else cls.name
        base = vm.globals.get(base_name)
        if type(base) is not VClass or (base.cls if cls.is_meta else base) is not cls:
            raise self.refuse(f"an object of class {cls.name} cannot travel", user, how,
                              why="no class of that name stands for it any more (it was removed or replaced)")
        found = self.class_index[key] = len(self.classes)
        self.classes.append([base_name, cls.is_meta, class_version(vm, base)])
        return found

    def code_ref(self, unit: Any, user: Any = None, how: str | None = None) -> int:
        key = id(unit)
        found = self.code_index.get(key)
        if found is not None:
            return found
        if type(unit) is CompiledBlock:
            entry = self.block_entry(unit, user, how)
        else:
            entry = self.method_entry(unit, user, how)
        found = self.code_index[key] = len(self.codes)
        self.codes.append(entry)
        return found

    def method_entry(self, method: CompiledMethod, user: Any, how: str | None) -> list:
        holder = method.holder
        if method.source_file == LAUNCHER_FILE:
            return [F.CODE_LAUNCHER, method.selector, method.num_args]
        if holder is not None and holder.methods.get(method.selector) is method:
            return [F.CODE_METHOD, self.class_ref(holder, user, how), method.selector, F.code_digest(method)]
        if holder is self.vm.Nil and method.selector == DOIT_SELECTOR and method.source:
            return [F.CODE_DOIT, method.source, method.source_file or "<evaluate>", F.code_digest(method)]
        if holder is not None and method.selector in holder.methods:
            raise self.refuse(f"it runs old code of {holder.name}>>{method.selector}", user, how,
                              why="the class was loaded again since, and only the current version can be "
                              "named on another node")
        raise self.refuse(f"it runs code that has no name on another node ({unit_title(method)})", user, how)

    def block_entry(self, block: CompiledBlock, user: Any, how: str | None) -> list:
        place = self.block_places.get(id(block))
        if place is None:
            method = block.method
            if method is None:
                raise self.refuse("it runs a block that belongs to no method", user, how)
            pending = [method]
            while pending:
                unit = pending.pop()
                for position, literal in enumerate(unit.literals):
                    if type(literal) is CompiledBlock:
                        self.block_places[id(literal)] = (unit, position)
                        pending.append(literal)
            place = self.block_places.get(id(block))
            if place is None:
                raise self.refuse(f"it runs a block that is not in its method ({unit_title(block)})", user, how)
        parent, position = place
        return [F.CODE_BLOCK, self.code_ref(parent, user, how), position]

    # ------------------------------------------------------------------ objects

    def record(self, obj: Any) -> list:
        """The record of one heap object (its children are numbered as they are met)."""
        kind = type(obj)
        named = self.named.get(id(obj))
        if named is not None:
            return named
        refs = self.refs
        if kind is Process or kind is RemoteProcess:
            if obj is self.proc:
                return [F.OBJ_SELF]
            if refs is None:
                raise self.refuse(f"a process ({obj!r}) can only travel between nodes", obj)
            return [F.OBJ_PROCESS, *refs.process_identity(obj)]
        if kind is RemoteObject or (refs is not None and kind in _MAYBE_BY_REFERENCE and self.by_reference(obj)):
            if refs is None:
                raise self.refuse("a remote reference can only travel between nodes", obj)
            return [F.OBJ_REFERENCE, *refs.reference(obj)]
        if kind is Instance:
            return self.instance(obj)
        if kind is VArray:
            return [F.OBJ_ARRAY, self.class_ref(obj.cls, obj), self.words(obj.items, obj, _element_label), obj.ihash]
        if kind is VString:
            return [F.OBJ_STRING, self.class_ref(obj.cls, obj), obj.chars]
        if kind is VBytes:
            return [F.OBJ_BYTES, self.class_ref(obj.cls, obj), bytes(obj.data), obj.ihash]
        if kind is LargeInt:
            return [F.OBJ_LARGE, obj.n]
        if kind is VClass:
            return [F.OBJ_CLASS, self.class_ref(obj, obj)]
        if kind is CompiledMethod or kind is CompiledBlock:
            return [F.OBJ_CODE, self.code_ref(obj, obj)]
        if kind is Closure:
            where = f"a block in {unit_title(obj.code)}"
            return [F.OBJ_CLOSURE, self.class_ref(obj.cls, obj), self.code_ref(obj.code, obj),
                    self.word(obj.outer, obj, f"the context {where} closes over"),
                    self.word(obj.receiver, obj, f"the receiver of {where}"), obj.ihash]
        if isinstance(obj, Context):
            return self.context(obj)
        raise self.refuse(f"an object of the VM's type {kind.__name__} cannot travel", obj)

    def by_reference(self, obj: Any) -> bool:
        try:
            return bool(self.refs.by_reference(obj))
        except WireError as error:
            raise self.refuse(str(error), obj) from None

    def instance(self, obj: Instance) -> list:
        vm = self.vm
        cls = obj.cls
        refs = self.refs
        node_class = refs.node_class if refs is not None else vm.globals.get("Node")
        if cls is node_class and cls is not None:
            if refs is not None:
                return [F.OBJ_NODE, *refs.node_identity(obj)]
            return [F.OBJ_NODE, *vm.distribution.nodes.identify(obj)]
        if self.promise_class is not None and inherits(cls, self.promise_class):
            state = obj.fields[vm.field_index(self.promise_class, "state")]
            if state == self.pending_symbol:
                raise self.refuse(f"an unresolved {cls.name} cannot travel", obj,
                                  why="it would never be settled on the other node; pass it by reference "
                                  "or wait for it first")
        return [F.OBJ_INSTANCE, self.class_ref(cls, obj), self.words(obj.fields, obj, self.field_label), obj.ihash]

    def field_label(self, obj: Instance, i: int) -> str:
        names = self.vm.all_field_names(obj.cls)
        return f"field '{names[i] if i < len(names) else i}' of {_a(obj.cls.name)}"

    @staticmethod
    def slot_label(ctx: Context, i: int) -> str:
        code = ctx.method
        if i < code.num_args + code.num_temps:
            name = code.temp_names[i] if i < len(code.temp_names) else str(i)
            return f"{'argument' if i < code.num_args else 'temporary'} '{name}' of {unit_title(code)}"
        return f"the stack of {unit_title(code)}"

    def context(self, ctx: Context) -> list:
        code = ctx.method
        code_index = self.code_ref(code, ctx)
        title = unit_title(code)
        own = id(ctx) in self.own_contexts
        stack = ctx.stack if own else ctx.stack[:code.num_args + code.num_temps]
        record = [F.OBJ_CONTEXT, code_index, ctx.pc if own else -1, self.words(stack, ctx, self.slot_label),
                  self.word(ctx.receiver, ctx, f"the receiver of {title}"),
                  self.word(ctx.sender, ctx, f"the sender of {title}") if own else V.NIL, V.NIL, V.NIL]
        if isinstance(ctx, BlockContext):
            record[6] = self.word(ctx.outer, ctx, f"the outer context of {title}")
            record[7] = self.word(ctx.closure, ctx, f"the block {title} runs")
        return record

    def watch_key(self, key: Any) -> Any:
        """A watcher's key: a Reference (a local watcher), or the node layer's
        (node name, ref number) of a watcher on another node, as plain data."""
        if type(key) is tuple:
            node, number = key
            return [node, number]
        return self.word(key, None, "its watchers")

    # ------------------------------------------------------------------ the whole

    def write(self) -> bytes:
        frozen, proc, vm = self.frozen, self.proc, self.vm
        now = time.monotonic()
        word = self.word
        process = {
            "ctx": word(proc.ctx, None, "its active context"),
            "state": frozen.state,
            "wait_mode": proc.wait_mode,
            "wait_arg": proc.wait_arg if proc.wait_mode == WAIT_BEYOND else word(proc.wait_arg, None, "its wait"),
            "timer_ms": frozen.remaining_ms(now),
            "timeout_value": word(proc.timeout_value, None, "its timeout value"),
            "mailbox": self.words(proc.mailbox or (), None, _message_label),
            "trap_exit": proc.trap_exit,
            "report_crash": proc.report_crash,
            "wake_pending": proc.wake_pending,
            "reductions": proc.reductions,
            "name": proc.name,
            "links": [word(p, None, "its links") for p in proc.links or ()],
            "monitors": [[word(r, None, "its monitors"), word(p, None, "its monitors")]
                         for r, p in (proc.monitors or {}).items()],
            "monitored_by": [[self.watch_key(r), word(p, None, "its watchers")]
                             for r, p in (proc.monitored_by or {}).items()],
        }
        records = self.records
        while self.pending:
            obj = self.pending.popleft()
            records[self.index[id(obj)]] = self.record(obj)
        node = None
        distribution = getattr(vm, "distribution", None)
        if distribution is not None:
            try:
                node = distribution.nodes.identify(distribution.current_node())[0]
            except (ValueError, AttributeError):
                node = None
        bundle = {"format": F.FORMAT, "version": F.VERSION,
                  "source": {"pid": proc.pid, "node": node, "clock_ms": vm.clock_ms()},
                  "classes": self.classes, "codes": self.codes, "symbols": self.symbols,
                  "objects": records, "process": process}
        return cbor2.dumps(bundle)


def _a(name: str) -> str:
    return f"a{'n' if name[:1] in 'AEIOU' else ''} {name}"


def _element_label(array: Any, i: int) -> str:
    return f"element {i + 1} of {_a(array.cls.name)}"


def _message_label(_: Any, i: int) -> str:
    return f"message {i + 1} of its mailbox"

