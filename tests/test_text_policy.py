"""Lone surrogates (vm/text.py): refused where a Character or String is made — code
points, source text decoded with surrogateescape, command-line arguments, the wire —
and escaped on output, so printing, `vm eval`, the REPL and saveImage: never fail on
one."""
from __future__ import annotations

import os
import subprocess
import sys

import cbor2
import pytest
from conftest import ROOT, VMSession, run_vm
from hypothesis import given
from hypothesis import strategies as st

from smalltalk_vm.node import wire as W
from smalltalk_vm.node.wire_tags import TAG_CHARACTER
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.errors import SmalltalkSyntaxError
from smalltalk_vm.vm.text import code_point_problem, escape_surrogates, first_surrogate


@given(st.text())
def test_escaping_always_gives_utf8_and_keeps_surrogate_free_text(text):
    escaped = escape_surrogates(text)
    escaped.encode("utf-8")
    assert first_surrogate(escaped) == -1
    if first_surrogate(text) == -1:
        assert escaped == text


@given(st.integers(min_value=-10, max_value=0x110010))
def test_code_points(n):
    assert (code_point_problem(n) is None) == (0 <= n <= 0x10FFFF and not 0xD800 <= n <= 0xDFFF)


def test_eval_of_a_surrogate_character_is_an_error_not_a_traceback():
    done = run_vm(["eval", "55296 asCharacter"])
    assert done.returncode == 1
    assert done.stderr.startswith("ERROR: 55296 is a surrogate code point, not a character")
    assert "Traceback" not in done.stderr


def test_eval_source_that_was_not_utf8():
    # What a shell hands Python for the bytes 'a\xffb': a surrogate escape.
    done = run_vm(["eval", "'a\udcffb' size"])
    assert done.stderr.strip() == "<eval>:1:3: not UTF-8 text"
    assert done.returncode == 1 and "Traceback" not in done.stderr


def test_repl_input_that_was_not_utf8():
    environment = dict(os.environ, PYTHONPATH=ROOT)
    done = subprocess.run([sys.executable, "-m", "smalltalk_vm.cli.main", "repl"], input=b"'a\xffb' size\n3 + 4\n",
                          capture_output=True, timeout=120, env=environment, cwd=ROOT)
    stderr = done.stderr.decode("utf-8", "backslashreplace")
    assert "<repl>:1:3: not UTF-8 text" in stderr
    assert done.stdout.decode().strip() == "7"
    assert "Traceback" not in stderr


def test_a_command_line_argument_that_was_not_utf8(tmp_path):
    (tmp_path / "Args.som").write_text("Args = ( run: args = ( (args at: 2) println ) )")
    done = run_vm(["run", str(tmp_path / "Args.som"), "ok"])
    assert done.stdout == "ok\n"
    done = run_vm(["run", str(tmp_path / "Args.som"), "bad\udcff"])
    assert done.returncode == 1
    assert done.stderr.strip() == "ERROR: command-line argument 2 is not UTF-8 text"


def test_the_compiler_names_where_the_bad_text_is(vm):
    with pytest.raises(SmalltalkSyntaxError) as caught:
        vm.define("Bad = (\n  foo = ( ^ 'x\ud800' )\n)")
    assert caught.value.located() == "<test>:2:15: not UTF-8 text"


def test_a_character_over_the_wire_is_refused(vm):
    data = cbor2.dumps(cbor2.CBORTag(TAG_CHARACTER, 55296))
    with pytest.raises(W.WireError, match="surrogate"):
        W.decode(vm.universe, data)
    assert V.char_code(W.decode(vm.universe, cbor2.dumps(cbor2.CBORTag(TAG_CHARACTER, 97)))) == 97


def test_a_string_over_the_wire_is_refused(vm):
    # CESU-style UTF-8 bytes of U+D800 inside a CBOR text string.
    data = bytes([0x63, 0xED, 0xA0, 0x80])
    with pytest.raises(W.WireError, match="UTF-8"):
        W.decode(vm.universe, data)
    assert vm.eval("[ Wire decode: (ByteArray fromHex: '63eda080') ] on: WireError do: [ :e | #refused ]") == "#refused"


def test_output_escapes_a_surrogate_that_got_in_anyway(vm: VMSession):
    vm.universe.globals["S"] = vm.universe.new_string("a\ud800b")   # as a bug could
    vm.run("S println. system errorPrintln: S")
    assert vm.printed() == "a\\ud800b\n"
    assert "a\\ud800b" in "".join(vm.errors)
    assert vm.eval("S") == "'a\\ud800b'"


def test_save_image_works_after_refusals(vm, tmp_path):
    path = str(tmp_path / "after.image")
    assert vm.eval(f"[ 55296 asCharacter ] on: Error do: [ :e | nil ]. system saveImage: '{path}'") == "#saved"
    assert os.path.getsize(path) > 0


def test_save_image_with_a_surrogate_that_got_in_anyway(vm, tmp_path):
    vm.universe.globals["S"] = vm.universe.new_string("a\ud800b")   # as a bug could
    path = str(tmp_path / "bad.image")
    answer = vm.value(f"[ system saveImage: '{path}' ] on: Error do: [ :e | e messageText ]")
    # Saved with the text escaped, or refused with an Error: either way the VM goes on.
    assert vm.machine.print_string(answer) in ("#saved",) or "cannot save image" in answer.chars
    assert vm.eval("3 + 4") == "7"
