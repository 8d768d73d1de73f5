"""Stack traces as a user reads them: the VM's own signalling frames (doesNotUnderstand:,
error:, signal, the class-side signal:) and the launcher (System>>initialize:) are left
out; halt names the user's frame; a runaway recursion shows its first ten and last ten
frames around one line saying how many were left out; and the source paths in a trace
are those of the install that runs, even when the cached default image was built by
another copy of the checkout that shares the cache folder."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, VMSession, run_vm

from smalltalk_vm.image.boot import LIB_DIR
from smalltalk_vm.vm.primitives.context import TRACE_HEAD, TRACE_TAIL

FRAME = re.compile(r"^  (\[\] in )?[A-Za-z0-9_ ]+>>\S+ \(.*:\d+\)$")


def run_program(tmp_path: Path, name: str, source: str, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / f"{name}.som").write_text(source)
    return run_vm(["run", "-cp", str(tmp_path), name, *args], cwd=str(tmp_path), timeout=120)


def trace_of(stderr: str) -> list[str]:
    """The frame lines after the ERROR line, without the two-space indent."""
    lines = stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("ERROR: "))
    return [line[2:] for line in lines[start + 1:] if line.startswith("  ")]


CALLER = """Caller = (
    viaMessage = ( ^ nil zork )
    viaError = ( ^ self error: 'said so' )
    viaClassSignal = ( ^ ZeroDivide signal: 'class side' )
    viaNewSignal = ( ^ ZeroDivide new signal: 'instance side' )
    viaDivision = ( ^ 1 / 0 )
    viaAbstract = ( ^ self subclassResponsibility )
    viaBlock = ( ^ #(1 2) do: [ :each | each zork ] )
    run: arguments = ( ^ self perform: (arguments at: 2) asSymbol )
)
"""


@pytest.mark.parametrize("selector, first, message", [
    ("viaMessage", "Caller>>viaMessage", "Method zork not found in class Nil"),
    ("viaError", "Caller>>viaError", "said so"),
    ("viaClassSignal", "Caller>>viaClassSignal", "class side"),
    ("viaNewSignal", "Caller>>viaNewSignal", "instance side"),
    ("viaDivision", "Caller>>viaDivision", "Division by zero."),
    ("viaAbstract", "Caller>>viaAbstract", "This method is abstract and should be overridden"),
    ("viaBlock", "[] in Caller>>viaBlock", "Method zork not found in class Integer"),
])
def test_traces_start_at_the_users_frame_and_leave_the_launcher_out(tmp_path: Path, selector: str, first: str,
                                                                    message: str) -> None:
    result = run_program(tmp_path, "Caller", CALLER, selector)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == f"ERROR: {message}"
    trace = trace_of(result.stderr)
    assert trace[0].startswith(first + " ("), trace
    assert trace[-1].startswith("Caller>>run: ("), trace           # System>>initialize: is left out
    for hidden in ("doesNotUnderstand:", "Object>>error:", "Exception", "System>>initialize:",
                   "subclassResponsibility"):
        assert not any(hidden in line for line in trace), (hidden, trace)
    assert all(FRAME.match("  " + line) for line in trace), trace


def test_library_frames_between_user_frames_stay(tmp_path: Path) -> None:
    trace = trace_of(run_program(tmp_path, "Caller", CALLER, "viaBlock").stderr)
    assert [line.split(" (")[0] for line in trace] == ["[] in Caller>>viaBlock", "Array>>do:", "Caller>>viaBlock",
                                                       "Caller>>run:"], trace


RECURSION = """Recursion = (
    down: n = ( n = 0 ifTrue: [ ^ nil zork ]. ^ self down: n - 1 )
    run: arguments = ( ^ self down: (arguments at: 2) asInteger )
)
"""


@pytest.mark.parametrize("depth", [5, TRACE_HEAD + TRACE_TAIL - 2, TRACE_HEAD + TRACE_TAIL - 1])
def test_a_short_trace_is_shown_whole(tmp_path: Path, depth: int) -> None:
    trace = trace_of(run_program(tmp_path, "Recursion", RECURSION, str(depth)).stderr)
    frames = depth + 1 + 1                                        # down: 0..depth, run:
    assert len(trace) == frames and not any("more frames" in line for line in trace), trace


@pytest.mark.parametrize("depth", [TRACE_HEAD + TRACE_TAIL, 500, 5000])
def test_a_runaway_recursion_shows_its_first_and_last_frames(tmp_path: Path, depth: int) -> None:
    trace = trace_of(run_program(tmp_path, "Recursion", RECURSION, str(depth)).stderr)
    frames = depth + 2
    assert len(trace) == TRACE_HEAD + 1 + TRACE_TAIL, trace
    assert trace[TRACE_HEAD] == f"... {frames - TRACE_HEAD - TRACE_TAIL} more frames ..."
    assert all(line.startswith("Recursion>>down: (") for line in trace[:TRACE_HEAD])
    assert all(line.startswith("Recursion>>down: (") for line in trace[TRACE_HEAD + 1:-1])
    assert trace[-1].startswith("Recursion>>run: (")


def test_a_stack_overflow_trace_is_two_screens_not_a_million_lines(tmp_path: Path) -> None:
    source = "Overflow = ( deep: n = ( | a b c | ^ self deep: n + 1 ) run = ( ^ self deep: 1 ) )\n"
    result = run_program(tmp_path, "Overflow", source)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0].startswith("ERROR: stack overflow")
    trace = trace_of(result.stderr)
    assert len(trace) == TRACE_HEAD + 1 + TRACE_TAIL
    assert re.fullmatch(r"\.\.\. \d+ more frames \.\.\.", trace[TRACE_HEAD])
    assert trace[-1].startswith("Overflow>>run (")


def test_print_stack_trace_is_bounded_too(vm: VMSession) -> None:
    vm.define("TraceDeep = Object ( down: n = ( n = 0 ifTrue: [ ^ system printStackTrace ]. ^ self down: n - 1 ) )")
    assert vm.run("TraceDeep new down: 100").status == "value"
    lines = vm.printed().splitlines()
    assert len(lines) == TRACE_HEAD + 1 + TRACE_TAIL, lines
    assert lines[0].startswith("TraceDeep>>down: (") and "more frames" in lines[TRACE_HEAD]


def test_eval_and_spawned_process_traces_leave_out_signalling_frames() -> None:
    result = run_vm(["eval", "3 zork"])
    assert result.stderr.splitlines() == ["ERROR: Method zork not found in class Integer", "  Nil>>doIt (<eval>:1)"]
    result = run_vm(["eval", "[ nil error: 'in a process' ] spawn. Process sleep: 200. 7"])
    assert result.stdout == "7\n"
    lines = result.stderr.splitlines()
    assert lines[0].endswith("died: ERROR: in a process"), lines
    assert lines[1:] == ["  [] in Nil>>doIt (<eval>:1)"], lines


def test_halt_names_the_users_frame_and_goes_on(tmp_path: Path) -> None:
    source = "Halter = ( stop = ( self halt. ^ 42 ) run = ( self stop println ) )\n"
    result = run_program(tmp_path, "Halter", source)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "42\n"
    assert result.stderr.splitlines() == ["HALT: halt", f"Halter>>stop ({tmp_path / 'Halter.som'}:1)"]


# ====================================================================== source paths and the cache

def copy_of_the_install(target: Path) -> Path:
    """A second install of this VM: the package folders under target/smalltalk_vm (what
    a wheel installs), imported first when target is on PYTHONPATH."""
    package = target / "smalltalk_vm"
    for layer in ("vm", "compiler", "image", "node", "repl", "cli", "lib", "bench"):
        shutil.copytree(Path(ROOT, layer), package / layer, ignore=shutil.ignore_patterns("__pycache__"))
    return package


def run_copy(copy: Path, cache: Path, *args: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(PYTHONPATH=str(copy.parent), XDG_CACHE_HOME=str(cache), VM_IMAGE_CACHE="1")
    return subprocess.run([sys.executable, "-m", "smalltalk_vm.cli.main", *args], capture_output=True,
                          text=True, cwd=str(copy.parent), env=env, timeout=120)


def test_two_installs_sharing_a_cache_show_their_own_lib_paths(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = copy_of_the_install(tmp_path / "first")
    second = copy_of_the_install(tmp_path / "second")
    program = "#(1 2) do: [ :each | each zork ]"
    built = run_copy(first, cache, "eval", program)
    images = sorted((cache / "smalltalk-vm").iterdir())
    assert len(images) == 1                                       # built by the first install
    reused = run_copy(second, cache, "eval", program)
    assert sorted((cache / "smalltalk-vm").iterdir()) == images   # one key: the second loaded it
    assert images[0].stat().st_mtime_ns == sorted((cache / "smalltalk-vm").iterdir())[0].stat().st_mtime_ns
    for copy, result in ((first, built), (second, reused)):
        lib_lines = [line for line in result.stderr.splitlines() if "Array>>do:" in line]
        assert len(lib_lines) == 1, result.stderr
        assert re.fullmatch(rf"  Array>>do: \({re.escape(str(copy / 'lib' / 'Array.som'))}:\d+\)", lib_lines[0]), \
            result.stderr


def test_disassembly_reads_the_running_install_lib() -> None:
    """`vm disasm` prints the method's source file and reads its lines from it: the
    cached default image must name this install's lib/."""
    result = run_vm(["disasm", "Array>>do:"])
    assert result.returncode == 0, result.stderr
    assert f"({os.path.join(LIB_DIR, 'Array.som')}:" in result.stdout
