"""A bounded wait for code that might never return: ``alarm(seconds, make_error)``
raises ``make_error()`` in the running code once ``seconds`` have passed (SIGALRM, so
the main thread only; nothing else may use the interval timer meanwhile).

The rule: the error is never raised inside the garbage collector. A signal handler
runs in whatever Python code is running, and during a collection that may be a gc
callback (hypothesis keeps one to time collections), where an exception is printed as
"Exception ignored in garbage collector" and dropped, so the run would go on past its
alarm. Two callbacks of the alarm's own, first and last in ``gc.callbacks``, mark the
collection; an alarm that goes off inside it goes off again RETRY_SECONDS later.
The error should be a BaseException, so no ``except Exception`` in the code under
test swallows it.
"""
from __future__ import annotations

import gc
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

RETRY_SECONDS = 0.01


@contextmanager
def alarm(seconds: float, make_error: Callable[[], BaseException]) -> Iterator[None]:
    collecting = False

    def collection_starts(phase: str, info: dict) -> None:
        nonlocal collecting
        if phase == "start":
            collecting = True

    def collection_ends(phase: str, info: dict) -> None:
        nonlocal collecting
        if phase == "stop":
            collecting = False

    markers = (collection_starts.__code__, collection_ends.__code__)

    def expire(signum: int, frame: Any) -> None:
        if collecting or (frame is not None and frame.f_code in markers):
            signal.setitimer(signal.ITIMER_REAL, RETRY_SECONDS)
            return
        raise make_error()

    gc.callbacks.insert(0, collection_starts)
    gc.callbacks.append(collection_ends)
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        gc.callbacks.remove(collection_starts)
        gc.callbacks.remove(collection_ends)
