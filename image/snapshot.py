"""A whole VM as data and back: the object graph reachable from the roots (globals,
symbol table, classes, every process with its contexts, mailbox, links, monitors,
registered name, timers with their remaining time) as a list of records.

VM values inside records are their NaN-boxed 64-bit words (``vm.value``); heap
references are tag-5 words whose payload is the record index. Word lists travel as
packed little-endian uint64 arrays, code and line tables as uint32 arrays; the record
list itself is CBOR (see docs/image-format.md for why).

This module does not touch files (``image.format`` does) and does not run code.
"""
from __future__ import annotations

import struct
import sys
import time
from array import array
from collections import deque
from typing import Any

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.objects import (
    KIND_ARRAY_AT,
    KIND_ARRAY_AT_PUT,
    KIND_BLOCK_VALUE,
    KIND_BYTECODE,
    KIND_CONTROL,
    KIND_IDENTICAL,
    KIND_PRIMITIVE,
    KIND_PRIMITIVE_INTERPRETED,
    BlockContext,
    Closure,
    CompiledBlock,
    CompiledMethod,
    Context,
    Instance,
    LargeInt,
    MethodContext,
    SendSite,
    VArray,
    VBytes,
    VClass,
    VString,
)
from smalltalk_vm.vm.primitives.registry import lookup_primitive
from smalltalk_vm.vm.process import DEAD, RUNNABLE, Process
from smalltalk_vm.vm.quicken import quicken

# Record kinds.
R_INSTANCE, R_ARRAY, R_STRING, R_BYTES, R_LARGE, R_CLASS, R_METHOD, R_BLOCK, R_CLOSURE, \
    R_CONTEXT, R_PROCESS = range(11)

_pack_double = struct.Struct("<d").pack
_unpack_double = struct.Struct("<d").unpack
_pack_word = struct.Struct("<Q").pack
_unpack_word = struct.Struct("<Q").unpack
_little = sys.byteorder == "little"


class ImageError(Exception):
    """An image that cannot be loaded; ``str()`` is a one-line reason."""


def _u64(words: list[int]) -> bytes:
    packed = array("Q", words)
    if not _little:
        packed.byteswap()
    return packed.tobytes()


def _u32(numbers: list[int]) -> bytes:
    packed = array("I", numbers)
    if not _little:
        packed.byteswap()
    return packed.tobytes()


def _from_u64(data: bytes) -> list[int]:
    if len(data) % 8:
        raise ImageError("corrupt word array")
    packed = array("Q")
    packed.frombytes(data)
    if not _little:
        packed.byteswap()
    return packed.tolist()


def _from_u32(data: bytes) -> list[int]:
    if len(data) % 4:
        raise ImageError("corrupt code array")
    packed = array("I")
    packed.frombytes(data)
    if not _little:
        packed.byteswap()
    return packed.tolist()


# ====================================================================== writing

