"""The scheduler: the VM thread's loop over runnable processes, the timer heap, and the
thread-safe inbox through which the outside world (network, REPL, signals) posts work.

Processes run for a budget of reductions and go to the back of the run queue; parked
processes (receive, sleep, promise wait) are not in the queue until something wakes
them. The exit-signal rules (links, monitors, trapExit) live in ``vm.signals``; this
module decides only who runs when.
"""
from __future__ import annotations

import heapq
import itertools
import queue
import time
from collections import deque
from typing import Any, Callable

from vm import value as V
from vm.interpreter import FINISHED, YIELDED, Interpreter, nils
from vm.objects import Context
from vm.process import DEAD, RUNNABLE, SLEEPING, WAITING, Process

BUDGET = 2000          # reductions per time slice


class Timer:
    __slots__ = ("deadline", "seq", "action", "cancelled")

    def __init__(self, deadline: float, seq: int, action: Callable[[], None]) -> None:
        self.deadline = deadline
        self.seq = seq
        self.action = action
        self.cancelled = False

    def __lt__(self, other: "Timer") -> bool:
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
        self.pids = itertools.count(1)
        self.current: Process | None = None
        self.registry: dict[str, Process] = {}
        self.outside_sources = 0          # open REPL/network feeds that may still post work
        self.on_death: list[Callable[[Process], None]] = []
        self.process_class: Any = None     # set once lib/Process.som is loaded

    # ------------------------------------------------------------------ processes

    def spawn(self, ctx: Context) -> Process:
        proc = Process(self.process_class, next(self.pids), ctx)
        proc.spawned_at = time.monotonic()
        self.processes[proc.pid] = proc
        self.run_queue.append(proc)
        return proc

    def start_context(self, receiver: Any, method: Any, args: list) -> Context:
        """A bottom context running ``method`` on ``receiver`` with ``args``."""
        stack = list(args)
        stack.extend(nils(method.num_temps))
        return Context(self.vm.Context, method, stack, receiver, None, None, None)

    def make_runnable(self, proc: Process, value: Any = None, push: bool = True) -> None:
        """Wake a parked process; ``value`` becomes the result of the primitive that
        parked it."""
        if proc.state == DEAD:
            return
        if proc.wake_timer is not None:
            proc.wake_timer.cancelled = True
            proc.wake_timer = None
        if push:
            proc.ctx.stack.append(V.NIL if value is None else value)
        if proc.state != RUNNABLE:
            proc.state = RUNNABLE
            self.run_queue.append(proc)

    def park(self, proc: Process, state: str) -> None:
        proc.state = state

    # ------------------------------------------------------------------ timers

    def add_timer(self, delay_seconds: float, action: Callable[[], None]) -> Timer:
        timer = Timer(time.monotonic() + max(delay_seconds, 0.0), next(self.timer_seq), action)
        heapq.heappush(self.timers, timer)
        return timer

    def _fire_due_timers(self) -> None:
        now = time.monotonic()
        timers = self.timers
        while timers and timers[0].deadline <= now:
            timer = heapq.heappop(timers)
            if not timer.cancelled:
                timer.action()

    def _next_deadline(self) -> float | None:
        timers = self.timers
        while timers and timers[0].cancelled:
            heapq.heappop(timers)
        return timers[0].deadline if timers else None

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
        work()
        while True:
            try:
                work = self.inbox.get_nowait()
            except queue.Empty:
                return
            work()

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
            self._fire_due_timers()
            if not self.inbox.empty():
                self._drain_inbox(None)
            if not run_queue:
                deadline = self._next_deadline()
                if deadline is None and self.outside_sources == 0 and self.inbox.empty():
                    if done():
                        return "done"
                    return "deadlock"
                wait = None if deadline is None else max(0.0, deadline - time.monotonic())
                self._drain_inbox(wait if wait is not None else 0.05)
                continue
            proc = run_queue.popleft()
            if proc.state != RUNNABLE:
                continue
            self.current = proc
            status = interp.run(proc, BUDGET)
            self.current = None
            if status == YIELDED:
                run_queue.append(proc)
            elif status == FINISHED or (proc.ctx is None and proc.state != DEAD):
                self.terminate(proc, vm.symbol("normal"))
            elif proc.state == RUNNABLE and proc.ctx is not None:
                run_queue.append(proc)

    def terminate(self, proc: Process, reason: Any) -> None:
        """End ``proc`` with ``reason`` (no unwinding: that is the process's own
        business before it gets here) and tell whoever needs to know."""
        if proc.state == DEAD:
            return
        proc.state = DEAD
        proc.exit_reason = reason
        if proc.wake_timer is not None:
            proc.wake_timer.cancelled = True
            proc.wake_timer = None
        if proc.ctx is not None:
            walker = proc.ctx
            while walker is not None:
                walker.pc = -1
                walker = walker.sender
        proc.ctx = None
        proc.mailbox.clear()
        self.processes.pop(proc.pid, None)
        if proc.name is not None and self.registry.get(proc.name) is proc:
            del self.registry[proc.name]
        for hook in self.on_death:
            hook(proc)

    def waiting_count(self) -> int:
        return sum(1 for p in self.processes.values() if p.state in (WAITING, SLEEPING))
