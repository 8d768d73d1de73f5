"""vm/console.Console, the one way text reaches stdout and stderr: it tracks whether a
line is open (so results start on a line of their own), ends the line itself at an
interactive prompt, never raises, goes quiet on a broken pipe (calling the front end
once with status 141) and reports any other write failure once in one line."""
from __future__ import annotations

import errno
import io
import os

from smalltalk_vm.vm.console import EXIT_BROKEN_PIPE, Console


class Stream(io.StringIO):
    """A text stream whose writes can be made to fail with an OSError."""

    def __init__(self, fail_with: int | None = None, encoding: str = "utf-8") -> None:
        super().__init__()
        self.fail_with = fail_with
        self._encoding = encoding

    @property
    def encoding(self) -> str:
        return self._encoding

    def write(self, text: str) -> int:
        if self.fail_with is not None:
            raise OSError(self.fail_with, os.strerror(self.fail_with))
        text.encode(self._encoding)              # strict, as a real stream is
        return super().write(text)


def console_on(out: Stream, err: Stream, failures: list[int]) -> Console:
    return Console(on_failure=failures.append, stdout=lambda: out, stderr=lambda: err)


def test_a_result_after_an_open_line_starts_a_new_one() -> None:
    out, err, failures = Stream(), Stream(), []
    console = console_on(out, err, failures)
    console.write("abc")
    assert console.line_open
    console.show("'abc'")
    console.write("done\n")
    console.show("3")
    assert out.getvalue() == "abc\n'abc'\ndone\n3\n"
    console.write("partial")
    console.show("oops", is_error=True)
    assert (out.getvalue()[-8:], err.getvalue()) == ("partial\n", "oops\n")
    assert failures == []


def test_at_the_prompt_an_open_line_is_ended_at_once() -> None:
    out, err, failures = Stream(), Stream(), []
    console = console_on(out, err, failures)
    console.at_prompt = True
    console.write("tick")
    console.write("tock\n")
    assert out.getvalue() == "tick\ntock\n"
    assert not console.line_open


def test_a_broken_pipe_silences_the_console_and_calls_the_front_end_once() -> None:
    out, err, failures = Stream(errno.EPIPE), Stream(), []
    console = console_on(out, err, failures)
    console.write("1\n")
    console.write("2\n")
    console.write_error("an error\n")
    console.show("3")
    console.flush()
    assert (failures, console.failed, err.getvalue()) == ([EXIT_BROKEN_PIPE], EXIT_BROKEN_PIPE, "")


def test_a_full_disk_is_said_once_and_calls_the_front_end_once() -> None:
    out, err, failures = Stream(errno.ENOSPC), Stream(), []
    console = console_on(out, err, failures)
    for _ in range(3):
        console.write("x\n")
    assert failures == [1]
    assert err.getvalue() == "vm: cannot write standard output: No space left on device\n"


def test_text_the_stream_cannot_encode_is_escaped_not_lost() -> None:
    out, err, failures = Stream(), Stream(encoding="ascii"), []
    console = console_on(out, err, failures)
    console.write("lone \ud800 surrogate\n")
    console.write_error("caf\u00e9\n")
    assert out.getvalue() == "lone \\ud800 surrogate\n"
    assert err.getvalue() == "caf\\xe9\n"
    assert failures == []


def test_missing_streams_are_tolerated() -> None:
    console = Console(stdout=lambda: None, stderr=lambda: None)
    console.write("nowhere\n")
    console.show("nothing", is_error=True)
    console.flush()
    assert console.failed is None
