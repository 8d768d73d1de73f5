"""Freezing a process for a move, and what ends the freeze: unfreezing it where it was
(the move was refused) or retiring it (it runs elsewhere now).

Rules:
- A process is frozen only at a safe point: between instructions, never while it runs
  (it is not the scheduler's current process). Which wait states can move is one table,
  ``WAIT_STATES``; every other state refuses the move with a reason and changes nothing.
- Frozen, the process is out of scheduling: state ``FROZEN``, out of the run queue, its
  wake timer cancelled with the deadline remembered. Messages that arrive meanwhile are
  appended to its mailbox and never wake it; exit signals still apply to it.
- Unfreezing puts back exactly what freezing took: the state, the place at the back of
  the run queue, the timer with its original deadline, and a parked receive gets the
  message that came while it was frozen as it would have while parked.
- Retiring ends the process here without its death hooks: whoever moved it re-points
  its links, monitors and names (the protocol, not this module).

VM thread only; nothing here blocks or runs Smalltalk code.
"""
from __future__ import annotations

import time
from typing import Any

from smalltalk_vm.node.bundle_format import MoveRefused
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.process import (
    DEAD,
    FROZEN,
    RUNNABLE,
    SLEEPING,
    WAIT_BEYOND,
    WAIT_DEBUG,
    WAIT_MOVE,
    WAIT_RECEIVE,
    WAIT_WAKE,
    WAITING,
    Process,
)

# (state, wait mode) -> None if the process can move in it, else why not.
WAIT_STATES: dict[tuple[str, int], str | None] = {
    (RUNNABLE, 0): None,
    (SLEEPING, 0): None,                         # sleep: — its remaining time travels
    (WAITING, WAIT_RECEIVE): None,               # receive, receiveWithin: — so does its timeout
    (WAITING, WAIT_BEYOND): None,                # selective receive
    (WAITING, WAIT_MOVE): None,                  # moving itself: resumes with the move's answer
    (WAITING, WAIT_WAKE): "it is waiting for a promise (its value would be settled on this node)",
    (WAITING, 0): "it is waiting for an answer from another node",
    (WAITING, WAIT_DEBUG): "it is stopped in the debugger",
}


