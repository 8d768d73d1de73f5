"""Long subprocess work a few tests need — fresh installs, the hosted suite in both
tiers, the README's commands — started in the background when the first test of the
session starts, so that it runs on the machine's second core while the suite goes on
(the suite itself is one process: most of the time one core is idle). A test that
needs a job's result takes its fixture, which waits for it.

The rules:
- A job runs only when a collected test uses its fixture (``pytest tests/test_value.py``
  starts none); a job nobody collected but a test asks for runs then, in the test.
- Jobs run one at a time, in one background thread: at most one core beside the suite.
- A job's result is captured once; tests only read it (a test that goes on to use
  what a job made, as the wheel test uses the README's virtualenv, must leave the
  captured result true).
- Every child a job starts goes through ``run``: it has a deadline, runs in a process
  group of its own, and is killed with its group if it is still running when the
  session ends.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NATIVE_ENV = {"VM_NATIVE_HOT": "1", "VM_NATIVE_STRICT": "1"}   # every method native code (vm/native.py)
JOB_SECONDS = 1800          # how long a test waits for a job (each child has its own deadline too)


def run(argv: list[str], *, cwd: str | Path, env: dict | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess:
    """``subprocess.run`` for jobs: output captured as text, killed with its whole
    process group at ``timeout`` (TimeoutExpired) or when the session ends."""
    child = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    with _lock:
        _children.add(child)
    try:
        stdout, stderr = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(child)
        child.communicate(timeout=30)
        raise
    finally:
        with _lock:
            _children.discard(child)
        _kill_group(child)                  # what it left in the background (a shell's `&`)
    return subprocess.CompletedProcess(argv, child.returncode, stdout, stderr)


def vm_environment(extra: dict | None = None) -> dict:
    environment = dict(os.environ)
    environment["PYTHONPATH"] = ROOT + os.pathsep + environment.get("PYTHONPATH", "")
    environment.update(extra or {})
    return environment


def _hosted_suite(folder: Path, extra: dict | None = None) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "smalltalk_vm.cli.main", "test", "tests/st"], cwd=ROOT,
               env=vm_environment(extra), timeout=600)


def _jobs() -> dict[str, Callable[[Path], Any]]:
    """fixture name -> the work (given a scratch folder of its own); the jobs run in this order."""
    import readme_support  # imported late: it is a test module's helper, not conftest's
    return {
        "fresh_installs": readme_support.make_fresh_installs,
        "hosted_suite": _hosted_suite,
        "hosted_suite_native": lambda folder: _hosted_suite(folder, NATIVE_ENV),
        "readme_later_commands": readme_support.run_later_commands,
    }


_lock = threading.Lock()
_children: set[subprocess.Popen] = set()
_futures: dict[str, Future] = {}
_wanted: list[str] = []
_scratch: tempfile.TemporaryDirectory | None = None


def _kill_group(child: subprocess.Popen) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _folder(name: str) -> Path:
    global _scratch
    with _lock:
        if _scratch is None:
            _scratch = tempfile.TemporaryDirectory(prefix="early-jobs-")
    folder = Path(_scratch.name) / name
    folder.mkdir()
    return folder


def _run_job(name: str, future: Future) -> None:
    if not future.set_running_or_notify_cancel():
        return
    try:
        future.set_result(_jobs()[name](_folder(name)))
    except BaseException as error:         # handed to the test that waits for it
        future.set_exception(error)


def _background(names: list[str]) -> None:
    for name in names:
        _run_job(name, _futures[name])


def want(items: list[pytest.Item]) -> None:
    """At the end of collection: note the jobs the collected tests use."""
    names = set(_jobs())
    used = {fixture for item in items for fixture in getattr(item, "fixturenames", ()) if fixture in names}
    _wanted[:] = [name for name in _jobs() if name in used]


def start() -> None:
    """Start the noted jobs in the background (once)."""
    with _lock:
        names = [name for name in _wanted if name not in _futures]
        for name in names:
            _futures[name] = Future()
    if names:
        threading.Thread(target=_background, args=(names,), name="early jobs", daemon=True).start()


def result(name: str) -> Any:
    """The job's result (its exception re-raised), running it here if it was not started."""
    with _lock:
        future = _futures.get(name)
        started_here = future is None
        if started_here:
            future = _futures[name] = Future()
    if started_here:
        _run_job(name, future)
    return future.result(timeout=JOB_SECONDS)


def stop() -> None:
    """At the end of the session: jobs not yet run never start; children still running are killed."""
    with _lock:
        for future in _futures.values():
            future.cancel()
        children = list(_children)
    for child in children:
        _kill_group(child)
    if _scratch is not None:
        _scratch.cleanup()


@pytest.fixture(autouse=True, scope="session")
def early_jobs_started(private_state_home: None, shared_bytecode_cache: None) -> None:
    """After the session's environment is set (the jobs' children inherit it)."""
    start()


@pytest.fixture(scope="session")
def fresh_installs() -> Any:
    """readme_support.FreshInstalls: the README's first command, and a wheel."""
    return result("fresh_installs")


@pytest.fixture(scope="session")
def hosted_suite() -> subprocess.CompletedProcess:
    """`vm test tests/st`, run from the checkout."""
    return result("hosted_suite")


@pytest.fixture(scope="session")
def hosted_suite_native() -> subprocess.CompletedProcess:
    """`vm test tests/st` with every method compiled to native code (NATIVE_ENV)."""
    return result("hosted_suite_native")


@pytest.fixture(scope="session")
def readme_later_commands() -> list[str]:
    """readme_support.run_later_commands: a description of each README command that failed."""
    return result("readme_later_commands")
