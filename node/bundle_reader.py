"""Reading a bundle (``node.bundle_format``) back into a runnable process on this node.

Rules:
- Hostile bytes are expected: every element is checked for its type and range before
  use, every reference for its target's kind, every context against its code (its pc is
  an instruction, its stack as high as that instruction needs), and a problem is a
  ``BundleError`` with a one-line reason. Nothing is built into the VM before everything
  has been checked: a refused bundle leaves no trace (a do-it's text is compiled, which
  defines nothing).
- Names are resolved here: a class must exist with the version the bundle names
  (``MissingCode`` lists the missing ones, so the protocol can fetch them first; another
  version is a mismatch), a method must be installed under its selector and compile to
  the same bytecode (its digest), globals and singletons are this VM's.
- The thawed process resumes at the same instruction: the pc is the interpreter's, so
  either tier runs it. Its timer is set again with the remaining time; a deadline kept
  by the kernel's selective receive moves to this VM's clock.

VM thread only; never blocks.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import cbor2

from smalltalk_vm.compiler import ast as A
from smalltalk_vm.compiler.front import compile_input
from smalltalk_vm.compiler.parser import parse_input
from smalltalk_vm.image.bytecode_check import check_code
from smalltalk_vm.image.records import ImageError, arity
from smalltalk_vm.node import bundle_format as F
from smalltalk_vm.node.bundle_checks import check_chain, check_closures, check_contexts, move_deadlines
from smalltalk_vm.node.bundle_format import BundleError, MissingCode
from smalltalk_vm.node.bundle_freeze import resume_parked
from smalltalk_vm.node.wire_tags import CLASS_NAME, WireError
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.distribution import RemoteProcess
from smalltalk_vm.vm.errors import LoadError, SmalltalkSyntaxError
from smalltalk_vm.vm.objects import (
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
)
from smalltalk_vm.vm.process import (
    RUNNABLE,
    SLEEPING,
    WAIT_BEYOND,
    WAIT_MOVE,
    WAIT_RECEIVE,
    WAITING,
    Process,
)
from smalltalk_vm.vm.versions import class_version

_STATES = {(RUNNABLE, 0), (SLEEPING, 0), (WAITING, WAIT_RECEIVE), (WAITING, WAIT_BEYOND), (WAITING, WAIT_MOVE)}
_HASH_LIMIT = 1 << 62
_MAX_TEXT = 1 << 20


@dataclass
class BundleHeader:
    """What a bundle needs and where it came from, read without building anything."""
    classes: list[tuple[str, str]]
    source_pid: int
    source_node: str | None
    body: dict = field(repr=False)


@dataclass
class Thawed:
    """A process built from a bundle, already in the scheduler. Links, monitors and the
    registered name are handed over, not installed: they involve other nodes."""
    proc: Process
    links: list
    monitors: list
    monitored_by: list
    name: str | None


def _check(condition: bool, reason: str) -> None:
    if not condition:
        raise BundleError(reason)


def _is_int(value: Any) -> bool:
    return type(value) is int


def _is_text(value: Any, limit: int = 1000) -> bool:
    return type(value) is str and len(value) <= limit


def _list(value: Any, what: str, length: int | None = None) -> list:
    _check(type(value) is list, f"{what} is not a list")
    _check(length is None or len(value) == length, f"{what} has {len(value)} elements instead of {length}")
    return value


def read_header(data: Any) -> BundleHeader:
    """The header of a bundle; BundleError for anything that is not one."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise BundleError("a bundle is bytes")
    data = bytes(data)
    if len(data) > F.MAX_BUNDLE_BYTES:
        raise BundleError(f"the bundle is {len(data)} bytes, over the {F.MAX_BUNDLE_BYTES}-byte limit")
    try:
        body = cbor2.loads(data)
    except Exception as error:       # cbor2 raises many kinds for malformed input
        raise BundleError(f"not a bundle: malformed CBOR ({type(error).__name__})") from None
    _check(type(body) is dict, "not a bundle: not a map")
    _check(body.get("format") == F.FORMAT, "not a process bundle")
    _check(body.get("version") == F.VERSION, f"bundle format version {body.get('version')!r}, this node reads "
                                             f"version {F.VERSION}")
    for key, kind in (("source", dict), ("classes", list), ("codes", list), ("symbols", list),
                      ("objects", list), ("process", dict)):
        _check(type(body.get(key)) is kind, f"the bundle's {key} are missing or malformed")
    classes = []
    for entry in body["classes"]:
        _list(entry, "a class entry", 3)
        name, meta, version = entry
        _check(_is_text(name, 200) and CLASS_NAME.match(name) is not None, f"bad class name {name!r}")
        _check(type(meta) is bool and _is_text(version, 100), f"bad class entry for {name}")
        if (name, version) not in classes:
            classes.append((name, version))
    source = body["source"]
    pid = source.get("pid")
    node = source.get("node")
    _check(_is_int(pid) and (node is None or _is_text(node)), "the bundle's source is malformed")
    return BundleHeader(classes, pid, node, body)


