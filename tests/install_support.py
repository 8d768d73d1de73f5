"""Fresh installs of the project, made once per test session (the ``fresh_installs``
fixture): the README's first command (make a virtualenv, ``pip install -e .``, run the
sample) in one clean copy of the checkout, and ``pip wheel`` in another, both at once
— each spends most of its time in pip, and on different cores.

The rules: nothing is installed by hand (the virtualenv holds exactly what the
README's command installed); each result is captured before any test sees it, so a
test that goes on to use the virtualenv (the wheel test swaps the editable install for
the wheel) cannot change what another test reads; every wait has a deadline.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
INSTALL_SECONDS = 900


def copy_checkout(target: str) -> None:
    """The tracked files of this checkout, copied to ``target`` (a clean checkout)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    for relative in listed.stdout.decode().split("\0"):
        if not relative or not os.path.exists(os.path.join(ROOT, relative)):
            continue
        destination = os.path.join(target, relative)
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        shutil.copy2(os.path.join(ROOT, relative), destination)


def readme_commands() -> list[list[str]]:
    """The commands of each ```sh block of the README, in order."""
    with open(README, encoding="utf-8") as handle:
        text = handle.read()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    return [[line.strip() for line in block.splitlines() if line.strip()] for block in blocks]


@dataclass
class FreshInstalls:
    readme: subprocess.CompletedProcess      # the README's first command
    venv: Path                               # the virtualenv it made
    wheel_build: subprocess.CompletedProcess
    wheels: Path                             # where pip wheel put the wheel


def _run_together(commands: list[tuple[list[str], Path, dict]], folder: Path) -> list[subprocess.CompletedProcess]:
    """Run every (argv, cwd, env) at once; their results, in order. Output goes to files
    (a pipe nobody reads while another command is waited for could fill and stall)."""
    started = []
    for index, (argv, cwd, env) in enumerate(commands):
        out, err = folder / f"{index}.out", folder / f"{index}.err"
        with open(out, "w") as stdout, open(err, "w") as stderr:
            started.append((argv, subprocess.Popen(argv, cwd=cwd, env=env, stdout=stdout, stderr=stderr,
                                                   stdin=subprocess.DEVNULL, text=True), out, err))
    results = []
    for argv, child, out, err in started:
        try:
            status = child.wait(timeout=INSTALL_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            status = child.wait(timeout=30)
        results.append(subprocess.CompletedProcess(argv, status, out.read_text(), err.read_text()))
    return results


@pytest.fixture(scope="session")
def fresh_installs(tmp_path_factory: pytest.TempPathFactory) -> FreshInstalls:
    base = tmp_path_factory.mktemp("fresh-installs")
    readme_checkout, wheel_checkout = base / "readme-checkout", base / "wheel-checkout"
    copy_checkout(str(readme_checkout))
    copy_checkout(str(wheel_checkout))          # pip writes build/ next to the sources
    wheels = base / "wheels"
    install_and_run = readme_commands()[0][0]
    readme_env = {key: value for key, value in os.environ.items() if not key.startswith("VIRTUAL_ENV")}
    readme_env["XDG_CACHE_HOME"] = str(base / "cache")
    readme, wheel_build = _run_together([
        (["bash", "-c", install_and_run], readme_checkout, readme_env),
        ([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(wheel_checkout)],
         base, dict(os.environ)),
    ], base)
    return FreshInstalls(readme, readme_checkout / ".venv", wheel_build, wheels)
