"""How a process the REPL session waited for ended — session side only: the session
turns an Outcome into the ``Result`` the terminal side is shown (``ReplSession.present``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from smalltalk_vm.repl.protocol import Result


@dataclass
class Outcome:
    """status 'value' (``value``), 'error' (``text``, ``trace``), 'stopped' (kept for
    the debugger), 'interrupted', 'abandoned' (``text``), 'timeout', or 'shown' (the
    ``value`` is the Result to show as it is)."""
    status: str
    value: Any = None
    text: str = ""
    trace: list[str] = field(default_factory=list)


def shown(result: Result) -> Outcome:
    return Outcome("shown", result)
