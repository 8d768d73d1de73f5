"""docs/language.md stays true: every example in it that shows a result is run here and
must print exactly what the page shows.

Three kinds of fenced block take part:

- a REPL transcript (its first line starts with ``st> ``): the inputs (``st> `` lines
  and the ``... `` lines continuing them) are piped into one `vm repl`, and what it
  prints (stdout and stderr, in order) must be the page's lines; a line ``[...]``
  stands for any number of lines;
- a shell transcript (first line ``$ ``): each command runs in bash, with `vm` being
  this checkout's, in a scratch folder, and must print the lines under it;
- a class file (a block right after ``<!-- file: Name.som -->``): written into the
  scratch folder of every shell transcript after it.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import ROOT

DOC = Path(ROOT, "docs", "language.md")
ELIDED = "[...]"
MINIMUM_CHECKED_INPUTS = 80      # the page must keep showing results, not drop them


@dataclass
class Example:
    kind: str                                  # "repl" or "shell"
    line: int                                  # where the block starts in the page
    steps: list[tuple[str, list[str]]]         # (input or command, expected lines)
    files: dict[str, str] = field(default_factory=dict)


_BLOCK = re.compile(r"(?:<!-- file: (?P<file>[^ ]+) -->\n)?```[a-z]*\n(?P<body>.*?)```", re.S)


def examples(text: str) -> list[Example]:
    found: list[Example] = []
    files: dict[str, str] = {}
    for match in _BLOCK.finditer(text):
        body = match.group("body")
        line = text.count("\n", 0, match.start("body"))
        if match.group("file"):
            files[match.group("file")] = body
        elif body.startswith("st> "):
            found.append(Example("repl", line, _steps(body, "st> ", "... ")))
        elif body.startswith("$ "):
            found.append(Example("shell", line, _steps(body, "$ ", None), dict(files)))
    return found


def _steps(body: str, prompt: str, continuation: str | None) -> list[tuple[str, list[str]]]:
    steps: list[tuple[str, list[str]]] = []
    for text in body.splitlines():
        if text.startswith(prompt):
            steps.append((text[len(prompt):], []))
        elif continuation and text.startswith(continuation) and not steps[-1][1]:
            steps[-1] = (steps[-1][0] + "\n" + text[len(continuation):], [])
        else:
            steps[-1][1].append(text)
    return steps


def matches(expected: list[str], actual: str) -> bool:
    pattern = "".join(r"(?:.*\n)*?" if line == ELIDED else re.escape(line + "\n") for line in expected)
    return re.fullmatch(pattern, actual) is not None


def environment(folder: Path) -> dict:
    shim_folder = folder / ".bin"
    shim_folder.mkdir()
    shim = shim_folder / "vm"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m smalltalk_vm.cli.main "$@"\n')
    shim.chmod(0o755)
    return dict(os.environ, PATH=f"{shim_folder}{os.pathsep}{os.environ['PATH']}",
                PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
                XDG_STATE_HOME=str(folder / "state"))


EXAMPLES = examples(DOC.read_text(encoding="utf-8"))


def test_the_page_shows_results_to_check() -> None:
    kinds = {example.kind for example in EXAMPLES}
    assert kinds == {"repl", "shell"}
    assert sum(len(example.steps) for example in EXAMPLES) >= MINIMUM_CHECKED_INPUTS


def test_the_example_reader_understands_the_forms() -> None:
    page = ("```\nst> a := (\n... 1)\n1\nst> a foo\nERROR: x\n[...]\n```\n"
            "<!-- file: A.som -->\n```smalltalk\nA = ()\n```\n```\n$ vm run A.som\nout\n```\n")
    repl, shell = examples(page)
    assert repl.steps == [("a := (\n1)", ["1"]), ("a foo", ["ERROR: x", ELIDED])]
    assert (shell.steps, shell.files) == ([("vm run A.som", ["out"])], {"A.som": "A = ()\n"})
    assert matches(["ERROR: x", ELIDED, "2"], "ERROR: x\n  frame\n  frame\n2\n")
    assert not matches(["ERROR: x", "2"], "ERROR: x\n  frame\n2\n")


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda example: f"{example.kind}-line{example.line}")
def test_the_example_prints_what_the_page_shows(example: Example, tmp_path: Path) -> None:
    env = environment(tmp_path)
    for name, text in example.files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    if example.kind == "repl":
        source = "".join(text + "\n" for text, _ in example.steps)
        result = subprocess.run([sys.executable, "-m", "smalltalk_vm.cli.main", "repl"], input=source,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                timeout=120, cwd=tmp_path, env=env)
        expected = [line for _, lines in example.steps for line in lines]
        assert matches(expected, result.stdout), f"docs/language.md:{example.line}\n{result.stdout}"
        return
    for command, expected in example.steps:
        result = subprocess.run(["bash", "-c", command], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, timeout=120, cwd=tmp_path, env=env)
        assert matches(expected, result.stdout), f"docs/language.md:{example.line}: {command}\n{result.stdout}"
        assert result.returncode == 0, f"{command}\n{result.stdout}"
