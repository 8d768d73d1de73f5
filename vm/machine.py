"""One virtual machine: a universe, its interpreter and its scheduler, put together,
with the entry points the command line and the REPL use (run a program, evaluate a
compiled do-it, send one message and wait for the answer).

It knows nothing about source text: whoever builds a Machine hands it the class loader
(the compiler) as a callable.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.debugger import Debugger
from smalltalk_vm.vm.interpreter import Interpreter
from smalltalk_vm.vm.objects import Instance, VString
from smalltalk_vm.vm.process import Process
from smalltalk_vm.vm.scheduler import Scheduler
from smalltalk_vm.vm.signals import Signals
from smalltalk_vm.vm.text import escape_surrogates, first_surrogate
from smalltalk_vm.vm.universe import ClassLoader, Universe


@dataclass
class Outcome:
    """How a run ended: ``status`` is 'value', 'error', 'exit' or 'deadlock'."""
    status: str
    value: Any = None
    error_text: str = ""
    trace: list[str] | None = None
    exit_code: int = 0
    waiting: int = 0


class Machine:
    """One VM. Not thread-safe: call it from the thread that runs its scheduler (the
    main thread for `vm run`/`eval`/`test`, the VM thread under a ``VMHost``). ``finish``
    and its callers block until the process ends; they never raise for what a
    process does (a failure of the scheduler itself propagates: the command line reports
    it as an internal error, status 70)."""

    def __init__(self, lib_dir: str, classpath: list[str] | None = None,
                 class_loader: ClassLoader | None = None) -> None:
        self.universe = Universe(lib_dir, classpath or [], class_loader)
        self.interpreter = Interpreter(self.universe)
        self.scheduler = Scheduler(self.universe, self.interpreter)
        self.signals = Signals(self.universe, self.scheduler)
        self.debugger = Debugger(self.universe, self.scheduler)
        self.main: Process | None = None      # the program's main process, if running one

    def bootstrap(self) -> None:
        self.universe.bootstrap()
        self.after_load()

    def after_load(self) -> None:
        """Wire what the kernel classes must exist for (after bootstrap or an image),
        and seal the kernel: from now on programs cannot take it away."""
        self.universe.seal_kernel()
        self.scheduler.process_class = self.universe.Process
        self.signals.crash_reporter = self.report_crash

    def report_crash(self, proc: Process, reason: Any) -> None:
        """An unhandled error ended a process nobody reports on otherwise."""
        lines = [f"process {proc.pid} died: ERROR: {self.describe_reason(reason)}"]
        lines.extend("  " + line for line in proc.crash_trace or [])
        self.universe.error_output("\n".join(lines) + "\n")

    # ------------------------------------------------------------------ running

    def spawn_send(self, receiver: Any, selector: str, args: list) -> Process:
        return self.scheduler.spawn_send(receiver, selector, args)

    def spawn_method(self, receiver: Any, method: Any) -> Process:
        ctx = self.scheduler.start_context(receiver, method, [])
        return self.scheduler.spawn(ctx)

    def finish(self, proc: Process) -> Outcome:
        """Run the scheduler until ``proc`` has ended; describe how it ended."""
        proc.report_crash = False          # its caller reports the outcome
        result = self.scheduler.run_until(lambda: not proc.alive)
        universe = self.universe
        if result == "exit":
            return Outcome("exit", exit_code=universe.exit_status or 0)
        if result == "deadlock":
            return Outcome("deadlock", waiting=self.scheduler.waiting_count())
        reason = proc.exit_reason
        if reason == universe.symbol("normal"):
            # None: the process ended normally before answering (`Process current
            # exit: #normal`); its value is nil.
            return Outcome("value", value=V.NIL if proc.result is None else proc.result)
        return Outcome("error", value=reason, error_text=self.describe_reason(reason),
                       trace=proc.crash_trace)

    def run_program(self, arguments: list[str]) -> Outcome:
        """SOM's entry point: ``system initialize: arguments``."""
        universe = self.universe
        for position, argument in enumerate(arguments, 1):
            if first_surrogate(argument) >= 0:      # bytes that were not UTF-8 (vm.text)
                return Outcome("error", error_text=f"command-line argument {position} is not UTF-8 text")
        args = universe.new_array([universe.new_string(a) for a in arguments])
        self.main = self.spawn_send(universe.system_object, "initialize:", [args])
        return self.finish(self.main)

    def resume(self, main: Process | None) -> Outcome:
        """Run a machine loaded from an image: until its main process ends, or, with
        none, until no process can run any more."""
        self.main = main
        if main is not None:
            return self.finish(main)
        result = self.scheduler.run_until(lambda: not self.scheduler.processes)
        if result == "exit":
            return Outcome("exit", exit_code=self.universe.exit_status or 0)
        if result == "deadlock":
            return Outcome("deadlock", waiting=self.scheduler.waiting_count())
        return Outcome("value", value=V.NIL)

    def evaluate(self, method: Any, receiver: Any = V.NIL) -> Outcome:
        self.main = self.spawn_method(receiver, method)
        return self.finish(self.main)

    def send(self, receiver: Any, selector: str, args: list | None = None) -> Outcome:
        return self.finish(self.spawn_send(receiver, selector, args or []))

    def print_string(self, value: Any, limit: int = 100_000) -> str:
        """``value printString`` (at most ``limit`` characters, so cyclic structures
        print too), evaluated in the VM; a plain description if printString fails."""
        outcome = self.send(value, "printStringLimitedTo:", [self.universe.make_int(limit)])
        if outcome.status == "value" and type(outcome.value) is VString:
            return escape_surrogates(outcome.value.chars)
        return f"<{self.universe.class_of(value).name}: printString failed: {outcome.error_text}>"

    # ------------------------------------------------------------------ reporting

    def describe_reason(self, reason: Any) -> str:
        """The text of an exit reason: an exception's messageText (or its class name),
        a Symbol's name, or the class of anything else."""
        universe = self.universe
        if type(reason) is Instance:
            names = universe.all_field_names(reason.cls)
            if "messageText" in names:
                text = reason.fields[names.index("messageText")]
                if type(text) is VString:
                    return escape_surrogates(text.chars)
                if V.is_symbol(text):
                    return universe.symbol_name(text)
            return reason.cls.name
        if V.is_symbol(reason):
            return universe.symbol_name(reason)
        return universe.class_of(reason).name

    def set_output(self, out: Callable[[str], Any], err: Callable[[str], Any]) -> None:
        self.universe.output = out
        self.universe.error_output = err
