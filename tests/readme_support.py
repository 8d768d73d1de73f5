"""What the README tests run (tests/test_readme.py), as jobs started early
(tests/early_jobs.py): the README's first command in a clean copy of the checkout (the
virtualenv it makes then holds the project's dependencies as pip installed them) and a
wheel built from another clean copy (``make_fresh_installs``); and every later command
of the README, checked against ``EXPECTED`` (``run_later_commands``).

The rules: nothing is installed by hand; the commands run exactly as the README
writes them (the later ones through a stand-in for `.venv/bin/vm` that runs this
checkout's `vm`); every child has a deadline (early_jobs.run).
"""
from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from subprocess import CompletedProcess

from early_jobs import run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
INSTALL_SECONDS = 900


def copy_checkout(target: str) -> None:
    """The tracked files of this checkout, copied to ``target`` (a clean checkout)."""
    listed = run(["git", "ls-files", "-z"], cwd=ROOT, timeout=60)
    assert listed.returncode == 0, listed.stderr
    for relative in listed.stdout.split("\0"):
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
    readme: CompletedProcess                 # the README's first command
    venv: Path                               # the virtualenv it made
    wheel_build: CompletedProcess            # pip wheel of a clean checkout
    wheels: Path                             # where it put the wheel
    plain_wheel_build: CompletedProcess      # the same where the C compiler fails (CC=false)
    plain_wheels: Path                       # where it put that wheel


def make_fresh_installs(folder: Path) -> FreshInstalls:
    readme_checkout, wheel_checkout = folder / "readme-checkout", folder / "wheel-checkout"
    plain_checkout = folder / "plain-wheel-checkout"
    copy_checkout(str(readme_checkout))
    copy_checkout(str(wheel_checkout))          # pip writes build/ next to the sources
    copy_checkout(str(plain_checkout))
    install_and_run = readme_commands()[0][0]
    readme_env = {key: value for key, value in os.environ.items() if not key.startswith("VIRTUAL_ENV")}
    readme_env["XDG_CACHE_HOME"] = str(folder / "cache")
    readme = run(["bash", "-c", install_and_run], cwd=readme_checkout, env=readme_env, timeout=INSTALL_SECONDS)
    wheels = folder / "wheels"
    wheel_build = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels),
                       str(wheel_checkout)], cwd=folder, timeout=INSTALL_SECONDS)
    # A machine without a C compiler: the wire codec's optional extensions fail to build
    # and the package must build without them.
    plain_wheels = folder / "plain-wheels"
    plain_wheel_build = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(plain_wheels),
                             str(plain_checkout)], cwd=folder, timeout=INSTALL_SECONDS,
                            env={**os.environ, "CC": "false", "LDSHARED": "false"})
    return FreshInstalls(readme, readme_checkout / ".venv", wheel_build, wheels, plain_wheel_build, plain_wheels)


def stand_in(folder: str) -> dict:
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


def run_later_commands(folder: Path) -> list[str]:
    """Every command of the README's later blocks, in order, in one scratch folder (a
    later command may use what an earlier one made, as the snapshot commands do): a
    description of each that failed or did not print what ``EXPECTED`` says."""
    environment = stand_in(str(folder))
    failures = []
    for command in [command for block in readme_commands()[1:] for command in block]:
        result = run(["bash", "-c", command], cwd=folder, env=environment, timeout=300)
        if result.returncode != 0:
            failures.append(f"{command}\nstatus {result.returncode}\n{result.stdout[-1500:]}\n{result.stderr[-1500:]}")
        elif EXPECTED.get(command, "\0not listed") not in result.stdout:
            failures.append(f"{command}\nno {EXPECTED.get(command)!r} in:\n{result.stdout[-1500:]}")
    return failures
