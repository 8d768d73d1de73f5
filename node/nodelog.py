"""The node's own log: one line per event (connections, refusals, nodeup/nodedown,
code loaded) on stderr, flushed as it is written, so scripts and tests can follow it
while program output goes to stdout. Thread-safe; writing never raises."""
from __future__ import annotations

import sys
import threading
from collections.abc import Callable


class NodeLog:
    """``log(text)`` writes ``node NAME: text``. Any thread may call it."""

    def __init__(self, name: str, write: Callable[[str], object] | None = None) -> None:
        self.name = name
        self._write = write
        self._lock = threading.Lock()

    def __call__(self, text: str) -> None:
        line = f"node {self.name}: {text}\n"
        with self._lock:
            try:
                if self._write is not None:
                    self._write(line)
                else:
                    sys.stderr.write(line)
                    sys.stderr.flush()
            except (OSError, ValueError):
                pass                     # a closed stderr must not end the node
