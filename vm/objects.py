"""Heap object shapes of the VM.

Every heap object carries its class in ``cls``. Immediates (SmallInteger, nil, booleans,
Character, Symbol) and Doubles are not heap objects (see ``vm.value``). Objects that can
be keys of identity-hashed collections carry ``ihash``, assigned lazily from the
universe's counter so that it survives images (``id()`` would not).

This module defines data only: no behaviour beyond trivial accessors, no imports of the
interpreter, the compiler or anything above the VM.
"""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from typing import Any


class Instance:
    """An ordinary object: a fixed number of named fields. ``ghosts``, unset until a
    redefinition removes one of its variables, holds the values of the removed ones
    for obsolete code (``vm.ghosts``)."""
    __slots__ = ("cls", "fields", "ghosts", "ihash")

    def __init__(self, cls: Any, fields: list) -> None:
        self.cls = cls
        self.fields = fields
        self.ihash = 0


class VArray:
    """An Array (or an instance of a subclass of Array): indexable slots."""
    __slots__ = ("cls", "ihash", "items")

    def __init__(self, cls: Any, items: list) -> None:
        self.cls = cls
        self.items = items
        self.ihash = 0


class VString:
    """An immutable String. ``h`` caches the content hash (0 = not computed yet)."""
    __slots__ = ("chars", "cls", "h")

    def __init__(self, cls: Any, chars: str) -> None:
        self.cls = cls
        self.chars = chars
        self.h = 0


class VBytes:
    """A ByteArray: mutable bytes."""
    __slots__ = ("cls", "data", "ihash")

    def __init__(self, cls: Any, data: bytearray) -> None:
        self.cls = cls
        self.data = data
        self.ihash = 0


class LargeInt:
    """An Integer outside the SmallInteger range. Always normalised: a value that fits
    a SmallInteger is never a LargeInt."""
    __slots__ = ("cls", "n")

    def __init__(self, cls: Any, n: int) -> None:
        self.cls = cls
        self.n = n


class VClass:
    """A class or a metaclass.

    ``fields`` holds the values of the class-side variables (the instance variables of
    the class object, named by its metaclass's ``instance_fields``); ``ghosts``, unset
    until a redefinition removes one of them, the values of removed ones (``vm.ghosts``).
    ``token`` is replaced whenever a lookup through this class could answer
    differently, which is what send-site caches compare against.
    """
    __slots__ = (
        "cls",
        "fields",
        "ghosts",
        "ihash",
        "instance_fields",
        "is_meta",
        "layout",
        "lookup_cache",
        "methods",
        "name",
        "source",
        "source_file",
        "subclasses",
        "superclass",
        "token",
    )

    def __init__(self, cls: Any, name: str, superclass: Any, layout: str, is_meta: bool) -> None:
        self.cls = cls
        self.name = name
        self.superclass = superclass
        self.methods: dict[str, Any] = {}
        self.instance_fields: list[str] = []
        self.fields: list = []
        self.token = object()
        self.subclasses: list[VClass] = []
        self.layout = layout
        self.is_meta = is_meta
        self.source = None
        self.source_file = None
        self.ihash = 0
        self.lookup_cache: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"<VClass {self.name}>"


class SendSite:
    """One send in compiled code: its selector, argument count, and inline cache
    (the receiver class's ``token`` when filled, the method found, and what native
    code calls without testing the method's kind: ``fn``, its direct function when it
    is a compiled bytecode method, and ``prim``, its function when it is a plain
    primitive; None otherwise; and ``kind``, the method's kind, for the kinds done
    inline). ``fill`` sets them all together, and keeps the entry it replaces as a
    second one (``token2``, ``target2``): a site that meets two classes in turn (an
    object or nil) finds both without a lookup."""
    __slots__ = ("argc", "fn", "kind", "prim", "selector", "target", "target2", "token", "token2")

    def __init__(self, selector: str, argc: int) -> None:
        self.selector = selector
        self.argc = argc
        self.token = None
        self.target = None
        self.fn = None
        self.prim = None
        self.kind = None
        self.token2 = None
        self.target2 = None

    def fill(self, token: Any, method: Any) -> None:
        """Cache ``method``, found for the class whose lookup token is ``token``."""
        self.token2 = self.token
        self.target2 = self.target
        self.token = token
        self.target = method
        self.kind = kind = method.kind
        self.fn = method.direct if kind == KIND_NATIVE else None
        self.prim = method.primitive if kind == KIND_PRIMITIVE else None


