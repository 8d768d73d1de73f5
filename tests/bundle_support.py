"""Test support for the process bundle (node.bundle): machines in one test process,
a process spawned by a do-it and stopped after a chosen number of reductions, moved to
another machine, and run to the end — and the same program run without the move, to
compare the two. Two machines in one process stand in for two nodes *for the codec*
only; the protocol between real nodes is tested with `vm node` processes elsewhere."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smalltalk_vm.compiler.front import compile_input
from smalltalk_vm.image.boot import make_machine
from smalltalk_vm.node import bundle as MB
from smalltalk_vm.vm.distribution import RemoteProcesses
from smalltalk_vm.vm.interpreter import YIELDED
from smalltalk_vm.vm.process import DEAD, RUNNABLE
from smalltalk_vm.vm.proxies import RemoteObject


class VM:
    """One machine and what it printed."""

    def __init__(self, classpath: list[str] | None = None) -> None:
        self.machine = make_machine(list(classpath or []))
        self.universe = self.machine.universe
        self.scheduler = self.machine.scheduler
        self.output: list[str] = []
        self.errors: list[str] = []
        self.machine.set_output(self.output.append, self.errors.append)

    def define(self, source: str) -> None:
        compiled = compile_input(self.universe, source, "<test>")
        assert compiled.kind in ("class", "method"), compiled.kind

    def spawn(self, source: str) -> Any:
        """The process a do-it answers (the do-it is run to its end first)."""
        compiled = compile_input(self.universe, source, "<test>")
        outcome = self.machine.evaluate(compiled.method)
        assert outcome.status == "value", outcome.error_text
        return outcome.value

    def step(self, proc: Any, reductions: int) -> bool:
        """Run ``proc`` alone for about ``reductions`` reductions; True if it can run on."""
        scheduler = self.scheduler
        if proc.state != RUNNABLE:
            return proc.state != DEAD
        try:
            scheduler.run_queue.remove(proc)
        except ValueError:
            pass
        scheduler.current = proc
        try:
            status = self.machine.interpreter.run(proc, reductions)
        finally:
            scheduler.current = None
        if status == YIELDED or (proc.state == RUNNABLE and proc.ctx is not None):
            scheduler.run_queue.append(proc)
            return True
        if proc.ctx is None and proc.state != DEAD:
            scheduler.terminate(proc, self.universe.symbol("normal"))
        return proc.state != DEAD

    def finish(self, proc: Any) -> str:
        """Run until ``proc`` ends; its result's printString (or the error)."""
        outcome = self.machine.finish(proc)
        if outcome.status != "value":
            return f"<{outcome.status}: {outcome.error_text}>"
        return self.machine.print_string(outcome.value)

    def take_output(self) -> str:
        text = "".join(self.output)
        self.output.clear()
        return text


@dataclass
class Run:
    output: str
    result: str
    moved: bool = False


def unmoved(vm: VM, source: str) -> Run:
    proc = vm.spawn(source)
    result = vm.finish(proc)
    return Run(vm.take_output(), result)


def moved(source_vm: VM, target_vm: VM, source: str, reductions: int, node_refs: Any = None) -> Run:
    """Run ``source``'s process ``reductions`` reductions on one machine, move it, and
    finish it on the other; the output of both halves, joined."""
    proc = source_vm.spawn(source)
    if not source_vm.step(proc, reductions):
        result = source_vm.finish(proc)
        return Run(source_vm.take_output(), result)
    frozen = MB.freeze(source_vm.universe, proc)
    data = MB.encode(frozen, node_refs)
    thawed = MB.thaw(target_vm.machine, data, node_refs)
    MB.retire(frozen)
    first_half = source_vm.take_output()
    result = target_vm.finish(thawed.proc)
    return Run(first_half + target_vm.take_output(), result, True)


class FakeNodeRefs:
    """The NodeRefs of a pretend node named ``name``: local processes by number, other
    nodes' as RemoteProcesses, objects of classes named Shared* by reference (proxies
elsewhere). Only the codec's half of what the node layer does."""

    def __init__(self, vm: VM, name: str) -> None:
        self.vm = vm
        self.name = name
        self.node_class = vm.universe.globals["Node"]
        self.pids = RemoteProcesses(vm.universe)
        self.exported: dict[bytes, Any] = {}

    def process_identity(self, proc: Any) -> tuple[str, int, int]:
        if type(proc).__name__ == "RemoteProcess":
            return proc.node, proc.creation, proc.number
        return self.name, 1, proc.pid

    def node_identity(self, node: Any) -> tuple[str, int]:
        return self.vm.universe.distribution.nodes.identify(node)

    def process(self, node: str, creation: int, number: int) -> Any:
        if node == self.name:
            return self.vm.scheduler.processes.get(number)
        return self.pids.get(node, creation, number)

    def node(self, name: str, creation: int) -> Any:
        return self.vm.universe.distribution.nodes.get(name, creation)

    def by_reference(self, value: Any) -> bool:
        """Instances of a class named ``Shared*`` pass by reference here."""
        return getattr(value, "cls", None) is not None and value.cls.name.startswith("Shared")

    def reference(self, value: Any) -> tuple:
        if type(value) is RemoteObject:
            return value.node, value.creation, value.handle, value.class_name, 0
        handle = len(self.exported).to_bytes(16, "big")
        self.exported[handle] = value
        return self.name, 1, handle, value.cls.name, 0

    def remote_object(self, node: str, creation: int, handle: bytes, class_name: str, handoff: int) -> Any:
        if node == self.name:
            return self.exported[handle]
        return RemoteObject(self.vm.universe.globals["RemoteProxy"], node, creation, handle, class_name)
