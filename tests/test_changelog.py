"""The change log (repl/changelog.py, repl/logged_session.py): the file format and
its reader under damage (unit and hypothesis tests), the `:changes` and `:replay`
commands through the piped REPL, and the promise itself in a real terminal: code typed
into `vm repl` survives `kill -9` of the REPL and is replayed on the next start.
"""
from __future__ import annotations

import json
import os
import signal
import time

import pytest
from conftest import run_vm
from hypothesis import given, settings
from hypothesis import strategies as st
from test_repl_interactive import PROMPT, Terminal

from smalltalk_vm.repl.changelog import ChangeLog, log_path, parse_range
from smalltalk_vm.repl.logged_session import change_kind

COUNTER_CLASS = "Counter = Object ( | count | )"
COUNTER_BUMP = "Counter >> bump = ( count := (count ifNil: [ 0 ]) + 1. ^ count )"
COUNTER_RESET = "Counter >> reset = ( count := 100 )"


# ---------------------------------------------------------------------- the file

def test_changes_are_read_back_in_order_with_kind_time_and_node(tmp_path):
    log = ChangeLog(str(tmp_path / "log"), node="alpha")
    log.append("class", COUNTER_CLASS)
    log.append("method", COUNTER_BUMP)
    log.append("doit", "Counter new bump")
    contents = log.read()
    assert [(c.number, c.kind, c.source, c.node) for c in contents.changes] == [
        (1, "class", COUNTER_CLASS, "alpha"), (2, "method", COUNTER_BUMP, "alpha"),
        (3, "doit", "Counter new bump", "alpha")]
    assert all(c.time.endswith("+00:00") for c in contents.changes)
    assert [c.number for c in contents.unsaved] == [1, 2, 3]


def test_a_save_mark_makes_the_changes_before_it_saved(tmp_path):
    log = ChangeLog(str(tmp_path / "log"))
    log.append("class", COUNTER_CLASS)
    log.mark_saved(str(tmp_path / "x.image"))
    log.append("method", COUNTER_BUMP)
    contents = log.read()
    assert len(contents.changes) == 2
    assert [c.number for c in contents.unsaved] == [2]


def test_an_image_newer_than_a_change_counts_as_its_save(tmp_path):
    image = tmp_path / "app.image"
    log = ChangeLog(log_path(str(image)), str(image))
    assert log.path == str(image) + ".changes"
    log.append("class", COUNTER_CLASS)
    time.sleep(0.05)
    image.write_bytes(b"an image saved by a program")
    time.sleep(0.05)
    log.append("method", COUNTER_BUMP)
    assert [c.number for c in log.read().unsaved] == [2]


def test_a_line_cut_by_a_crash_is_skipped_and_the_next_change_starts_a_line(tmp_path):
    path = tmp_path / "log"
    log = ChangeLog(str(path))
    log.append("class", COUNTER_CLASS)
    with open(path, "ab") as handle:                # what kill -9 in mid-write leaves
        handle.write(b'{"change": "method", "time": "2026-')
    log.append("method", COUNTER_BUMP)
    contents = log.read()
    assert [c.source for c in contents.changes] == [COUNTER_CLASS, COUNTER_BUMP]
    assert contents.damaged == 1


def test_a_log_that_cannot_be_written_says_why(tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    log = ChangeLog(str(folder))                     # a folder where the file should be
    with pytest.raises(Exception, match=str(folder)) as caught:
        log.append("doit", "3 + 4")
    assert type(caught.value).__name__ == "ChangeLogError"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=60), st.sampled_from([
    b'{"change": "doit"}', b'{"mark": "save"}', b"[1, 2]", b'{"change": "class", "time": 3, "source": ""}',
    b'{"change": "doit", "time": "x", "source": "3", "node": 4}', b"\xff\xfe", b"null"])), max_size=8))