# Flags a method can carry, recognised by the exception and unwinding machinery.
FLAG_HANDLER = 1      # BlockClosure>>on:do: — a handler frame
FLAG_ENSURE = 2       # ensure: — run the argument block when unwound
FLAG_CURTAILED = 4    # ifCurtailed: — run the argument block only when unwound
FLAG_SEARCH = 8       # Exception>>searchFrom: — a handler search (its candidate, its handler)
FLAG_UNWINDER = 16    # Context class>>unwindFrom:to: — running the unwind blocks

# The source file of the VM's own launcher methods (vm.scheduler); traces omit them.
LAUNCHER_FILE = "<launch>"

KIND_BYTECODE = 0
KIND_PRIMITIVE = 1    # a Python function (vm, receiver, *args) -> value
KIND_CONTROL = 2      # a Python function (interpreter, context, argc) -> context
# Kinds the quickener gives methods the interpreter can run without a context.
KIND_GETTER = 3       # ^ field            (trivial = field index)
KIND_SETTER = 4       # field := arg       (trivial = field index; answers self)
KIND_CONSTANT = 5     # ^ literal / ^ self (trivial = the value, or None for self)
KIND_BLOCK_VALUE = 6  # Block>>value and friends: a new block activation
KIND_ARRAY_AT = 7     # Array>>at: (the primitive, inlined for in-range SmallInteger indices)
KIND_ARRAY_AT_PUT = 8 # Array>>at:put:
KIND_NATIVE = 9       # a bytecode method the second tier has compiled (vm.native)
KIND_IDENTICAL = 10   # Object>>== (the primitive, inlined)
KIND_FORWARD = 11     # ^ self|arg selector: self|arg ... (trivial = (selector, receiver, arguments)
                      # as positions: 0 the receiver, i the i-th argument): a re-send, no context
KIND_PRIMITIVE_INTERPRETED = 12  # a primitive that may redefine classes (load:): native code
                                 # leaves it to the interpreter, which continues with the new code


def is_primitive(method: Any, function: Any) -> bool:
    """Whether ``method`` (a lookup's answer, or None) is the plain primitive ``function``."""
    return method is not None and method.kind == KIND_PRIMITIVE and method.primitive is function


class CodeUnit:
    """What methods and blocks share: code, literals, send sites, line table."""
    __slots__ = ()

    def line_at(self, pc: int) -> int:
        starts = self.line_starts
        if not starts:
            return self.first_line
        i = bisect_right(starts, pc) - 1
        return self.line_numbers[i] if i >= 0 else self.first_line


class CompiledMethod(CodeUnit):
    __slots__ = (
        "cls",
        "code",
        "direct",
        "fast",
        "first_line",
        "flags",
        "fused",
        "heat",
        "holder",
        "ihash",
        "kind",
        "line_numbers",
        "line_starts",
        "literals",
        "native",
        "native_entries",
        "num_args",
        "num_temps",
        "primitive",
        "selector",
        "sites",
        "source",
        "source_file",
        "temp_names",
        "trivial",
    )

    def __init__(self, cls: Any, selector: str, num_args: int, num_temps: int,
                 code: list[int], literals: list, sites: list[SendSite]) -> None:
        self.cls = cls
        self.selector = selector
        self.holder = None
        self.num_args = num_args
        self.num_temps = num_temps          # temporaries beyond the arguments
        self.code = code
        self.literals = literals
        self.sites = sites
        self.line_starts: list[int] = []
        self.line_numbers: list[int] = []
        self.first_line = 0
        self.source = ""
        self.source_file = ""
        self.kind = KIND_BYTECODE
        self.primitive: Callable | None = None
        self.flags = 0
        self.temp_names: list[str] = []    # names of all slots, arguments first
        self.ihash = 0
        self.fast = code                   # the code the interpreter runs (see vm.quicken)
        self.fused: tuple = ()
        self.trivial: Any = None           # field index or value of a trivial method
        self.native: Callable | None = None  # the second tier's functions (see vm.native):
        self.direct: Callable | None = None  # resumable from a context, and called directly
        self.native_entries: frozenset = frozenset()
        self.heat = 0

    @property
    def home_method(self) -> CompiledMethod:
        return self

    def __repr__(self) -> str:
        holder = self.holder.name if self.holder is not None else "?"
        return f"<CompiledMethod {holder}>>{self.selector}>"


