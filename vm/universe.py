"""The universe: symbol table, globals, the class hierarchy and its bootstrap, method
installation with cache invalidation, class loading along the classpath, and the
factories primitives use to make values.

It does not execute code (that is ``vm.interpreter``) and does not compile source: the
composition root hands it ``class_loader``, a callable that compiles a class file's bytes
into this universe (see ``compiler``).
"""
from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Callable, Iterable
from typing import Any

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.codeversions import CodeVersions
from smalltalk_vm.vm.distribution import Standalone
from smalltalk_vm.vm.errors import LoadError, PrimitiveFailed, SignalException, os_error_text
from smalltalk_vm.vm.ghosts import RemovedFields
from smalltalk_vm.vm.limits import check_integer_bits
from smalltalk_vm.vm.objects import (
    KIND_BYTECODE,
    KIND_CONTROL,
    KIND_PRIMITIVE,
    CompiledMethod,
    Instance,
    LargeInt,
    VArray,
    VBytes,
    VClass,
    VString,
    context_classes,
)
from smalltalk_vm.vm.primitives.registry import lookup_primitive, method_flags
from smalltalk_vm.vm.quicken import quicken, register_library
from smalltalk_vm.vm.text import code_point_problem, escape_surrogates

ClassLoader = Callable[["Universe", bytes, str], VClass]

_MISSING = object()
_NO_VALUE = object()

# The kernel: loaded from lib/ before any program starts, in this order, never shadowed
# by the user's classpath. (name, superclass, layout)
KERNEL: tuple[tuple[str, str | None, str], ...] = (
    ("Object", None, "object"),
    ("Class", "Object", "class"),
    ("Metaclass", "Class", "class"),
    ("Nil", "Object", "immediate"),
    ("Boolean", "Object", "immediate"),
    ("True", "Boolean", "immediate"),
    ("False", "Boolean", "immediate"),
    ("Integer", "Object", "immediate"),
    ("Double", "Object", "immediate"),
    ("Character", "Object", "immediate"),
    ("String", "Object", "string"),
    ("Symbol", "String", "immediate"),
    ("Array", "Object", "array"),
    ("ByteArray", "Object", "bytes"),
    ("Block", "Object", "closure"),
    ("Block1", "Block", "closure"),
    ("Block2", "Block", "closure"),
    ("Block3", "Block", "closure"),
    ("Block4", "Block", "closure"),
    ("Method", "Object", "method"),
    ("Primitive", "Method", "method"),
    ("Context", "Object", "context"),
    ("System", "Object", "object"),
    ("Process", "Object", "process"),
)

# Further classes the VM itself instantiates; loaded from lib/ after the kernel.
VM_CLASSES: tuple[str, ...] = (
    "Exception", "Error", "ArithmeticError", "ZeroDivide", "MessageNotUnderstood",
    "SubscriptOutOfBounds", "BlockCannotReturn", "NonBooleanReceiver", "Message",
    "Down", "Exit", "Reference", "InternalError", "Node", "NodeUp", "NodeDown",
    "RemoteProxy", "RemoteError", "ByReference", "Remote",
)

# Library classes the machinery of exceptions, promises and the wire names; loaded
# with the VM classes so that they can be protected like them.
MACHINERY_CLASSES: tuple[str, ...] = (
    "ExceptionSet", "IllegalResumeAttempt", "Promise", "BrokenPromise", "Wire", "WireError",
    "Code",
)

# Globals the VM and the machinery of its library rely on. Once the kernel is sealed
# (after bootstrap or an image load) they cannot be redefined, rebound or removed —
# methods can still be added or changed with `Name >> selector = ( ... )` — and the VM
# finds its classes through its own references, never through the globals.
PROTECTED: frozenset[str] = frozenset(
    [name for name, _, _ in KERNEL] + list(VM_CLASSES) + list(MACHINERY_CLASSES)
    + ["system", "nil", "true", "false"])


