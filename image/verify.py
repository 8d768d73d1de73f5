"""The whole-graph checks of an image being loaded: what no single record can show.

- the class hierarchy: no superclass cycle, metaclasses where they belong, subclass
  lists that mirror the superclass links, field counts that instances can be checked
  against, kernel classes of the layout the VM relies on;
- the code: every method and block passes the bytecode verifier
  (``image.bytecode_check``), each block has one enclosing code unit, primitives and
  unwinding flags are this VM's;
- closures and contexts: a closure is over a context running its enclosing code, a
  block context runs its closure, every live context's pc is an instruction with as
  many values on its stack as that instruction needs, each home is a method context;
- processes and the roots: every live process is in the process table with a chain of
  live contexts no other process shares, the run queue holds exactly the runnable ones,
  registered names, counters and the clock make sense.

Rules: each check raises ImageError with a one-line reason naming what is wrong; every
walk is bounded (visited sets, depth limits), so a forged cycle is refused, never
followed for ever. Nothing here builds or runs VM objects.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from smalltalk_vm.image.bytecode_check import check_code, unit_name
from smalltalk_vm.image.records import (
    R_BLOCK,
    R_CLASS,
    R_CLOSURE,
    R_CONTEXT,
    R_LARGE,
    R_METHOD,
    R_PROCESS,
    ImageError,
    arity,
)
from smalltalk_vm.vm.bytecodes import SUPER_SEND
from smalltalk_vm.vm.objects import (
    LAUNCHER_FILE,
    BlockContext,
    CompiledBlock,
    CompiledMethod,
    Context,
    Instance,
    MethodContext,
    VClass,
    inherits,
)
from smalltalk_vm.vm.primitives.registry import method_flags
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
from smalltalk_vm.vm.universe import KERNEL, VM_CLASSES

# Layouts whose instances have named fields (Instances, and classes' class-side variables).
_FIELD_LAYOUTS = frozenset({"object", "class"})
_WAITING_MODES = frozenset({WAIT_RECEIVE, WAIT_BEYOND, WAIT_WAKE, WAIT_DEBUG})


def _check(condition: bool, reason: str, *details: Any) -> None:
    """Refuse unless ``condition``; ``reason`` is formatted with ``details`` only then
    (the checks run once per record: building every message would cost more)."""
    if not condition:
        raise ImageError(reason.format(*details) if details else reason)


# ====================================================================== classes

def check_hierarchy(classes: list[VClass]) -> dict[VClass, int]:
    """Check the class records against each other; answer each class's field count."""
    acyclic: set[int] = set()
    for cls in classes:
        chain: list[VClass] = []
        seen: set[int] = set()
        walker = cls
        while walker is not None and id(walker) not in acyclic:
            if id(walker) in seen:
                raise ImageError(f"a superclass cycle through {walker.name}")
            seen.add(id(walker))
            chain.append(walker)
            walker = walker.superclass
        acyclic.update(id(c) for c in chain)
    owners: dict[int, VClass] = {}
    for cls in classes:
        meta = cls.cls
        if cls.is_meta:
            _check(not meta.is_meta, "{} is a metaclass whose class is a metaclass", cls.name)
            continue
        _check(meta.is_meta, "the class of {} is not a metaclass", cls.name)
        _check(id(meta) not in owners, "{} and {} share a metaclass", cls.name, owners.get(id(meta), cls).name)
        owners[id(meta)] = cls
        superclass = cls.superclass
        if superclass is not None:
            _check(not superclass.is_meta, "the superclass of {} is a metaclass", cls.name)
            _check(meta.superclass is superclass.cls, "the metaclass of {} does not inherit "
                                                       "from its superclass's metaclass", cls.name)
        else:
            _check(meta.superclass is not None and not meta.superclass.is_meta,
                   "the metaclass of the root class {} does not inherit from a class", cls.name)
    for cls in classes:
        if cls.is_meta and id(cls) not in owners:
            raise ImageError(f"metaclass {cls.name} belongs to no class")
        children = {id(sub) for sub in cls.subclasses}
        _check(len(children) == len(cls.subclasses), "{} lists a subclass twice", cls.name)
        for sub in cls.subclasses:
            _check(sub.superclass is cls, "{} lists {} as a subclass, which it is not", cls.name, sub.name)
        if cls.superclass is not None:
            _check(cls in cls.superclass.subclasses, "{} does not list its subclass {}", cls.superclass.name, cls.name)
    counts: dict[VClass, int] = {}
    for cls in classes:
        chain = []
        walker = cls
        while walker is not None and walker not in counts:
            chain.append(walker)
            walker = walker.superclass
        total = counts[walker] if walker is not None else 0
        for c in reversed(chain):
            total += len(c.instance_fields)
            counts[c] = total
    for cls in classes:
        if cls.layout not in _FIELD_LAYOUTS:
            _check(counts[cls] == 0, "{} ({} layout) declares instance variables", cls.name, cls.layout)
        _check(len(cls.fields) == counts[cls.cls],
               "{} has {} class-side values for {} variables", cls.name, len(cls.fields), counts[cls.cls])
    return counts


