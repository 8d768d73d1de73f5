"""The REPL's `:push ClassName`: the class as it is in this session loaded on every
connected node with ``Cluster load:`` (on a VM that is not a node, the cluster is this
VM alone, so it only checks and reloads it here).

Session side: VM objects are read on the VM thread only (``host.call``); the answer
comes back through a Future with a deadline, never by blocking the VM thread. Answers
(kind, text) for the session to turn into its Result; nothing raises for a bad name.
"""
from __future__ import annotations

from concurrent.futures import Future
from typing import Any

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.errors import LoadError, SmalltalkSyntaxError
from smalltalk_vm.vm.objects import VArray, VClass, VString
from smalltalk_vm.vm.versions import definition_text

PUSH_SECONDS = 30.0          # longer than a Cluster load's own deadlines (node.hotload)


def push_class(host: Any, universe: Any, name: str) -> tuple[str, str]:
    """('output', what happened) or ('error', why not)."""
    if not name:
        return "error", ":push needs a class name"
    answer: Future = Future()

    def start() -> str | None:
        cls = universe.globals.get(name)
        if not isinstance(cls, VClass) and name[:1].isupper():
            try:
                cls = universe.load_class(name)
            except (SmalltalkSyntaxError, LoadError) as error:
                return f"cannot load {name}: {error}"
        if not isinstance(cls, VClass) or cls.is_meta:
            return f"no class named {name}"
        nodes = len(universe.distribution.connected_nodes()) + 1
        universe.distribution.cluster_load(definition_text(cls),
                                           lambda value: answer.set_result(describe(universe, name, nodes, value)))
        return None

    problem = host.call(start)
    if problem is not None:
        return "error", problem
    try:
        return answer.result(timeout=PUSH_SECONDS)
    except TimeoutError:
        return "error", f":push {name}: no answer from the cluster within {PUSH_SECONDS:g} s"


def describe(universe: Any, name: str, nodes: int, value: Any) -> tuple[str, str]:
    """The text of a ``load_answer`` value (read on the VM thread)."""
    if type(value) is not VArray or len(value.items) != 2:
        return "error", f":push {name}: unexpected answer"
    ok, detail = value.items
    if ok == V.TRUE and type(detail) is VString:
        where = "this node" if nodes == 1 else f"{nodes} nodes"
        return "output", f"pushed {name} version {detail.chars} to {where}"
    refusals = []
    for pair in detail.items if type(detail) is VArray else ():
        node, why = pair.items
        refusals.append(f"  {universe.symbol_name(node)}: {why.chars}")
    return "error", f"push of {name} refused, nothing changed:\n" + "\n".join(refusals)

