"""printIt or doIt: whether the REPL shows the value of a do-it. The rule, the REPL's
own (docs/repl.md): the value is not shown when the input ends in a statement whose
value nobody wants —

- an assignment (`x := 3 + 4`), also inside a `^`;
- a send of the printing family (`x println`, `x printNl`, `Transcript show: x`, a
  cascade whose last message is one), which has shown what it had to show;
- a statement followed by a `.` (`3 + 4.`): the period says "do it".

Everything else is shown (printIt). The rule reads only the input's text: it never
runs anything, and an input it cannot parse is shown (the compiler reports it).
"""
from __future__ import annotations

from smalltalk_vm.compiler import ast as A
from smalltalk_vm.compiler.parser import parse_input
from smalltalk_vm.repl.source import ends_with_period
from smalltalk_vm.vm.errors import SmalltalkSyntaxError

# Selectors whose job is output: their answer is not worth echoing.
PRINTING_SELECTORS = frozenset({
    "print", "println", "printNl", "displayNl", "inspect",
    "print:", "println:", "printString:", "errorPrintln:", "errorPrint:", "show:", "display:",
})


def wants_value(text: str) -> bool:
    """True when the value of the statements ``text`` should be shown."""
    if ends_with_period(text):
        return False
    try:
        node = parse_input(text, "<repl>")
    except SmalltalkSyntaxError:
        return True
    if not isinstance(node, A.DoIt) or not node.body.statements:
        return True
    last = node.body.statements[-1]
    if isinstance(last, A.Return):
        last = last.value
    return not _unwanted(last)


def _unwanted(expr: object) -> bool:
    if isinstance(expr, A.Assign):
        return True
    if isinstance(expr, A.Send):
        return expr.selector in PRINTING_SELECTORS
    if isinstance(expr, A.Cascade):
        return bool(expr.parts) and bool(expr.parts[-1]) and expr.parts[-1][-1].selector in PRINTING_SELECTORS
    return False
