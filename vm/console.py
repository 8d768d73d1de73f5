"""The VM's console: the one way text reaches the process's standard output and error,
for the VM's own output (`print`, `println`, `errorPrintln`, crash reports) and for the
front ends' results (`vm eval`, the REPL).

Rules:
- It never raises. A broken pipe (the reader went away: `vm run P | head -1`) makes
  every later write a no-op and calls ``on_failure`` once, with no message; any other
  write error (a full disk behind `> file`) is reported once on stderr as one line,
  then handled the same way. The front end decides what ``on_failure`` does (the
  command line ends the VM).
- It remembers whether the last text written to stdout left a line open, so that a
  front end can start a result on a line of its own (``end_line``), as IPython and the
  erl shell do, wherever that open line came from (a background process included).
- While a front end waits at an interactive prompt (``at_prompt``), output that leaves
  a line open is followed by a line break, so the prompt keeps a line of its own.
- Text the stream cannot encode (a lone surrogate) is written with backslash escapes.
- The streams are looked up at each write (``sys.stdout`` may be replaced, as
  prompt-toolkit does while it draws a prompt).

Any thread may call it (the VM thread writes output, the terminal thread results); a
lock keeps each write and the line state together. It blocks only as long as a write
to the underlying stream does.
"""
from __future__ import annotations

import errno
import os
import sys
import threading
from collections.abc import Callable
from typing import TextIO

from smalltalk_vm.vm.errors import os_error_text

EXIT_BROKEN_PIPE = 128 + 13      # what a shell reports for a program killed by SIGPIPE


class Console:
    def __init__(self, on_failure: Callable[[int], None] | None = None,
                 stdout: Callable[[], TextIO | None] = lambda: sys.stdout,
                 stderr: Callable[[], TextIO | None] = lambda: sys.stderr) -> None:
        self._stdout = stdout
        self._stderr = stderr
        self._on_failure = on_failure
        self._lock = threading.RLock()
        self.line_open = False
        self.at_prompt = False
        self.failed: int | None = None     # the exit status the failure calls for, once failed
        out = stdout()
        self.flush_each_write = bool(out is not None and _isatty(out))

    # ------------------------------------------------------------------ writing

    def write(self, text: str) -> None:
        """Text for standard output."""
        if not text:
            return
        with self._lock:
            if self.failed is not None:
                return
            stream = self._stdout()
            self._attempt(stream, text)
            self.line_open = not text.endswith("\n")
            if self.at_prompt and self.line_open:
                self._attempt(stream, "\n")
                self.line_open = False
            if self.flush_each_write or self.at_prompt:
                self._flush(stream)

    def write_error(self, text: str) -> None:
        """Text for standard error, after what is pending on standard output."""
        if not text:
            return
        with self._lock:
            if self.failed is not None:
                return
            self._flush(self._stdout())
            stream = self._stderr()
            self._attempt(stream, text)
            self._flush(stream)

    def end_line(self) -> None:
        """Start a new line on standard output if the last output left one open."""
        with self._lock:
            if self.line_open:
                self.write("\n")

    def show(self, text: str, is_error: bool = False) -> None:
        """A front end's result: on a line of its own, on stdout or (an error) stderr."""
        with self._lock:
            self.end_line()
            line = text if text.endswith("\n") else text + "\n"
            if is_error:
                self.write_error(line)
            else:
                self.write(line)
                self.flush()

    def flush(self) -> None:
        with self._lock:
            if self.failed is None:
                self._flush(self._stdout())
                self._flush(self._stderr())

    # ------------------------------------------------------------------ failures

    def _attempt(self, stream: TextIO | None, text: str) -> None:
        if stream is None or self.failed is not None:
            return
        try:
            try:
                stream.write(text)
            except UnicodeEncodeError:
                # A lone surrogate, or a character the stream's encoding lacks: shown
                # as an escape rather than lost with the rest of the text.
                encoding = getattr(stream, "encoding", None) or "utf-8"
                stream.write(text.encode(encoding, "backslashreplace").decode(encoding))
        except (OSError, ValueError) as error:     # ValueError: the stream was closed
            self._fail(stream, error)

    def _flush(self, stream: TextIO | None) -> None:
        if stream is None or self.failed is not None:
            return
        try:
            stream.flush()
        except (OSError, ValueError) as error:
            self._fail(stream, error)

    def _fail(self, stream: TextIO, error: Exception) -> None:
        """The stream cannot be written any more: say so once (not for a broken pipe,
        which only means the reader has gone), silence both streams, tell the front end."""
        broken_pipe = isinstance(error, OSError) and error.errno in (errno.EPIPE, errno.ECONNRESET)
        self.failed = EXIT_BROKEN_PIPE if broken_pipe else 1
        if not broken_pipe:
            name = "standard output" if stream is self._stdout() else "standard error"
            reason = os_error_text(error, name) if isinstance(error, OSError) else f"{name}: closed"
            _last_words(self._stderr(), f"vm: cannot write {reason}\n")
        silence(stream)
        if self._on_failure is not None:
            self._on_failure(self.failed)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError):
        return False


def _last_words(stream: TextIO | None, text: str) -> None:
    if stream is None:
        return
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):
        pass


def silence(stream: TextIO) -> None:
    """Point the stream's file descriptor at /dev/null, so that what is still in its
    buffer, and Python's own flush at exit, cannot fail again (and print a traceback)."""
    try:
        descriptor = stream.fileno()
    except (OSError, ValueError, AttributeError):
        return
    try:
        null = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    try:
        os.dup2(null, descriptor)
    except OSError:
        pass
    finally:
        os.close(null)
