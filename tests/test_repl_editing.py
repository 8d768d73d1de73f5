"""The REPL's text rules as pure functions: when Enter runs an input and how a new
line is indented (repl/editing.py), what the completion menu offers, the printIt/doIt
rule (repl/echo.py, repl/source.py), palettes (repl/theme.py) and the layouts of
results (repl/render.py). Hypothesis checks that the scanners accept any text."""
from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smalltalk_vm.repl import editing, theme
from smalltalk_vm.repl.echo import wants_value
from smalltalk_vm.repl.protocol import Result
from smalltalk_vm.repl.render import plain, render
from smalltalk_vm.repl.source import ends_with_period

SELECTORS = ["inject:into:", "at:", "at:put:", "between:and:", "max:", "printString", "ifTrue:ifFalse:"]


@pytest.mark.parametrize(("text", "runs"), [
    ("3 + 4", True),
    ("#(1 2 3) inject: 0", False),                       # inject:into: waits for into:
    ("#(1 2 3) inject: 0\ninto: [ :a :b | a + b ]", True),
    ("3 max:", False),                                   # a keyword with no argument
    ("x :=", False),
    ("x := 3 max: 4", True),
    ("d at: 1", True),                                   # at: is a selector (at:put: too)
    ("3 between: 1", False),
    ("3 between: 1\n", True),                            # Enter on an empty line runs it
    ("(3 between: 1) foo", True),                        # only keywords outside brackets count
    ("[ :x | x between: 1 ]", True),
    ("x foo: 1; between: 2", False),                     # the last cascade part counts
    ("x between: 1. y", True),                           # the last statement counts
    ("'between: 1' size", True),                         # not inside strings
    ("\"inject: 0\" 3", True),                           # nor comments
    ("x between: 1.5 and: 2.5", True),                   # a Double is not a statement end
    ("$: size", True),
    ("#( 1 2", False),                                   # not complete
    (":debug", True),
    ("", True),
])
def test_enter_runs_complete_inputs_not_waiting_for_an_argument(text, runs):
    assert editing.enter_runs(text, SELECTORS) is runs


def test_without_known_selectors_only_a_trailing_keyword_waits():
    assert editing.enter_runs("#(1 2 3) inject: 0", [])
    assert not editing.enter_runs("3 max:", [])


@pytest.mark.parametrize(("before", "indent"), [
    ("#(1 2 3) collect: [ :x |", "  "),
    ("Foo = Object (\n  bar = (", "    "),
    ("a := (b foo: [ 1 ]) bar", ""),
    ("x := 'a ( [ string", ""),                           # inside an open string: part of it
    ("x := \"a ( comment", ""),
    ("x := $( ", ""),
    ("{ 'it''s (' .", "  "),
])
def test_a_new_line_is_indented_by_the_brackets_open_at_the_cursor(before, indent):
    assert editing.indentation(before) == indent


def test_a_closing_bracket_first_on_a_line_takes_a_level_back():
    assert editing.dedent_before_closing("    ") == 2
    assert editing.dedent_before_closing(" ") == 1
    assert editing.dedent_before_closing("  x") == 0
    assert editing.dedent_before_closing("") == 0


@pytest.mark.parametrize(("before", "opens"), [
    ("3 pr", True), ("x", True), ("_", True), ("3 ", False), ("x foo.", False), ("3.1", False),
    ("16r1F", False), ("(", False), ("", False),
])
def test_the_menu_opens_by_itself_only_after_a_name_prefix(before, opens):
    assert editing.opens_menu_while_typing(before) is opens


def test_primitive_plumbing_is_offered_only_when_asked_for():
    names = ["printString", "primReturn:", "print", "primitive"]
    assert editing.offered(names, "pri") == ["printString", "print"]
    assert editing.offered(names, "prim") == ["primReturn:", "primitive"]
    assert editing.offered(names, "print") == ["printString"]


@given(st.text(alphabet="abc :=.;^'\"$()[]{}#\n 12", max_size=60))
def test_the_editing_scanners_accept_any_text(text):
    assert isinstance(editing.enter_runs(text, SELECTORS), bool)
    assert set(editing.indentation(text)) <= {" "}
    assert isinstance(ends_with_period(text), bool)
    assert isinstance(wants_value(text), bool)


@given(st.text(alphabet="abc :=.;^'\"$()[]{}#\n 12", max_size=40))
def test_appending_white_space_or_a_comment_never_changes_the_period_rule(text):
    if text.count('"') % 2 == 0 and text.count("'") % 2 == 0:
        assert ends_with_period(text + "  \n") == ends_with_period(text)
        assert ends_with_period(text + ' "note" ') == ends_with_period(text)


