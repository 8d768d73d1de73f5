"""The Process object: a green thread's state as VM data — its chain of contexts, and
(with the scheduler) its mailbox, links, monitors and exit reason. Pure data; the
scheduler (``vm.scheduler``) owns the rules that change it."""
from __future__ import annotations

from collections import deque
from typing import Any

# Process states (answered by `p status` as Symbols of the same name).
RUNNABLE = "runnable"
WAITING = "waiting"      # parked in receive, or on a promise
SLEEPING = "sleeping"    # parked until a timer fires
DEAD = "dead"


class Process:
    __slots__ = ("cls", "pid", "ctx", "state", "result", "exit_reason", "crash_trace",
                 "mailbox", "links", "monitors", "monitored_by", "trap_exit", "name",
                 "receive_filter", "wake_timer", "waiting_on", "resume_value", "ihash",
                 "spawned_at", "on_exit")

    def __init__(self, cls: Any, pid: int, ctx: Any) -> None:
        self.cls = cls
        self.pid = pid
        self.ctx = ctx                      # the active context; None once finished
        self.state = RUNNABLE
        self.result: Any = None             # what the bottom context returned
        self.exit_reason: Any = None        # set when the process dies
        self.crash_trace: list[str] | None = None
        self.mailbox: deque = deque()
        self.links: set[Process] = set()
        self.monitors: dict[Any, Process] = {}        # ref -> process this one monitors
        self.monitored_by: dict[Any, Process] = {}    # ref -> process monitoring this one
        self.trap_exit = False
        self.name: str | None = None
        self.receive_filter: Any = None     # selective receive: the block messages must satisfy
        self.wake_timer: Any = None         # timer entry while sleeping or in receiveWithin:
        self.waiting_on: Any = None         # the promise this process waits for
        self.resume_value: Any = None
        self.ihash = 0
        self.spawned_at = 0.0
        self.on_exit: list = []             # Python callbacks run when it dies (promises)

    @property
    def alive(self) -> bool:
        return self.state != DEAD

    def __repr__(self) -> str:
        return f"<Process {self.pid} {self.state}>"
