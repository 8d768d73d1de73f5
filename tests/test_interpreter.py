"""Tests of the interpreter's execution model (DESIGN.md "Execution"): Smalltalk call
depth does not use the Python stack, literal control structures compile to jumps (as
`vm disasm` shows), and send-site inline caches stay correct when methods are
redefined and when one site sees receivers of many classes.
"""
from __future__ import annotations

import re
import sys
import textwrap

import pytest
from conftest import run_vm

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.objects import LargeInt

# ---------------------------------------------------------------- deep recursion

DEEP = """Deep = (
    down: n = ( n = 0 ifTrue: [ ^ 0 ]. ^ 1 + (self down: n - 1) )
    downBlock: n = ( ^ n = 0 ifTrue: [ 0 ] ifFalse: [ [ :k | 1 + (self downBlock: k) ] value: n - 1 ] )
)"""


def test_hundred_thousand_deep_recursion_with_the_default_python_limit(vm):
    assert sys.getrecursionlimit() <= 1000, "run with Python's default recursion limit"
    vm.define(DEEP)
    result = vm.value("Deep new down: 100000")
    assert V.is_small_int(result) and V.small_int_value(result) == 100000


def test_deep_recursion_through_blocks(vm):
    vm.define(DEEP)
    assert vm.eval("Deep new downBlock: 30000") == "30000"


def test_deep_recursion_can_still_be_interrupted_by_an_error_and_unwinds(vm):
    vm.define(DEEP)
    vm.define("Deep >> fail: n = ( n = 0 ifTrue: [ ^ 1 / 0 ]. ^ 1 + (self fail: n - 1) )")
    assert vm.eval("[ Deep new fail: 50000 ] on: ZeroDivide do: [ :e | #caught ]") == "#caught"


# ---------------------------------------------------------------- disassembly

CONTROL = """Control = (
    bar: x = (
        | s i |
        s := 0.
        x > 0 ifTrue: [ s := 1 ].
        i := 0.
        [ i < x ] whileTrue: [ i := i + 1 ].
        1 to: x do: [ :k | s := s + k ].
        ^ s + i
    )
    onlyIf: x = ( x > 0 ifTrue: [ ^ #positive ]. ^ #other )
    onlyWhile: x = ( | i | i := 0. [ i < x ] whileTrue: [ i := i + 2 ]. ^ i )
    onlyToDo: x = ( | s | s := 0. 1 to: x do: [ :k | s := s + k ]. ^ s )
    notLiteral: aBlock = ( ^ true ifTrue: aBlock )
)
"""
INLINED = ("ifTrue:", "ifFalse:", "ifTrue:ifFalse:", "ifFalse:ifTrue:", "whileTrue:",
           "whileFalse:", "to:do:")
INSTRUCTION = re.compile(r"^\s*(\d+)\s+([A-Z_]+)\b(.*)$")
SOURCE_NOTE = re.compile(r"^\s*; (\d+): (.*)$")


def disassemble(tmp_path, selector: str) -> list[str]:
    (tmp_path / "Control.som").write_text(CONTROL, encoding="utf-8")
    result = run_vm(["disasm", "-cp", str(tmp_path), f"Control>>{selector}"])
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def sent_selectors(listing: list[str]) -> list[str]:
    sent = []
    for line in listing:
        match = INSTRUCTION.match(line)
        if match and "SEND" in match.group(2):
            selector = re.search(r"#(\S+)", match.group(3))
            assert selector, f"a send without its selector: {line}"
            sent.append(selector.group(1))
    return sent


def opcodes(listing: list[str]) -> list[str]:
    return [m.group(2) for m in map(INSTRUCTION.match, listing) if m]


@pytest.mark.parametrize("selector, construct", [
    ("bar:", None), ("onlyIf:", "ifTrue:"), ("onlyWhile:", "whileTrue:"), ("onlyToDo:", "to:do:"),
])
def test_literal_control_structures_compile_to_jumps(tmp_path, selector, construct):
    listing = disassemble(tmp_path, selector)
    sent = sent_selectors(listing)
    assert not set(sent) & set(INLINED), f"control structure sent, not inlined: {sent}\n" + "\n".join(listing)
    ops = opcodes(listing)
    assert "JUMP_IF_FALSE" in ops or "JUMP_IF_TRUE" in ops, "\n".join(listing)
    if construct in (None, "whileTrue:", "to:do:"):
        assert "JUMP_BACK" in ops, "a loop needs a backward jump:\n" + "\n".join(listing)


