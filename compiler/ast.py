"""The abstract syntax tree the parser builds and the code generator consumes.

Plain data: every node records the source line it starts on (for line tables and error
positions). Literal values are neutral Python data (see ``Literal``); turning them into
VM values is the code generator's job.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Literal:
    """kind: 'int' (Python int), 'float', 'string', 'symbol', 'char' (code point),
    'array' (list of Literal), 'nil', 'true', 'false'."""
    kind: str
    value: Any
    line: int = 0


@dataclass
class Variable:
    name: str
    line: int = 0
    column: int = 0


@dataclass
class Assign:
    name: str
    value: Expr
    line: int = 0
    column: int = 0


@dataclass
class Send:
    receiver: Expr
    selector: str
    args: list[Expr]
    line: int = 0


@dataclass
class Message:
    """One message of a cascade part (the receiver is implicit)."""
    selector: str
    args: list[Expr]
    line: int = 0


@dataclass
class Cascade:
    """``receiver m1; m2; m3``: every part is a chain of messages whose first one goes
    to ``receiver``."""
    receiver: Expr
    parts: list[list[Message]]
    line: int = 0


@dataclass
class EventualSend:
    receiver: Expr
    selector: str
    args: list[Expr]
    line: int = 0


@dataclass
class BraceArray:
    items: list[Expr]
    line: int = 0


@dataclass
class Return:
    value: Expr
    line: int = 0


@dataclass
class Body:
    temps: list[str]
    statements: list[Stmt]
    line: int = 0


@dataclass
class Block:
    params: list[str]
    body: Body
    line: int = 0


Expr = Literal | Variable | Assign | Send | Cascade | EventualSend | BraceArray | Block
Stmt = Expr | Return


@dataclass
class MethodDef:
    selector: str
    params: list[str]
    body: Body | None            # None for a bare `primitive`
    primitive: bool
    line: int = 0
    source: str = ""


@dataclass
class ClassDef:
    name: str
    superclass: str | None       # None: Object; "nil": a root class
    instance_fields: list[str] = field(default_factory=list)
    instance_methods: list[MethodDef] = field(default_factory=list)
    class_fields: list[str] = field(default_factory=list)
    class_methods: list[MethodDef] = field(default_factory=list)
    line: int = 0


@dataclass
class MethodDoIt:
    """``Counter >> increment = ( ... )`` or ``Counter class >> ...``."""
    class_name: str
    class_side: bool
    method: MethodDef
    line: int = 0


@dataclass
class DoIt:
    body: Body
