"""The README stays true: every command in it is run here.

The first command (install, then run the sample) runs in a fresh virtualenv made in a
copy of the checkout; the second (install the test extras, run the tests) must be what
.ci/run runs; every other command runs against this checkout through a stand-in for
`.venv/bin/vm`, in a scratch folder."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import ROOT
from install_support import FreshInstalls, readme_commands

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


def _stand_in(folder: str) -> dict:
    """A scratch folder where `.venv/bin/vm` runs this checkout's `vm`."""
    os.makedirs(os.path.join(folder, ".venv", "bin"))
    shim = os.path.join(folder, ".venv", "bin", "vm")
    with open(shim, "w", encoding="utf-8") as handle:
        handle.write(f'#!/bin/sh\nexec "{sys.executable}" -m smalltalk_vm.cli.main "$@"\n')
    os.chmod(shim, 0o755)
    for name in ("examples", "tests", "lib"):
        os.symlink(os.path.join(ROOT, name), os.path.join(folder, name))
    environment = dict(os.environ)
    environment["PYTHONPATH"] = ROOT + os.pathsep + environment.get("PYTHONPATH", "")
    return environment


EXPECTED = {
    ".venv/bin/vm --version": "smalltalk-vm ",
    ".venv/bin/vm eval 'x := 6 * 7' 'x + 1'": "42\n43\n",
    ".venv/bin/vm run examples/Hello.som": "Hello, World!",
    ".venv/bin/vm run -cp examples Hello": "Hello, World!",
    ".venv/bin/vm eval '(1 to: 5) collect: [ :i | i * i ]'": "#(1 4 9 16 25)",
    ".venv/bin/vm disasm 'Integer>>max:'": "Integer>>max:",
    ".venv/bin/vm test tests/st": " failed",
    ".venv/bin/vm run examples/supervision/SupervisionDemo.som": "restart",
    "printf '3 + 4\\nx := 6 * 7\\nx + 1\\n' | .venv/bin/vm repl": "7\n42\n43",
    ".venv/bin/vm run examples/Snapshot.som": "saved snapshot.image",
    ".venv/bin/vm run --image snapshot.image": "total: 42",
    ".venv/bin/vm image info snapshot.image": "processes:",
    ".venv/bin/vm bench --quick": "geometric mean",
    ("timeout 60 .venv/bin/vm node --name a --listen 127.0.0.1:47301 --cookie demo & .venv/bin/vm node "
     "--name b --join 127.0.0.1:47301 --cookie demo examples/cluster/Demo.som; wait"): "hello from a to b",
    ("timeout 60 .venv/bin/vm node --name ops --listen 127.0.0.1:47302 --cookie demo > ops.log & "
     "for i in $(seq 150); do grep -q listening ops.log && break; sleep 0.2; done; "
     "printf 'Node current name\\n(1 to: 3) collect: [ :i | i * i ]\\n' | .venv/bin/vm repl "
     "--connect 127.0.0.1:47302 --cookie demo && .venv/bin/vm cluster status 127.0.0.1:47302 --cookie demo; "
     "kill $!"): "#(1 4 9)\nNAME  ADDRESS",
}


# The README's later blocks run this many at a time; the commands of one block run in
# order, since a later one may use what an earlier one made (the snapshot commands).
# Most of a block's time is start-up and waiting on nodes, so two at a time on the
# suite's otherwise idle second core halve the test's time.
BLOCKS_AT_ONCE = 2


def run_block(block: list[str], folder: str, environment: dict) -> str | None:
    """Run the commands of one block in order; the first one that fails, described, or None."""
    for command in block:
        result = subprocess.run(["bash", "-c", command], cwd=folder, capture_output=True,
                                text=True, timeout=300, env=environment)
        if result.returncode != 0:
            return f"{command}\nstatus {result.returncode}\n{result.stdout[-1500:]}\n{result.stderr[-1500:]}"
        if EXPECTED[command] not in result.stdout:
            return f"{command}\nno {EXPECTED[command]!r} in:\n{result.stdout[-1500:]}"
    return None


def test_every_other_readme_command_runs(tmp_path) -> None:
    folder = str(tmp_path / "scratch")
    os.makedirs(folder)
    environment = _stand_in(folder)
    blocks = commands()[1:]
    later = [command for block in blocks for command in block]
    assert set(later) == set(EXPECTED), "README commands changed: update EXPECTED"
    with ThreadPoolExecutor(max_workers=BLOCKS_AT_ONCE) as pool:
        failures = [failure for failure in pool.map(lambda block: run_block(block, folder, environment), blocks)
                    if failure is not None]
    assert failures == [], "\n\n".join(failures)


@pytest.mark.parametrize("link", re.findall(r"\]\((docs/[^)]+)\)", Path(README).read_text(encoding="utf-8")))
def test_readme_links_exist(link: str) -> None:
    assert os.path.exists(os.path.join(ROOT, link)), link