def test_disassembly_shows_the_source_lines(tmp_path):
    listing = disassemble(tmp_path, "bar:")
    source = CONTROL.splitlines()
    notes = [SOURCE_NOTE.match(line) for line in listing]
    shown = {int(m.group(1)): m.group(2) for m in notes if m}
    for text in ("s := 0.", "x > 0 ifTrue: [ s := 1 ].", "[ i < x ] whileTrue: [ i := i + 1 ].",
                 "1 to: x do: [ :k | s := s + k ].", "^ s + i"):
        line_number = next(i for i, line in enumerate(source, 1) if line.strip() == text)
        assert shown.get(line_number) == text, f"line {line_number} missing:\n" + "\n".join(listing)


def test_a_block_in_a_variable_is_a_real_send(tmp_path):
    """The check above can see a send: `ifTrue:` with a non-literal block is one."""
    assert "ifTrue:" in sent_selectors(disassemble(tmp_path, "notLiteral:"))


def test_inlined_control_structures_compute_correctly(vm):
    vm.define(CONTROL)
    # bar: x = (x > 0 ? 1 : 0) + (1 + ... + x) + x
    for x in (0, 1, 3, 10):
        expected = (1 if x > 0 else 0) + x * (x + 1) // 2 + x
        assert vm.eval(f"Control new bar: {x}") == str(expected)
    assert vm.eval("Control new onlyIf: 5") == "#positive"
    assert vm.eval("Control new onlyIf: -5") == "#other"
    assert vm.eval("Control new onlyWhile: 7") == "8"
    assert vm.eval("Control new onlyToDo: 100") == "5050"
    assert vm.eval("Control new notLiteral: [ 42 ]") == "42"


# ---------------------------------------------------------------- inline caches

def loop_sum(vm, expression: str, times: int = 50) -> str:
    """Evaluate ``expression`` ``times`` times (one send site per compiled do-it)."""
    return vm.eval(f"| s | s := 0. 1 to: {times} do: [ :i | s := s + ({expression}) ]. s")


def test_redefined_method_is_seen_through_a_cached_send_site(vm):
    vm.define("Cached = ( bar = ( ^ 1 ) callBar = ( ^ self bar ) )")
    vm.define("Caller = ( call: x = ( ^ x callBar ) )")
    assert vm.eval("| c o s | c := Caller new. o := Cached new. s := 0. "
                   "1 to: 50 do: [ :i | s := s + (c call: o) ]. s") == "50"
    vm.define("Cached >> bar = ( ^ 2 )")
    assert vm.eval("Caller new call: Cached new") == "2"
    assert loop_sum(vm, "Cached new callBar") == "100"
    vm.define("Cached >> callBar = ( ^ self bar * 10 )")
    assert vm.eval("Caller new call: Cached new") == "20"


def test_redefined_superclass_method_is_seen_by_a_subclass_instance(vm):
    vm.define("Base = ( greet = ( ^ #base ) ask = ( ^ self greet ) )")
    vm.define("Sub = Base ( )")
    assert loop_sum(vm, "(Sub new ask == #base) ifTrue: [ 1 ] ifFalse: [ 0 ]") == "50"
    vm.define("Base >> greet = ( ^ #changed )")
    assert vm.eval("Sub new ask") == "#changed"
    vm.define("Sub >> greet = ( ^ #sub )")              # an override appears below the site
    assert vm.eval("Sub new ask") == "#sub"
    assert vm.eval("Base new ask") == "#changed"
    vm.define("Base >> greet = ( ^ #again )")          # the override still wins
    assert vm.eval("Sub new ask") == "#sub"


def test_class_side_redefinition_is_seen(vm):
    vm.define("Maker = ( ---- make = ( ^ 1 ) build = ( ^ self make ) )")
    assert loop_sum(vm, "Maker build") == "50"
    vm.define("Maker class >> make = ( ^ 3 )")
    assert vm.eval("Maker build") == "3"


def test_redefining_a_whole_class_replaces_cached_methods(vm):
    vm.define("Other = ( greet = ( ^ #other ) )")
    vm.define("Root = ( greet = ( ^ #root ) )")
    vm.define("Leaf = Root ( )")
    vm.define("Asker = ( ask: x = ( ^ x greet ) )")
    assert vm.eval("| a l | a := Asker new. l := Leaf new. 1 to: 20 do: [ :i | a ask: l ]. a ask: l") == "#root"
    vm.define("Leaf = Other ( )")                     # new superclass, no methods of its own
    assert vm.eval("Asker new ask: Leaf new") == "#other"
    vm.define("Leaf = Other ( greet = ( ^ #leaf ) )")
    assert vm.eval("Asker new ask: Leaf new") == "#leaf"
    vm.define("Leaf = Other ( )")                     # the old method is gone again
    assert vm.eval("Asker new ask: Leaf new") == "#other"


