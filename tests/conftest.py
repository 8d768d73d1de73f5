"""Shared fixtures: an in-process VM for unit tests, and a runner for the `vm`
command as a subprocess (end-to-end tests)."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

import early_jobs
import pytest
from cluster_support import cluster  # noqa: F401  (the real-node fixture, for every test module)
from early_jobs import (  # noqa: F401  (the jobs started early, for every test module)
    early_jobs_started,
    fresh_installs,
    hosted_suite,
    hosted_suite_native,
    readme_later_commands,
)
from hypothesis import HealthCheck, settings

from smalltalk_vm.compiler.front import compile_input
from smalltalk_vm.image.boot import make_machine
from smalltalk_vm.vm.machine import Machine

# Machines running the suite are shared and noisy: hypothesis's timing checks measure
# the load, not the code (speed is checked by bench/). Tests may tighten this.
# The default profile is CI's (hypothesis's 100 examples per property);
# `pytest --hypothesis-profile=thorough` runs ten times as many wherever a test takes
# its count from ``examples`` below. The long fuzzing runs stay behind `-m fuzz`.
settings.register_profile("shared-machine", deadline=None, suppress_health_check=[HealthCheck.too_slow],
                          max_examples=100)
settings.register_profile("thorough", settings.get_profile("shared-machine"), max_examples=1000)
settings.load_profile("shared-machine")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def examples(weight: float = 1.0) -> int:
    """A property test's example count: ``weight`` times the loaded profile's (so 100
    for weight 1 in CI, 1000 under the thorough profile). Read when the test module is
    imported, after the profile is chosen."""
    return max(1, round(settings.default.max_examples * weight))


def pytest_collection_finish(session: pytest.Session) -> None:
    early_jobs.want(session.items)


def pytest_sessionfinish(session: pytest.Session) -> None:
    early_jobs.stop()


def run_vm(args: Sequence[str], *, input: str | None = None, cwd: str | None = None,
           timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the `vm` command (this checkout's) and capture its output."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = ROOT + os.pathsep + environment.get("PYTHONPATH", "")
    if env:
        environment.update(env)
    return subprocess.run([sys.executable, "-m", "smalltalk_vm.cli.main", *args], input=input,
                          capture_output=True, text=True, cwd=cwd or ROOT,
                          timeout=timeout, env=environment)


@pytest.fixture(autouse=True, scope="session")
def private_state_home(tmp_path_factory) -> None:
    """The REPL history and change log written by the tests' own `vm repl` runs stay
    out of the user's state folder (and one test's log never greets another test)."""
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state"))


@pytest.fixture(autouse=True, scope="session")
def shared_bytecode_cache(tmp_path_factory) -> None:
    """Every `vm` and `vm node` the tests start shares one bytecode cache, in the
    session's temporary folder (never beside the sources). Without it, a caller that
    sets PYTHONDONTWRITEBYTECODE makes each of the suite's hundreds of subprocesses
    compile the whole VM from source again: two thirds of a `vm eval`'s start-up."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(tmp_path_factory.mktemp("pycache"))


class VMSession:
    """A bootstrapped machine plus helpers to evaluate source in it."""

    def __init__(self, classpath: Sequence[str] = ()) -> None:
        self.machine: Machine = make_machine(list(classpath))
        self.universe = self.machine.universe
        self.output: list[str] = []
        self.errors: list[str] = []
        self.machine.set_output(self.output.append, self.errors.append)

    def define(self, source: str) -> None:
        """Compile a class or method definition do-it."""
        compiled = compile_input(self.universe, source, "<test>")
        assert compiled.kind in ("class", "method"), compiled.kind

    def run(self, source: str):
        """Evaluate statements; answer the Outcome."""
        compiled = compile_input(self.universe, source, "<test>")
        assert compiled.kind == "statements"
        return self.machine.evaluate(compiled.method)

    def value(self, source: str):
        outcome = self.run(source)
        assert outcome.status == "value", f"{outcome.status}: {outcome.error_text}"
        return outcome.value

    def eval(self, source: str) -> str:
        """The printString of the value of ``source``."""
        return self.machine.print_string(self.value(source))

    def printed(self) -> str:
        text = "".join(self.output)
        self.output.clear()
        return text


@pytest.fixture
def vm() -> VMSession:
    return VMSession()


@pytest.fixture(scope="module")
def shared_vm() -> VMSession:
    """One machine for a whole module of read-only checks (faster)."""
    return VMSession()
