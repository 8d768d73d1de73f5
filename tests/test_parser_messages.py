"""Syntax error messages name the offending token once: punctuation by itself
(`unexpected '.'`), anything else by its kind and text (`unexpected identifier 'a'`),
long texts shortened."""
from __future__ import annotations

import pytest

from smalltalk_vm.compiler.parser import parse_doit
from smalltalk_vm.vm.errors import SmalltalkSyntaxError


@pytest.mark.parametrize(("text", "message"), [
    ("3 + .", "unexpected '.'"),
    ("x := .", "unexpected '.'"),
    ("3 foo: ]", "unexpected ']'"),
    (")", "unexpected ')'"),
    ("| a | | b |", "unexpected '|'"),
    ("a := := 3", "unexpected ':='"),
    ("3 ~> .", "unexpected '.', expected binary operator or identifier or keyword"),
    ("[:a a]", "unexpected identifier 'a', expected '|' or block parameter"),
    ("3 3", "unexpected number '3'"),
    ("3 'abc'", "unexpected string ''abc''"),
])
def test_the_token_is_named_once(text: str, message: str) -> None:
    with pytest.raises(SmalltalkSyntaxError) as info:
        parse_doit(text, "t.som")
    assert info.value.message == message


def test_a_long_token_is_shortened() -> None:
    with pytest.raises(SmalltalkSyntaxError) as info:
        parse_doit("3 '" + "x" * 5000 + "'", "t.som")
    assert info.value.message == "unexpected string '" + "'" + "x" * 36 + "...'"


def test_block_parameters_may_have_white_space_after_the_colon() -> None:
    from smalltalk_vm.compiler import ast as A
    doit = parse_doit("[: a :b :\n  c | a ]", "t.som")
    block = doit.body.statements[0]
    assert isinstance(block, A.Block)
    assert block.params == ["a", "b", "c"]