POLY = """Poly = (
    twice: x = ( ^ x + x )
    plus: a with: b = ( ^ a + b )
    less: a than: b = ( ^ a < b )
    show: x = ( ^ x printString )
)"""


def test_polymorphic_fast_path_site(vm):
    vm.define(POLY)
    receivers = ["3", "'ab'", "1.5", "(1 << 60)", "-7", "0.25", "'x'", "(2 raisedTo: 100)"]
    expected = ["6", "'abab'", "3.0", str(2 << 60), "-14", "0.5", "'xx'", str(2 ** 101)]
    array = "{ " + ". ".join(receivers) + " }"
    source = (f"| p items out | p := Poly new. items := {array}. out := Array new: {3 * len(receivers)}. "
              f"1 to: {3 * len(receivers)} do: [ :i | "
              f"out at: i put: (p twice: (items at: (i - 1) % {len(receivers)} + 1)) ]. out")
    result = vm.value(source)
    printed = [vm.machine.print_string(v) for v in result.items]
    assert printed == expected * 3


def test_polymorphic_mixed_arithmetic_and_comparison_site(vm):
    vm.define(POLY)
    cases = [("1", "2.5", "3.5", "true"), ("2.5", "1", "3.5", "false"), ("1", "2", "3", "true"),
             ("'a'", "1", "'a1'", None), ("140737488355327", "1", "140737488355328", "false"),
             ("(1 << 60)", "1.0", "1.152921504606847e18", "false"), ("-1", "-1", "-2", "false")]
    for _round in range(3):
        for a, b, total, less in cases:
            assert vm.eval(f"Poly new plus: {a} with: {b}") == total, (a, b)
            if less is not None:
                assert vm.eval(f"Poly new less: {a} than: {b}") == less, (a, b)


def test_megamorphic_plain_send_site(vm):
    vm.define(POLY)
    vm.define("Thing = ( printOn: aStream = ( aStream nextPutAll: 'a Thing!' ) )")
    values = {"3": "3", "'s'": "'s'", "#sym": "#sym", "2.5": "2.5", "nil": "nil", "true": "true",
              "$a": "$a", "#(1 2)": "#(1 2)", "Thing new": "a Thing!", "(1 << 70)": str(1 << 70)}
    items = list(values)
    source = ("| p items out | p := Poly new. items := { " + ". ".join(items) + " }. "
              f"out := Array new: {2 * len(items)}. 1 to: {2 * len(items)} do: [ :i | "
              f"out at: i put: (p show: (items at: (i - 1) % {len(items)} + 1)) ]. out")
    result = vm.value(source)
    strings = [v.chars for v in result.items]
    assert strings == [values[k] for k in items] * 2


def test_large_integers_on_the_fast_path_site(vm):
    """A fast-path site that first sees SmallIntegers and then LargeInts (and back)."""
    vm.define(POLY)
    result = vm.value("| p out | p := Poly new. out := Array new: 4. "
                      "out at: 1 put: (p twice: 70368744177663). out at: 2 put: (p twice: 70368744177664). "
                      "out at: 3 put: (p plus: 140737488355328 with: -1). "
                      "out at: 4 put: (p plus: 140737488355327 with: 1). out")
    first, second, third, fourth = result.items
    assert V.is_small_int(first) and V.small_int_value(first) == 2 * 70368744177663
    assert type(second) is LargeInt and second.n == 2 * 70368744177664
    assert V.is_small_int(third) and V.small_int_value(third) == (1 << 47) - 1
    assert type(fourth) is LargeInt and fourth.n == 1 << 47


def test_does_not_understand_after_method_disappears(vm):
    """A cached site whose method is removed by redefining the class must not keep
    calling the old method."""
    vm.define("Fading = ( shine = ( ^ #bright ) )")
    vm.define("Looker = ( look: x = ( ^ x shine ) )")
    assert vm.eval("| l f | l := Looker new. f := Fading new. 1 to: 10 do: [ :i | l look: f ]. l look: f") \
        == "#bright"
    vm.define("Fading = ( )")
    outcome = vm.run("Looker new look: Fading new")
    assert outcome.status == "error"
    assert "shine" in outcome.error_text


def test_source_of_the_classes_is_well_formed():
    """The class texts used here parse (guards against a typo making tests vacuous)."""
    from smalltalk_vm.compiler.parser import parse_class
    for text in (DEEP, CONTROL, POLY):
        assert parse_class(textwrap.dedent(text)).instance_methods
