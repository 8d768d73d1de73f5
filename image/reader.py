"""Reading an image body back into VM objects, checking every record as it is built,
and installing the result into a fresh machine.

Rules: an image is untrusted input, even with a valid checksum (a buggy or hostile
writer can sign anything). Nothing read from it is used before it is checked: a
record's length and element types, that every reference names a record of the kind
its place needs, that every word is a VM value. What needs the whole graph (the class
hierarchy, the code, contexts, processes, the roots) is ``image.verify``. Every refusal
is an ImageError whose text is one line; no other exception leaves ``install``.

This module does not touch files (``image.format`` does) and does not run code.
"""
from __future__ import annotations

import math
import os
import struct
import sys
import time
from array import array
from collections import deque
from typing import Any

from smalltalk_vm.image import verify
from smalltalk_vm.image.records import (
    KIND_NAMES,
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
    RECORD_LENGTHS,
    ForeignImage,
    ImageError,
    arity,
    from_u32,
)
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.objects import (
    KIND_BYTECODE,
    KIND_CONTROL,
    KIND_PRIMITIVE,
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
from smalltalk_vm.vm.process import (
    DEAD,
    RUNNABLE,
    SLEEPING,
    WAIT_BEYOND,
    WAIT_DEBUG,
    WAIT_RECEIVE,
    WAIT_WAKE,
    WAITING,
    Process,
)
from smalltalk_vm.vm.quicken import quicken

_big_endian = sys.byteorder == "big"
_pack_word = struct.Struct("<Q").pack
_unpack_double = struct.Struct("<d").unpack

LAYOUTS = frozenset({"object", "class", "immediate", "string", "array", "bytes", "closure", "method",
                     "context", "process"})
STATES = frozenset({RUNNABLE, WAITING, SLEEPING, DEAD})
WAIT_MODES = frozenset({0, WAIT_RECEIVE, WAIT_BEYOND, WAIT_WAKE, WAIT_DEBUG})
# Sizes no real program reaches: a bound for numbers that size lists or count slots.
MAX_SLOTS = 1 << 16
_MISSING = object()


def _is_int(value: Any) -> bool:
    return type(value) is int


def _is_text(value: Any) -> bool:
    return type(value) is str


def _is_flag(value: Any) -> bool:
    return type(value) is bool


def _check(condition: bool, reason: str, *details: Any) -> None:
    """Refuse unless ``condition``; ``reason`` is formatted with ``details`` only then
    (the checks run once per record: building every message would cost more)."""
    if not condition:
        raise ImageError(reason.format(*details) if details else reason)


def _text_list(value: Any, what: str) -> list[str]:
    _check(type(value) is list and all(type(item) is str for item in value), "{} is not a list of names", what)
    return value


class Reader:
    """Rebuilds the objects of one decoded snapshot body (``load``): the records become
    VM objects, each checked as it is filled, classes first so that every other record
    can be checked against its class. Used on the thread that loads the image, before
    the machine runs; raises ImageError with a one-line reason."""

    def __init__(self, machine: Any, snapshot: dict) -> None:
        self.machine = machine
        self.snapshot = snapshot
        self.records: list = snapshot["records"]
        roots = snapshot.get("roots")
        symbols = roots.get("symbols") if type(roots) is dict else None
        self.symbol_count = len(symbols) if type(symbols) is list else 0
        self.lib_dir = machine.universe.lib_dir if machine is not None else None
        self.objects: list[Any] = []
        self.value_objects: list[Any] = []  # objects, with None where a value may not refer
        self.ref_end = V.REF_BASE
        self.sym_end = V.SYM_BASE + self.symbol_count
        self.remaining: dict[int, float | None] = {}     # pid -> seconds left on its timer
        self.field_counts: dict[VClass, int] = {}
        self.lib_paths: dict[str, str] = {}
        self.by_kind: dict[int, list] = {kind: [] for kind in RECORD_LENGTHS}

    # ------------------------------------------------------------------ references and values

    def obj(self, index: Any) -> Any:
        if type(index) is not int or not 0 <= index < len(self.objects):
            raise ImageError(f"reference to a missing object {index!r}")
        return self.objects[index]

    def ref(self, index: Any, kind: type | tuple[type, ...], what: str) -> Any:
        found = self.obj(index)
        if not isinstance(found, kind):
            raise ImageError(f"{what} is {_a(found)}")
        return found

    def class_ref(self, index: Any, layout: str | None, what: str) -> VClass:
        cls = self.ref(index, VClass, what)
        if layout is not None and cls.layout != layout:
            raise ImageError(f"{what} {cls.name} does not make {layout} objects (its layout is {cls.layout})")
        return cls

    def value(self, word: Any, literal: bool = False) -> Any:
        """The VM value of one word. Only a literal frame may refer to a block's code."""
        if type(word) is not int:
            raise ImageError(f"corrupt value {word!r}: not a word")
        if V.SYM_BASE <= word < V.SYM_LIMIT and word - V.SYM_BASE >= self.symbol_count:
            raise ImageError(f"corrupt value: symbol {word - V.SYM_BASE} is not in the symbol table")
        try:
            found = V.unbox(word, self.obj)
        except V.ValueEncodingError as error:
            raise ImageError(f"corrupt value: {error}") from None
        if type(found) is CompiledBlock and not literal:
            raise ImageError("a block's code is used as a value")
        return found

    def optional(self, word: Any) -> Any:
        return None if word == V.NIL else self.value(word)

    def optional_ref(self, word: Any, kind: type, what: str) -> Any:
        found = self.optional(word)
        if found is not None and not isinstance(found, kind):
            raise ImageError(f"{what} is {_a(found)}")
        return found

    def values(self, data: bytes, _array: Any = array, _int_lo: int = V.INT_LO, _int_hi: int = V.INT_HI,
               _ref_base: int = V.REF_BASE, _char_base: int = V.CHAR_BASE, _char_limit: int = V.CHAR_LIMIT,
               _sym_base: int = V.SYM_BASE, _nil: int = V.NIL, _true: int = V.TRUE, _false: int = V.FALSE,
               _unpack: Any = _unpack_double, _pack: Any = _pack_word) -> list:
        """The VM values of a packed word array: the hot loop of every load (hence the
        constants bound as default arguments)."""
        if len(data) % 8:
            raise ImageError("corrupt word array")
        packed = _array("Q")
        packed.frombytes(data)
        if _big_endian:
            packed.byteswap()
        words = packed.tolist()
        objects, ref_end, sym_end = self.value_objects, self.ref_end, self.sym_end
        for i, w in enumerate(words):
            # Immediates are their own carriers: only doubles and references need work.
            if _int_lo <= w < _int_hi:
                continue
            if _ref_base <= w < ref_end:
                found = words[i] = objects[w - _ref_base]
                if found is None:
                    raise ImageError("a block's code is used as a value")
            elif w >> 51 != 0xFFF:
                words[i] = _unpack(_pack(w))[0]
            elif _char_base <= w < _char_limit or _sym_base <= w < sym_end or w == _nil or w == _true \
                    or w == _false:
                continue
            else:
                words[i] = self.value(w)     # NaN; reserved tags, bad references: refused there
        return words

    def source_path(self, stored: Any) -> str | None:
        """A saved source path: a lib-relative one resolves against this VM's lib/."""
        if stored is None or type(stored) is str:
            return stored
        name = stored[1] if type(stored) is list and len(stored) == 2 and stored[0] == LIB_FOLDER else None
        found = self.lib_paths.get(name) if type(name) is str else None
        if found is None:
            _check(type(name) is str and name not in ("", ".", "..") and os.path.basename(name) == name,
                   "corrupt source path {!r}", stored)
            found = self.lib_paths[name] = os.path.join(self.lib_dir or LIB_FOLDER, name)
        return found

    # ------------------------------------------------------------------ building

    def load(self) -> dict:
        """Build every object; answer the roots (checked by ``install``)."""
        records = self.records
        _check(type(records) is list, "corrupt image body: the records are not a list")
        class_indexes: list[int] = []
        block_indexes: list[int] = []
        self.objects = objects = self.make_shells(records, class_indexes, block_indexes)
        self.value_objects = list(objects)
        for index in block_indexes:
            self.value_objects[index] = None          # a block's code is no value (see values)
        self.ref_end = V.REF_BASE + len(objects)
        self.sym_end = V.SYM_BASE + self.symbol_count
        self.fill_all(class_indexes, {R_CLASS: self.fill_class})
        self.field_counts = verify.check_hierarchy(self.by_kind[R_CLASS])
        self.fill_all(range(len(records)), {
            R_BYTES: self.fill_bytes, R_LARGE: self.fill_large, R_METHOD: self.fill_method,
            R_BLOCK: self.fill_block, R_CLOSURE: self.fill_closure, R_CONTEXT: self.fill_context,
            R_PROCESS: self.fill_process}, class_indexes)
        return self.snapshot["roots"]

    def make_shells(self, records: list, class_indexes: list[int], block_indexes: list[int]) -> list:
        shells: list[Any] = []
        append = shells.append
        lengths, types, nil = RECORD_LENGTHS, _SHELL_TYPES, V.NIL
        for index, record in enumerate(records):
            if type(record) is not list or not record or type(record[0]) is not int:
                raise ImageError(f"record {index} is not a record")
            kind = record[0]
            length = lengths.get(kind)
            if length != len(record):
                if length is None:
                    raise ImageError(f"unknown record kind {kind}")
                raise ImageError(f"corrupt record of kind {kind}: {len(record)} elements instead of {length}")
            if kind <= R_LARGE:                       # plain data: nearly every record of a big heap
                append(_new_object(types[kind]))
            elif kind == R_CONTEXT:
                append(_new_object(BlockContext if record[7] != nil else MethodContext))
            else:
                if kind == R_CLASS:
                    class_indexes.append(index)
                elif kind == R_BLOCK:
                    block_indexes.append(index)
                append(_new_object(types[kind]))
        return shells

    def fill_all(self, indexes: Any, fillers: dict, class_indexes: list | None = None) -> None:
        """Fill the records at ``indexes``: Arrays, Strings and Instances inline (they are
        nearly all of a big heap), the kinds in ``fillers`` through them, the rest not at
        all. ``class_indexes``: the class records, already filled, whose layouts and
        field counts the inline checks look up."""
        by_kind, objects, records, values = self.by_kind, self.objects, self.records, self.values
        layout_of = {i: objects[i].layout for i in class_indexes or ()}
        fields_of = {i: self.field_counts[objects[i]] for i in class_indexes or ()}
        index = -1
        try:
            for index in indexes:
                record = records[index]
                kind = record[0]
                shell = objects[index]
                if kind == R_ARRAY:
                    _, cls, items, ihash = record
                    if layout_of.get(cls) != "array":
                        self.class_ref(cls, "array", "its class")
                    shell.cls = objects[cls]
                    shell.items = values(items)
                    shell.ihash = ihash if type(ihash) is int and 0 <= ihash < _HASH_LIMIT else _hash(ihash)
                elif kind == R_STRING:
                    _, cls, chars = record
                    if layout_of.get(cls) != "string":
                        self.class_ref(cls, "string", "its class")
                    if type(chars) is not str:
                        raise ImageError("its characters are not text")
                    shell.cls = objects[cls]
                    shell.chars = chars
                    shell.h = 0
                elif kind == R_INSTANCE:
                    _, cls, fields, ihash = record
                    if layout_of.get(cls) != "object":
                        self.class_ref(cls, "object", "its class")
                    shell.cls = objects[cls]
                    shell.fields = fields = values(fields)
                    if len(fields) != fields_of[cls]:
                        raise ImageError(f"an instance of {objects[cls].name} with {len(fields)} fields instead "
                                         f"of {fields_of[cls]}")
                    shell.ihash = ihash if type(ihash) is int and 0 <= ihash < _HASH_LIMIT else _hash(ihash)
                elif kind in fillers:
                    fillers[kind](shell, record)
                    by_kind[kind].append(shell)
        except ForeignImage:
            raise
        except ImageError as error:
            raise ImageError(f"record {index} ({KIND_NAMES[records[index][0]]}): {error}") from None
        except (ValueError, TypeError, AttributeError, KeyError, IndexError, OverflowError) as error:
            raise ImageError(f"corrupt record {index} ({KIND_NAMES[records[index][0]]}): "
                             f"{type(error).__name__}") from None

    def fill_bytes(self, obj: VBytes, record: list) -> None:
        _, cls, data, ihash = record
        obj.cls = self.class_ref(cls, "bytes", "its class")
        _check(type(data) is bytes, "its contents are not a byte string")
        obj.data, obj.ihash = bytearray(data), _hash(ihash)

    def fill_large(self, obj: LargeInt, record: list) -> None:
        _, cls, n = record
        obj.cls = self.class_ref(cls, "immediate", "its class")
        _check(type(n) is int, "its value is not an integer")
        _check(not V.fits_small(n), "{} is a SmallInteger, not a large integer", n)
        obj.n = n

    def fill_class(self, obj: VClass, record: list) -> None:
        (_, meta, name, superclass, methods, instance_fields, fields, layout, is_meta, source, source_file,
         ihash, subclasses) = record
        _check(_is_text(name) and name != "", "its name is not text")
        obj.name = name
        obj.cls = self.ref(meta, VClass, "its metaclass")
        obj.superclass = self.optional_ref(superclass, VClass, "its superclass")
        _check(type(methods) is list, "its method table is not a list")
        obj.methods = {}
        for entry in methods:
            _check(type(entry) is list and len(entry) == 2 and _is_text(entry[0]), "corrupt method table entry")
            selector, method = entry
            _check(selector not in obj.methods, "{} has two methods #{}", name, selector)
            obj.methods[selector] = self.ref(method, CompiledMethod, f"{name}>>{selector}")
        obj.instance_fields = _text_list(instance_fields, "its instance variables")
        obj.fields = self.values(fields)
        _check(layout in LAYOUTS, "unknown layout {!r}", layout)
        _check(_is_flag(is_meta), "corrupt metaclass flag")
        obj.layout, obj.is_meta = layout, is_meta
        _check(source is None or _is_text(source), "its source is not text")
        obj.source, obj.source_file = source, self.source_path(source_file)
        obj.ihash = _hash(ihash)
        _check(type(subclasses) is list, "its subclasses are not a list")
        obj.subclasses = [self.ref(c, VClass, "a subclass") for c in subclasses]
        obj.token = object()
        obj.lookup_cache = {}

    def fill_code(self, obj: Any, num_args: Any, num_temps: Any, code: Any, literals: Any, sites: Any,
                  starts: Any, numbers: Any, first_line: Any, temp_names: Any) -> None:
        _check(_is_int(num_args) and 0 <= num_args < MAX_SLOTS, "corrupt argument count")
        _check(_is_int(num_temps) and 0 <= num_temps < MAX_SLOTS, "corrupt temporary count")
        obj.num_args, obj.num_temps = num_args, num_temps
        obj.code = from_u32(code)
        _check(type(literals) is list, "its literals are not a list")
        obj.literals = [lit if type(lit) is str else self.value(lit, literal=True) for lit in literals]
        _check(type(sites) is list, "its send sites are not a list")
        obj.sites = [self.site(entry) for entry in sites]
        obj.line_starts, obj.line_numbers = from_u32(starts), from_u32(numbers)
        _check(len(obj.line_starts) == len(obj.line_numbers), "its line table is corrupt")
        _check(_is_int(first_line) and first_line >= 0, "corrupt first line")
        obj.first_line = first_line
        obj.temp_names = _text_list(temp_names, "its temporary names")
        _check(len(obj.temp_names) == num_args + num_temps,
               "{} temporary names for {} slots", len(obj.temp_names), num_args + num_temps)

    def site(self, entry: Any) -> SendSite:
        if type(entry) is not list or len(entry) != 2:
            raise ImageError("corrupt send site")
        selector, argc = entry
        if _ARITIES.get(selector) != argc or type(argc) is not int:
            _check(_is_text(selector) and _is_int(argc) and arity(selector) == argc,
                   "a send of #{!r} with {!r} arguments", selector, argc)
            if len(_ARITIES) < _ARITIES_KEPT:
                _ARITIES[selector] = argc
        return SendSite(selector, argc)

    def fill_method(self, obj: CompiledMethod, record: list) -> None:
        (_, cls, selector, holder, num_args, num_temps, code, literals, sites, starts, numbers, first_line,
         source, source_file, kind, flags, temp_names, ihash) = record
        obj.cls = self.class_ref(cls, "method", "its class")
        _check(_is_text(selector) and arity(selector) is not None, "corrupt selector {!r}", selector)
        obj.selector = selector
        obj.holder = self.optional_ref(holder, VClass, "its holder")
        self.fill_code(obj, num_args, num_temps, code, literals, sites, starts, numbers, first_line, temp_names)
        _check(source is None or _is_text(source), "its source is not text")
        obj.source, obj.source_file = source, self.source_path(source_file)
        _check(_is_int(flags), "corrupt flags")
        obj.flags = flags                   # recomputed by verify from the holder and selector
        obj.ihash = _hash(ihash)
        obj.primitive = None
        obj.trivial = None
        if kind in (KIND_PRIMITIVE, KIND_CONTROL):
            _check(obj.holder is not None, "primitive #{} has no holder", selector)
            found = lookup_primitive(obj.holder.name, selector)
            if found is None:
                raise ForeignImage(f"this VM has no primitive {obj.holder.name}>>{selector}")
            obj.primitive, is_control = found
            obj.kind = KIND_CONTROL if is_control else KIND_PRIMITIVE   # this VM's calling convention
        elif kind == KIND_BYTECODE:
            obj.kind = kind
            _check(bool(obj.code), "method #{} has no code", selector)
        else:
            raise ImageError(f"unknown method kind {kind!r}")

    def fill_block(self, obj: CompiledBlock, record: list) -> None:
        (_, num_args, num_temps, code, literals, sites, starts, numbers, first_line, method, temp_names) = record
        self.fill_code(obj, num_args, num_temps, code, literals, sites, starts, numbers, first_line, temp_names)
        obj.method = self.optional_ref(method, CompiledMethod, "its method")
        obj.flags = 0

    def fill_closure(self, obj: Closure, record: list) -> None:
        _, cls, code, outer, receiver, ihash = record
        obj.cls = self.class_ref(cls, "closure", "its class")
        obj.code = self.ref(code, CompiledBlock, "its code")
        obj.outer = self.optional_ref(outer, Context, "its outer context")
        _check(obj.outer is not None, "a block closed over no context")
        obj.receiver = self.value(receiver)
        obj.ihash = _hash(ihash)

    def fill_context(self, obj: Context, record: list) -> None:
        _, method, pc, stack, receiver, sender, outer, closure = record
        is_block = isinstance(obj, BlockContext)
        obj.method = self.ref(method, CompiledBlock if is_block else CompiledMethod, "its method")
        _check(_is_int(pc) and pc >= -1, "corrupt pc {!r}", pc)
        obj.pc = pc
        obj.stack = self.values(stack)
        obj.receiver = self.value(receiver)
        obj.sender = self.optional_ref(sender, Context, "its sender")
        if is_block:
            obj.outer = self.optional_ref(outer, Context, "its outer context")
            obj.closure = self.optional_ref(closure, Closure, "its block")
            obj.home = None        # set once every context exists (verify.check_contexts)
        else:
            _check(outer == V.NIL, "a method context with an outer context")

    def fill_process(self, obj: Process, record: list) -> None:
        (_, pid, ctx, state, result, reason, crash_trace, mailbox, links, monitors, monitored_by, trap_exit, name,
         wait_mode, wait_arg, remaining, timeout_value, wake_pending, report_crash, on_exit, ihash) = record
        _check(_is_int(pid) and 0 < pid < 1 << 62, "corrupt pid {!r}", pid)
        _check(state in STATES, "unknown process state {!r}", state)
        _check(wait_mode in WAIT_MODES and _is_int(wait_mode), "unknown wait mode {!r}", wait_mode)
        obj.pid, obj.state, obj.wait_mode = pid, state, wait_mode
        obj.cls = None             # set with the Context class, once the globals are known
        obj.ctx = self.optional_ref(ctx, Context, "its context")
        obj.result = self.optional(result)
        obj.exit_reason = self.optional(reason)
        _check(crash_trace is None or (type(crash_trace) is list and all(_is_text(t) for t in crash_trace)),
               "corrupt crash trace")
        obj.crash_trace = crash_trace
        messages = self.values(mailbox)
        obj.mailbox = deque(messages) if messages else None
        _check(type(links) is list, "its links are not a list")
        obj.links = {self.ref(p, Process, "a link") for p in links} or None
        obj.monitors = self.monitor_table(monitors)
        obj.monitored_by = self.monitor_table(monitored_by)
        _check(_is_flag(trap_exit) and _is_flag(wake_pending) and _is_flag(report_crash), "corrupt process flags")
        obj.trap_exit, obj.wake_pending, obj.report_crash = trap_exit, wake_pending, report_crash
        _check(name is None or _is_text(name), "corrupt registered name")
        obj.name = name
        if wait_mode == WAIT_BEYOND:
            _check(_is_int(wait_arg) and 0 <= wait_arg < 1 << 62, "a selective receive without a message count")
            obj.wait_arg = wait_arg
        else:
            obj.wait_arg = self.optional(wait_arg)
        obj.wake_timer = None
        obj.timeout_value = self.optional(timeout_value)
        _check(type(on_exit) is list, "corrupt promise list")
        obj.on_exit = [self.value(p) for p in on_exit] or None
        obj.ihash = _hash(ihash)
        obj.depth_mark = None      # transient: the depth check starts over
        obj.overflowed = False
        obj.held = False           # a debugger's hold belongs to its session, not to the image
        obj.suspended = False
        if remaining is not None:
            _check(type(remaining) in (int, float) and math.isfinite(remaining) and 0 <= remaining < 1e12,
                   "corrupt timer {!r}", remaining)
            remaining = float(remaining)
        _check(self.remaining.get(pid, _MISSING) is _MISSING, "two processes with pid {}", pid)
        self.remaining[pid] = remaining

    def monitor_table(self, entries: Any) -> dict | None:
        _check(type(entries) is list, "corrupt monitor table")
        table = {}
        for entry in entries:
            _check(type(entry) is list and len(entry) == 2, "corrupt monitor entry")
            table[self.value(entry[0])] = self.ref(entry[1], Process, "a monitored process")
        return table or None


_HASH_LIMIT = 1 << 62
_ARITIES: dict[str, int] = {}         # selectors seen, with their argument counts
_ARITIES_KEPT = 50_000


def _hash(value: Any) -> int:
    if type(value) is not int or not 0 <= value < _HASH_LIMIT:
        raise ImageError(f"corrupt identity hash {value!r}")
    return value


def _a(found: Any) -> str:
    """What a reference found instead, for a refusal: 'a CompiledBlock', 'nil'."""
    if found is None:
        return "nil"
    name = type(found).__name__
    return f"{'an' if name[0] in 'AEIOU' else 'a'} {name}"


_new_object = object.__new__
_SHELL_TYPES = {R_INSTANCE: Instance, R_ARRAY: VArray, R_STRING: VString, R_BYTES: VBytes, R_LARGE: LargeInt,
                R_CLASS: VClass, R_METHOD: CompiledMethod, R_BLOCK: CompiledBlock, R_CLOSURE: Closure,
                R_PROCESS: Process}


# ====================================================================== installing

def install(machine: Any, snapshot: dict) -> Process | None:
    """Make ``machine`` (not bootstrapped) the VM the snapshot describes; answer the
    main process, if the image has one. Raises ImageError and nothing else."""
    try:
        return _install(machine, snapshot)
    except ImageError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError, RecursionError) as error:
        # A check this reader lacks: still a refusal, never a traceback.
        raise ImageError(f"corrupt image: {type(error).__name__} while loading") from None


