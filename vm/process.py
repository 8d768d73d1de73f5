"""The Process object: a green thread's state as VM data — its chain of contexts, its
mailbox, links, monitors and exit reason. Pure data; the scheduler (``vm.scheduler``)
and the exit-signal rules (``vm.signals``) change it.

Collections a process may never use (mailbox, links, monitors) are created on first
use: a parked process costs little, and a VM holds many of them.
"""
from __future__ import annotations

from collections import deque
from typing import Any

# Process states (answered by `p status` as Symbols of the same name).
RUNNABLE = "runnable"
MOVED = "moved"          # moved to another node: this object forwards to it (node.migration)
WAITING = "waiting"      # parked in receive, or on a promise
SLEEPING = "sleeping"    # parked until a timer fires
DEAD = "dead"
FROZEN = "frozen"        # taken out of scheduling while it moves to another node (node.bundle)

# A timeout this long (milliseconds: 31,000 years) or longer never fires: it is "forever",
# and no timer is set (a huge Integer or Double must not overflow the clock).
FOREVER_MS = 1e15

# What a WAITING process waits for.
WAIT_RECEIVE = 1         # any message: it is handed over directly
WAIT_BEYOND = 2          # the mailbox growing beyond `wait_arg` messages (selective receive)
WAIT_WAKE = 3            # an explicit wake (promises)
WAIT_DEBUG = 4           # stopped at an unhandled exception until a debugger says how to go on
WAIT_MOVE = 5            # parked by its own move to another node until it resumes there (node.bundle)


class Process:
    __slots__ = (
        "cls",
        "crash_trace",
        "ctx",
        "depth_mark",
        "exit_reason",
        "group",
        "held",
        "ihash",
        "links",
        "mailbox",
        "monitored_by",
        "monitors",
        "name",
        "on_exit",
        "overflowed",
        "pid",
        "reductions",
        "report_crash",
        "result",
        "state",
        "suspended",
        "timeout_value",
        "trap_exit",
        "wait_arg",
        "wait_mode",
        "wake_pending",
        "wake_timer",
    )

    def __init__(self, cls: Any, pid: int, ctx: Any) -> None:
        self.cls = cls
        self.pid = pid
        self.ctx = ctx                      # the active context; None once finished
        self.state = RUNNABLE
        self.result: Any = None             # what the bottom context returned
        self.exit_reason: Any = None        # set when the process dies
        self.crash_trace: list[str] | None = None
        self.mailbox: deque | None = None
        self.links: set[Process] | None = None
        self.monitors: dict[Any, Process] | None = None        # ref -> process watched
        self.monitored_by: dict[Any, Process] | None = None    # ref -> watcher
        self.trap_exit = False
        self.name: str | None = None
        self.wait_mode = 0
        self.wait_arg: Any = None
        self.wake_timer: Any = None         # timer entry while sleeping or in receiveWithin:
        self.timeout_value: Any = None      # what the parking primitive answers on timeout
        self.wake_pending = False           # a wake that came while it was not parked
        self.report_crash = True            # log an unhandled error to stderr when it dies
        self.depth_mark: Any = None         # (context, depth, slots) left by the depth check
        self.overflowed = False             # it has been given its stack overflow error
        self.on_exit: list | None = None    # promises to break if it dies abnormally
        self.held = False                   # a debugger stops it at an unhandled exception (vm.debugger)
        self.suspended = False              # a debugger holds it: the scheduler does not run it
        self.group: Any = None              # its output group (vm.output_groups); inherited by spawns
        self.reductions = 0                 # work done, counted by the scheduler per time slice
        self.ihash = 0

    @property
    def alive(self) -> bool:
        return self.state != DEAD

    def message_count(self) -> int:
        return len(self.mailbox) if self.mailbox else 0

    def __repr__(self) -> str:
        return f"<Process {self.pid} {self.state}>"