def check_kernel(globals_: dict[str, Any]) -> None:
    """The classes the VM uses by name are classes of the layout it relies on."""
    for name, _superclass, layout in KERNEL:
        cls = globals_.get(name)
        _check(type(cls) is VClass and not cls.is_meta and cls.name == name and cls.layout == layout,
               "the kernel class {} is missing or is not a {} class", name, layout)
    for name in ("Block1", "Block2", "Block3", "Block4"):
        _check(globals_[name].layout == "closure", "the kernel class {} is not a block class", name)
    for name in VM_CLASSES:
        cls = globals_.get(name)
        _check(cls is None or (type(cls) is VClass and not cls.is_meta and cls.layout == "object"),
               "the global {}, which the VM instantiates, is not a class", name)


# ====================================================================== code and contexts

def check_graph(reader: Any, universe: Any) -> CodeFacts:
    """Everything between the classes and the roots (see the module docstring);
    answer what the code checks found, for ``check_roots``."""
    by_kind = reader.by_kind
    metaclass = universe.Metaclass
    for cls in by_kind[R_CLASS]:
        _check(not cls.is_meta or cls.cls is metaclass, "the class of {} is not Metaclass", cls.name)
    for large in by_kind[R_LARGE]:
        _check(large.cls is universe.Integer, "a large integer whose class is not Integer")
    heights = _check_code_units(reader, by_kind[R_METHOD], by_kind[R_BLOCK])
    parents = heights.parents
    block_classes = universe.block_classes
    for closure in by_kind[R_CLOSURE]:
        code = closure.code
        expected = block_classes[code.num_args] if code.num_args < 4 else universe.Block
        _check(closure.cls is expected, "a block of {} arguments is an instance of {}", code.num_args, closure.cls.name)
        _check(closure.outer.method is parents.get(id(code)), "a block closed over a context that does not "
                                                              "run the code it appears in")
        _check(_same_value(closure.receiver, closure.outer.receiver), "a block whose receiver is not its "
                                                                      "context's")
    limit = len(by_kind[R_CONTEXT]) + 1
    for ctx in by_kind[R_CONTEXT]:
        _check_context(ctx, heights, universe, limit)
    return heights


@dataclass
class CodeFacts:
    """What the code checks found: stack heights per code unit, enclosing units."""
    heights: dict[int, list] = field(default_factory=dict)
    parents: dict[int, Any] = field(default_factory=dict)


def _check_code_units(reader: Any, methods: list[CompiledMethod], blocks: list[CompiledBlock]) -> CodeFacts:
    facts = CodeFacts()
    parents = facts.parents
    for unit in (*methods, *blocks):
        for literal in unit.literals:
            if type(literal) is CompiledBlock:
                found = parents.get(id(literal))
                _check(found is None or found is unit, "a block's code appears in two methods")
                parents[id(literal)] = unit
    counts = reader.field_counts
    for method in methods:
        holder = method.holder
        # The flags the unwinding machinery looks for are this VM's (it reads the
        # temporaries they name only where they exist).
        method.flags = method_flags(holder.name, method.selector) if holder is not None else 0
        if method.code:
            facts.heights[id(method)] = heights = check_code(method, counts[holder] if holder is not None else 0, [])
            _check(holder is not None or not _sends_to_super(method, heights), "{} sends to super without a class",
                   unit_name(method))
    for holder in reader.by_kind[R_CLASS]:
        for selector, method in holder.methods.items():
            _check(method.holder is holder and method.selector == selector,
                   "{}>>{} holds a method of another class or selector", holder.name, selector)
            _check(method.num_args == arity(selector), "{}>>{} takes "
                                                        "{} arguments", holder.name, selector, method.num_args)
    for block in blocks:
        chain = []
        walker = parents.get(id(block))
        while type(walker) is CompiledBlock and len(chain) <= len(blocks):
            chain.append(walker)
            walker = parents.get(id(walker))
        _check(len(chain) <= len(blocks), "a block nested in itself")
        home = walker
        outer_slots = [u.num_args + u.num_temps for u in (*chain, home) if u is not None]
        if parents.get(id(block)) is None:
            outer_slots = []
        _check(block.method is home or home is None, "a block whose method is not the one it appears in")
        holder = block.method.holder if block.method is not None else None
        facts.heights[id(block)] = heights = check_code(block, counts[holder] if holder is not None else 0,
                                                        outer_slots)
        _check(holder is not None or not _sends_to_super(block, heights), "{} sends to super without a class",
               unit_name(block))
    return facts