def _install(machine: Any, snapshot: dict) -> Process | None:
    universe = machine.universe
    scheduler = machine.scheduler
    _check(type(snapshot) is dict and type(snapshot.get("roots")) is dict and "records" in snapshot,
           "corrupt image body")
    roots = snapshot["roots"]
    symbols = roots.get("symbols")
    _check(type(symbols) is list and all(_is_text(s) for s in symbols), "corrupt image roots: symbols")
    _check(len(set(symbols)) == len(symbols), "corrupt image roots: a symbol appears twice")
    reader = Reader(machine, snapshot)
    reader.load()
    universe.symbols = list(symbols)
    universe.symbol_ids = {name: i for i, name in enumerate(universe.symbols)}
    globals_ = roots.get("globals")
    _check(type(globals_) is dict and all(_is_text(k) for k in globals_), "corrupt image roots: globals")
    universe.globals = {name: reader.value(word) for name, word in globals_.items()}
    verify.check_kernel(universe.globals)
    universe.adopt_kernel()
    for obj in reader.by_kind[R_PROCESS]:
        obj.cls = universe.Process      # before the graph check: a context's receiver may be a process
    facts = verify.check_graph(reader, universe)
    for obj in reader.by_kind[R_CONTEXT]:
        obj.__class__ = universe.block_context_class if isinstance(obj, BlockContext) else \
            universe.method_context_class
    for obj in reader.by_kind[R_METHOD]:
        quicken(obj)
    table = verify.check_roots(reader, universe, roots, facts)
    universe.system_object = table.system
    universe.timeout_marker = table.timeout_marker
    universe.ihash_counter = table.ihash_counter
    universe.started = time.monotonic() - table.clock_ms / 1000.0
    scheduler.process_class = universe.Process
    scheduler.restart_pids(table.next_pid)
    machine.signals.restart_refs(table.next_ref)
    for proc in table.processes:
        remaining = reader.remaining.get(proc.pid)
        scheduler.processes[proc.pid] = proc
        if proc.state != RUNNABLE and remaining is not None:
            scheduler.set_wake_timer(proc, remaining, proc.timeout_value)
    scheduler.run_queue.extend(table.run_queue)
    scheduler.registry.update(table.registry)
    return table.main