class Writer:
    """Numbers every heap object reachable from the roots and encodes it."""

    def __init__(self, machine: Any) -> None:
        self.machine = machine
        self.index: dict[int, int] = {}
        self.objects: list[Any] = []
        self.pending: deque = deque()

    def ref(self, obj: Any) -> int:
        key = id(obj)
        found = self.index.get(key)
        if found is None:
            found = len(self.objects)
            self.index[key] = found
            self.objects.append(obj)
            self.pending.append(obj)
        return found

    def word(self, value: Any) -> int:
        kind = type(value)
        if kind is int:
            return value
        if kind is float:
            if value != value:
                return V.QNAN
            return _unpack_word(_pack_double(value))[0]
        return V.REF_BASE + self.ref(value)

    def words(self, values: Any) -> bytes:
        word = self.word
        return _u64([word(v) for v in values])

    def opt(self, obj: Any) -> int:
        """A reference that may be None (encoded as nil)."""
        return V.NIL if obj is None else self.word(obj)

    def snapshot(self, main: Process | None) -> dict:
        machine = self.machine
        universe = machine.universe
        scheduler = machine.scheduler
        now = time.monotonic()
        globals_ = {name: self.word(value) for name, value in universe.globals.items()}
        current = scheduler.current
        queue = ([current] if current is not None and current.alive else []) + \
            [p for p in scheduler.run_queue if p.alive and p is not current]
        processes = [self.ref(p) for p in scheduler.processes.values()]
        roots = {
            "globals": globals_,
            "symbols": list(universe.symbols),
            "processes": processes,
            "run_queue": [self.ref(p) for p in queue],
            "registry": {name: self.ref(p) for name, p in scheduler.registry.items() if p.alive},
            "system": self.word(universe.system_object),
            "timeout_marker": self.word(universe.timeout_marker),
            "main": self.opt(main if main is not None and main.alive else None),
            "counters": {"ihash": universe.ihash_counter, "pid": scheduler.peek_pid(),
                         "ref": machine.signals.peek_ref()},
            "clock_ms": universe.clock_ms(),
        }
        records = []
        while self.pending:
            obj = self.pending.popleft()
            records.append(self.encode(obj, now))
        # Records were appended in numbering order, which pending preserves.
        return {"roots": roots, "records": records,
                "counts": {"objects": len(records),
                           "classes": sum(1 for o in self.objects if type(o) is VClass),
                           "processes": len(processes)}}

    def encode(self, obj: Any, now: float) -> list:
        kind = type(obj)
        if kind is Instance:
            return [R_INSTANCE, self.ref(obj.cls), self.words(obj.fields), obj.ihash]
        if kind is VArray:
            return [R_ARRAY, self.ref(obj.cls), self.words(obj.items), obj.ihash]
        if kind is VString:
            return [R_STRING, self.ref(obj.cls), obj.chars]
        if kind is VBytes:
            return [R_BYTES, self.ref(obj.cls), bytes(obj.data), obj.ihash]
        if kind is LargeInt:
            return [R_LARGE, self.ref(obj.cls), obj.n]
        if kind is VClass:
            return [R_CLASS, self.ref(obj.cls), obj.name, self.opt(obj.superclass),
                    [[sel, self.ref(m)] for sel, m in obj.methods.items()],
                    obj.instance_fields, self.words(obj.fields), obj.layout, obj.is_meta,
                    obj.source, obj.source_file, obj.ihash,
                    [self.ref(c) for c in obj.subclasses]]
        if kind is CompiledMethod:
            return [R_METHOD, self.ref(obj.cls), obj.selector, self.opt(obj.holder), obj.num_args,
                    obj.num_temps, _u32(obj.code), self.literals(obj.literals),
                    [[s.selector, s.argc] for s in obj.sites], _u32(obj.line_starts),
                    _u32(obj.line_numbers), obj.first_line, obj.source, obj.source_file,
                    _canonical_kind(obj.kind), obj.flags, obj.temp_names, obj.ihash]
        if kind is CompiledBlock:
            return [R_BLOCK, obj.num_args, obj.num_temps, _u32(obj.code), self.literals(obj.literals),
                    [[s.selector, s.argc] for s in obj.sites], _u32(obj.line_starts),
                    _u32(obj.line_numbers), obj.first_line, self.opt(obj.method), obj.temp_names]
        if kind is Closure:
            return [R_CLOSURE, self.ref(obj.cls), self.ref(obj.code), self.opt(obj.outer),
                    self.word(obj.receiver), obj.ihash]
        if isinstance(obj, Context):
            return [R_CONTEXT, self.ref(obj.method), obj.pc, self.words(obj.stack),
                    self.word(obj.receiver), self.opt(obj.sender), self.opt(obj.outer),
                    self.opt(obj.closure)]
        if kind is Process:
            return self.encode_process(obj, now)
        raise ImageError(f"cannot save an object of type {kind.__name__}")

    def literals(self, literals: list) -> list:
        out = []
        for lit in literals:
            if type(lit) is str:
                out.append(lit)                 # a global's name (PUSH_GLOBAL)
            else:
                out.append(self.word(lit))
        return out

    def encode_process(self, proc: Process, now: float) -> list:
        remaining = None
        if proc.wake_timer is not None and not proc.wake_timer.cancelled:
            remaining = max(0.0, proc.wake_timer.deadline - now)
        return [R_PROCESS, proc.pid, self.opt(proc.ctx), proc.state, self.opt(proc.result),
                self.opt(proc.exit_reason), proc.crash_trace,
                self.words(proc.mailbox or ()), [self.ref(p) for p in proc.links or ()],
                [[self.word(r), self.ref(p)] for r, p in (proc.monitors or {}).items()],
                [[self.word(r), self.ref(p)] for r, p in (proc.monitored_by or {}).items()],
                proc.trap_exit, proc.name, proc.wait_mode, self.opt(proc.wait_arg), remaining,
                self.opt(proc.timeout_value), proc.wake_pending, proc.report_crash,
                [self.word(p) for p in proc.on_exit or ()], proc.ihash]