class Frozen:
    """A frozen process and what freezing took from it. VM thread only."""

    __slots__ = ("deadline", "encoded_messages", "proc", "state", "vm")

    def __init__(self, vm: Any, proc: Process, state: str, deadline: float | None) -> None:
        self.vm = vm
        self.proc = proc
        self.state = state                 # the state it was frozen in
        self.deadline = deadline           # time.monotonic() its wake timer was due, or None
        self.encoded_messages = 0          # mailbox messages the last encode put in a bundle

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def links(self) -> Any:
        return self.proc.links

    @property
    def monitors(self) -> Any:
        return self.proc.monitors

    @property
    def monitored_by(self) -> Any:
        return self.proc.monitored_by

    @property
    def name(self) -> str | None:
        return self.proc.name

    def remaining_ms(self, now: float | None = None) -> float | None:
        """Milliseconds left on its wake timer (None: no timer)."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - (time.monotonic() if now is None else now)) * 1000.0

    def late_messages(self) -> list:
        """Messages that came after the last encode, oldest first (to be forwarded)."""
        mailbox = self.proc.mailbox
        return list(mailbox)[self.encoded_messages:] if mailbox else []


def refusal(proc: Any, why: str) -> MoveRefused:
    return MoveRefused(f"process {getattr(proc, 'pid', '?')} cannot move: {why}")


def freeze(vm: Any, proc: Any) -> Frozen:
    """Take ``proc`` out of scheduling for a move; MoveRefused (nothing changed) if it
    cannot move now."""
    scheduler = vm.scheduler
    if type(proc) is not Process:
        raise MoveRefused("only a process of this node can be moved")
    if proc.state == DEAD or proc.ctx is None:
        raise refusal(proc, "it has ended")
    if proc.state == FROZEN:
        raise refusal(proc, "it is already moving")
    if proc is scheduler.current:
        raise refusal(proc, "it is running (a process moves itself with Process current migrateTo:)")
    if proc.suspended or proc.held:
        raise refusal(proc, "it is held by the debugger")
    mode = proc.wait_mode if proc.state == WAITING else 0
    key = (proc.state, mode)
    if key not in WAIT_STATES:
        raise refusal(proc, f"it is in a state that cannot move ({proc.state}, wait mode {mode})")
    why = WAIT_STATES[key]
    if why is not None:
        raise refusal(proc, why)
    if proc.on_exit:
        raise refusal(proc, "it computes the value of a promise of this node (a ~> send)")
    timer = proc.wake_timer
    deadline = timer.deadline if timer is not None and not timer.cancelled else None
    frozen = Frozen(vm, proc, proc.state, deadline)
    scheduler.cancel_wake_timer(proc)
    if proc.state == RUNNABLE:
        try:
            scheduler.run_queue.remove(proc)
        except ValueError:
            pass                                   # dropped by the loop already
    proc.state = FROZEN
    return frozen


def resume_parked(scheduler: Any, proc: Process, remaining_ms: float | None, answer: Any) -> None:
    """Put a process that is not in the run queue back into scheduling in the state it
    has (``proc.state``): queued if runnable, its wake timer set again, a receive woken
    by a message already waiting, a self-move answered with ``answer``."""
    state, mode = proc.state, proc.wait_mode
    if state == RUNNABLE:
        scheduler.run_queue.append(proc)
        return
    if state == WAITING and mode == WAIT_MOVE:
        scheduler.make_runnable(proc, answer)
        return
    mailbox = proc.mailbox
    if state == WAITING and mode == WAIT_RECEIVE and mailbox:
        scheduler.make_runnable(proc, mailbox.popleft())
        return
    if state == WAITING and mode == WAIT_BEYOND and mailbox and len(mailbox) > proc.wait_arg:
        scheduler.make_runnable(proc, V.TRUE)
        return
    if remaining_ms is not None:
        scheduler.set_wake_timer(proc, remaining_ms / 1000.0, proc.timeout_value)


def unfreeze(frozen: Frozen, answer: Any = V.NIL) -> None:
    """The move did not happen: the process goes on here as if it had never been
    frozen. ``answer`` is what a self-move's primitive answers. No-op once it died."""
    proc = frozen.proc
    if proc.state != FROZEN:
        return
    proc.state = frozen.state
    frozen.encoded_messages = 0
    resume_parked(frozen.vm.scheduler, proc, frozen.remaining_ms(), answer)


def retire(frozen: Frozen, reason: str = "moved") -> None:
    """The process runs on another node now: end it here without telling anyone (no
    Exit, no Down, no crash report) — links, monitors and names were the mover's to
    re-point. Take ``late_messages()`` first: the mailbox goes."""
    proc = frozen.proc
    if proc.state == DEAD:
        return
    frozen.vm.scheduler.clear_ended(proc, frozen.vm.symbol(reason))
    proc.links = proc.monitors = proc.monitored_by = None
    proc.on_exit = None


def park_for_move(interp: Any, ctx: Any) -> None:
    """Inside a control primitive of the process that moves itself: park it until the
    move is done (then ``freeze`` accepts it between slices). The primitive returns None
    after this; the process resumes with the answer given to thaw or unfreeze."""
    interp.vm.scheduler.park(interp.process, ctx, WAITING, WAIT_MOVE)


def cancel_self_move(vm: Any, proc: Any, answer: Any) -> bool:
    """A process parked by ``park_for_move`` that will not be frozen (its move was refused
    before ``freeze``, or ``freeze`` refused it) goes on here with ``answer`` as the
    primitive's value. False if it is not parked for a move (it died, say)."""
    if type(proc) is not Process or proc.state != WAITING or proc.wait_mode != WAIT_MOVE:
        return False
    vm.scheduler.make_runnable(proc, answer)
    return True