class CompiledBlock(CodeUnit):
    """The code of a block literal; ``method`` is the method it appears in."""
    __slots__ = (
        "code",
        "direct",
        "fast",
        "first_line",
        "flags",
        "fused",
        "heat",
        "line_numbers",
        "line_starts",
        "literals",
        "method",
        "native",
        "native_entries",
        "num_args",
        "num_temps",
        "sites",
        "temp_names",
    )

    def __init__(self, num_args: int, num_temps: int, code: list[int], literals: list,
                 sites: list[SendSite]) -> None:
        self.num_args = num_args
        self.num_temps = num_temps
        self.code = code
        self.literals = literals
        self.sites = sites
        self.line_starts: list[int] = []
        self.line_numbers: list[int] = []
        self.first_line = 0
        self.method: CompiledMethod | None = None
        self.temp_names: list[str] = []
        self.flags = 0                      # blocks are never unwind markers
        self.fast = code
        self.fused: tuple = ()
        self.native: Callable | None = None
        self.direct: Callable | None = None
        self.native_entries: frozenset = frozenset()
        self.heat = 0

    @property
    def home_method(self) -> CompiledMethod:
        return self.method

    @property
    def selector(self) -> str:
        return self.method.selector if self.method is not None else "?"


class Closure:
    """A block object: block code closed over its defining context."""
    __slots__ = ("cls", "code", "ihash", "outer", "receiver")

    def __init__(self, cls: Any, code: CompiledBlock, outer: Context, receiver: Any) -> None:
        self.cls = cls
        self.code = code
        self.outer = outer
        self.receiver = receiver
        self.ihash = 0


class Context:
    """An activation record — a VM object, so the Python stack never grows with
    Smalltalk call depth.

    ``stack`` holds the arguments and temporaries (slots 0..n-1) followed by the operand
    stack. ``pc`` is only current while the context is not running; -1 marks a context
    that has returned (a block whose home is dead has escaped). A send creates one of
    these for every activation, so the two concrete kinds keep per-activation stores to
    a minimum: a method activation has no ``outer``/``closure`` and is its own
    ``home``; each VM makes subclasses of both whose class attribute ``cls`` is its
    Context class (see ``context_classes``).
    """
    __slots__ = ("method", "pc", "receiver", "sender", "stack")

    @property
    def is_dead(self) -> bool:
        return self.pc < 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.method!r} pc={getattr(self, 'pc', '?')}>"


class MethodContext(Context):
    __slots__ = ()
    outer = None
    closure = None

    @property
    def home(self) -> MethodContext:
        return self


class BlockContext(Context):
    """``outer`` is the defining context, ``home`` the method activation a non-local
    return leaves, ``closure`` the block being run."""
    __slots__ = ("closure", "home", "outer")


def context_classes(context_class: Any) -> tuple[type, type]:
    """Subclasses of MethodContext and BlockContext for one VM, answering
    ``context_class`` (that VM's Context class) as their ``cls``."""
    method_kind = type("MethodContext", (MethodContext,), {"__slots__": (), "cls": context_class})
    block_kind = type("BlockContext", (BlockContext,), {"__slots__": (), "cls": context_class})
    return method_kind, block_kind


def new_method_context(kind: type, method: Any, stack: list, receiver: Any, sender: Any) -> MethodContext:
    ctx = kind.__new__(kind)
    ctx.method = method
    ctx.pc = 0
    ctx.stack = stack
    ctx.receiver = receiver
    ctx.sender = sender
    return ctx


def new_block_context(kind: type, closure: Closure, stack: list, sender: Any) -> BlockContext:
    ctx = kind.__new__(kind)
    ctx.method = closure.code
    ctx.pc = 0
    ctx.stack = stack
    ctx.receiver = closure.receiver
    ctx.sender = sender
    outer = closure.outer
    ctx.outer = outer
    ctx.closure = closure
    ctx.home = outer.home if outer is not None else None
    return ctx


def inherits(cls: Any, ancestor: Any) -> bool:
    """``cls`` is ``ancestor`` or one of its subclasses (Pharo's includesBehavior:)."""
    while cls is not None:
        if cls is ancestor:
            return True
        cls = cls.superclass
    return False