# ====================================================================== reading

class Reader:
    """Rebuilds the objects of a snapshot into a fresh machine."""

    def __init__(self, machine: Any, snapshot: dict) -> None:
        self.machine = machine
        self.snapshot = snapshot
        self.records: list = snapshot["records"]
        self.objects: list[Any] = []
        self.remaining: dict[int, float | None] = {}     # pid -> seconds left on its timer

    def obj(self, index: int) -> Any:
        try:
            return self.objects[index]
        except (IndexError, TypeError):
            raise ImageError(f"reference to a missing object {index!r}") from None

    def value(self, word: int) -> Any:
        if type(word) is not int:
            raise ImageError("corrupt value")
        try:
            return V.unbox(word, self.obj)
        except V.ValueEncodingError as error:
            raise ImageError(f"corrupt value: {error}") from None

    def optional(self, word: int) -> Any:
        return None if word == V.NIL else self.value(word)

    def values(self, data: bytes) -> list:
        words = _from_u64(data)
        objects = self.objects
        int_lo, ref_base, ref_end = V.INT_LO, V.REF_BASE, V.REF_BASE + len(objects)
        for i, w in enumerate(words):
            # Immediates are their own carriers: only doubles and references need work.
            if int_lo <= w < ref_base:
                continue
            if ref_base <= w < ref_end:
                words[i] = objects[w - ref_base]
            elif w >> 51 != 0xFFF:
                words[i] = _unpack_double(_pack_word(w))[0]
            else:
                words[i] = self.value(w)      # NaN, reserved tags, bad references: checked there
        return words

    def load(self) -> dict:
        shells = []
        for record in self.records:
            if not isinstance(record, list) or not record or type(record[0]) is not int:
                raise ImageError("corrupt record")
            shells.append(_SHELLS.get(record[0], _bad_kind)(record))
        self.objects = shells
        for shell, record in zip(shells, self.records):
            self.fill(shell, record)
        return self.snapshot["roots"]

    def fill(self, obj: Any, record: list) -> None:
        kind = record[0]
        try:
            if kind == R_INSTANCE:
                _, cls, fields, obj.ihash = record
                obj.cls, obj.fields = self.obj(cls), self.values(fields)
            elif kind == R_ARRAY:
                _, cls, items, obj.ihash = record
                obj.cls, obj.items = self.obj(cls), self.values(items)
            elif kind == R_STRING:
                obj.cls, obj.chars, obj.h = self.obj(record[1]), record[2], 0
            elif kind == R_BYTES:
                obj.cls, obj.data, obj.ihash = self.obj(record[1]), bytearray(record[2]), record[3]
            elif kind == R_LARGE:
                obj.cls, obj.n = self.obj(record[1]), record[2]
            elif kind == R_CLASS:
                self.fill_class(obj, record)
            elif kind == R_METHOD:
                self.fill_method(obj, record)
            elif kind == R_BLOCK:
                (_, obj.num_args, obj.num_temps, code, literals, sites, starts, numbers,
                 obj.first_line, method, obj.temp_names) = record
                self.fill_code(obj, code, literals, sites, starts, numbers)
                obj.method = self.optional(method)
                obj.flags = 0
            elif kind == R_CLOSURE:
                _, cls, code, outer, receiver, obj.ihash = record
                obj.cls, obj.code = self.obj(cls), self.obj(code)
                obj.outer, obj.receiver = self.optional(outer), self.value(receiver)
            elif kind == R_CONTEXT:
                self.fill_context(obj, record)
            elif kind == R_PROCESS:
                self.fill_process(obj, record)
        except (ValueError, TypeError, AttributeError, KeyError) as error:
            raise ImageError(f"corrupt record of kind {kind}: {error}") from None

    def fill_class(self, obj: VClass, record: list) -> None:
        (_, meta, obj.name, superclass, methods, obj.instance_fields, fields, obj.layout,
         obj.is_meta, obj.source, obj.source_file, obj.ihash, subclasses) = record
        obj.cls = self.obj(meta)
        obj.superclass = self.optional(superclass)
        obj.methods = {sel: self.obj(m) for sel, m in methods}
        obj.fields = self.values(fields)
        obj.subclasses = [self.obj(c) for c in subclasses]
        obj.token = object()
        obj.lookup_cache = {}

    def fill_code(self, obj: Any, code: bytes, literals: list, sites: list, starts: bytes,
                  numbers: bytes) -> None:
        obj.code = _from_u32(code)
        obj.literals = [lit if type(lit) is str else self.value(lit) for lit in literals]
        obj.sites = [SendSite(sel, argc) for sel, argc in sites]
        obj.line_starts = _from_u32(starts)
        obj.line_numbers = _from_u32(numbers)

    def fill_method(self, obj: CompiledMethod, record: list) -> None:
        (_, cls, obj.selector, holder, obj.num_args, obj.num_temps, code, literals, sites,
         starts, numbers, obj.first_line, obj.source, obj.source_file, obj.kind, obj.flags,
         obj.temp_names, obj.ihash) = record
        obj.cls = self.obj(cls)
        obj.holder = self.optional(holder)
        self.fill_code(obj, code, literals, sites, starts, numbers)
        obj.primitive = None
        obj.trivial = None
        if obj.kind in (KIND_PRIMITIVE, KIND_CONTROL):
            found = lookup_primitive(obj.holder.name, obj.selector)
            if found is None:
                raise ImageError(f"this VM has no primitive {obj.holder.name}>>{obj.selector}")
            obj.primitive = found[0]
        elif obj.kind != KIND_BYTECODE:
            raise ImageError(f"unknown method kind {obj.kind}")

    def fill_context(self, obj: Context, record: list) -> None:
        _, method, obj.pc, stack, receiver, sender, outer, closure = record
        obj.method = self.obj(method)
        obj.stack = self.values(stack)
        obj.receiver = self.value(receiver)
        obj.sender = self.optional(sender)
        if isinstance(obj, BlockContext):
            obj.outer = self.optional(outer)
            obj.closure = self.optional(closure)
            obj.home = None        # set once every context exists (see finish_contexts)

    def fill_process(self, obj: Process, record: list) -> None:
        (_, obj.pid, ctx, obj.state, result, reason, obj.crash_trace, mailbox, links,
         monitors, monitored_by, obj.trap_exit, obj.name, obj.wait_mode, wait_arg, remaining,
         timeout_value, obj.wake_pending, obj.report_crash, on_exit, obj.ihash) = record
        obj.cls = None             # set with the Context class, once the globals are known
        obj.ctx = self.optional(ctx)
        obj.result = self.optional(result)
        obj.exit_reason = self.optional(reason)
        messages = self.values(mailbox)
        obj.mailbox = deque(messages) if messages else None
        obj.links = {self.obj(p) for p in links} or None
        obj.monitors = {self.value(r): self.obj(p) for r, p in monitors} or None
        obj.monitored_by = {self.value(r): self.obj(p) for r, p in monitored_by} or None
        obj.wait_arg = self.optional(wait_arg)
        obj.wake_timer = None
        obj.timeout_value = self.optional(timeout_value)
        obj.on_exit = [self.value(p) for p in on_exit] or None
        obj.depth_mark = None       # transient: the depth check starts over
        obj.overflowed = False
        self.remaining[obj.pid] = remaining if remaining is None else float(remaining)

    def finish_contexts(self) -> None:
        for obj in self.objects:
            if isinstance(obj, BlockContext):
                obj.home = _home(obj)


