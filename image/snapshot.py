"""A whole VM as data: the object graph reachable from the roots (globals, symbol
table, classes, every process with its contexts, mailbox, links, monitors, registered
name, timers with their remaining time) as a list of records. Reading them back is
``image.reader``; the record vocabulary is ``image.records``.

VM values inside records are their NaN-boxed 64-bit words (``vm.value``); heap
references are tag-5 words whose payload is the record index. Word lists travel as
packed little-endian uint64 arrays, code and line tables as uint32 arrays; the record
list itself is CBOR (see docs/image-format.md for why).

This module does not touch files (``image.format`` does) and does not run code.
"""
from __future__ import annotations

import os
import struct
import time
from collections import deque
from typing import Any

from smalltalk_vm.image.records import (
    LIB_FOLDER,
    R_ARRAY,
    R_BLOCK,
    R_BYTES,
    R_CLASS,
    R_CLOSURE,
    R_CONTEXT,
    R_INSTANCE,
    R_LARGE,
    R_METHOD,
    R_PROCESS,
    R_STRING,
    ImageError,
    u32,
    u64,
)
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
)
from smalltalk_vm.vm.process import FROZEN, MOVED, WAIT_BEYOND, WAIT_MOVE, WAITING, Process

_pack_double = struct.Struct("<d").pack
_unpack_word = struct.Struct("<Q").unpack


# ====================================================================== writing

class Writer:
    """Numbers every heap object reachable from the roots and encodes it."""

    def __init__(self, machine: Any) -> None:
        self.machine = machine
        self.lib_prefix = os.path.join(machine.universe.lib_dir, "")
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
        return u64([word(v) for v in values])

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
                    obj.source, self.portable_path(obj.source_file), obj.ihash,
                    [self.ref(c) for c in obj.subclasses]]
        if kind is CompiledMethod:
            return [R_METHOD, self.ref(obj.cls), obj.selector, self.opt(obj.holder), obj.num_args,
                    obj.num_temps, u32(obj.code), self.literals(obj.literals),
                    [[s.selector, s.argc] for s in obj.sites], u32(obj.line_starts),
                    u32(obj.line_numbers), obj.first_line, obj.source, self.portable_path(obj.source_file),
                    _canonical_kind(obj.kind), obj.flags, obj.temp_names, obj.ihash]
        if kind is CompiledBlock:
            return [R_BLOCK, obj.num_args, obj.num_temps, u32(obj.code), self.literals(obj.literals),
                    [[s.selector, s.argc] for s in obj.sites], u32(obj.line_starts),
                    u32(obj.line_numbers), obj.first_line, self.opt(obj.method), obj.temp_names]
        if kind is Closure:
            return [R_CLOSURE, self.ref(obj.cls), self.ref(obj.code), self.opt(obj.outer),
                    self.word(obj.receiver), obj.ihash]
        if isinstance(obj, Context):
            return [R_CONTEXT, self.ref(obj.method), obj.pc, self.words(obj.stack),
                    self.word(obj.receiver), self.opt(obj.sender), self.opt(obj.outer),
                    self.opt(obj.closure)]
        if kind is Process:
            if obj.state == MOVED:       # its state is on another node; a move in progress: encode_process
                raise ImageError(f"cannot save process {obj.pid}: it has moved to another node "
                                 "and an image of this node cannot hold it")
            return self.encode_process(obj, now)
        raise ImageError(f"cannot save an object of type {kind.__name__}")

    def portable_path(self, path: str | None) -> str | list | None:
        """A source file of the kernel library as ``["lib", name]``, so that an image
        (the cached default image above all) names the library of whichever install
        loads it, not of the checkout that happened to save it."""
        if type(path) is str and path.startswith(self.lib_prefix) and os.sep not in path[len(self.lib_prefix):]:
            return [LIB_FOLDER, path[len(self.lib_prefix):]]
        return path

    def literals(self, literals: list) -> list:
        out = []
        for lit in literals:
            if type(lit) is str:
                out.append(lit)                 # a global's name (PUSH_GLOBAL)
            else:
                out.append(self.word(lit))
        return out

    def encode_process(self, proc: Process, now: float) -> list:
        if proc.state == FROZEN or (proc.state == WAITING and proc.wait_mode == WAIT_MOVE):
            # Its state is in transit (node.bundle): an image would hold half of a move.
            raise ImageError(f"process {proc.pid} is moving to another node: save the image after the move")
        remaining = None
        if proc.wake_timer is not None and not proc.wake_timer.cancelled:
            remaining = max(0.0, proc.wake_timer.deadline - now)
        # A selective receive waits for more than a count of messages: a plain integer.
        wait_arg = proc.wait_arg if proc.wait_mode == WAIT_BEYOND else self.opt(proc.wait_arg)
        return [R_PROCESS, proc.pid, self.opt(proc.ctx), proc.state, self.opt(proc.result),
                self.opt(proc.exit_reason), proc.crash_trace,
                self.words(proc.mailbox or ()), [self.ref(p) for p in proc.links or ()],
                [[self.word(r), self.ref(p)] for r, p in (proc.monitors or {}).items()],
                [[self.word(r), self.ref(p)] for r, p in (proc.monitored_by or {}).items()],
                proc.trap_exit, proc.name, proc.wait_mode, wait_arg, remaining,
                self.opt(proc.timeout_value), proc.wake_pending, proc.report_crash,
                [self.word(p) for p in proc.on_exit or ()], proc.ihash]


def _canonical_kind(kind: int) -> int:
    """Quickened kinds are derived again on load: save what the compiler made."""
    if kind in (KIND_BYTECODE, KIND_PRIMITIVE, KIND_CONTROL):
        return kind
    if kind == KIND_BLOCK_VALUE:
        return KIND_CONTROL
    primitive_kinds = (KIND_ARRAY_AT, KIND_ARRAY_AT_PUT, KIND_IDENTICAL, KIND_PRIMITIVE_INTERPRETED)
    return KIND_PRIMITIVE if kind in primitive_kinds else KIND_BYTECODE
