"""The scheduler: the VM thread's loop over runnable processes, the timer heap, the
thread-safe inbox through which the outside world (network, REPL, signals) posts work,
and the mechanics of parking and waking (mailbox delivery, sleeping, timeouts).

Processes run for a budget of reductions and go to the back of the run queue; parked
processes are out of the queue until something wakes them. What an exit signal does
(links, monitors, trapExit) is ``vm.signals``; this module decides who runs when.

The loop survives anything its parts raise: a process's slice cannot raise (the
interpreter's fault boundary, ``vm.faults``), and a failing timer action, piece of inbox
work or death hook is reported on the error output and the loop goes on. Cancelled
timers leave the heap once they outnumber the live ones, so a server that cancels a
long timeout per message does not grow.
"""
from __future__ import annotations

import heapq
import itertools
import queue
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from smalltalk_vm.vm import bytecodes as B
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.interpreter import FINISHED, SWITCHED, YIELDED, Interpreter, nils
from smalltalk_vm.vm.objects import LAUNCHER_FILE, CompiledMethod, Context, SendSite, new_method_context
from smalltalk_vm.vm.process import (
    DEAD,
    FOREVER_MS,
    MOVED,
    RUNNABLE,
    SLEEPING,
    WAIT_BEYOND,
    WAIT_RECEIVE,
    WAIT_WAKE,
    WAITING,
    Process,
)
from smalltalk_vm.vm.quicken import quicken

BUDGET = 2000          # reductions per time slice
# A process's stack is bounded by activations and by slots (arguments, temporaries and
# operands: what its memory grows with). Past either limit it gets a catchable "stack
# overflow" Error at its top; past HARD_LIMIT times either (its handlers recursed on)
# it is ended at once.
MAX_DEPTH = 1_000_000
MAX_SLOTS = 10_000_000
HARD_LIMIT = 2
DEPTH_MARK_BELOW_TOP = 256   # how far below the top the depth check leaves its mark
MAX_IDLE_WAIT = 1.0    # seconds the idle loop blocks on the inbox before it looks again
COMPACT_AT = 64        # cancelled timers tolerated in the heap before it may be rebuilt


class Timer:
    __slots__ = ("action", "cancelled", "deadline", "seq")

    def __init__(self, deadline: float, seq: int, action: Callable[[], None]) -> None:
        self.deadline = deadline
        self.seq = seq
        self.action = action
        self.cancelled = False

    def __lt__(self, other: Timer) -> bool:
        return (self.deadline, self.seq) < (other.deadline, other.seq)