def _sends_to_super(unit: Any, heights: list) -> bool:
    code = unit.code
    return any(height is not None and code[pc] == SUPER_SEND for pc, height in enumerate(heights))


def _same_value(a: Any, b: Any) -> bool:
    return a is b or (type(a) is type(b) and (a == b or (a != a and b != b)))


def _check_context(ctx: Context, facts: CodeFacts, universe: Any, limit: int) -> None:
    code = ctx.method
    if len(ctx.stack) < code.num_args + code.num_temps:
        raise ImageError(f"a context of {_describe(code)} with {len(ctx.stack)} of its "
                         f"{code.num_args + code.num_temps} slots")
    if isinstance(ctx, BlockContext):
        closure = ctx.closure
        if closure is None or closure.code is not code:
            raise ImageError(f"a block context of {_describe(code)} not running its block")
        if ctx.outer is not closure.outer:
            raise ImageError(f"a block context of {_describe(code)} with another outer context")
        if not _same_value(ctx.receiver, closure.receiver):
            raise ImageError(f"a block context of {_describe(code)} whose receiver is not its block's")
        home = ctx.outer
        steps = 0
        while isinstance(home, BlockContext) and steps < limit:
            home = home.outer
            steps += 1
        if not isinstance(home, MethodContext):
            raise ImageError(f"a block context of {_describe(code)} whose home is not a method context")
        ctx.home = home
    elif code.source_file != LAUNCHER_FILE and code.holder is not None \
            and not inherits(universe.class_of(ctx.receiver), code.holder):
        raise ImageError(f"a context of {_describe(code)} whose receiver is not a {code.holder.name}")
    if ctx.pc >= 0:
        heights = facts.heights.get(id(code))
        if heights is None:
            raise ImageError(f"a context running {_describe(code)}, which has no code")
        if ctx.pc >= len(heights) or heights[ctx.pc] is None:
            raise ImageError(f"a context of {_describe(code)} at pc {ctx.pc}, which is not an instruction "
                             "of its code")



def _describe(code: Any) -> str:
    method = code.home_method if code is not None else None
    if method is None:
        return "a block"
    holder = method.holder.name if method.holder is not None else "?"
    return f"{'[] in ' if type(code) is CompiledBlock else ''}{holder}>>{method.selector}"


# ====================================================================== processes and roots

@dataclass
class ProcessTable:
    """The checked roots, ready for the scheduler."""
    processes: list[Process]
    run_queue: list[Process]
    registry: dict[str, Process]
    main: Process | None
    system: Any
    timeout_marker: Any
    ihash_counter: int
    next_pid: int
    next_ref: int
    clock_ms: float


