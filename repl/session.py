"""The REPL session next to a VM in this process: evaluating do-its (statements, class
definitions, method definitions) on the VM thread, the last values `_` and `__`, the
`:` commands (``repl.commands``, ``repl.debugging``, ``repl.inspector``), and the data
completion needs. It implements ``repl.protocol.Session``; the terminal side is
``repl.app``.

Rules:
- Every call answers a ``Result`` (plain data); nothing a user types raises out of it.
- VM objects are touched on the VM thread only (``host.call`` / ``host.submit``); the
  calling thread only waits, with Ctrl-C (SIGINT) killing the process it waits for.
- An interactive session keeps a do-it that fails with an unhandled exception stopped,
  its stack intact, for the debugger (one at a time: a newer failure abandons the
  older one); a piped session lets it end at once, as a script expects.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from smalltalk_vm.compiler.front import check_text, compile_input
from smalltalk_vm.repl import commands
from smalltalk_vm.repl.debugging import DebugCommands
from smalltalk_vm.repl.echo import wants_value
from smalltalk_vm.repl.helpers import compile_helpers, is_proxy, spawn_helper
from smalltalk_vm.repl.inspector import InspectorCommands
from smalltalk_vm.repl.outcome import Outcome, shown
from smalltalk_vm.repl.protocol import Result
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.console import Console
from smalltalk_vm.vm.debugger import DebugError
from smalltalk_vm.vm.errors import LoadError, SmalltalkSyntaxError
from smalltalk_vm.vm.host import VMHost, VMStopped
from smalltalk_vm.vm.machine import Machine
from smalltalk_vm.vm.objects import VString
from smalltalk_vm.vm.primitives.context import describe_context
from smalltalk_vm.vm.process import Process
from smalltalk_vm.vm.text import escape_surrogates

__all__ = ["ReplSession", "Result"]

PRINT_LIMIT = 10_000            # characters of a result's printString
TRACE_FRAMES = 8                # frames of a run-time error's trace shown
LAST_VALUE, VALUE_BEFORE = "_", "__"


@dataclass
class Evaluation:
    """A do-it's process from its start to its end. ``future`` is the Outcome of its
    current run: the first one, or the one after a debugger resumed it. VM thread."""
    proc: Process
    echo: bool
    future: Future
    abandoning: bool = False


class ReplSession:
    """Driven by one front-end thread (the terminal's); everything that touches VM
    objects is handed to the VM thread through ``host``. ``evaluate`` blocks until the
    do-it has finished, stopped at an error, or Ctrl-C interrupted it; nothing raises
    to the caller."""

    def __init__(self, machine: Machine, image_path: str | None = None, host: Any = None,
                 console: Any = None) -> None:
        """A session on a machine of its own (it starts the VM thread and takes the
        machine's output), or, given ``host`` and ``console``, one of several on a
        machine that a node runs (a remote shell's): the VM thread and the output are
        then the node's, and closing the session leaves them running."""
        self.machine = machine
        self.universe = machine.universe
        self.debugger = machine.debugger
        self.image_path = image_path
        self.console = console or Console(on_failure=self._output_failed)
        if console is None:
            machine.set_output(self.console.write, self.console.write_error)
        self.owns_host = host is None
        self.host = host or VMHost(machine)
        if self.owns_host:
            self.host.start()
        self.current: Process | None = None      # what Ctrl-C kills (VM thread reads it)
        self.stopped: Evaluation | None = None   # the failed do-it kept for the debugger
        self.hold_failures = False
        self.echo_rule = False
        self._helpers: dict[str, Any] | None = None
        self.debug = DebugCommands(self)
        self.inspector = InspectorCommands(self)
        self.commands: dict[str, Callable[[str], Result]] = {
            **commands.table(self), **self.debug.table(), **self.inspector.table()}

    def set_interactive(self, interactive: bool) -> None:
        self.hold_failures = interactive
        self.echo_rule = interactive

    def close(self) -> None:
        if self.owns_host:
            self.host.stop()
        self.console.end_line()
        self.console.flush()

    @property
    def alive(self) -> bool:
        return self.host.alive

    @property
    def failure(self) -> str | None:
        return self.host.failure

    @property
    def exit_status(self) -> int | None:
        return self.universe.exit_status

    def _output_failed(self, status: int) -> None:
        """Standard output is gone (the reader of a pipe left): the session ends."""
        if self.universe.exit_status is None:
            self.universe.exit_status = status

    # ------------------------------------------------------------------ do-its

    def evaluate(self, text: str) -> Result:
        """Run a do-it and answer what to show: its value (when wanted), what it
        defined, or its error."""
        if not self.host.alive:
            return Result("quit", self.host.end_reason)
        started: list[Evaluation] = []
        outcome = self.wait_for(lambda: self._start(text, started))
        return self.present(outcome, started[0].echo if started else True)

    def _start(self, text: str, started: list) -> Future:
        """VM thread: compile the do-it and start it. Definitions and syntax errors
        answer at once (an Outcome whose value is the Result)."""
        universe = self.universe
        at_once: Future = Future()
        try:
            compiled = compile_input(universe, check_text(text, "<repl>"), "<repl>", workspace=True)
        except SmalltalkSyntaxError as error:
            at_once.set_result(shown(Result("syntax", error.message, line=error.line,
                                                       column=error.column)))
            return at_once
        except LoadError as error:
            at_once.set_result(shown(Result("error", str(error))))
            return at_once
        if compiled.kind == "class":
            at_once.set_result(shown(Result("defined", f"defined class {compiled.cls.name}")))
            return at_once
        if compiled.kind == "method":
            at_once.set_result(shown(Result(
                "defined", f"defined {compiled.cls.name}>>{compiled.method.selector}")))
            return at_once
        proc = self.machine.spawn_method(V.NIL, compiled.method)
        evaluation = Evaluation(proc, not self.echo_rule or wants_value(text), Future())
        started.append(evaluation)
        self.watch_do_it(evaluation)
        return evaluation.future

    def watch_do_it(self, evaluation: Evaluation) -> None:
        """VM thread: report the end (or, when failures are kept, the stop) of a
        do-it's process through its current future."""
        proc = evaluation.proc
        proc.report_crash = False
        self.current = proc
        if self.hold_failures:
            self.debugger.hold(proc, lambda p: self._do_it_stopped(evaluation))
        self.host.watch(proc, lambda p, reason: self._do_it_ended(evaluation, reason))

    def _do_it_ended(self, evaluation: Evaluation, reason: Any) -> None:
        universe = self.universe
        proc = evaluation.proc
        self.debugger.release(proc)
        if self.stopped is evaluation:
            self.stopped = None
        if self.current is proc:
            self.current = None
        if evaluation.abandoning:
            outcome = Outcome("abandoned", text=f"process {proc.pid} abandoned")
        elif reason == universe.symbol("normal"):
            # A do-it that ended its own process normally (`Process current exit:
            # #normal`) has no value of its own: it shows as nil.
            value = V.NIL if proc.result is None else proc.result
            globals_ = universe.globals
            globals_[VALUE_BEFORE] = globals_.get(LAST_VALUE, V.NIL)
            globals_[LAST_VALUE] = value
            outcome = Outcome("value", value)
        elif reason == universe.symbol("killed"):
            outcome = Outcome("interrupted")
        else:
            outcome = Outcome("error", text=self.machine.describe_reason(reason),
                              trace=(proc.crash_trace or [])[:TRACE_FRAMES])
        _settle(evaluation.future, outcome)

    def _do_it_stopped(self, evaluation: Evaluation) -> None:
        """VM thread: a held do-it stopped at an unhandled exception."""
        proc = evaluation.proc
        previous, self.stopped = self.stopped, evaluation
        if self.current is proc:
            self.current = None
        self.debug.forget_target()
        if previous is not None and previous is not evaluation and previous.proc.alive:
            previous.abandoning = True
            previous.future = Future()             # nobody waits for it any more
            self.debugger.abandon(previous.proc)
        exception = self.debugger.stopped_exception(proc)
        trace = [describe_context(ctx) for ctx in self.debugger.frames(proc)[:TRACE_FRAMES]]
        _settle(evaluation.future, Outcome("stopped", value=self.universe.class_of(exception),
                                           text=self.machine.describe_reason(exception), trace=trace))

    def present(self, outcome: Outcome, echo: bool = True) -> Result:
        """The Result to show for how a do-it's run ended (printing its value when it
        is to be shown: another short evaluation)."""
        status = outcome.status
        if status == "value":
            return self.print_value(outcome.value) if echo else Result("done")
        if status == "stopped":
            cls = outcome.value
            return Result("error", outcome.text, outcome.trace,
                          data={"stopped": self._stopped_pid(), "exception": cls.name, "label": _label(cls)})
        if status == "error":
            return Result("error", outcome.text, outcome.trace)
        if status == "abandoned":
            return Result("output", outcome.text)
        if status == "shown":
            return outcome.value
        if status == "timeout":
            return Result("error", "no answer in time (the evaluation was ended)")
        return Result("interrupted", "interrupted")

    def _stopped_pid(self) -> int | None:
        stopped = self.stopped
        return stopped.proc.pid if stopped is not None else None

    # ------------------------------------------------------------------ processes

    def wait_for(self, start: Callable[[], Future], timeout: float | None = None) -> Any:
        """Run ``start`` on the VM thread (it answers a Future, resolved there later)
        and wait for that Future's result. Ctrl-C meanwhile kills ``self.current`` and
        answers Outcome('interrupted'); past ``timeout`` seconds it is killed too, and
        the answer is Outcome('timeout')."""
        if not self.host.alive:
            return shown(Result("quit", self.host.end_reason))
        with self._ctrl_c_interrupts():
            started: Future = self.host.submit(start)
            try:
                finished: Future = started.result()
                waited = 0.0
                while True:
                    try:
                        return finished.result(timeout=0.2)
                    except TimeoutError:
                        waited += 0.2
                        if not self.host.alive:
                            return shown(Result("quit", "the VM stopped"))
                        if timeout is not None and waited >= timeout:
                            self.interrupt()
                            with contextlib.suppress(TimeoutError):
                                finished.result(timeout=5)
                            return Outcome("timeout")
            except VMStopped as stopped:             # it ended before the work could run
                return shown(Result("quit", str(stopped)))
            except KeyboardInterrupt:
                # Raised before the handler below was in place (or not on the main
                # thread): interrupt all the same. The kill is queued behind the start,
                # so it finds the evaluation even if the VM thread had not begun it.
                self.interrupt()
                try:
                    return started.result(timeout=5).result(timeout=5)
                except (TimeoutError, VMStopped):
                    return Outcome("interrupted")

    def finish(self, spawn: Callable[[], Process], timeout: float | None = None, source: str = "") -> Outcome:
        """Start a process on the VM thread (``spawn`` makes it) and wait for its end:
        Outcome 'value', 'error', 'interrupted' or 'timeout'; its errors are not kept.
        ``spawn`` may refuse: a syntax error in ``source`` it compiled, or a request the
        debugger cannot carry out, answers the Result to show."""
        def start() -> Future:
            future: Future = Future()
            try:
                proc = spawn()
            except SmalltalkSyntaxError as error:
                future.set_result(shown(Result("syntax", error.message, line=error.line, column=error.column,
                                               data={"source": source, "file": error.filename})))
                return future
            except (LoadError, DebugError) as error:
                future.set_result(shown(Result("error", str(error))))
                return future
            proc.report_crash = False
            self.current = proc
            self.host.watch(proc, lambda p, reason: self._ended(p, reason, future))
            return future
        return self.wait_for(start, timeout)

    def _ended(self, proc: Process, reason: Any, future: Future) -> None:
        if self.current is proc:
            self.current = None
        universe = self.universe
        if reason == universe.symbol("normal"):
            outcome = Outcome("value", V.NIL if proc.result is None else proc.result)
        elif reason == universe.symbol("killed"):
            outcome = Outcome("interrupted")
        else:
            outcome = Outcome("error", text=self.machine.describe_reason(reason),
                              trace=(proc.crash_trace or [])[:TRACE_FRAMES])
        _settle(future, outcome)

    def print_value(self, value: Any, selector: str = "printStringLimitedTo:",
                    limit: int = PRINT_LIMIT) -> Result:
        """``value``'s printString (``selector`` takes the length limit), as a Result."""
        outcome = self.finish(lambda: self.machine.spawn_send(value, selector, [self.universe.make_int(limit)]))
        if outcome.status == "value":
            text = self.host.call(lambda: _text_of(outcome.value))
            if text is not None:
                return Result("value", text)
            return Result("error", "printString failed: it did not answer a String")
        if outcome.status == "error":
            return Result("error", "printString failed: " + outcome.text)
        return self.present(outcome)

    def print_all(self, values: list, limit: int = 200) -> list[str]:
        """The printStrings of ``values`` (at most ``limit`` characters each), made in
        one short evaluation; one that fails or does not answer in time says so in its
        place. A remote proxy prints with its own printString (no round trip)."""
        if not values:
            return []
        outcome = self.finish(lambda: self._spawn_printer(values, limit), timeout=5)
        if outcome.status == "value":
            texts = self.host.call(lambda: [_text_of(item) for item in outcome.value.items])
            return [text if text is not None else "<printString failed>" for text in texts]
        reason = "no answer in time" if outcome.status == "timeout" else outcome.text or outcome.status
        return [f"<printString failed: {reason}>"] * len(values)

    def helper(self, selector: str, args: list) -> Process:
        """VM thread: a process running the helper method ``selector`` (repl.helpers)."""
        if self._helpers is None:
            self._helpers = compile_helpers(self.universe)
        return spawn_helper(self.machine, self._helpers[selector], args)

    def _spawn_printer(self, values: list, limit: int) -> Process:
        """VM thread: a process answering the Array of ``values``' printStrings."""
        universe = self.universe
        local = [V.TRUE if is_proxy(universe, value) else V.FALSE for value in values]
        return self.helper("printAll:local:limit:", [universe.new_array(list(values)), universe.new_array(local),
                                                     universe.make_int(limit)])

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

    # ------------------------------------------------------------------ commands

    def command(self, line: str) -> Result:
        if not self.host.alive:
            return Result("quit", self.host.end_reason)
        name, _, argument = line.strip().partition(" ")
        argument = argument.strip()
        handler = self.commands.get(name)
        if handler is None:
            return Result("error", f"unknown command {name} (try :help)")
        try:
            return handler(argument)
        except TimeoutError:
            return Result("error", f"{name}: the VM did not answer in time")
        except VMStopped as stopped:
            return Result("quit", str(stopped))
        except Exception as error:     # a defect: shown, and the session goes on
            return Result("error", f"{name} failed: {type(error).__name__}: {error}")

    def command_names(self) -> list[str]:
        return sorted(self.commands)

    # ------------------------------------------------------------------ completion data

    def names(self) -> tuple[list[str], list[str]]:
        return self.host.call(lambda: commands.global_names(self.universe), timeout=2)

    def selectors_for(self, receiver: str | None) -> list[str]:
        return self.host.call(lambda: commands.selectors_for(self.universe, receiver), timeout=2)


def _label(cls: Any) -> str:
    """How a stopped exception is announced: ERROR for an Error, else its class's name
    (WARNING, HALT), as the VM prints them where no debugger holds the process."""
    walker = cls
    while walker is not None:
        if walker.name == "Error":
            return "ERROR"
        walker = walker.superclass
    return cls.name.upper()


def _settle(future: Future, outcome: Outcome) -> None:
    if not future.done():
        future.set_result(outcome)


def _text_of(value: Any) -> str | None:
    return escape_surrogates(value.chars) if type(value) is VString else None
