"""The REPL's debugger commands, session side: `:debug [PID]`, `:frame N`, `:eval`,
`:proceed`, `:restart`, `:return`, `:abandon`. The mechanics (stopping, suspending,
frames, resuming) are ``vm.debugger``; compiling in a frame's scope is
``compiler.frame_doit``; this module decides what each command means for the user and
answers plain data (``Result`` kinds 'debug' and 'frame', rendered by the terminal side).

Rules:
- The debugged process is the stopped do-it unless `:debug PID` attached another one;
  a newly stopped do-it takes over (as a new debugger window would).
- Resuming the stopped do-it (proceed, restart, return) waits for it as for any do-it:
  its value is shown when it ends, and it stops again at its next unhandled error.
  Resuming an attached process lets it run on in the background and answers at once.
- VM objects are touched on the VM thread only; a request that cannot be carried out
  answers an error Result naming the reason.
"""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from smalltalk_vm.compiler.frame_doit import compile_in_frame
from smalltalk_vm.compiler.front import check_text
from smalltalk_vm.repl.outcome import shown
from smalltalk_vm.repl.protocol import Result
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.debugger import DebugError, latest_definition
from smalltalk_vm.vm.objects import Context
from smalltalk_vm.vm.primitives.context import context_line, describe_context
from smalltalk_vm.vm.process import Process

FRAMES_SHOWN = 30          # frames listed by :debug (any can be selected with :frame)
EVAL_FILE = "<eval>"       # the file name of code typed to :eval, :return, :proceed


