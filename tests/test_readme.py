"""The README stays true: every command in it is run here.

The first command (install, then run the sample) runs in a fresh virtualenv made in a
copy of the checkout; the second (install the test extras, run the tests) must be what
.ci/run runs; every other command runs against this checkout through a stand-in for
`.venv/bin/vm`, in a scratch folder."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from conftest import ROOT
from readme_support import EXPECTED, FreshInstalls, readme_commands

README = os.path.join(ROOT, "README.md")


def commands() -> list[list[str]]:
    """The commands of each ```sh block of the README, in order."""
    return readme_commands()


def test_the_readme_starts_with_the_two_commands() -> None:
    with open(README, encoding="utf-8") as handle:
        assert handle.read().startswith("```sh\n")
    install, test = commands()[0]
    assert "pip install -e ." in install and "vm run examples/Hello.som" in install
    assert "pip install -e '.[test]'" in test and "pytest" in test


def test_ci_runs_exactly_the_readme_test_command() -> None:
    _, test_command = commands()[0]
    with open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8") as handle:
        script = handle.read()
    assert test_command in script.splitlines()
    assert os.access(os.path.join(ROOT, ".ci", "run"), os.X_OK)


def test_the_first_command_installs_and_runs_the_sample(fresh_installs: FreshInstalls) -> None:
    """On a fresh virtualenv, in a copy of the checkout (nothing installed by hand):
    run once for the session by tests/install_support.py."""
    result = fresh_installs.readme
    assert result.args[-1] == commands()[0][0]
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert result.stdout.splitlines()[-1] == "Hello, World!"


def test_every_other_readme_command_runs(readme_later_commands: list[str]) -> None:
    """Each in order, in one scratch folder: run early by tests/readme_support.py."""
    later = [command for block in commands()[1:] for command in block]
    assert set(later) == set(EXPECTED), "README commands changed: update EXPECTED in tests/readme_support.py"
    assert readme_later_commands == []


@pytest.mark.parametrize("link", re.findall(r"\]\((docs/[^)]+)\)", Path(README).read_text(encoding="utf-8")))
def test_readme_links_exist(link: str) -> None:
    """Each linked page exists, and so does the heading an anchor names (as GitHub makes
    anchors: lower case, punctuation dropped, spaces as hyphens)."""
    page, _, anchor = link.partition("#")
    path = os.path.join(ROOT, page)
    assert os.path.exists(path), link
    if anchor:
        headings = re.findall(r"^#+ (.+)$", Path(path).read_text(encoding="utf-8"), re.M)
        slugs = {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}
        assert anchor in slugs, f"{link}: no such heading"
