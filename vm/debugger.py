"""The VM side of the debugger: holding a process so that an unhandled exception stops
it with its stack intact instead of ending it, suspending any live process, reading its
frames and their variables, and resuming it — as it was, or by running one message on
top of its stack (proceed, restart or return from a frame, abandon).

Rules:
- VM thread only (a front end reaches it through the VM host's inbox). It never blocks
  and never runs Smalltalk code itself: what has to run — unwinding, restarting a frame
  — runs in the debugged process, as an ordinary send pushed on top of its stack, so
  ensure: blocks run where they belong and the interpreter stays the only executor.
- A suspended process is not run by the scheduler. Messages, timers and exit signals
  still reach it, so it can die under the debugger; every request checks first.
- A request that cannot be carried out (a dead process, a frame no longer on the stack)
  raises ``DebugError``, whose text is a sentence for the user; nothing else is raised.
- It knows nothing of source text: evaluating in a frame's scope takes a block someone
  compiled against ``scopes(ctx)`` (the REPL, through the compiler).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.objects import (
    KIND_BYTECODE,
    KIND_CONSTANT,
    KIND_GETTER,
    KIND_NATIVE,
    KIND_SETTER,
    LAUNCHER_FILE,
    Closure,
    CompiledMethod,
    Context,
    Instance,
)
from smalltalk_vm.vm.primitives.context import CLASS_SIDE_SIGNALS, method_key
from smalltalk_vm.vm.process import DEAD, RUNNABLE, SLEEPING, WAIT_DEBUG, WAITING, Process

# Methods whose code can run in a restarted activation (not primitives).
_RESTARTABLE_KINDS = frozenset({KIND_BYTECODE, KIND_NATIVE, KIND_GETTER, KIND_SETTER, KIND_CONSTANT})


class DebugError(Exception):
    """A debugger request that cannot be carried out; the text says why."""


def latest_definition(method: Any) -> CompiledMethod | None:
    """The method now installed under ``method``'s class and selector, when that is a
    redefinition a restarted activation can run instead; else None."""
    if not isinstance(method, CompiledMethod) or method.holder is None:
        return None
    latest = method.holder.methods.get(method.selector)
    if latest is method or not isinstance(latest, CompiledMethod):
        return None
    if latest.num_args != method.num_args or latest.kind not in _RESTARTABLE_KINDS:
        return None
    return latest


class Debugger:
    """One per machine (``universe.debugger``). VM thread only; never blocks; raises
    only ``DebugError``."""

    def __init__(self, universe: Any, scheduler: Any) -> None:
        self.vm = universe
        self.scheduler = scheduler
        universe.debugger = self
        self.stop_watchers: dict[int, Callable[[Process], None]] = {}

    # ------------------------------------------------------------------ holding

    def hold(self, proc: Process, on_stop: Callable[[Process], None] | None = None) -> None:
        """From now on an unhandled exception in ``proc`` stops it (``stop``);
        ``on_stop(proc)`` is then called between time slices."""
        proc.held = True
        if on_stop is not None:
            self.stop_watchers[proc.pid] = on_stop

    def release(self, proc: Process) -> None:
        """``proc``'s exceptions end it again, as in any process."""
        proc.held = False
        self.stop_watchers.pop(proc.pid, None)

    def stop(self, proc: Process, ctx: Context, exception: Any) -> None:
        """Called by ``Process>>primStopFor:`` in a held process: park it where it is."""
        self.scheduler.park(proc, ctx, WAITING, WAIT_DEBUG, exception)
        proc.suspended = True
        self.scheduler.post(lambda: self._tell_stopped(proc))

    def _tell_stopped(self, proc: Process) -> None:
        watcher = self.stop_watchers.get(proc.pid)
        if watcher is not None and self.stopped_exception(proc) is not None:
            watcher(proc)

    @staticmethod
    def stopped_exception(proc: Process) -> Any:
        """The exception a stopped process stopped at; None when it is not stopped."""
        if proc.state == WAITING and proc.wait_mode == WAIT_DEBUG:
            return proc.wait_arg
        return None

    # ------------------------------------------------------------------ suspending

    def suspend(self, proc: Process) -> None:
        """Keep a live process from running until ``let_go`` (or another resumption)."""
        self._check_alive(proc)
        proc.suspended = True
        try:
            self.scheduler.run_queue.remove(proc)
        except ValueError:
            pass                        # not queued: parked, or already suspended

    def let_go(self, proc: Process) -> None:
        """Let a suspended process run on from where it is."""
        self._check_alive(proc)
        if self.stopped_exception(proc) is not None:
            raise DebugError(f"process {proc.pid} stopped at an exception: proceed, restart, return or abandon")
        proc.suspended = False
        self._requeue(proc)

    def _requeue(self, proc: Process) -> None:
        if proc.state == RUNNABLE and proc not in self.scheduler.run_queue:
            self.scheduler.run_queue.append(proc)

    # ------------------------------------------------------------------ frames

    def frames(self, proc: Process) -> list[Context]:
        """The activations of ``proc``, innermost first, without the VM's launchers; a
        stopped process's list starts where its exception was signalled (the frames
        of the signalling and stopping machinery above are left out, as in traces)."""
        self._check_alive(proc)
        ctx = proc.ctx
        signaller = self._signaller(proc)
        if signaller is not None:
            ctx = signaller
        frames = []
        while ctx is not None:
            if ctx.method.home_method.source_file != LAUNCHER_FILE:
                frames.append(ctx)
            ctx = ctx.sender
        return frames

    def _signaller(self, proc: Process) -> Context | None:
        exception = self.stopped_exception(proc)
        if type(exception) is not Instance:
            return None
        names = self.vm.all_field_names(exception.cls)
        if "signalContext" not in names:
            return None
        ctx = exception.fields[names.index("signalContext")]
        while isinstance(ctx, Context) and (ctx.receiver is exception or method_key(ctx) in CLASS_SIDE_SIGNALS):
            ctx = ctx.sender
        if not isinstance(ctx, Context) or not _on_stack(proc.ctx, ctx):
            return None
        return ctx

    @staticmethod
    def variables(ctx: Context) -> list[tuple[str, str, Any]]:
        """(role, name, value) of what ``ctx`` can name: its arguments ('argument') and
        temporaries ('temporary'), then, for a block, those of the activations it is
        nested in ('outer'). Slots the compiler made for itself are left out."""
        found: list[tuple[str, str, Any]] = []
        scope: Context | None = ctx
        while scope is not None:
            code = scope.method
            for slot, name in enumerate(code.temp_names):
                if name.startswith("<") or slot >= len(scope.stack):
                    continue
                if scope is not ctx:
                    role = "outer"
                else:
                    role = "argument" if slot < code.num_args else "temporary"
                found.append((role, name, scope.stack[slot]))
            scope = getattr(scope, "outer", None)
        return found

    @staticmethod
    def scopes(ctx: Context) -> list[list[str]]:
        """The slot names of ``ctx`` and of each activation it is nested in, innermost
        first: what code compiled to run in ``ctx``'s scope reaches by depth and slot."""
        names = []
        scope: Context | None = ctx
        while scope is not None:
            names.append(list(scope.method.temp_names))
            scope = getattr(scope, "outer", None)
        return names

    def closure_in(self, ctx: Context, block: Any) -> Closure:
        """A block of no arguments whose code runs inside ``ctx``: its outer context is
        ``ctx`` and ``self`` its receiver, so it reads and writes the frame's variables."""
        return Closure(self.vm.block_classes[0], block, ctx, ctx.receiver)

    # ------------------------------------------------------------------ resuming

    def proceed(self, proc: Process, value: Any) -> None:
        """A stopped process goes on as if its exception had been resumed with ``value``
        (the caller checks that the exception is resumable)."""
        exception = self.stopped_exception(proc)
        if exception is None:
            raise DebugError(f"process {proc.pid} is not stopped at an exception")
        self.run_on_top(proc, exception, "resume:", [value])

    def restart(self, proc: Process, ctx: Context) -> None:
        """Unwind to ``ctx`` (its ensure: blocks run) and start it over — in the new
        definition of its method when that was redefined (``latest_definition``)."""
        self._check_frame(proc, ctx)
        self.run_on_top(proc, ctx, "debugRestart", [])

    def return_from(self, proc: Process, ctx: Context, value: Any) -> None:
        """Unwind to ``ctx`` and make ``value`` its answer to its sender."""
        self._check_frame(proc, ctx)
        self.run_on_top(proc, ctx, "unwindAndReturn:", [value])

    def abandon(self, proc: Process) -> None:
        """End the process after its ensure: blocks have run: with its exception as the
        exit reason when it stopped at one, else with #killed."""
        self._check_alive(proc)
        exception = self.stopped_exception(proc)
        reason = exception if exception is not None else self.vm.symbol("killed")
        self.release(proc)
        self.run_on_top(proc, proc, "dieWith:", [reason])

    def run_on_top(self, proc: Process, receiver: Any, selector: str, args: list) -> None:
        """Resume ``proc`` by sending ``receiver selector args`` on top of its stack. A
        process parked in a primitive is unparked first (the primitive answers nil, or
        false for the debugger's own stop, whose caller then ends the process as it
        would have without a debugger)."""
        self._check_alive(proc)
        scheduler = self.scheduler
        top = proc.ctx
        if top is None:
            raise DebugError(f"process {proc.pid} has no activation left to run")
        if proc.state in (WAITING, SLEEPING):
            stopped = proc.wait_mode == WAIT_DEBUG
            scheduler.cancel_wake_timer(proc)
            top.stack.append(V.FALSE if stopped else V.NIL)
            proc.state = RUNNABLE
            proc.wait_mode = 0
            proc.wait_arg = None
            proc.timeout_value = None
        launch = scheduler.start_context(receiver, scheduler.launcher(selector, len(args)), args)
        launch.sender = top
        proc.ctx = launch
        proc.suspended = False
        self._requeue(proc)

    # ------------------------------------------------------------------ checks

    @staticmethod
    def _check_alive(proc: Process) -> None:
        if proc.state == DEAD:
            raise DebugError(f"process {proc.pid} has ended")

    def _check_frame(self, proc: Process, ctx: Context) -> None:
        self._check_alive(proc)
        if ctx.pc < 0 or not _on_stack(proc.ctx, ctx):
            raise DebugError("that frame is no longer on the process's stack")


def _on_stack(top: Context | None, target: Context) -> bool:
    while top is not None:
        if top is target:
            return True
        top = top.sender
    return False
