"""Small methods the REPL runs in the VM to read objects the way the objects themselves
answer: printing many values at once, each failure caught in its place, and the logical
contents of a collection (what its own ``keysAndValuesDo:`` or ``do:`` yields, rather
than its hash arrays). They are compiled once per session, installed nowhere, and run
as processes of their own, so a printOn: that fails or loops harms nothing.

Session side; ``compile_helpers`` and ``spawn_helper`` run on the VM thread.
"""
from __future__ import annotations

from typing import Any

from smalltalk_vm.compiler.codegen import CodeGenerator
from smalltalk_vm.compiler.parser import parse_method_doit
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.objects import CompiledMethod, VClass
from smalltalk_vm.vm.process import Process
from smalltalk_vm.vm.quicken import quicken

HELPER_FILE = "<repl helper>"

# A proxy for a remote object (see is_proxy) prints with its own printString: anything
# else would be forwarded to the far node.
SOURCES = {
    "printAll:local:limit:": """printAll: values local: local limit: limit = (
    | texts |
    texts := Array new: values length.
    1 to: values length do: [ :i |
        | value |
        value := values at: i.
        texts at: i put: ([ (local at: i) ifTrue: [ value printString ] ifFalse: [ value printStringLimitedTo: limit ] ]
            on: Error do: [ :e | e return: '<printString failed: ' , e messageText asString , '>' ]) ].
    ^ texts )""",
    "contentsOf:limit:": """contentsOf: object limit: limit = (
    | items total |
    items := Vector new.
    total := 0.
    (object respondsTo: #keysAndValuesDo:) ifTrue: [
        object keysAndValuesDo: [ :key :value |
            total := total + 1.
            total <= limit ifTrue: [ items append: key; append: value ] ].
        ^ Array with: #pairs with: total with: items asArray ].
    object do: [ :each |
        total := total + 1.
        total <= limit ifTrue: [ items append: each ] ].
    ^ Array with: #elements with: total with: items asArray )""",
}


def compile_helpers(universe: Any) -> dict[str, CompiledMethod]:
    """The helper methods, compiled for this universe (as methods of Object that are
    not installed: they run with nil as the receiver)."""
    generator = CodeGenerator(universe, [], HELPER_FILE)
    methods = {}
    for selector, source in SOURCES.items():
        method = generator.compile_method(parse_method_doit("Object >> " + source, HELPER_FILE).method)
        method.holder = universe.Object
        quicken(method)
        methods[selector] = method
    return methods


def spawn_helper(machine: Any, method: CompiledMethod, args: list) -> Process:
    scheduler = machine.scheduler
    return scheduler.spawn(scheduler.start_context(V.NIL, method, args))


def is_proxy(universe: Any, value: Any) -> bool:
    """Whether ``value`` is a proxy for an object on another node: an instance of a
    root class other than Object that implements ``isRemote`` itself (the proxies of the
    distributed layer). Reflection only: nothing is sent to it."""
    cls = universe.class_of(value)
    return (isinstance(cls, VClass) and cls.superclass is None and cls is not universe.Object
            and "isRemote" in cls.methods)