def local_class(vm: Any, name: str) -> VClass | None:
    """The class ``name`` of this VM: loaded, or loaded now from the library or the
    classpath (as any first use of a class name does); None if it has none."""
    found = vm.globals.get(name)
    if found is None:
        try:
            found = vm.load_class(name)
        except (LoadError, SmalltalkSyntaxError, OSError):
            return None
    return found if type(found) is VClass and not found.is_meta else None


def missing_classes(vm: Any, header: BundleHeader) -> list[tuple[str, str]]:
    """The (name, version) pairs of the bundle's classes this VM does not have (after
    looking in its library and classpath): what code on demand must fetch."""
    return [(name, version) for name, version in header.classes if local_class(vm, name) is None]


def thaw(machine: Any, data: Any, node_refs: Any = None, *, pid: int | None = None, answer: Any = V.NIL,
         group: Any = None) -> Thawed:
    """Build the process of a bundle and put it into the scheduler (see the module
    docstring); BundleError (or MissingCode) with nothing built otherwise."""
    header = data if isinstance(data, BundleHeader) else read_header(data)
    reader = BundleReader(machine, header, node_refs)
    try:
        thawed = reader.build(pid)
    except BundleError:
        raise
    except WireError as error:
        raise BundleError(f"a reference in the bundle: {error}") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, RecursionError) as error:
        raise BundleError(f"malformed bundle ({type(error).__name__}: {error})") from None
    reader.install(thawed, answer, group)
    return thawed