class Universe:
    """The classes, symbols and globals of one VM. VM thread only (other threads hand
    work to the scheduler's inbox); nothing here blocks but reading a class file from
    the classpath. Defining or loading classes raises LoadError (and the compiler's
    SmalltalkSyntaxError); the value factories primitives use raise PrimitiveFailed
    or SignalException, which the fault boundary turns into Smalltalk errors."""

    def __init__(self, lib_dir: str, classpath: Iterable[str] = (),
                 class_loader: ClassLoader | None = None) -> None:
        self.lib_dir = lib_dir
        register_library(lib_dir)           # its forwarding methods may be re-sends (vm.quicken)
        self.classpath = [p for p in classpath if p]
        self.class_loader = class_loader
        self.symbols: list[str] = []
        self.symbol_ids: dict[str, int] = {}
        self.globals: dict[str, Any] = {}
        # replaced whenever any class's lookup token is: one identity check tells a
        # primitive that no lookup it relied on can have changed
        self.lookup_epoch = object()
        # (epoch, class -> instance field count) for new_instance; a class's fields
        # change only by a definition or an image, each of which replaces the epoch
        self._instance_sizes: tuple[Any, dict] = (None, {})
        self.ihash_counter = 0
        self.output: Callable[[str], Any] = _stdout_write
        self.error_output: Callable[[str], Any] = _stderr_write
        self.loading: set[str] = set()
        self.exit_status: int | None = None    # set by `system exit:`
        self.started = time.monotonic()
        self.signals: Any = None               # vm.signals.Signals, set by the machine
        self.debugger: Any = None              # vm.debugger.Debugger, set by the machine
        self.timeout_marker: Any = None        # what a timed-out receive answers internally
        # Given by the composition root: `system saveImage:` and `system evaluate:`.
        self.image_saver: Callable[[str], Any] | None = None
        self.doit_compiler: Callable[[str], Any] | None = None
        # Given by the composition root too: hot loading's check and install
        # (compiler.hotcheck), both taking (text, filename).
        self.definition_checker: Callable[[str, str], str | None] | None = None
        self.definition_installer: Callable[[str, str], VClass] | None = None
        self.wire_codec: Any = None            # node.wire, for the Wire class
        # The node layer when this VM is a node (vm.distribution.Distribution).
        self.distribution: Any = Standalone(self)
        self.class_versions: dict[str, tuple] = {}   # vm.versions' cache
        self.code_versions = CodeVersions(self)       # hot code: old versions, purge
        self.scheduler: Any = None          # set by the machine that owns this universe
        self.interpreter: Any = None
        self.system_object: Any = None
        self.class_of: Callable[[Any], VClass] = _unbootstrapped
        # Kernel classes, filled by bootstrap().
        self.Object = self.Class = self.Metaclass = self.Nil = None
        self.Boolean = self.TrueClass = self.FalseClass = None
        self.Integer = self.Double = self.Character = self.String = self.Symbol = None
        self.Array = self.ByteArray = self.Block = self.Method = self.Primitive = None
        self.Context = self.System = self.Process = None
        self.block_classes: tuple[VClass, ...] = ()
        self.sealed = False                    # kernel globals may no longer change
        self.own_classes: dict[str, VClass] = {}   # the VM's references to PROTECTED classes
        # Field operands of obsolete code that stand for removed variables (vm.obsolete, vm.ghosts).
        self.removed_fields = RemovedFields()
        self.method_context_class: Any = None     # per-VM Context subclasses (vm.objects)
        self.block_context_class: Any = None

    # ------------------------------------------------------------- bootstrap

    def bootstrap(self) -> None:
        """Build the kernel's class objects, then load their definitions from lib/."""
        skeleton: dict[str, VClass] = {}
        for name, super_name, layout in KERNEL:
            superclass = skeleton[super_name] if super_name else None
            skeleton[name] = self._new_class_pair(name, superclass, layout)
        metaclass = skeleton["Metaclass"]
        for cls in skeleton.values():
            cls.cls.cls = metaclass
        # The root's metaclass inherits from Class: `Object class superclass == Class`.
        object_meta = skeleton["Object"].cls
        object_meta.superclass = skeleton["Class"]
        skeleton["Class"].subclasses.append(object_meta)
        for name, cls in skeleton.items():
            self.globals[name] = cls
        self.adopt_kernel()
        for name, _, _ in KERNEL:
            self.load_kernel_class(name)
        self.system_object = Instance(self.System, [V.NIL] * self.field_count(self.System))
        self.globals["system"] = self.system_object
        self.globals["nil"] = V.NIL
        self.globals["true"] = V.TRUE
        self.globals["false"] = V.FALSE
        self.timeout_marker = Instance(self.Object, [])
        for name in (*VM_CLASSES, *MACHINERY_CLASSES):
            self.load_kernel_class(name)

    def adopt_kernel(self) -> None:
        """Point the universe's kernel-class attributes (and class_of) at the classes
        the globals hold — after bootstrap, or after an image is loaded."""
        self.lookup_epoch = object()        # every class may be new
        g = self.globals
        self.Object, self.Class, self.Metaclass = g["Object"], g["Class"], g["Metaclass"]
        self.Nil, self.Boolean = g["Nil"], g["Boolean"]
        self.TrueClass, self.FalseClass = g["True"], g["False"]
        self.Integer, self.Double = g["Integer"], g["Double"]
        self.Character, self.String, self.Symbol = g["Character"], g["String"], g["Symbol"]
        self.Array, self.ByteArray = g["Array"], g["ByteArray"]
        self.Block, self.Method, self.Primitive = g["Block"], g["Method"], g["Primitive"]
        self.Context, self.System, self.Process = g["Context"], g["System"], g["Process"]
        self.block_classes = (g["Block1"], g["Block2"], g["Block3"], g["Block4"])
        self.class_of = V.make_class_of(self.Integer, self.Double, self.Nil, self.TrueClass,
                                        self.FalseClass, self.Character, self.Symbol)
        self.method_context_class, self.block_context_class = context_classes(self.Context)

    def _new_class_pair(self, name: str, superclass: VClass | None, layout: str) -> VClass:
        meta_super = superclass.cls if superclass is not None else self.Class
        meta = VClass(self.Metaclass, f"{name} class", meta_super, "class", True)
        cls = VClass(meta, name, superclass, layout, False)
        if superclass is not None:
            superclass.subclasses.append(cls)
        if meta_super is not None:
            meta_super.subclasses.append(meta)
        return cls

    def load_kernel_class(self, name: str) -> VClass:
        path = os.path.join(self.lib_dir, name + ".som")
        if not os.path.exists(path):
            raise LoadError(f"kernel class {name} missing: {path}")
        return self.load_class_file(path, expected_name=name)

    # ------------------------------------------------------------- symbols

    def symbol(self, name: str) -> int:
        """The Symbol (an immediate word) with this name, interned."""
        index = self.symbol_ids.get(name)
        if index is None:
            index = len(self.symbols)
            self.symbols.append(name)
            self.symbol_ids[name] = index
        return V.SYM_BASE + index

    def symbol_name(self, word: int) -> str:
        return self.symbols[word - V.SYM_BASE]

    # ------------------------------------------------------------- values

    def new_string(self, text: str) -> VString:
        return VString(self.String, text)

    def new_array(self, items: list) -> VArray:
        return VArray(self.Array, items)

    def new_bytes(self, data: bytes | bytearray) -> VBytes:
        return VBytes(self.ByteArray, bytearray(data))

    def make_int(self, n: int) -> Any:
        """An Integer value: a SmallInteger word when it fits, else a LargeInt."""
        if V.SMALL_MIN <= n <= V.SMALL_MAX:
            return n + V.ZERO
        check_integer_bits(n.bit_length(), "Integer")
        return LargeInt(self.Integer, n)

    def char(self, code_point: int) -> int:
        """The Character of a code point; an Error for anything that is not a Unicode
        scalar value (a lone surrogate included: see vm.text)."""
        problem = code_point_problem(code_point)
        if problem is not None:
            raise SignalException("Error", problem)
        return V.char_word(code_point)

    def bool(self, flag: bool) -> int:
        return V.TRUE if flag else V.FALSE

    def clock_ms(self) -> float:
        """Milliseconds since this VM started (what `system time` answers)."""
        return (time.monotonic() - self.started) * 1000.0

    def next_ihash(self) -> int:
        self.ihash_counter += 1
        # Keep it a SmallInteger and spread it a little, as users print hashes.
        return (self.ihash_counter * 2654435761) & 0x3FFFFFFF or 1

    def str_of(self, value: Any) -> str:
        """The characters of a String or Symbol; PrimitiveFailed otherwise."""
        if type(value) is VString:
            return value.chars
        if V.is_symbol(value):
            return self.symbols[value - V.SYM_BASE]
        raise PrimitiveFailed("expected a String or Symbol")

    def int_of(self, value: Any) -> int:
        """The Python int of an Integer; PrimitiveFailed otherwise."""
        if type(value) is int and V.INT_LO <= value < V.INT_HI:
            return value - V.ZERO
        if type(value) is LargeInt:
            return value.n
        raise PrimitiveFailed("expected an Integer")

    # ------------------------------------------------------------- globals

    def global_value(self, name: str) -> Any:
        """The global's value, loading a class file if needed; None when absent. A class
        name is any identifier (SOM): `other` loads `other.som`."""
        found = self.globals.get(name, _MISSING)
        if found is not _MISSING:
            return found
        return self.load_class(name)

    def new_instance(self, cls: VClass) -> Any:
        layout = cls.layout
        if layout == "object":
            epoch, sizes = self._instance_sizes
            if epoch is not self.lookup_epoch:
                sizes = {}
                self._instance_sizes = (self.lookup_epoch, sizes)
            size = sizes.get(cls)
            if size is None:
                size = sizes[cls] = self.field_count(cls)
            return Instance(cls, [V.NIL] * size)
        if layout == "array":
            return VArray(cls, [])
        if layout == "string":
            return VString(cls, "")
        if layout == "bytes":
            return VBytes(cls, bytearray())
        raise PrimitiveFailed(f"{cls.name} cannot be instantiated with new")

    def field_count(self, cls: VClass) -> int:
        count = 0
        while cls is not None:
            count += len(cls.instance_fields)
            cls = cls.superclass
        return count

    def all_field_names(self, cls: VClass) -> list[str]:
        chain = []
        while cls is not None:
            chain.append(cls)
            cls = cls.superclass
        names: list[str] = []
        for c in reversed(chain):
            names.extend(c.instance_fields)
        return names

    def field_index(self, cls: VClass, name: str) -> int:
        return self.all_field_names(cls).index(name)

    def kernel_class(self, name: str) -> VClass:
        """A class the VM itself uses, by its own reference once the kernel is sealed
        (a program cannot take it away by rebinding the global)."""
        cls = self.own_classes.get(name)
        if cls is not None:
            return cls
        cls = self.globals.get(name)
        if not isinstance(cls, VClass):
            cls = self.load_kernel_class(name)
        return cls

    def seal_kernel(self) -> None:
        """From now on the PROTECTED globals stay what they are (see ``check_rebind``)."""
        for name in PROTECTED:
            value = self.globals.get(name)
            if isinstance(value, VClass):
                self.own_classes[name] = value
        self.sealed = True

    def rebind_problem(self, name: str, value: Any = _NO_VALUE) -> str | None:
        """Why the global ``name`` may not be set to ``value`` (or removed, when no
        value is given), or None when it may."""
        if not self.sealed or name not in PROTECTED:
            return None
        current = self.globals.get(name, _MISSING)
        if value is not _NO_VALUE and (value is current or (type(value) is int and value == current)):
            return None
        return f"{name} is a kernel global the VM relies on: it cannot be rebound or removed"

    def make_exception(self, class_name: str, message_text: str, **fields: Any) -> Instance:
        cls = self.kernel_class(class_name)
        exc = self.new_instance(cls)
        names = self.all_field_names(cls)
        # The text may quote a Python error: keep it a valid String (vm.text).
        exc.fields[names.index("messageText")] = self.new_string(escape_surrogates(message_text))
        for key, val in fields.items():
            exc.fields[names.index(key)] = val
        return exc

    # ------------------------------------------------------------- classes

    def define_class(self, name: str, superclass: VClass | None, instance_fields: list[str],
                     class_fields: list[str]) -> VClass:
        """Create the class ``name`` or redefine it in place (keeping its identity, so
        existing references see the new definition). Its old methods are dropped; the
        caller installs the new ones. A class inherits its superclass's layout."""
        existing = self.globals.get(name)
        if self.sealed and name in PROTECTED:
            raise LoadError(f"{name} is a kernel class the VM relies on: it cannot be redefined "
                            f"(add or change its methods with `{name} >> selector = ( ... )`)")
        if isinstance(existing, VClass) and not existing.is_meta:
            cls = existing
            ancestor = superclass
            while ancestor is not None:
                if ancestor is cls:
                    raise LoadError(f"{name} cannot inherit from itself (through {superclass.name})")
                ancestor = ancestor.superclass
            if cls.superclass is not superclass:
                self._reparent(cls, superclass)
                cls.layout = superclass.layout if superclass is not None else "object"
            cls.methods.clear()
            cls.cls.methods.clear()
        else:
            layout = superclass.layout if superclass is not None else "object"
            cls = self._new_class_pair(name, superclass, layout)
            self.globals[name] = cls
        if instance_fields and cls.layout != "object":
            raise LoadError(f"{name}: instances of a subclass of {superclass.name} cannot have instance variables")
        cls.instance_fields = list(instance_fields)
        cls.cls.instance_fields = list(class_fields)
        size = self.field_count(cls.cls)
        cls.fields = (cls.fields + [V.NIL] * size)[:size]
        self.invalidate(cls)
        self.invalidate(cls.cls)
        return cls

    def _reparent(self, cls: VClass, superclass: VClass | None) -> None:
        old = cls.superclass
        if old is not None and cls in old.subclasses:
            old.subclasses.remove(cls)
        old_meta = cls.cls.superclass
        if old_meta is not None and cls.cls in old_meta.subclasses:
            old_meta.subclasses.remove(cls.cls)
        cls.superclass = superclass
        cls.cls.superclass = superclass.cls if superclass is not None else self.Class
        if superclass is not None:
            superclass.subclasses.append(cls)
        cls.cls.superclass.subclasses.append(cls.cls)

    def install_method(self, cls: VClass, method: CompiledMethod) -> None:
        """Install (or replace) one method, binding its primitive, and invalidate exactly
        the caches that could have looked it up."""
        method.holder = cls
        method.flags = method_flags(cls.name, method.selector)
        if method.kind != KIND_BYTECODE:
            found = lookup_primitive(cls.name, method.selector)
            if found is None:
                if method.kind == KIND_PRIMITIVE and method.code:
                    # `= primitive ( fallback )` with no primitive here: the body is the method.
                    method.kind = KIND_BYTECODE
                else:
                    raise LoadError(f"no primitive {cls.name}>>{method.selector}")
            else:
                method.primitive, control = found
                method.kind = KIND_CONTROL if control else KIND_PRIMITIVE
                if not method.code:
                    method.cls = self.Primitive
        quicken(method)
        cls.methods[method.selector] = method
        self.invalidate(cls)

    def invalidate(self, cls: VClass) -> None:
        """New lookup tokens for ``cls`` and every class that inherits from it."""
        self.lookup_epoch = object()
        pending = [cls]
        while pending:
            c = pending.pop()
            c.token = object()
            c.lookup_cache.clear()
            pending.extend(c.subclasses)

    def lookup(self, cls: VClass, selector: str) -> CompiledMethod | None:
        cache = cls.lookup_cache
        found = cache.get(selector, _MISSING)
        if found is not _MISSING:
            return found
        c = cls
        while c is not None:
            method = c.methods.get(selector)
            if method is not None:
                break
            c = c.superclass
        else:
            method = None
        cache[selector] = method
        return method

    # ------------------------------------------------------------- loading

    def find_class_file(self, name: str) -> str | None:
        if not name.isidentifier() or not name.isascii():
            return None                      # never a path: `A/../B` names no class
        for directory in [*self.classpath, self.lib_dir]:
            path = os.path.join(directory, name + ".som")
            if os.path.isfile(path):
                return path
        return None

    def load_class(self, name: str) -> VClass | None:
        """Load ``name`` from the first ``name.som`` along the classpath (then lib/);
        None when there is no such file."""
        existing = self.globals.get(name)
        if isinstance(existing, VClass):
            return existing
        path = self.find_class_file(name)
        if path is None:
            return None
        return self.load_class_file(path, expected_name=name)

    def load_class_file(self, path: str, expected_name: str | None = None) -> VClass:
        if self.class_loader is None:
            raise LoadError("this VM has no compiler to load classes with")
        key = os.path.abspath(path)
        if key in self.loading:
            raise LoadError(f"circular class definition while loading {path}")
        self.loading.add(key)
        try:
            cls = self.class_loader(self, read_source(path), path)   # it checks the text is UTF-8
        finally:
            self.loading.discard(key)
        if expected_name is not None and cls.name != expected_name:
            raise LoadError(f"{path}: file defines class {cls.name}, expected {expected_name}")
        return cls

    def resolve_superclass(self, name: str | None) -> VClass | None:
        """The superclass named in a class definition: None means Object; 'nil' means
        none (a root class)."""
        if name is None:
            return self.Object
        if name == "nil":
            return None
        found = self.globals.get(name)
        if isinstance(found, VClass):
            return found
        cls = self.load_class(name)
        if cls is None:
            raise LoadError(f"superclass {name} not found")
        return cls

    # ------------------------------------------------------------- errors

    def signal(self, class_name: str, text: str, **fields: Any) -> SignalException:
        """Build the Python exception a primitive raises to signal a Smalltalk one."""
        return SignalException(class_name, text, **fields)




def read_source(path: str) -> bytes:
    """The bytes of a source file; LoadError naming the path and the reason when it
    cannot be read or is not a regular file (a FIFO would block the VM, a device
    would never end)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(descriptor, "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if stat.S_ISDIR(mode):
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
            if not stat.S_ISREG(mode):
                raise LoadError(f"{path}: not a regular file")
            return handle.read()
    except OSError as error:
        raise LoadError(os_error_text(error, path)) from None


def _stdout_write(text: str) -> None:
    import sys
    sys.stdout.write(escape_surrogates(text))


def _stderr_write(text: str) -> None:
    import sys
    sys.stdout.flush()
    sys.stderr.write(escape_surrogates(text))


def _unbootstrapped(value: Any) -> VClass:
    raise RuntimeError("universe not bootstrapped")
