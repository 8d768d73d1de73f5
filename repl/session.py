"""A REPL session, independent of the terminal: evaluating do-its (statements, class
definitions, method definitions) on the VM thread, the `:` commands, and the data
completion needs. The terminal front ends are in ``repl.app``.

Every input answers a ``Result``; nothing a user types (a bad file for `:load`, text
that is not UTF-8, a do-it that ends its own process) raises out of ``evaluate`` or
``command``. The session's ``console`` carries the VM's output, and the front end shows
results through it, so a result always starts on a line of its own.
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, ClassVar

from smalltalk_vm.compiler.front import check_text, compile_input
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.console import Console
from smalltalk_vm.vm.errors import LoadError, SmalltalkSyntaxError, file_failure_text
from smalltalk_vm.vm.host import VMHost
from smalltalk_vm.vm.machine import Machine
from smalltalk_vm.vm.objects import LAUNCHER_FILE, Context, VClass, VString
from smalltalk_vm.vm.process import Process
from smalltalk_vm.vm.text import escape_surrogates

PRINT_LIMIT = 10_000            # characters of a result's printString
TRACE_FRAMES = 8                # frames of a run-time error's trace shown

HELP = """\
Each input is a do-it: statements (the last one's value is printed), a class
definition (`Name = Super ( ... )`), or a method definition (`Name >> pattern = ( ... )`).
Assigning an undeclared name makes a workspace variable that lives for the session.

  :help              this text
  :save [FILE]       save the whole VM (workspace, classes, processes) as an image
  :load FILE.som     file in a class
  :inspect EXPR      the class and instance variables of EXPR's value
  :browse Class      the definition of a class
  :processes         the live processes
  :quit              leave (Ctrl-D too)

Enter runs the input once its brackets, parentheses and quotes are balanced; Ctrl-C
interrupts a running evaluation; Ctrl-R searches the history."""


@dataclass
class Result:
    """kind: 'value', 'defined', 'error', 'syntax', 'interrupted', 'output', 'quit'."""
    kind: str
    text: str = ""
    trace: list[str] = field(default_factory=list)
    column: int = 0
    line: int = 0

    @property
    def is_error(self) -> bool:
        return self.kind in ("error", "syntax", "interrupted")


class ReplSession:
    """Driven by one front-end thread (the terminal's); everything that touches VM
    objects is handed to the VM thread through ``host``. ``evaluate`` blocks until the
    do-it has finished (or Ctrl-C interrupted it); nothing raises to the caller."""

    def __init__(self, machine: Machine, image_path: str | None = None) -> None:
        self.machine = machine
        self.universe = machine.universe
        self.image_path = image_path
        self.console = Console(on_failure=self._output_failed)
        machine.set_output(self.console.write, self.console.write_error)
        self.host = VMHost(machine)
        self.host.start()
        self.current: Process | None = None

    def close(self) -> None:
        self.host.stop()
        self.console.end_line()
        self.console.flush()

    def _output_failed(self, status: int) -> None:
        """Standard output is gone (the reader of a pipe left): the session ends."""
        if self.universe.exit_status is None:
            self.universe.exit_status = status

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, text: str, show: str = "printStringLimitedTo:") -> Result:
        """Run a do-it to completion and show its value with ``show`` (a selector
        taking a length limit). KeyboardInterrupt while waiting interrupts the
        evaluation (the VM and its other processes go on) and answers 'interrupted'."""
        if not self.host.alive:
            return Result("quit", self.host.end_reason)
        with self._ctrl_c_interrupts():
            started: Future = self.host.submit(lambda: self._start(text, show))
            try:
                finished: Future = started.result()
                while True:
                    try:
                        return finished.result(timeout=0.2)
                    except TimeoutError:
                        if not self.host.alive:
                            return Result("quit", "the VM stopped")
            except KeyboardInterrupt:
                # Raised before the handler below was in place (or not on the main
                # thread): interrupt all the same. The kill is queued behind the start,
                # so it finds the evaluation even if the VM thread had not begun it.
                self.interrupt()
                try:
                    return started.result(timeout=5).result(timeout=5)
                except TimeoutError:
                    return Result("interrupted", "interrupted")

    @contextlib.contextmanager
    def _ctrl_c_interrupts(self) -> Iterator[None]:
        """While an evaluation runs, SIGINT (Ctrl-C) kills it instead of raising
        KeyboardInterrupt somewhere in the waiting code."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.signal(signal.SIGINT, lambda number, frame: self.interrupt())
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def interrupt(self) -> None:
        def kill() -> None:
            proc = self.current
            if proc is not None and proc.alive:
                self.machine.signals.exit_signal(proc, None, self.universe.symbol("kill"))
        self.host.submit(kill)

    def _start(self, text: str, show: str) -> Future:
        """On the VM thread: compile and start; answer a Future of the Result."""
        future: Future = Future()
        universe = self.universe
        try:
            compiled = compile_input(universe, check_text(text, "<repl>"), "<repl>", workspace=True)
        except SmalltalkSyntaxError as error:
            future.set_result(Result("syntax", error.message, line=error.line, column=error.column))
            return future
        except LoadError as error:
            future.set_result(Result("error", str(error)))
            return future
        if compiled.kind == "class":
            future.set_result(Result("defined", f"defined class {compiled.cls.name}"))
            return future
        if compiled.kind == "method":
            future.set_result(Result("defined", f"defined {compiled.cls.name}>>{compiled.method.selector}"))
            return future
        proc = self.machine.spawn_method(V.NIL, compiled.method)
        proc.report_crash = False
        self.current = proc
        self.host.watch(proc, lambda p, reason: self._evaluated(p, reason, future, show))
        return future

    def _evaluated(self, proc: Process, reason: Any, future: Future, show: str) -> None:
        universe = self.universe
        if reason == universe.symbol("normal"):
            # A do-it that ended its own process normally (`Process current exit:
            # #normal`) has no value of its own: it shows as nil.
            value = V.NIL if proc.result is None else proc.result
            printer = self.machine.spawn_send(value, show, [universe.make_int(PRINT_LIMIT)])
            printer.report_crash = False
            self.current = printer
            self.host.watch(printer, lambda p, why: self._printed(p, why, future))
            return
        self.current = None
        if reason == universe.symbol("killed"):
            future.set_result(Result("interrupted", "interrupted"))
            return
        trace = (proc.crash_trace or [])[:TRACE_FRAMES]
        future.set_result(Result("error", self.machine.describe_reason(reason), trace))

    def _printed(self, proc: Process, reason: Any, future: Future) -> None:
        self.current = None
        universe = self.universe
        if reason == universe.symbol("killed"):
            future.set_result(Result("interrupted", "interrupted"))
        elif reason == universe.symbol("normal") and type(proc.result) is VString:
            future.set_result(Result("value", escape_surrogates(proc.result.chars)))
        else:
            future.set_result(Result("error", "printString failed: " + self.machine.describe_reason(reason)))

    # ------------------------------------------------------------------ commands

    def command(self, line: str) -> Result:
        if not self.host.alive:
            return Result("quit", self.host.end_reason)
        name, _, argument = line.strip().partition(" ")
        argument = argument.strip()
        handler = self.COMMANDS.get(name)
        if handler is None:
            return Result("error", f"unknown command {name} (try :help)")
        try:
            return handler(self, argument)
        except TimeoutError:
            return Result("error", f"{name}: the VM did not answer in time")
        except Exception as error:     # a defect: shown, and the session goes on
            return Result("error", f"{name} failed: {type(error).__name__}: {error}")

    def _help(self, argument: str) -> Result:
        return Result("output", HELP)

    def _quit(self, argument: str) -> Result:
        return Result("quit")

    def _save(self, argument: str) -> Result:
        path = argument or self.image_path or os.path.join(os.getcwd(), "session.image")
        saver = self.universe.image_saver
        if saver is None:
            return Result("error", "this VM cannot save images")
        try:
            self.host.call(lambda: saver(path), timeout=None)
        except Exception as error:
            return Result("error", f"cannot save {file_failure_text(error, path)}")
        self.image_path = path
        return Result("output", f"saved {path}")

    def _load(self, argument: str) -> Result:
        if not argument:
            return Result("error", ":load needs a .som file")
        try:
            cls = self.host.call(lambda: self.universe.load_class_file(argument))
        except (SmalltalkSyntaxError, LoadError) as error:
            return Result("error", load_failure_text(error))
        return Result("defined", f"defined class {cls.name}")

    def _inspect(self, argument: str) -> Result:
        if not argument:
            return Result("error", ":inspect needs an expression")
        return self.evaluate(f"({argument}) inspectString", show="displayStringLimitedTo:")

    def _browse(self, argument: str) -> Result:
        if not argument:
            return Result("error", ":browse needs a class name")

        def browse() -> Result:
            cls = self.universe.globals.get(argument)
            if not isinstance(cls, VClass):
                try:
                    cls = self.universe.load_class(argument) if argument[:1].isupper() else None
                except (SmalltalkSyntaxError, LoadError) as error:
                    return Result("error", f"cannot load {argument}: {load_failure_text(error)}")
            if not isinstance(cls, VClass):
                return Result("error", f"no class named {argument}")
            return Result("output", class_definition(self.universe, cls))
        return self.host.call(browse)

    def _processes(self, argument: str) -> Result:
        def listing() -> Result:
            lines = [f"{'pid':>5}  {'status':<9} {'name':<12} {'msgs':>4}  where"]
            for proc in sorted(self.machine.scheduler.live_processes(), key=lambda p: p.pid):
                where = _where(proc.ctx)
                lines.append(f"{proc.pid:>5}  {proc.state:<9} {proc.name or '':<12} "
                             f"{proc.message_count():>4}  {where}")
            return Result("output", "\n".join(lines))
        return self.host.call(listing)

    COMMANDS: ClassVar[dict[str, Callable[[ReplSession, str], Result]]] = {
        ":help": _help, ":quit": _quit, ":q": _quit, ":save": _save, ":load": _load,
        ":inspect": _inspect, ":browse": _browse, ":processes": _processes,
    }

    # ------------------------------------------------------------------ completion data

    def names(self) -> tuple[list[str], list[str]]:
        """(class names and other globals, workspace variables)."""
        def collect() -> tuple[list[str], list[str]]:
            universe = self.universe
            classes, variables = set(), []
            for name, value in universe.globals.items():
                if isinstance(value, VClass):
                    classes.add(name)
                elif name not in ("nil", "true", "false"):
                    variables.append(name)
            # Classes not loaded yet: every class file along the classpath and in lib/.
            for folder in [*universe.classpath, universe.lib_dir]:
                try:
                    classes.update(f[:-4] for f in os.listdir(folder) if f.endswith(".som"))
                except OSError:
                    pass
            return sorted(classes), sorted(variables)
        return self.host.call(collect, timeout=2)

    def selectors_for(self, receiver: str | None) -> list[str]:
        """Selectors the receiver's class understands when it can be known from the
        text (a literal, a workspace variable, a global); else every known selector."""
        def collect() -> list[str]:
            universe = self.universe
            cls = receiver_class(universe, receiver)
            if cls is None:
                seen: set[str] = set()
                pending = [c for c in universe.globals.values() if isinstance(c, VClass)]
                for c in pending:
                    seen.update(c.methods)
                    seen.update(c.cls.methods)
                return sorted(seen)
            selectors: set[str] = set()
            while cls is not None:
                selectors.update(cls.methods)
                cls = cls.superclass
            return sorted(selectors)
        return self.host.call(collect, timeout=2)


def load_failure_text(error: SmalltalkSyntaxError | LoadError) -> str:
    return error.located() if isinstance(error, SmalltalkSyntaxError) else str(error)


def receiver_class(universe: Any, receiver: str | None) -> VClass | None:
    if not receiver:
        return None
    if receiver[0].isdigit() or (receiver[0] == "-" and receiver[1:2].isdigit()):
        return universe.Double if ("." in receiver or "e" in receiver) else universe.Integer
    if receiver[0] == "'":
        return universe.String
    if receiver[0] == "#":
        return universe.Array if receiver.startswith("#(") else universe.Symbol
    if receiver[0] == "$":
        return universe.Character
    if receiver[0] in "[":
        return universe.block_classes[0]
    if receiver in ("true", "false", "nil"):
        return universe.class_of({"true": V.TRUE, "false": V.FALSE, "nil": V.NIL}[receiver])
    if receiver.isidentifier():
        value = universe.globals.get(receiver)
        if value is not None:
            return universe.class_of(value)
    return None


def class_definition(universe: Any, cls: VClass) -> str:
    """A class's definition as it is now, rebuilt from its fields and its methods'
    sources (so methods added or redefined after the class show as they are)."""
    superclass = cls.superclass.name if cls.superclass is not None else "nil"
    lines = [f"{cls.name} = {superclass} ("]
    if cls.instance_fields:
        lines.append(f"    | {' '.join(cls.instance_fields)} |")
    lines.extend("    " + (m.source or f"{m.selector} = primitive") for m in cls.methods.values())
    if cls.cls.methods or cls.cls.instance_fields:
        lines.append("    ----")
        if cls.cls.instance_fields:
            lines.append(f"    | {' '.join(cls.cls.instance_fields)} |")
        lines.extend("    " + (m.source or f"{m.selector} = primitive") for m in cls.cls.methods.values())
    lines.append(")")
    return "\n".join(lines)


def _where(ctx: Context | None) -> str:
    while ctx is not None and ctx.method.home_method.source_file == LAUNCHER_FILE:
        ctx = ctx.sender
    if ctx is None:
        return ""
    method = ctx.method.home_method
    holder = method.holder.name if method.holder is not None else "?"
    return f"{holder}>>{method.selector}"
