"""The real-node harness (tests/cluster_support.py) tears down cleanly: a node killed
while it is still writing leaves no reader thread failing on a closed stream."""
from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from cluster_support import Cluster, Lines, NodeProcess, node_environment

# Writes on both streams as fast as it can until it is killed.
FLOOD = ("import sys\n"
         "line = 'x' * 200 + '\\n'\n"
         "while True:\n"
         "    sys.stdout.write(line)\n"
         "    sys.stderr.write(line)\n")


@contextmanager
def lagging(lines: Lines, for_seconds: float = 0.5):
    """Holds back the reader of ``lines`` for a moment (as a loaded machine does) while
    the body runs: the reader is then still behind its stream when the node dies."""
    held = threading.Event()

    def hold() -> None:
        with lines.cond:
            held.set()
            time.sleep(for_seconds)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    try:
        yield
    finally:
        holder.join(10)


def test_killing_a_chatty_process_leaves_no_reader_failing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    failures: list[str] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: failures.append(f"{args.exc_type.__name__}: "
                                                                                f"{args.exc_value}"))
    before = set(threading.enumerate())
    for attempt in range(2):
        cluster = Cluster(tmp_path)
        node = NodeProcess(f"flood{attempt}", [sys.executable, "-c", FLOOD], node_environment(), str(tmp_path))
        cluster.nodes.append(node)
        node.out.wait(r"^x+$", timeout=30, count=50)
        node.err.wait(r"^x+$", timeout=30, count=50)
        with lagging(node.out), lagging(node.err):
            cluster.stop_all()
    for thread in set(threading.enumerate()) - before:
        thread.join(10)
        assert not thread.is_alive(), thread.name
    assert failures == []
    assert node.popen.stdout.closed and node.popen.stderr.closed
    assert node.out.closed and node.err.closed
