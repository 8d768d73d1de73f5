"""Source text must be UTF-8: a class file (run, test, loaded on demand, `system
loadClassFile:`), a `vm eval` argument or a line of the REPL's input that is not is
refused as ``file:line:column: not UTF-8 text`` at the first bad byte; a leading
byte-order mark is accepted. Units of compiler.front's decoding, then end to end."""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_vm
from hypothesis import given
from hypothesis import strategies as st

from smalltalk_vm.compiler.front import check_text, decode_source
from smalltalk_vm.vm.errors import SmalltalkSyntaxError


def refusal(data: bytes) -> tuple[int, int]:
    with pytest.raises(SmalltalkSyntaxError) as caught:
        decode_source(data, "F.som")
    assert caught.value.message == "not UTF-8 text"
    assert caught.value.located().startswith("F.som:")
    return caught.value.line, caught.value.column


def test_the_first_bad_byte_is_located_by_line_and_character_column() -> None:
    assert refusal(b"\xff") == (1, 1)
    assert refusal(b"ab\xfe") == (1, 3)
    assert refusal("Foo = (\n  x = ( 'h\u00e9llo' ".encode() + b"\x80 )\n)\n") == (2, 17)
    assert refusal(b"a\r\nb\nc\xc3") == (3, 2)            # a truncated sequence at the end


def test_encoded_surrogates_and_overlong_forms_are_not_utf8() -> None:
    assert refusal(b"x := '\xed\xa0\x80'") == (1, 7)      # U+D800 encoded: not UTF-8
    assert refusal(b"\xc0\xaf") == (1, 1)                 # overlong '/'


def test_a_byte_order_mark_is_dropped() -> None:
    assert decode_source(b"\xef\xbb\xbfFoo = ()", "F.som") == "Foo = ()"
    assert decode_source(b"Foo = ()", "F.som") == "Foo = ()"


@given(st.text())
def test_utf8_text_always_decodes_to_itself(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return                                            # lone surrogates have no UTF-8 form
    expected = text[1:] if text.startswith("\ufeff") else text
    assert decode_source(text.encode("utf-8"), "F.som") == expected


@given(st.binary(max_size=200))
def test_any_bytes_decode_or_are_refused_at_a_position_inside_them(data: bytes) -> None:
    try:
        decode_source(data, "F.som")
    except SmalltalkSyntaxError as error:
        assert error.message == "not UTF-8 text"
        assert 1 <= error.line <= data.count(b"\n") + 1
        assert error.column >= 1


def test_text_with_escaped_bytes_is_refused_like_a_file() -> None:
    undecodable = b"3 +\n 4 \xff".decode("utf-8", "surrogateescape")
    with pytest.raises(SmalltalkSyntaxError) as caught:
        check_text(undecodable, "<eval>")
    assert caught.value.located() == "<eval>:2:4: not UTF-8 text"
    assert check_text("\ufeff3 + 4", "<eval>") == "3 + 4"


# ---------------------------------------------------------------------- end to end

NOT_UTF8 = b"Latin = (\n    run = ( 'caf\xe9' println )\n)\n"     # Latin-1 text


def test_run_of_a_file_that_is_not_utf8_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "Latin.som"
    path.write_bytes(NOT_UTF8)
    result = run_vm(["run", str(path)])
    assert result.returncode == 1
    assert result.stderr == f"{path}:2:17: not UTF-8 text\n"


def test_a_class_loaded_on_demand_that_is_not_utf8_is_an_error_of_the_program(tmp_path: Path) -> None:
    (tmp_path / "Latin.som").write_bytes(NOT_UTF8)
    (tmp_path / "Main.som").write_text(
        "Main = ( run = ( [ Latin new ] on: Error do: [ :e | e messageText println ] ) )\n")
    result = run_vm(["run", str(tmp_path / "Main.som")])
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"cannot load Latin: {tmp_path / 'Latin.som'}:2:17: not UTF-8 text\n"


def test_vm_test_of_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "LatinTest.som"
    path.write_bytes(b"LatinTest = TestCase ( testA = ( self assert: '\xe9' size = 1 ) )\n")
    result = run_vm(["test", str(path)])
    assert result.returncode == 1
    assert result.stderr == f"{path}:1:48: not UTF-8 text\n"


def test_a_file_with_a_byte_order_mark_runs(tmp_path: Path) -> None:
    path = tmp_path / "Marked.som"
    path.write_bytes("\ufeffMarked = (\n    run = ( 'caf\u00e9' println )\n)\n".encode())
    result = run_vm(["run", str(path)])
    assert (result.returncode, result.stdout, result.stderr) == (0, "caf\u00e9\n", "")


def test_load_class_file_from_a_program_answers_a_catchable_error(tmp_path: Path) -> None:
    (tmp_path / "Latin.som").write_bytes(NOT_UTF8)
    source = f"[ system loadClassFile: '{tmp_path / 'Latin.som'}' ] on: Error do: [ :e | e messageText ]"
    result = run_vm(["eval", source])
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"'cannot load {tmp_path / 'Latin.som'}: {tmp_path / 'Latin.som'}:2:17: not UTF-8 text'\n"
