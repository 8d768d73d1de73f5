"""The remote shell's session: ``repl.protocol.Session`` over the network, so that the
REPL of today (``repl.app``: editing, highlighting, completion, history, commands) runs
its do-its on a node (`vm repl --connect HOST:PORT`). The node side is
``node.shell_service``, which runs an ordinary REPL session there; this side only
carries calls and output (``node.shell_client``).

Rules:
- Every call answers a ``Result`` or plain data, as a local session does; a call made
  after the connection was lost answers ``Result("quit", reason)``, and the loss is
  said once on stderr, when it happens.
- What the evaluation prints on the node (its processes' `print`/`println`) is written
  here, on this console, as it arrives.
- While an evaluation runs, Ctrl-C (SIGINT) asks the node to interrupt it: only that
  evaluation ends; the node and its other processes go on. A node that does not
  answer within ``INTERRUPT_GRACE`` of the Ctrl-C (stopped, cut off) gives the prompt
  back with an error.
- Completion data that does not come within ``COMPLETION_TIMEOUT`` is none (a slow
  node must not freeze typing).

Called from one thread (the terminal's); the client's reader thread writes output.
"""
from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

from smalltalk_vm.node.shell_client import ConnectionLost, ShellClient
from smalltalk_vm.repl.protocol import Result
from smalltalk_vm.vm.console import Console

COMPLETION_TIMEOUT = 3.0
INTERRUPT_GRACE = 5.0             # seconds a node has to answer once Ctrl-C asked it to stop
CALL_TIMEOUT = 15.0               # a command's answer (evaluations wait as long as they run)


class RemoteSession:
    """A session whose VM is a node's. ``client`` is connected (kind 'repl')."""

    def __init__(self, client: ShellClient, console: Console | None = None) -> None:
        self.console = console or Console()
        self.client: ShellClient = client
        self._command_names: list[str] | None = None
        self.attach(client)

    def attach(self, client: ShellClient) -> None:
        """Go on with a new connection (after a reconnect)."""
        self.client = client
        client.on_output = self._output
        client.on_lost = self._lost
        self._command_names = None

    @property
    def where(self) -> str:
        return f"node {self.client.node} at {self.client.address}"

    # ------------------------------------------------------------------ from the reader thread

    def _output(self, text: str, is_error: bool) -> None:
        (self.console.write_error if is_error else self.console.write)(text)

    def _lost(self, reason: str) -> None:
        self.console.end_line()
        self.console.write_error(f"connection to {self.where} lost: {reason}\n")

    # ------------------------------------------------------------------ waiting

    def _wait(self, future: Future, timeout: float | None) -> Any:
        """The call's answer; ConnectionLost, or TimeoutError past ``timeout`` or when
        the node has not answered within ``INTERRUPT_GRACE`` of a Ctrl-C (a node that
        is stopped or cut off must not hold the shell). Ctrl-C meanwhile interrupts the
        node's evaluation."""
        interrupted: list[float] = []
        with self._ctrl_c_interrupts(interrupted):
            while True:
                try:
                    return future.result(timeout=0.2)
                except TimeoutError:
                    now = time.monotonic()
                    if timeout is not None and now - self._started >= timeout:
                        raise
                    if interrupted and now - interrupted[0] >= INTERRUPT_GRACE:
                        raise

    @contextlib.contextmanager
    def _ctrl_c_interrupts(self, interrupted: list[float]) -> Iterator[None]:
        self._started = time.monotonic()
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def interrupt(number: int, frame: Any) -> None:
            interrupted.append(time.monotonic())
            self.client.interrupt()
        previous = signal.signal(signal.SIGINT, interrupt)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _result(self, method: str, *args: Any, timeout: float | None = None) -> Result:
        try:
            answer = self._wait(self.client.call(method, *args), timeout)
        except ConnectionLost as lost:
            return Result("quit", f"connection to {self.where} lost: {lost}")
        except TimeoutError:
            return Result("error", f"{self.where} did not answer in time (the connection is kept; "
                                   "its answer, if it comes, is dropped)")
        return _as_result(answer)

    def _data(self, method: str, *args: Any, empty: Any, timeout: float = COMPLETION_TIMEOUT) -> Any:
        try:
            answer = self.client.call(method, *args).result(timeout=timeout)
        except (ConnectionLost, TimeoutError):
            return empty
        return empty if isinstance(answer, dict) else answer

    # ------------------------------------------------------------------ the Session protocol

    def set_interactive(self, interactive: bool) -> None:
        with contextlib.suppress(ConnectionLost, TimeoutError):
            self.client.call("set_interactive", interactive).result(timeout=CALL_TIMEOUT)

    def evaluate(self, text: str) -> Result:
        return self._result("evaluate", text)

    def command(self, line: str) -> Result:
        return self._result("command", line)

    def command_names(self) -> list[str]:
        if self._command_names is None:
            names = self._data("command_names", empty=None)
            if names is None:
                return []
            self._command_names = [n for n in names if isinstance(n, str)]
        return self._command_names

    def names(self) -> tuple[list[str], list[str]]:
        answer = self._data("names", empty=[[], []])
        if not (isinstance(answer, list) and len(answer) == 2):
            return [], []
        return _texts(answer[0]), _texts(answer[1])

    def selectors_for(self, receiver: str | None) -> list[str]:
        return _texts(self._data("selectors_for", receiver, empty=[]))

    @property
    def alive(self) -> bool:
        return self.client.lost is None

    @property
    def lost(self) -> str | None:
        return self.client.lost

    @property
    def failure(self) -> str | None:
        return None                    # the node's VM failing ends the connection: said as lost

    @property
    def exit_status(self) -> int | None:
        return None

    def close(self) -> None:
        self.client.close()
        self.console.end_line()
        self.console.flush()


def _texts(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _as_result(answer: Any) -> Result:
    """A Result from the node's answer, checked field by field (``Result.from_plain``)."""
    if isinstance(answer, dict) and set(answer) == {"error"}:
        return Result("error", str(answer["error"]))
    try:
        return Result.from_plain(answer)
    except ValueError as fault:
        return Result("error", f"the node answered something that is not a result: {fault}")