class DebugCommands:
    """The debugger's state for one session: the process attached with `:debug PID`
    (if any) and the selected frame. Called on the session's thread; VM objects are
    read through ``session.host``."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.debugger = session.debugger
        self.attached: Process | None = None
        self.selected = 1

    def table(self) -> dict[str, Callable[[str], Result]]:
        return {":debug": self.debug, ":frame": self.frame, ":eval": self.evaluate,
                ":proceed": self.proceed, ":restart": self.restart, ":return": self.return_value,
                ":abandon": self.abandon}

    def forget_target(self) -> None:
        """VM thread: a do-it has just stopped; it becomes the one debugged."""
        self.attached = None
        self.selected = 1

    # ------------------------------------------------------------------ looking

    def debug(self, argument: str) -> Result:
        if argument:
            if not argument.isdigit():
                return Result("error", ":debug takes a process id (see :processes), or nothing")
            problem = self.session.host.call(lambda: self._attach(int(argument)))
            if problem is not None:
                return Result("error", problem)
        return self.session.host.call(lambda: self._guarded(self._listing))

    def _attach(self, pid: int) -> str | None:
        """VM thread: debug process ``pid``, suspending it unless it is stopped."""
        proc = self.session.machine.scheduler.processes.get(pid)
        if proc is None or not proc.alive:
            return f"no live process {pid} (see :processes)"
        if proc is self.session.current:
            return f"process {pid} is the REPL's own evaluation"
        stopped = self.session.stopped
        self.attached = None if stopped is not None and stopped.proc is proc else proc
        self.selected = 1
        if self.attached is not None:
            self.debugger.suspend(proc)
        return None

    def _listing(self) -> Result:
        proc = self._target()
        frames = self.debugger.frames(proc)
        self.selected = min(self.selected, max(len(frames), 1))
        shown = [{"index": i, "where": describe_context(ctx), "source": source_line(ctx),
                  "selected": i == self.selected}
                 for i, ctx in enumerate(frames[:FRAMES_SHOWN], 1)]
        return Result("debug", data={"pid": proc.pid, "status": self._status(proc), "frames": shown,
                                     "more": max(len(frames) - FRAMES_SHOWN, 0)})

    def _status(self, proc: Process) -> str:
        exception = self.debugger.stopped_exception(proc)
        if exception is not None:
            machine = self.session.machine
            return (f"stopped at {self.session.universe.class_of(exception).name}: "
                    f"{machine.describe_reason(exception)}")
        return f"suspended ({proc.state})"

    def frame(self, argument: str) -> Result:
        if not argument.isdigit() or int(argument) < 1:
            return Result("error", ":frame takes a frame number (see :debug)")

        def select() -> Result:
            frames = self.debugger.frames(self._target())
            index = int(argument)
            if index > len(frames):
                return Result("error", f"there are {len(frames)} frames")
            self.selected = index
            return self._frame_view(frames[index - 1])
        result = self.session.host.call(lambda: self._guarded(select))
        if result.kind != "frame":
            return result
        data = result.data
        values = self.session.print_all(data.pop("values"))
        data["receiver"] = values[0]
        for variable, text in zip(data["variables"], values[1:]):
            variable["value"] = text
        return result

    def _frame_view(self, ctx: Context) -> Result:
        """VM thread: the frame's description; its values are printed afterwards."""
        variables = self.debugger.variables(ctx)
        redefined = latest_definition(ctx.method.home_method) is not None
        return Result("frame", data={
            "index": self.selected, "where": describe_context(ctx), "source": source_line(ctx),
            "variables": [{"role": role, "name": name, "value": ""} for role, name, _ in variables],
            "values": [ctx.receiver, *(value for _, _, value in variables)],
            "redefined": redefined})

    # ------------------------------------------------------------------ evaluating

    def evaluate(self, argument: str) -> Result:
        if not argument:
            return Result("error", ":eval needs an expression")
        outcome = self._run_in_frame(argument)
        if outcome.status == "value":
            return self.session.print_value(outcome.value)
        return self.session.present(outcome)

    def _run_in_frame(self, text: str) -> Any:
        """Run ``text`` in the selected frame's scope, in a process of its own."""
        def spawn() -> Process:
            ctx = self._selected_frame()
            universe = self.session.universe
            block = compile_in_frame(universe, check_text(text, EVAL_FILE), EVAL_FILE,
                                     universe.all_field_names(universe.class_of(ctx.receiver)),
                                     self.debugger.scopes(ctx), ctx.method.home_method.holder)
            return self.session.machine.spawn_send(self.debugger.closure_in(ctx, block), "value", [])
        return self.session.finish(spawn, source=text)

    def _value_of(self, text: str) -> tuple[Any, Result | None]:
        """The value of ``text`` in the selected frame (nil for no text), or the
        Result to show instead when it could not be computed."""
        if not text:
            return V.NIL, None
        outcome = self._run_in_frame(text)
        if outcome.status == "value":
            return outcome.value, None
        return None, self.session.present(outcome)

    # ------------------------------------------------------------------ resuming

    def proceed(self, argument: str) -> Result:
        def check() -> tuple[Process, Any]:
            proc = self._target()
            return proc, self.debugger.stopped_exception(proc)
        try:
            proc, exception = self.session.host.call(check)
        except DebugError as error:
            return Result("error", str(error))
        if exception is None:
            if argument:
                return Result("error", f"process {proc.pid} did not stop at an exception: :proceed takes no value")
            return self._resume(lambda: self.debugger.let_go(proc), "resumed")
        resumable = self.session.finish(lambda: self.session.machine.spawn_send(exception, "isResumable", []),
                                        timeout=5)
        if resumable.status != "value" or resumable.value != V.TRUE:
            name = self.session.host.call(lambda: self.session.universe.class_of(exception).name)
            return Result("error", f"{name} is not resumable: use :return, :restart or :abandon")
        value, problem = self._value_of(argument)
        if problem is not None:
            return problem
        return self._resume(lambda: self.debugger.proceed(proc, value), "resumed")

    def restart(self, argument: str) -> Result:
        if argument:
            return Result("error", ":restart takes nothing: it restarts the selected frame (:frame N selects)")

        def act() -> None:
            ctx = self._selected_frame()
            method = ctx.method.home_method
            if ctx.closure is not None and latest_definition(method) is not None:
                home = _index_of(self.debugger.frames(self._target()), ctx.home)
                if home is not None:
                    raise DebugError(f"frame {self.selected} is a block of {method.holder.name}>>{method.selector}, "
                                     f"which has been redefined: restart frame {home} to run the new definition")
            self.debugger.restart(self._target(), ctx)
        return self._resume(act, f"restarted at frame {self.selected}")

    def return_value(self, argument: str) -> Result:
        value, problem = self._value_of(argument)
        if problem is not None:
            return problem
        return self._resume(lambda: self.debugger.return_from(self._target(), self._selected_frame(), value),
                            f"returned from frame {self.selected}")

    def abandon(self, argument: str) -> Result:
        if argument:
            return Result("error", ":abandon takes nothing")
        return self._resume(lambda: self.debugger.abandon(self._target()), "abandoned")

    def _resume(self, act: Callable[[], None], done: str) -> Result:
        """Carry out ``act`` (VM thread). The stopped do-it is then waited for like
        any evaluation; an attached process runs on by itself."""
        session = self.session
        started: list[Any] = []

        def start() -> Future:
            future: Future = Future()
            try:
                proc = self._target()
                act()                  # it only queues the process: nothing has run yet
            except DebugError as error:
                future.set_result(shown(Result("error", str(error))))
                return future
            stopped = session.stopped
            if self.attached is not None or stopped is None or stopped.proc is not proc:
                self.attached = None
                future.set_result(shown(Result("output", f"process {proc.pid} {done}")))
                return future
            stopped.future = future
            stopped.abandoning = done == "abandoned"
            session.current = proc
            started.append(stopped)
            return future
        outcome = session.wait_for(start)
        return session.present(outcome, started[0].echo if started else True)

    # ------------------------------------------------------------------ VM thread helpers

    def _target(self) -> Process:
        attached = self.attached
        if attached is not None:
            if not attached.alive:
                self.attached = None
                raise DebugError(f"process {attached.pid} has ended")
            return attached
        stopped = self.session.stopped
        if stopped is None:
            raise DebugError("nothing to debug: a do-it that fails stops here for :debug, "
                             "and :debug PID attaches to a live process")
        return stopped.proc

    def _selected_frame(self) -> Context:
        frames = self.debugger.frames(self._target())
        if not frames:
            raise DebugError("the process has no frames")
        return frames[min(self.selected, len(frames)) - 1]

    @staticmethod
    def _guarded(view: Callable[[], Result]) -> Result:
        try:
            return view()
        except DebugError as error:
            return Result("error", str(error))


def source_line(ctx: Context) -> str:
    """The line of source ``ctx`` is at, without its indentation ('' when unknown)."""
    method = ctx.method.home_method
    source = method.source if method is not None else ""
    if not source:
        return ""
    lines = source.splitlines()
    index = context_line(ctx) - method.first_line
    return lines[index].strip() if 0 <= index < len(lines) else ""


def _index_of(frames: list[Context], ctx: Context | None) -> int | None:
    for i, frame in enumerate(frames, 1):
        if frame is ctx:
            return i
    return None