def _home(ctx: Context) -> Context:
    while ctx.outer is not None:
        ctx = ctx.outer
    return ctx


def _canonical_kind(kind: int) -> int:
    """Quickened kinds are derived again on load: save what the compiler made."""
    if kind in (KIND_BYTECODE, KIND_PRIMITIVE, KIND_CONTROL):
        return kind
    if kind == KIND_BLOCK_VALUE:
        return KIND_CONTROL
    primitive_kinds = (KIND_ARRAY_AT, KIND_ARRAY_AT_PUT, KIND_IDENTICAL, KIND_PRIMITIVE_INTERPRETED)
    return KIND_PRIMITIVE if kind in primitive_kinds else KIND_BYTECODE


def _new(cls: type) -> Any:
    return cls.__new__(cls)


def _bad_kind(record: list) -> Any:
    raise ImageError(f"unknown record kind {record[0]}")


_SHELLS = {
    R_INSTANCE: lambda r: _new(Instance),
    R_ARRAY: lambda r: _new(VArray),
    R_STRING: lambda r: _new(VString),
    R_BYTES: lambda r: _new(VBytes),
    R_LARGE: lambda r: _new(LargeInt),
    R_CLASS: lambda r: _new(VClass),
    R_METHOD: lambda r: _new(CompiledMethod),
    R_BLOCK: lambda r: _new(CompiledBlock),
    R_CLOSURE: lambda r: _new(Closure),
    R_CONTEXT: lambda r: _new(BlockContext if len(r) > 7 and r[7] != V.NIL else MethodContext),
    R_PROCESS: lambda r: _new(Process),
}