def check_roots(reader: Any, universe: Any, roots: dict, facts: CodeFacts) -> ProcessTable:
    processes = [_process(reader, i, "the process table") for i in _list(roots.get("processes"), "processes")]
    queue = [_process(reader, i, "the run queue") for i in _list(roots.get("run_queue"), "run_queue")]
    registry_roots = roots.get("registry")
    _check(type(registry_roots) is dict and all(type(k) is str for k in registry_roots),
           "corrupt image roots: registry")
    registry = {name: _process(reader, i, "the registry") for name, i in registry_roots.items()}
    in_table = {id(p) for p in processes}
    _check(len(in_table) == len(processes), "a process is twice in the process table")
    _check(len({p.pid for p in processes}) == len(processes), "two processes share a pid")
    queued = {id(p) for p in queue}
    _check(len(queued) == len(queue), "a process is twice in the run queue")
    for proc in queue:
        _check(proc.state != DEAD, "dead process {} is in the run queue", proc.pid)
        _check(id(proc) in in_table, "process {} is in the run queue but not in the process table", proc.pid)
    for proc in reader.by_kind[R_PROCESS]:
        if proc.state == DEAD:
            _check(id(proc) not in in_table, "dead process {} is in the process table", proc.pid)
            _check(proc.ctx is None, "dead process {} still has a context", proc.pid)
            continue
        _check(id(proc) in in_table, "live process {} is not in the process table", proc.pid)
        _check((proc.state == RUNNABLE) == (id(proc) in queued),
               "process {} is {} but {}in the run queue", proc.pid, proc.state, '' if id(proc) in queued else 'not ')
        _check((proc.wait_mode in _WAITING_MODES) == (proc.state == WAITING),
               "process {} is {} with wait mode {}", proc.pid, proc.state, proc.wait_mode)
        _check(proc.state in (WAITING, SLEEPING) or reader.remaining.get(proc.pid) is None,
               "runnable process {} has a timer", proc.pid)
    _check_chains(processes, facts)
    for name, proc in registry.items():
        _check(id(proc) in in_table and proc.name == name, "the name {} is registered to a process "
                                                           "that does not carry it", name)
    system = reader.value(roots.get("system"))
    _check(type(system) is Instance and system.cls is universe.System, "corrupt image roots: the system object")
    marker = reader.value(roots.get("timeout_marker"))
    _check(type(marker) is Instance, "corrupt image roots: the timeout marker")
    main = reader.optional(roots.get("main"))
    _check(main is None or type(main) is Process, "corrupt image roots: the main process")
    counters = roots.get("counters")
    _check(type(counters) is dict, "corrupt image roots: counters")
    ihash, pid, ref = counters.get("ihash"), counters.get("pid"), counters.get("ref")
    _check(all(type(n) is int and 0 <= n < 1 << 62 for n in (ihash, pid, ref)), "corrupt image roots: counters")
    _check(all(p.pid < pid for p in reader.by_kind[R_PROCESS]), "the next pid repeats an existing one")
    clock = roots.get("clock_ms")
    _check(type(clock) in (int, float) and math.isfinite(clock) and 0 <= clock < 1e15,
           "corrupt image roots: the clock")
    return ProcessTable(processes, queue, registry, main, system, marker, ihash, pid, ref,
                        float(clock))


def _list(value: Any, what: str) -> list:
    _check(type(value) is list, "corrupt image roots: {}", what)
    return value


def _process(reader: Any, index: Any, where: str) -> Process:
    found = reader.obj(index)
    _check(type(found) is Process, "{} holds {}, not a process", where, type(found).__name__)
    return found


def _check_chains(processes: list[Process], facts: CodeFacts) -> None:
    """Each live process runs a chain of live contexts of its own, each stack exactly as
    deep as its pc needs: the top one's full (runnable) or waiting for the value its parked
    primitive will answer, every other one waiting for the value of its send."""
    owner: dict[int, int] = {}
    for proc in processes:
        ctx = proc.ctx
        _check(isinstance(ctx, Context), "live process {} has no context", proc.pid)
        pending = 0 if proc.state == RUNNABLE else 1
        while ctx is not None:
            if id(ctx) in owner:
                raise ImageError(f"process {proc.pid} shares a context with process {owner[id(ctx)]} "
                                 "(or its chain is a cycle)")
            owner[id(ctx)] = proc.pid
            if ctx.pc < 0:
                raise ImageError(f"process {proc.pid} would continue in a context that has returned")
            code = ctx.method
            operands = len(ctx.stack) - code.num_args - code.num_temps
            expected = facts.heights[id(code)][ctx.pc] - pending
            # Exactly: a value more or less runs the code over the wrong values, or
            # enters native code that counts on the depth.
            if operands != expected:
                raise ImageError(f"process {proc.pid}: the stack of {_describe(code)} holds {operands} values "
                                 f"at pc {ctx.pc}, where its code has {expected}")
            pending = 1
            ctx = ctx.sender