# ---------------------------------------------------------------------- printIt or doIt

@pytest.mark.parametrize(("text", "shown"), [
    ("3 + 4", True),
    ("x := 3 + 4", False),
    ("^ x := 3", False),
    ("3 + 4.", False),
    ("3 + 4. \"done\"", False),
    ("'a.'", True),
    ("$.", True),                                        # a Character literal, not a period
    ("x println", False),
    ("x printNl", False),
    ("x displayNl", False),
    ("system println: 3", False),
    ("Transcript show: 3", False),
    ("x printString", True),
    ("x foo; println", False),                           # a cascade ending in a print
    ("x println; yourself", True),
    ("| a | a := 3", False),
    ("Foo = Object ( )", True),                          # definitions answer what they defined
    ("3 + + 4", True),                                   # the compiler reports it
])
def test_the_value_is_shown_unless_nobody_wants_it(text, shown):
    assert wants_value(text) is shown


# ---------------------------------------------------------------------- palettes

@pytest.mark.parametrize(("environment", "chosen"), [
    ({}, "default"), ({"SMALLTALK_VM_THEME": "dark"}, "dark"), ({"SMALLTALK_VM_THEME": " Light "}, "light"),
    ({"NO_COLOR": "1"}, "none"), ({"NO_COLOR": "1", "SMALLTALK_VM_THEME": "dark"}, "dark"),
    ({"SMALLTALK_VM_THEME": "sepia"}, "default"), ({"NO_COLOR": ""}, "default"),
])
def test_the_initial_palette(environment, chosen):
    assert theme.initial_theme(environment) == chosen


def test_paint_colours_each_line_and_none_is_plain():
    fragments = [("error", "ERROR: x\n  trace"), ("", "\nplain")]
    assert theme.paint(fragments, "default") == "\x1b[31mERROR: x\x1b[0m\n\x1b[31m  trace\x1b[0m\nplain"
    assert theme.paint(fragments, "none") == "ERROR: x\n  trace\nplain"
    assert "\x1b[91m" in theme.paint(fragments, "dark")


def test_the_default_palette_avoids_colours_that_vanish_on_one_background():
    default = theme._PALETTES["default"]
    for style, (toolkit, sgr) in default.items():
        assert not re.search(r"blue|cyan|yellow|white|black|#", toolkit), style
        assert not re.search(r"(^|;)(3[3467]|9[0-7])($|;)", sgr), style


def test_every_palette_styles_the_same_names():
    names = set(theme._PALETTES["default"])
    for name in ("dark", "light"):
        assert set(theme._PALETTES[name]) == names


# ---------------------------------------------------------------------- layouts

def test_a_stopped_error_says_how_to_go_on():
    result = Result("error", "boom", ["A>>b (<repl>:1)"], data={"stopped": 12, "exception": "Error",
                                                                 "label": "ERROR"})
    fragments, is_error = render(result)
    assert is_error
    assert plain(fragments) == ("ERROR: boom\n  A>>b (<repl>:1)\n"
                                "process 12 stopped at Error: :debug shows its frames, :abandon ends it")


def test_a_syntax_error_in_an_eval_points_into_its_own_text():
    result = Result("syntax", "unexpected end of input", line=1, column=4,
                    data={"source": "3 +", "file": "<eval>"})
    assert plain(render(result, ":eval 3 +")[0]) == "<eval>:1:4: unexpected end of input\n  3 +\n     ^"


def test_nothing_is_shown_for_a_do_it_whose_value_is_not_wanted():
    assert render(Result("done")) == ([], False)


def test_frames_and_inspector_views_layouts():
    frames = Result("debug", data={"pid": 3, "status": "suspended (waiting)", "more": 2, "frames": [
        {"index": 1, "where": "A>>b (<repl>:1)", "source": "b = ( ^ 1 )", "selected": True},
        {"index": 2, "where": "Nil>>doIt (<repl>:1)", "source": "", "selected": False}]})
    assert plain(render(frames)[0]).split("\n") == [
        "process 3 suspended (waiting)", ">  1  A>>b (<repl>:1)", "        b = ( ^ 1 )", "   2  Nil>>doIt (<repl>:1)",
        "  ... 2 more frames (:frame N selects any)"]
    view = Result("inspect", data={"title": "a Set(1)", "class": "Set", "depth": 2, "heading": "elements",
                                   "total": 1, "more": 0, "notes": [], "hidden_fields": 1,
                                   "entries": [{"index": 1, "label": "[1]", "value": "1"}]})
    assert plain(render(view)[0]).split("\n") == [
        "a Set(1)  (Set, 1 element)", "     1  1", "  (1 field: :raw shows them)", "  (:up goes back)"]