# ====================================================================== installing

def install(machine: Any, snapshot: dict) -> Process | None:
    """Make ``machine`` (not bootstrapped) the VM the snapshot describes; answer the
    main process, if the image has one."""
    reader = Reader(machine, snapshot)
    universe = machine.universe
    scheduler = machine.scheduler
    try:
        roots = snapshot["roots"]
        universe.symbols = list(roots["symbols"])
        universe.symbol_ids = {name: i for i, name in enumerate(universe.symbols)}
        reader.load()
        universe.globals = {name: reader.value(word) for name, word in roots["globals"].items()}
        universe.adopt_kernel()
        for obj in reader.objects:
            kind = type(obj)
            if kind is MethodContext:
                obj.__class__ = universe.method_context_class
            elif kind is BlockContext:
                obj.__class__ = universe.block_context_class
            elif kind is Process:
                obj.cls = universe.Process
            elif kind is CompiledMethod:
                quicken(obj)
        reader.finish_contexts()
        universe.system_object = reader.value(roots["system"])
        universe.timeout_marker = reader.value(roots["timeout_marker"])
        counters = roots["counters"]
        universe.ihash_counter = int(counters["ihash"])
        universe.started = time.monotonic() - float(roots["clock_ms"]) / 1000.0
        scheduler.process_class = universe.Process
        scheduler.restart_pids(int(counters["pid"]))
        machine.signals.restart_refs(int(counters["ref"]))
        processes = [reader.obj(i) for i in roots["processes"]]
        queue = [reader.obj(i) for i in roots["run_queue"]]
        registry = {name: reader.obj(i) for name, i in roots["registry"].items()}
        main = reader.optional(roots["main"])
    except ImageError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
        raise ImageError(f"corrupt image roots: {error}") from None
    if any(type(p) is not Process for p in processes + queue + list(registry.values())):
        raise ImageError("corrupt process table")
    for proc in processes:
        remaining = reader.remaining.get(proc.pid)
        scheduler.processes[proc.pid] = proc
        if proc.state != DEAD and proc.state != RUNNABLE and remaining is not None:
            scheduler.set_wake_timer(proc, remaining, proc.timeout_value)
    for proc in queue:
        if proc.state == RUNNABLE:
            scheduler.run_queue.append(proc)
    scheduler.registry.update(registry)
    return main if isinstance(main, Process) else None
