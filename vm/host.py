"""Runs a machine's scheduler on a thread of its own — the VM thread — so that processes
keep running while the REPL waits for input, and lets other threads hand it work.

Other threads never touch VM objects: they ``call`` a function, which runs on the VM
thread between time slices, and wait for its result. Deaths of processes someone is
waiting for are reported through ``watch``.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from smalltalk_vm.vm.machine import Machine
from smalltalk_vm.vm.process import Process


class VMHost:
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
            self.ended.set()

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

        def run() -> None:
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