class Scheduler:
    def __init__(self, universe: Any, interpreter: Interpreter) -> None:
        self.vm = universe
        universe.scheduler = self
        self.interpreter = interpreter
        self.run_queue: deque[Process] = deque()
        self.timers: list[Timer] = []
        self.timer_seq = itertools.count()
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.processes: dict[int, Process] = {}
        self.next_pid = 1
        self.current: Process | None = None
        self.outside_group: Any = None     # the output group of work posted from outside (a shell's)
        self.registry: dict[str, Process] = {}
        self.outside_sources = 0          # open REPL/network feeds that may still post work
        self.on_death: list[Callable[[Process, Any], None]] = []
        self.process_class: Any = None     # set once lib/Process.som is loaded
        self._launchers: dict[tuple[str, int], CompiledMethod] = {}
        self._dying: deque[tuple[Process, Any]] = deque()
        self._burying = False
        self._cancelled_timers = 0

    # ------------------------------------------------------------------ processes

    def spawn(self, ctx: Context) -> Process:
        proc = Process(self.process_class, self.next_pid, ctx)
        # As Erlang's group leader: a process writes where the one that spawned it does.
        spawner = self.current
        proc.group = spawner.group if spawner is not None else self.outside_group
        self.next_pid += 1
        self.processes[proc.pid] = proc
        self.run_queue.append(proc)
        return proc

    def spawn_send(self, receiver: Any, selector: str, args: list) -> Process:
        """A new process whose bottom context sends ``receiver selector args`` (through
        a launcher method, so primitives and doesNotUnderstand: work as for any send)."""
        return self.spawn(self.start_context(receiver, self.launcher(selector, len(args)), args))

    def launcher(self, selector: str, argc: int) -> CompiledMethod:
        key = (selector, argc)
        method = self._launchers.get(key)
        if method is None:
            code = [B.PUSH_SELF]
            for slot in range(argc):
                code += [B.PUSH_LOCAL, slot]
            code += [B.SEND, 0, B.RETURN]
            method = CompiledMethod(self.vm.Method, selector, argc, 0, code, [],
                                    [SendSite(selector, argc)])
            method.holder = self.vm.Object
            method.source_file = LAUNCHER_FILE
            method.temp_names = [f"arg{i}" for i in range(argc)]
            quicken(method)
            self._launchers[key] = method
        return method

    def start_context(self, receiver: Any, method: Any, args: list) -> Context:
        """A bottom context running ``method`` on ``receiver`` with ``args``."""
        stack = list(args)
        stack.extend(nils(method.num_temps))
        return new_method_context(self.vm.method_context_class, method, stack, receiver, None)

    def peek_pid(self) -> int:
        """The pid the next process will get (images keep numbering going)."""
        return self.next_pid

    def restart_pids(self, next_pid: int) -> None:
        self.next_pid = next_pid

    def live_processes(self) -> list[Process]:
        return list(self.processes.values())

    # ------------------------------------------------------------------ parking and waking

    def make_runnable(self, proc: Process, value: Any = V.NIL) -> None:
        """Wake a parked process; ``value`` becomes the result of the primitive that
        parked it."""
        if proc.state == DEAD:
            return
        self.cancel_wake_timer(proc)
        proc.ctx.stack.append(value)
        proc.wait_mode = 0
        proc.wait_arg = None
        proc.timeout_value = None
        if proc.state != RUNNABLE:
            proc.state = RUNNABLE
            self.run_queue.append(proc)

    def park(self, proc: Process, ctx: Context, state: str, mode: int = 0, arg: Any = None,
             timeout_ms: float | None = None, on_timeout: Any = V.NIL) -> None:
        """Park ``proc`` (whose active context is ``ctx``); after ``timeout_ms`` it
        wakes with ``on_timeout`` as the primitive's result."""
        proc.ctx = ctx
        proc.state = state
        proc.wait_mode = mode
        proc.wait_arg = arg
        if timeout_ms is not None and timeout_ms < FOREVER_MS:
            self.set_wake_timer(proc, timeout_ms / 1000.0, on_timeout)

    def set_wake_timer(self, proc: Process, seconds: float, on_timeout: Any) -> None:
        proc.timeout_value = on_timeout
        proc.wake_timer = self.add_timer(seconds, lambda: self._time_out(proc))

    def cancel_wake_timer(self, proc: Process) -> None:
        if proc.wake_timer is not None:
            self.cancel_timer(proc.wake_timer)
            proc.wake_timer = None

    def _time_out(self, proc: Process) -> None:
        proc.wake_timer = None
        if proc.state in (WAITING, SLEEPING):
            self.make_runnable(proc, proc.timeout_value)

    def deliver(self, proc: Process, message: Any) -> None:
        """Put a message in a mailbox (never fails; a dead process drops it) and wake a
        receiver waiting for it. A process that moved to another node forwards it."""
        if proc.state == DEAD:
            return
        if proc.state == MOVED:
            self.vm.distribution.forward(proc, message)
            return
        if proc.state == WAITING and proc.wait_mode == WAIT_RECEIVE and not proc.mailbox:
            self.make_runnable(proc, message)
            return
        if proc.mailbox is None:
            proc.mailbox = deque()
        proc.mailbox.append(message)
        if proc.state == WAITING and proc.wait_mode == WAIT_BEYOND and len(proc.mailbox) > proc.wait_arg:
            self.make_runnable(proc, V.TRUE)

    def wake(self, proc: Process) -> None:
        """Wake a process parked with WAIT_WAKE; remember the wake if it is not parked
        yet, so the park that follows returns at once."""
        if proc.state == WAITING and proc.wait_mode == WAIT_WAKE:
            self.make_runnable(proc, V.TRUE)
        elif proc.state != DEAD:
            proc.wake_pending = True

    # ------------------------------------------------------------------ timers

    def add_timer(self, delay_seconds: float, action: Callable[[], None]) -> Timer:
        timer = Timer(time.monotonic() + max(delay_seconds, 0.0), next(self.timer_seq), action)
        heapq.heappush(self.timers, timer)
        return timer

    def cancel_timer(self, timer: Timer) -> None:
        """The timer will not fire. It leaves the heap lazily: when it reaches the top,
        or when cancelled timers outnumber live ones and the heap is rebuilt."""
        if timer.cancelled:
            return
        timer.cancelled = True
        self._cancelled_timers += 1
        if self._cancelled_timers > COMPACT_AT and self._cancelled_timers * 2 > len(self.timers):
            self.timers = [t for t in self.timers if not t.cancelled]
            heapq.heapify(self.timers)
            self._cancelled_timers = 0

    def _pop_timer(self) -> Timer:
        timer = heapq.heappop(self.timers)
        if timer.cancelled:
            self._cancelled_timers -= 1
        return timer

    def _fire_due_timers(self) -> None:
        now = time.monotonic()
        timers = self.timers
        while timers and timers[0].deadline <= now:
            timer = self._pop_timer()
            timers = self.timers
            if not timer.cancelled:
                timer.cancelled = True          # fired: a later cancel is a no-op
                self._guarded(timer.action, "a timer")

    def _next_deadline(self) -> float | None:
        while self.timers and self.timers[0].cancelled:
            self._pop_timer()
        return self.timers[0].deadline if self.timers else None

    # ------------------------------------------------------------------ inbox

    def post(self, work: Callable[[], None]) -> None:
        """Thread-safe: run ``work`` on the VM thread between time slices."""
        self.inbox.put(work)

    def _drain_inbox(self, block_for: float | None) -> None:
        try:
            if block_for is None:
                work = self.inbox.get_nowait()
            else:
                work = self.inbox.get(timeout=block_for)
        except queue.Empty:
            return
        self._guarded(work, "work posted to the VM")
        while True:
            try:
                work = self.inbox.get_nowait()
            except queue.Empty:
                return
            self._guarded(work, "work posted to the VM")

    def _guarded(self, action: Callable[..., Any], what: str, *args: Any) -> None:
        """Run ``action(*args)``; a Python exception is reported and the loop goes on."""
        try:
            action(*args)
        except Exception as error:
            self.report_internal(f"{what}: {type(error).__name__}: {error}")

    def report_internal(self, text: str) -> None:
        try:
            self.vm.error_output(f"vm: internal error in {text}\n")
        except Exception:
            pass                    # nowhere left to say it; the loop must go on

    # ------------------------------------------------------------------ loop

    def run_until(self, done: Callable[[], bool]) -> str:
        """Run processes until ``done()`` holds; answer 'done', 'exit' (system exit:)
        or 'deadlock' (nothing can ever run again)."""
        interp = self.interpreter
        run_queue = self.run_queue
        vm = self.vm
        while True:
            if vm.exit_status is not None:
                return "exit"
            if done():
                return "done"
            if self.timers:
                self._fire_due_timers()
            if not self.inbox.empty():
                self._drain_inbox(None)
            if not run_queue:
                deadline = self._next_deadline()
                if deadline is None and self.outside_sources == 0 and self.inbox.empty():
                    return "done" if done() else "deadlock"
                wait = 0.05 if deadline is None else min(max(0.0, deadline - time.monotonic()), MAX_IDLE_WAIT)
                self._drain_inbox(wait)
                continue
            proc = run_queue.popleft()
            if proc.state != RUNNABLE or proc.suspended:
                continue            # a suspended process is queued again when a debugger lets it go
            self.current = proc
            try:
                status = interp.run(proc, BUDGET)
            except Exception as error:            # a bug in the fault boundary itself
                status = self._slice_failed(proc, error)
            self.current = None
            # A slice that used its budget counts it; one ended early (a receive, the
            # end) counts one: the interpreter keeps its count in a local of its loop.
            proc.reductions += BUDGET if status == YIELDED else 1
            if status == YIELDED:
                self._guarded(self.check_depth, "the stack depth check", proc)
                run_queue.append(proc)
            elif status == FINISHED or (proc.ctx is None and proc.state != DEAD):
                self.terminate(proc, vm.symbol("normal"))
            elif proc.state == RUNNABLE:
                run_queue.append(proc)

    def _slice_failed(self, proc: Process, error: Exception) -> int:
        """End a process whose slice raised past the fault boundary."""
        text = f"the interpreter: {type(error).__name__}: {error}"
        self.report_internal(f"process {proc.pid}: {text}")
        self._guarded(self.interpreter.end_process, "ending a failed process", proc,
                      f"internal error in {text}", [])
        if proc.state != DEAD:
            self.terminate(proc, self.vm.symbol("internalError"))
        return SWITCHED

    def check_depth(self, proc: Process) -> None:
        """After each slice: runaway recursion would take all memory, so past MAX_DEPTH
        activations or MAX_SLOTS slots the process gets a "stack overflow" Error at its
        top (catchable, like any error); past HARD_LIMIT times that, it is ended.

        The walk is incremental: the previous check left a mark (a context some way
        below the top, with the depth and slots from it down), and while that context
        is live — returned contexts have pc -1, and the stack below a live one does not
        change — the walk stops there. So a check costs what the top of the stack did
        since, not the whole depth."""
        depth = slots = 0
        mark = proc.depth_mark
        new_mark = None
        ctx = proc.ctx
        while ctx is not None:
            if mark is not None and ctx is mark[0] and ctx.pc >= 0:
                depth += mark[1]
                slots += mark[2]
                break
            if depth == DEPTH_MARK_BELOW_TOP:
                new_mark = ctx
            depth += 1
            slots += len(ctx.stack)
            ctx = ctx.sender
        if new_mark is not None:
            # The mark's own totals: everything from it down.
            above, above_slots = self._above(proc.ctx, new_mark)
            proc.depth_mark = (new_mark, depth - above, slots - above_slots)
        elif mark is None or proc.ctx is None:
            proc.depth_mark = None
        if depth <= MAX_DEPTH and slots <= MAX_SLOTS:
            proc.overflowed = False
            return
        what = (f"more than {MAX_DEPTH} activations" if depth > MAX_DEPTH
                else f"more than {MAX_SLOTS} slots in {depth} activations")
        if depth > HARD_LIMIT * MAX_DEPTH or slots > HARD_LIMIT * MAX_SLOTS:
            proc.depth_mark = None
            self.interpreter.end_process(proc, f"stack overflow: {what}, still growing after the error",
                                         self._overflow_trace(proc.ctx), class_name="Error")
            return
        if proc.overflowed:
            return                  # it already has its error; it may be handling it
        proc.overflowed = True
        proc.ctx = self.interpreter.signal_in(proc, "Error", f"stack overflow: {what}")

    @staticmethod
    def _above(top: Context | None, mark: Context) -> tuple[int, int]:
        """Activations and slots from ``top`` down to, not including, ``mark``."""
        depth = slots = 0
        while top is not None and top is not mark:
            depth += 1
            slots += len(top.stack)
            top = top.sender
        return depth, slots

    @staticmethod
    def _overflow_trace(ctx: Context | None, ends: int = 10) -> list[str]:
        """The first and the last frames of a runaway stack."""
        from smalltalk_vm.vm.primitives.context import describe_context
        frames = []
        while ctx is not None:
            frames.append(ctx)
            ctx = ctx.sender
        if len(frames) <= 2 * ends:
            return [describe_context(c) for c in frames]
        return ([describe_context(c) for c in frames[:ends]] + [f"... {len(frames) - 2 * ends} more ..."]
                + [describe_context(c) for c in frames[-ends:]])

    # ------------------------------------------------------------------ death

    def clear_ended(self, proc: Process, reason: Any) -> None:
        """Mark ``proc`` ended with ``reason`` and let go of what it ran with (its
        stack, mailbox, timer, table entry and registered name), telling nobody:
        ``terminate`` then tells the death hooks; a process that moved away
        (``node.bundle_freeze.retire``) is ended without them."""
        proc.state = DEAD
        proc.exit_reason = reason
        if proc.result is None:
            proc.result = V.NIL        # ended without returning (`exit: #normal`): no value
        proc.depth_mark = None         # it holds a context, and so a whole dead stack
        self.cancel_wake_timer(proc)
        walker = proc.ctx
        while walker is not None:
            walker.pc = -1
            walker = walker.sender
        proc.ctx = None
        proc.mailbox = None
        self.processes.pop(proc.pid, None)
        # The name goes before links and monitors hear of the death (Erlang's order).
        if proc.name is not None and self.registry.get(proc.name) is proc:
            del self.registry[proc.name]

    def terminate(self, proc: Process, reason: Any) -> None:
        """End ``proc`` with ``reason`` — no unwinding (that is the process's own
        business before it gets here) — and tell whoever must know. Deaths that cause
        further deaths are handled one after another, never by recursion."""
        if proc.state == DEAD:
            return
        self.clear_ended(proc, reason)
        self._dying.append((proc, reason))
        if self._burying:
            return
        self._burying = True
        try:
            while self._dying:
                dead, why = self._dying.popleft()
                for hook in self.on_death:
                    self._guarded(hook, f"reporting the death of process {dead.pid}", dead, why)
        finally:
            self._burying = False

    def waiting_count(self) -> int:
        return sum(1 for p in self.processes.values() if p.state in (WAITING, SLEEPING))
