"""What a node tells the cluster view (`vm cluster status` / `vm cluster processes`)
about itself: its status line (name, address, up since, processes, run queue, mailbox
total) and its peers as it sees them (the time since each last sent a frame — the
"last tick"), and one row per live process (pid, registered name, status, current
method, mailbox length, reductions).

Rules:
- ``status`` and ``processes`` run on the VM thread (the shell service calls them
  through the VM host) and answer plain data (JSON-able dicts): no VM object leaves.
- ``peers`` reads the member table only (any thread). Nothing here blocks or raises
  for a state the VM can be in.
"""
from __future__ import annotations

import time
from typing import Any

from smalltalk_vm.vm.primitives.context import running_method


def status(machine: Any, name: str, address: str, started: float) -> dict:
    """VM thread: this node's status line (``started``: its start, Unix time)."""
    scheduler = machine.scheduler
    live = scheduler.live_processes()
    return {"name": name, "address": address, "up_since": started, "processes": len(live),
            "run_queue": sum(1 for p in scheduler.run_queue if p.alive and not p.suspended),
            "mailbox_total": sum(p.message_count() for p in live)}


def peers(membership: Any) -> list[dict]:
    """The members this node is connected to, with the milliseconds since each last
    sent it a frame (ticks included)."""
    if membership is None:
        return []
    now = time.monotonic()
    rows = []
    for member in membership.up_members():
        conn = member.connection
        if conn is None:
            continue
        rows.append({"name": member.name, "address": conn.peer.address,
                     "last_tick_ms": round((now - conn.last_received) * 1000)})
    return sorted(rows, key=lambda row: row["name"])


def processes(machine: Any) -> list[dict]:
    """VM thread: one row per live process, by pid."""
    scheduler = machine.scheduler
    rows = []
    for proc in sorted(scheduler.live_processes(), key=lambda p: p.pid):
        rows.append({"pid": proc.pid, "name": proc.name,
                     "status": "suspended" if proc.suspended else proc.state,
                     "method": running_method(proc.ctx), "mailbox": proc.message_count(),
                     "reductions": proc.reductions})
    return rows
