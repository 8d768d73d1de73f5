"""Python exceptions the VM raises internally, and how they map to Smalltalk.

Primitives raise ``PrimitiveFailed`` (the method's fallback body runs, or an Error is
signalled) or ``SignalException`` (a specific Smalltalk exception is signalled in the
sending context). ``VMFatal`` names a condition the VM cannot run a process on (a bad
opcode): inside a process it becomes that process's InternalError, keeping its text;
outside one it reaches the command line as ``vm: fatal: ...``.

``os_error_text`` is the one wording of an operating-system error a user sees: the path
and the reason, never Python's ``[Errno N]`` form.
"""
from __future__ import annotations

from typing import Any


class PrimitiveFailed(Exception):
    """A primitive declined its arguments; fall back to the method body, if any."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


class SignalException(Exception):
    """Signal ``class_name`` (a kernel exception class) with ``message_text``; ``fields``
    sets further instance variables of the exception by name."""

    def __init__(self, class_name: str, message_text: str, **fields: Any) -> None:
        super().__init__(f"{class_name}: {message_text}")
        self.class_name = class_name
        self.message_text = message_text
        self.fields = fields


class VMFatal(Exception):
    """The VM cannot go on with what it was doing. Reported without a Python traceback."""


def fault_text(where: str, error: BaseException) -> str:
    """The messageText of the InternalError a Python exception becomes (``vm.faults``):
    ``internal error in <where>: <PythonClass>: <text>``; a VMFatal keeps its own text."""
    if isinstance(error, VMFatal):
        return f"{where}: {error}"
    detail = str(error)
    return f"internal error in {where}: {type(error).__name__}" + (f": {detail}" if detail else "")


def method_name(method: Any) -> str:
    """``Class>>selector`` of a method, or of a block's home method."""
    home = getattr(method, "home_method", None)
    holder = getattr(home, "holder", None)
    return f"{getattr(holder, 'name', '?')}>>{getattr(home, 'selector', '?')}"


class LoadError(Exception):
    """A class could not be loaded: missing superclass, name mismatch, bad primitive."""


class SmalltalkSyntaxError(Exception):
    """Source text that does not parse or compile; ``str()`` is
    ``file:line:column: message``. Defined here so that the VM can recognise it without
    importing the compiler."""

    def __init__(self, message: str, filename: str = "<input>", line: int = 0, column: int = 0) -> None:
        self.message = message
        self.filename = filename
        self.line = line
        self.column = column
        super().__init__(self.located())

    def located(self) -> str:
        return f"{self.filename}:{self.line}:{self.column}: {self.message}"


def os_error_text(error: OSError, path: str | None = None) -> str:
    """``path: reason`` for an OSError (``/tmp/x.som: Permission denied``); the path is
    ``path`` if given, else the one the error names, else left out."""
    reason = error.strerror or str(error) or type(error).__name__
    where = path if path is not None else error.filename
    return f"{where}: {reason}" if where is not None else reason


def file_failure_text(error: BaseException, path: str) -> str:
    """``path: reason`` for anything that made an operation on the file ``path`` fail:
    the OS's reason for an OSError (not the name of a temporary file it may mention)."""
    if isinstance(error, OSError):
        return os_error_text(error, path)
    return f"{path}: {error}"