def test_any_damage_leaves_the_whole_entries_readable(tmp_path_factory, junk):
    path = tmp_path_factory.mktemp("log") / "changes"
    log = ChangeLog(str(path))
    log.append("doit", "1 + 1")
    with open(path, "ab") as handle:
        handle.write(b"\n".join(junk))
    log.append("doit", "2 + 2")
    sources = [c.source for c in log.read().changes]
    assert sources[0] == "1 + 1" and sources[-1] == "2 + 2"


@given(st.text(max_size=40))
def test_range_parsing_never_raises_and_answers_only_numbers_in_the_log(text):
    answer = parse_range(text, 5)
    assert answer is None or (answer.start >= 1 and answer.stop - 1 <= 5 and len(answer) >= 1)


def test_what_is_logged_is_what_parses():
    assert change_kind(COUNTER_CLASS) == "class"
    assert change_kind(COUNTER_BUMP) == "method"
    assert change_kind("Counter class >> make = ( ^ self new )") == "method"
    assert change_kind("x := 3 + 4") == "doit"
    assert change_kind("3 + + 4") is None


# ---------------------------------------------------------------------- the REPL's commands

def _repl(state: str, text: str, *args: str):
    return run_vm(["repl", *args], input=text, env={"XDG_STATE_HOME": state})


def test_changes_and_replay_in_the_piped_repl(tmp_path):
    state = str(tmp_path / "state")
    first = _repl(state, f"{COUNTER_CLASS}\n{COUNTER_BUMP}\n3 + + 4\n:changes\n")
    assert "2 changes since the last image save" in first.stdout
    assert "3 + + 4" not in first.stdout               # a syntax error was not accepted
    with open(os.path.join(state, "smalltalk-vm", "changes")) as handle:
        entries = [json.loads(line) for line in handle]
    assert [e["change"] for e in entries] == ["class", "method"]
    second = _repl(state, ":replay 3\n:replay\nCounter new bump; bump\n:changes all\n")
    assert "ERROR: :replay takes N or N-M, numbers of changes 1 to 2" in second.stderr
    assert "   1  defined class Counter\n   2  defined Counter>>bump\nreplayed 2 changes\n2\n" in second.stdout
    # The replayed changes were not logged again; the new do-it was.
    assert "3 changes in the change log" in second.stdout


def test_a_saved_image_has_a_log_of_its_own_next_to_it(tmp_path):
    state = str(tmp_path / "state")
    image = str(tmp_path / "app.image")
    saved = _repl(state, f"{COUNTER_CLASS}\n:save {image}\n:changes\n")
    assert f"saved {image}" in saved.stdout
    assert "no changes since the last image save" in saved.stdout
    resumed = _repl(state, f"{COUNTER_BUMP}\n:changes\n", "--image", image)
    assert os.path.exists(image + ".changes")
    assert f"1 change since the last image save ({image}.changes)" in resumed.stdout


# ---------------------------------------------------------------------- kill -9

def test_code_typed_before_kill_9_is_reported_and_replayed_on_the_next_start(tmp_path):
    state = str(tmp_path / "state")
    terminals: list[Terminal] = []
    try:
        first = Terminal(state)
        terminals.append(first)
        first.expect(PROMPT, timeout=20)
        first.evaluate(COUNTER_CLASS, "defined class Counter")
        first.evaluate(COUNTER_BUMP, "defined Counter>>bump")
        first.evaluate(COUNTER_RESET, "defined Counter>>reset")
        first.expect(PROMPT)
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait(timeout=10)

        second = Terminal(state)
        terminals.append(second)
        second.expect(r"^3 changes since the last image save in the change log .*changes: "
                      r":changes lists them, :replay replays them$", timeout=20)
        second.expect(PROMPT, timeout=20)
        second.type(":changes\r")
        second.expect(r"3 changes since the last image save")
        second.expect(r"class\s+Counter = Object")
        second.expect(r"method\s+Counter >> bump")
        second.expect(r"method\s+Counter >> reset")
        second.type(":replay\r")
        second.expect(r"^replayed 3 changes$")
        second.evaluate("Counter new bump; bump", "2")
        second.evaluate("Counter new reset; bump", "101")
    finally:
        for terminal in terminals:
            terminal.close()
