"""Runs a machine's scheduler on a thread of its own — the VM thread — so that processes
keep running while the REPL waits for input, and lets other threads hand it work.

Other threads never touch VM objects: they ``call`` a function, which runs on the VM
thread between time slices, and wait for its result. Deaths of processes someone is
waiting for are reported through ``watch``.

Rules:
- Work handed over is either run or failed with ``VMStopped``: once the VM thread has
  ended (stopped, or died of a bug), work still waiting and work submitted later
  fail at once, so no thread waits for ever on a Future the VM thread will never
  settle.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from smalltalk_vm.vm.machine import Machine
from smalltalk_vm.vm.process import Process


class VMStopped(RuntimeError):
    """The VM thread has ended: the work handed to it will not run."""


class VMHost:
    """The VM thread of one machine. Any thread may call ``submit``, ``call``, ``stop``
    and read ``alive``; ``watch`` and the work itself run on the VM thread. ``call``
    blocks until the work has run (TimeoutError past ``timeout``), ``stop`` for at most
    five seconds; the others never block. Work that cannot run fails with VMStopped."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.scheduler = machine.scheduler
        self.thread: threading.Thread | None = None
        self.stopping = False
        self.ended = threading.Event()
        self.end_reason = ""
        self.failure: str | None = None    # why the VM thread died, when it did not stop
        self.watchers: dict[int, Callable[[Process, Any], None]] = {}
        self.scheduler.on_death.append(self._died)
        self._pending: set[Future] = set()     # submitted, not yet run
        self._lock = threading.Lock()

    def start(self) -> None:
        # The REPL is an outside source of work: without it the VM would call an idle
        # moment a deadlock.
        self.scheduler.outside_sources += 1
        self.thread = threading.Thread(target=self._loop, name="vm", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        try:
            self.end_reason = self.scheduler.run_until(lambda: self.stopping)
        except BaseException as error:
            self.failure = f"{type(error).__name__}: {error}"
            self.end_reason = f"VM thread failed: {self.failure}"
        finally:
            with self._lock:
                self.ended.set()
                stranded, self._pending = self._pending, set()
            for future in stranded:
                if future.set_running_or_notify_cancel():
                    future.set_exception(VMStopped(self.end_reason or "the VM stopped"))

    def stop(self) -> None:
        self.stopping = True
        self.scheduler.post(lambda: None)          # wake the loop if it is idle
        if self.thread is not None:
            self.thread.join(timeout=5)

    @property
    def alive(self) -> bool:
        return not self.ended.is_set()

    def submit(self, work: Callable[[], Any]) -> Future:
        """Run ``work`` on the VM thread; its result (or exception) lands in the Future."""
        future: Future = Future()
        with self._lock:
            if self.ended.is_set():
                future.set_exception(VMStopped(self.end_reason or "the VM stopped"))
                return future
            self._pending.add(future)

        def run() -> None:
            with self._lock:
                self._pending.discard(future)
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(work())
                except BaseException as error:
                    future.set_exception(error)
        self.scheduler.post(run)
        return future

    def call(self, work: Callable[[], Any], timeout: float | None = 10.0) -> Any:
        return self.submit(work).result(timeout=timeout)

    def watch(self, proc: Process, on_death: Callable[[Process, Any], None]) -> None:
        """Call ``on_death(proc, reason)`` on the VM thread when ``proc`` dies."""
        self.watchers[proc.pid] = on_death

    def _died(self, proc: Process, reason: Any) -> None:
        callback = self.watchers.pop(proc.pid, None)
        if callback is not None:
            callback(proc, reason)