class BundleReader:
    """One thaw of one bundle. VM thread only; raises BundleError."""

    def __init__(self, machine: Any, header: BundleHeader, node_refs: Any) -> None:
        self.machine = machine
        self.vm = machine.universe
        self.body = header.body
        self.refs = node_refs
        self.classes: list[VClass] = []
        self.codes: list[Any] = []
        self.code_slots: list[list[int]] = []        # slot counts of the enclosing units, innermost first
        self.heights: dict[int, list] = {}
        self.symbols: list[int] = []
        self.objects: list[Any] = []
        self.proc: Process | None = None
        self.timer_ms: float | None = None
        self.contexts: list[tuple[Context, int]] = []
        self.parents: dict[int, Any] = {}            # id(block code) -> the unit it appears in

    # ------------------------------------------------------------------ names

    def resolve_classes(self) -> None:
        vm = self.vm
        missing = []
        for name, meta, version in self.body["classes"]:
            cls = local_class(vm, name)
            if cls is None:
                missing.append((name, version))
                self.classes.append(None)
                continue
            mine = class_version(vm, cls)
            _check(mine == version, f"version mismatch: this node has {name} version {mine}, the process "
                                    f"needs version {version}")
            self.classes.append(cls.cls if meta else cls)
        if missing:
            raise MissingCode(list(dict.fromkeys(missing)))

    def class_at(self, index: Any, layouts: tuple[str, ...] | None = None) -> VClass:
        _check(_is_int(index) and 0 <= index < len(self.classes), f"reference to a missing class {index!r}")
        cls = self.classes[index]
        if layouts is not None:
            _check(cls.layout in layouts, f"class {cls.name} does not make such objects (its layout is {cls.layout})")
        return cls

    def resolve_codes(self) -> None:
        for position, entry in enumerate(self.body["codes"]):
            _check(type(entry) is list and entry and type(entry[0]) is str, f"code entry {position} is malformed")
            kind = entry[0]
            reader = _CODE_READERS.get(kind)
            _check(reader is not None, f"code entry {position} of unknown kind {kind!r}")
            unit, outer = reader(self, entry)
            self.codes.append(unit)
            self.code_slots.append(outer)

    def code_method(self, entry: list) -> tuple[Any, list]:
        _list(entry, "a method entry", 4)
        _, class_index, selector, digest = entry
        cls = self.class_at(class_index)
        _check(_is_text(selector), "a method entry without a selector")
        method = cls.methods.get(selector)
        _check(type(method) is CompiledMethod, f"this node's {cls.name} has no method {selector}")
        _check(method.code and F.code_digest(method) == digest,
               f"{cls.name}>>{selector} compiles to other bytecode on this node")
        return method, []

    def code_doit(self, entry: list) -> tuple[Any, list]:
        _list(entry, "a do-it entry", 4)
        _, source, filename, digest = entry
        _check(_is_text(source, _MAX_TEXT) and _is_text(filename), "a do-it entry without its text")
        try:
            if not isinstance(parse_input(source, filename), A.DoIt):
                raise BundleError("a do-it entry whose text is not statements")
            compiled = compile_input(self.vm, source, filename)
        except (SmalltalkSyntaxError, LoadError) as error:
            raise BundleError(f"a do-it of the process does not compile here: {error}") from None
        method = compiled.method
        _check(compiled.kind == "statements" and F.code_digest(method) == digest,
               "a do-it of the process compiles to other bytecode on this node")
        return method, []

    def code_launcher(self, entry: list) -> tuple[Any, list]:
        _list(entry, "a launcher entry", 3)
        _, selector, argc = entry
        _check(_is_text(selector) and arity(selector) == argc, f"a launcher for {selector!r} with {argc!r} arguments")
        return self.vm.scheduler.launcher(selector, argc), []

    def code_block(self, entry: list) -> tuple[Any, list]:
        _list(entry, "a block entry", 3)
        _, parent_index, position = entry
        _check(_is_int(parent_index) and 0 <= parent_index < len(self.codes), "a block of a missing code unit")
        parent = self.codes[parent_index]
        _check(_is_int(position) and 0 <= position < len(parent.literals)
               and type(parent.literals[position]) is CompiledBlock, "a block entry that names no block")
        outer = [parent.num_args + parent.num_temps, *self.code_slots[parent_index]]
        block = parent.literals[position]
        self.parents[id(block)] = parent
        return block, outer

    def code_at(self, index: Any, kind: type | None = None) -> Any:
        _check(_is_int(index) and 0 <= index < len(self.codes), f"reference to missing code {index!r}")
        unit = self.codes[index]
        _check(kind is None or type(unit) is kind, "code of the wrong kind")
        return unit

    def heights_of(self, index: int) -> list:
        found = self.heights.get(index)
        if found is None:
            unit = self.codes[index]
            holder = unit.home_method.holder
            fields = self.vm.field_count(holder) if holder is not None and not holder.is_meta else \
                (len(holder.fields) if holder is not None else 0)
            try:
                found = check_code(unit, fields, self.code_slots[index])
            except ImageError as error:
                raise BundleError(f"the code of a context does not check here: {error}") from None
            self.heights[index] = found
        return found

    # ------------------------------------------------------------------ values

    def value(self, word: Any) -> Any:
        kind = type(word)
        if kind is float:
            return word
        _check(kind is int, f"corrupt value {word!r}")
        if V.SYM_BASE <= word < V.SYM_LIMIT:
            index = word - V.SYM_BASE
            _check(index < len(self.symbols), f"symbol {index} is not in the bundle")
            return self.symbols[index]
        if V.REF_BASE <= word < V.REF_BASE + (1 << V.PAYLOAD_BITS):
            index = word - V.REF_BASE
            _check(index < len(self.objects), f"reference to a missing object {index}")
            return self.objects[index]
        _check(0 <= word < 1 << 64 and word >> 51 == V.QNAN >> 51, f"corrupt value {word:#x}")
        try:
            found = V.unbox(word)
        except V.ValueEncodingError as error:
            raise BundleError(f"corrupt value: {error}") from None
        _check(type(found) is int, f"corrupt value {word:#x}")
        return found

    def values(self, words: Any, what: str) -> list:
        _check(type(words) is list, f"{what} is not a list")
        value = self.value
        return [value(w) for w in words]

    def ref(self, word: Any, kinds: Any, what: str, optional: bool = False) -> Any:
        if optional and word == V.NIL:
            return None
        found = self.value(word)
        _check(isinstance(found, kinds), f"{what} is not what it must be")
        return found

    # ------------------------------------------------------------------ objects

    def make_shells(self) -> list[tuple[Any, list]]:
        """One object per record (names resolved now, the rest filled later)."""
        vm = self.vm
        fills = []
        for position, record in enumerate(self.body["objects"]):
            _check(type(record) is list and record and type(record[0]) is str, f"object {position} is malformed")
            tag = record[0]
            length = F.RECORD_LENGTHS.get(tag)
            _check(length == len(record), f"object {position} is a malformed record of kind {tag!r}")
            maker = _SHELLS.get(tag)
            if maker is not None:
                obj = maker.__new__(maker)
                fills.append((obj, record))
            elif tag == F.OBJ_CONTEXT:
                kind = vm.block_context_class if record[7] != V.NIL else vm.method_context_class
                obj = kind.__new__(kind)
                fills.append((obj, record))
            else:
                obj = self.named(tag, record)
            self.objects.append(obj)
        return fills

    def named(self, tag: str, record: list) -> Any:
        vm, refs = self.vm, self.refs
        if tag == F.OBJ_CLASS:
            return self.class_at(record[1])
        if tag == F.OBJ_CODE:
            unit = self.code_at(record[1])
            _check(type(unit) is CompiledMethod, "a block's code used as a value")
            return unit
        if tag == F.OBJ_GLOBAL:
            _check(_is_text(record[1]) and record[1] in vm.globals, f"this node has no global {record[1]!r}")
            found = vm.globals[record[1]]
            _check(type(found) not in (int, float), f"the global {record[1]} is not an object here")
            return found
        if tag == F.OBJ_WELL_KNOWN:
            attribute = F.WELL_KNOWN.get(record[1]) if _is_text(record[1]) else None
            _check(attribute is not None, f"unknown singleton {record[1]!r}")
            return getattr(vm, attribute)
        if tag == F.OBJ_SELF:
            return self.proc
        if tag == F.OBJ_NODE:
            _, name, creation = record
            _check(_is_text(name) and _is_int(creation) and creation >= 0, "a malformed Node")
            return refs.node(name, creation) if refs is not None else vm.distribution.nodes.get(name, creation)
        _check(refs is not None, "a process or reference in a bundle read without a node")
        if tag == F.OBJ_PROCESS:
            _, name, creation, number = record
            _check(_is_text(name) and _is_int(creation) and _is_int(number) and creation >= 0 and number >= 0,
                   "a malformed process reference")
            return refs.process(name, creation, number)
        _, node, creation, handle, class_name, handoff = record
        _check(_is_text(node) and _is_int(creation) and type(handle) is bytes and _is_text(class_name)
               and _is_int(handoff), "a malformed remote reference")
        return refs.remote_object(node, creation, handle, class_name, handoff)

    def fill(self, obj: Any, record: list) -> None:
        kind = type(obj)
        if kind is Instance:
            _, cls, fields, ihash = record
            obj.cls = cls = self.class_at(cls, ("object",))
            obj.fields = self.values(fields, "its fields")
            _check(len(obj.fields) == self.vm.field_count(cls), f"an instance of {cls.name} with "
                                                                f"{len(obj.fields)} fields")
            obj.ihash = _hash(ihash)
        elif kind is VArray:
            _, cls, items, ihash = record
            obj.cls = self.class_at(cls, ("array",))
            obj.items = self.values(items, "its items")
            obj.ihash = _hash(ihash)
        elif kind is VString:
            _, cls, chars = record
            obj.cls = self.class_at(cls, ("string",))
            _check(type(chars) is str, "a string whose characters are not text")
            obj.chars, obj.h = chars, 0
        elif kind is VBytes:
            _, cls, data, ihash = record
            obj.cls = self.class_at(cls, ("bytes",))
            _check(type(data) is bytes, "a byte array whose contents are not bytes")
            obj.data, obj.ihash = bytearray(data), _hash(ihash)
        elif kind is LargeInt:
            _check(_is_int(record[1]) and not V.fits_small(record[1]), "a large integer that is not one")
            obj.cls, obj.n = self.vm.Integer, record[1]
        elif kind is Closure:
            _, cls, code, outer, receiver, ihash = record
            obj.cls = self.class_at(cls, ("closure",))
            obj.code = self.code_at(code, CompiledBlock)
            obj.outer = self.ref(outer, Context, "a block's outer context")
            obj.receiver = self.value(receiver)
            obj.ihash = _hash(ihash)
        else:
            self.fill_context(obj, record)

    def fill_context(self, ctx: Context, record: list) -> None:
        _, code, pc, stack, receiver, sender, outer, closure = record
        is_block = isinstance(ctx, BlockContext)
        ctx.method = self.code_at(code, CompiledBlock if is_block else CompiledMethod)
        _check(_is_int(pc) and pc >= -1, f"a context with the pc {pc!r}")
        ctx.pc = pc
        ctx.stack = self.values(stack, "a context's stack")
        ctx.receiver = self.value(receiver)
        ctx.sender = self.ref(sender, Context, "a context's sender", optional=True)
        if is_block:
            ctx.outer = self.ref(outer, Context, "a block context's outer context")
            ctx.closure = self.ref(closure, Closure, "a block context's block")
            ctx.home = None                   # found once every context exists (check_contexts)
        else:
            _check(outer == V.NIL, "a method context with an outer context")
        self.contexts.append((ctx, code))

    # ------------------------------------------------------------------ the whole

    def build(self, pid: int | None) -> Thawed:
        vm = self.vm
        scheduler = vm.scheduler
        body = self.body
        self.resolve_classes()
        self.resolve_codes()
        for name in body["symbols"]:
            _check(_is_text(name, 10_000), "a symbol that is not text")
            self.symbols.append(vm.symbol(name))
        if pid is None:
            pid = scheduler.next_pid
        _check(_is_int(pid) and pid > 0 and pid not in scheduler.processes, f"pid {pid!r} is taken")
        self.proc = proc = Process(scheduler.process_class, pid, None)
        fills = self.make_shells()
        for obj, record in fills:
            self.fill(obj, record)
        check_closures(vm, [obj for obj, _ in fills if type(obj) is Closure], self.parents)
        check_contexts(vm, self.contexts, self.heights_of)
        state = body["process"]
        proc.ctx = self.ref(state.get("ctx"), Context, "the process's active context")
        move_deadlines(vm, self.contexts, body["source"].get("clock_ms"))
        run_state, mode = state.get("state"), state.get("wait_mode")
        _check((run_state, mode) in _STATES, f"a process in the state {run_state!r} (wait mode {mode!r})")
        proc.state, proc.wait_mode = run_state, mode
        check_chain(proc.ctx, run_state != RUNNABLE, self.contexts, self.heights_of)
        wait_arg = state.get("wait_arg")
        if mode == WAIT_BEYOND:
            _check(_is_int(wait_arg) and wait_arg >= 0, "a selective receive without its count")
            proc.wait_arg = wait_arg
        else:
            proc.wait_arg = None if wait_arg == V.NIL else self.value(wait_arg)
        timer = state.get("timer_ms")
        _check(timer is None or (type(timer) in (int, float) and 0 <= timer < 1e15),
               f"a timer of {timer!r} milliseconds")
        self.timer_ms = timer
        timeout_value = state.get("timeout_value")
        proc.timeout_value = None if timeout_value == V.NIL else self.value(timeout_value)
        messages = self.values(state.get("mailbox"), "the mailbox")
        proc.mailbox = deque(messages) if messages else None
        for flag in ("trap_exit", "report_crash", "wake_pending"):
            _check(type(state.get(flag)) is bool, f"the process's {flag} is not a flag")
            setattr(proc, flag, state[flag])
        reductions = state.get("reductions")
        _check(_is_int(reductions) and reductions >= 0, "the process's reductions are not a count")
        proc.reductions = reductions
        name = state.get("name")
        _check(name is None or _is_text(name), "the process's name is not text")
        processes = (Process, RemoteProcess)
        links = [self.ref(w, processes, "a link") for w in _list(state.get("links"), "the links")]
        monitors = [self.pair(entry, "a monitor") for entry in _list(state.get("monitors"), "the monitors")]
        watchers = [self.watcher(entry) for entry in _list(state.get("monitored_by"), "the watchers")]
        return Thawed(proc, links, monitors, watchers, name)

    def pair(self, entry: Any, what: str) -> tuple[Any, Any]:
        ref, process = _list(entry, what, 2)
        return self.value(ref), self.ref(process, (Process, RemoteProcess), what)

    def watcher(self, entry: Any) -> tuple[Any, Any]:
        """(key, watcher): the key a Reference, or (node name, ref number) for a watcher
        on another node (bundle_writer.watch_key)."""
        key, process = _list(entry, "a watcher", 2)
        if type(key) is list:
            _list(key, "a watcher's key", 2)
            _check(_is_text(key[0]) and _is_int(key[1]), "a malformed watcher's key")
            key = (key[0], key[1])
        else:
            key = self.value(key)
        return key, self.ref(process, (Process, RemoteProcess), "a watcher")

    def install(self, thawed: Thawed, answer: Any, group: Any) -> None:
        scheduler = self.vm.scheduler
        proc = thawed.proc
        proc.group = scheduler.outside_group if group is None else group
        scheduler.processes[proc.pid] = proc
        if proc.pid >= scheduler.next_pid:
            scheduler.next_pid = proc.pid + 1
        resume_parked(scheduler, proc, self.timer_ms, answer)


def _hash(value: Any) -> int:
    return value if type(value) is int and 0 <= value < _HASH_LIMIT else 0


_SHELLS = {F.OBJ_INSTANCE: Instance, F.OBJ_ARRAY: VArray, F.OBJ_STRING: VString, F.OBJ_BYTES: VBytes,
           F.OBJ_LARGE: LargeInt, F.OBJ_CLOSURE: Closure}
_CODE_READERS = {F.CODE_METHOD: BundleReader.code_method, F.CODE_DOIT: BundleReader.code_doit,
                 F.CODE_LAUNCHER: BundleReader.code_launcher, F.CODE_BLOCK: BundleReader.code_block}
