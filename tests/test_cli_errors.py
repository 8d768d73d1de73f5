"""No `vm` command shows a user Python's view of a failure: no traceback, no raw
``[Errno N]`` text. A file that cannot be used is one line naming the path and the
reason, for every place a path comes in (program files, test files and folders,
``-cp`` folders, image files, `saveImage:`/`:save` targets); standard output that goes
away (a closed pipe) or fills up ends the command quietly or with one line; Ctrl-C
ends `vm bench` with one line; and a defect of the VM itself is one line and status
70. Each test runs the real command as a subprocess."""
from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cluster_support import Lines
from conftest import ROOT, run_vm


def assert_one_clean_line(result: subprocess.CompletedProcess, expected: str, status: int = 1) -> None:
    assert (result.returncode, result.stderr) == (status, expected + "\n"), (result.stdout, result.stderr)


def vm_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "smalltalk_vm.cli.main", *args]


def environment() -> dict:
    return dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))


@pytest.fixture
def places(tmp_path: Path) -> dict[str, Path]:
    """A folder, a missing file, a symbolic link that loops (unreadable even for root),
    a FIFO (which would block a reader for ever) and a file that is not a class."""
    loop = tmp_path / "Loop.som"
    loop.symlink_to(loop.name)
    fifo = tmp_path / "Fifo.som"
    os.mkfifo(fifo)
    text = tmp_path / "notes.txt"
    text.write_text("not a class\n")
    return {"folder": tmp_path, "missing": tmp_path / "Missing.som", "loop": loop,
            "fifo": fifo, "text": text}


# ---------------------------------------------------------------------- program and test files

def test_run_of_a_folder(places) -> None:
    assert_one_clean_line(run_vm(["run", str(places["folder"])]), f"vm: {places['folder']}: Is a directory")


def test_run_of_a_missing_file_names_it(places) -> None:
    assert_one_clean_line(run_vm(["run", str(places["missing"])]),
                          f"vm: {places['missing']}: No such file or directory")


def test_run_of_an_unreadable_file_gives_the_os_reason(places) -> None:
    assert_one_clean_line(run_vm(["run", str(places["loop"])]),
                          f"vm: {places['loop']}: Too many levels of symbolic links")


def test_run_of_a_fifo_is_refused_without_blocking(places) -> None:
    assert_one_clean_line(run_vm(["run", str(places["fifo"])], timeout=60),
                          f"vm: {places['fifo']}: not a regular file")


def test_run_of_a_file_that_is_not_a_class_file(places) -> None:
    assert_one_clean_line(run_vm(["run", str(places["text"])]), f"vm: {places['text']}: not a .som file")


@pytest.mark.parametrize("which, reason", [
    ("missing", "No such file or directory"),
    ("loop", "Too many levels of symbolic links"),
    ("fifo", "not a regular file"),
])
def test_vm_test_of_a_file_that_cannot_be_read(places, which: str, reason: str) -> None:
    assert_one_clean_line(run_vm(["test", str(places[which])], timeout=60), f"vm: {places[which]}: {reason}")


def test_vm_test_of_a_folder_holding_an_unreadable_class_file(places) -> None:
    os.unlink(places["fifo"])
    assert_one_clean_line(run_vm(["test", str(places["folder"])]),
                          f"vm: {places['loop']}: Too many levels of symbolic links")


def test_a_classpath_folder_that_cannot_be_listed_is_a_warning(tmp_path: Path) -> None:
    program = tmp_path / "Hi.som"
    program.write_text("Hi = ( run = ( 'hi' println ) )\n")
    missing, a_file = tmp_path / "gone", program
    result = run_vm(["run", "-cp", f"{missing}{os.pathsep}{a_file}", str(program)])
    assert (result.returncode, result.stdout) == (0, "hi\n"), result.stderr
    assert result.stderr.splitlines() == [
        f"vm: warning: classpath {missing}: No such file or directory",
        f"vm: warning: classpath {a_file}: Not a directory",
    ]


# ---------------------------------------------------------------------- images

@pytest.mark.parametrize("command", [["run", "--image"], ["repl", "--image"], ["image", "info"]])
@pytest.mark.parametrize("which, reason", [
    ("missing", "No such file or directory"),
    ("folder", "Is a directory"),
    ("loop", "Too many levels of symbolic links"),
    ("fifo", "not a regular file"),                  # never waits for a writer
])
def test_an_image_path_that_cannot_be_read(places, command: list[str], which: str, reason: str) -> None:
    result = run_vm([*command, str(places[which])], input="", timeout=60)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.rstrip().endswith(f"{places[which]}: {reason}"), result.stderr
    assert result.stderr.count(str(places[which])) == 1, result.stderr     # named once
    assert "Errno" not in result.stderr and "Traceback" not in result.stderr


def test_saving_an_image_into_a_missing_folder_names_the_target(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "folder" / "x.image"
    result = run_vm(["eval", f"[ system saveImage: '{target}' ] on: Error do: [ :e | e messageText ]"])
    assert result.stdout == f"'cannot save image {target}: No such file or directory'\n", result.stderr
    repl = run_vm(["repl"], input=f":save {target}\n3\n")
    assert repl.stderr == f"ERROR: cannot save {target}: No such file or directory\n"
    assert repl.stdout == "3\n"


def _file_size_limit() -> None:
    """In the child: writes past 64 KiB fail (EFBIG), the way a full disk fails them.
    Python ignores SIGXFSZ, so the write fails instead of killing the process."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))


def test_saving_an_image_when_the_disk_is_full_is_one_line(tmp_path: Path) -> None:
    run_vm(["eval", "nil"])                 # the cached default image exists before the limit
    target = tmp_path / "big.image"
    result = subprocess.run(vm_command("eval", f"system saveImage: '{target}'"), capture_output=True,
                            text=True, timeout=120, env=environment(), cwd=ROOT,
                            preexec_fn=_file_size_limit)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == f"ERROR: cannot save image {target}: File too large"
    assert "Errno" not in result.stderr and "Traceback" not in result.stderr
    assert not target.exists() and list(tmp_path.iterdir()) == []    # no temporary file left


# ---------------------------------------------------------------------- standard output

def test_a_closed_pipe_ends_the_command_quietly() -> None:
    child = subprocess.Popen(vm_command("eval", "1 to: 10000000 do: [ :i | i println ]"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment(), cwd=ROOT)
    try:
        assert child.stdout.readline() == b"1\n"
        child.stdout.close()                # the reader goes away, as `| head -1` does
        status = child.wait(timeout=60)
        errors = child.stderr.read().decode()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
        child.stderr.close()
    assert (status, errors) == (141, "")    # as a program killed by SIGPIPE, and silent


def test_a_closed_pipe_ends_the_repl_quietly() -> None:
    child = subprocess.Popen(vm_command("repl"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=environment(), cwd=ROOT)
    try:
        child.stdin.write(b"1 to: 10000000 do: [ :i | i println ]\n3\n")
        child.stdin.close()
        assert child.stdout.readline() == b"1\n"
        child.stdout.close()
        status = child.wait(timeout=60)
        errors = child.stderr.read().decode()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
        child.stderr.close()
    assert (status, errors) == (141, "")


def test_output_to_a_full_device_is_one_line() -> None:
    with open("/dev/full", "w") as full:
        result = subprocess.run(vm_command("eval", "1 to: 100000 do: [ :i | i println ]. 3"),
                                stdout=full, stderr=subprocess.PIPE, text=True, timeout=120,
                                env=environment(), cwd=ROOT)
    assert_one_clean_line(result, "vm: cannot write standard output: No space left on device")


# ---------------------------------------------------------------------- interrupts and defects

def signal_state(pid: int) -> str:
    """The kernel's view of a process's signals (blocked, ignored, caught: hex masks)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            return " ".join(line.strip() for line in handle if line.startswith(("SigBlk", "SigIgn", "SigCgt")))
    except OSError as error:
        return f"no /proc/{pid}/status: {error}"


# Runs the rest of its command line with SIGINT as a terminal's foreground job gets it.
# A suite started in the background by a shell (`pytest &`, `nohup`) ignores SIGINT and
# SIGQUIT, and a program started with SIGINT ignored rightly keeps ignoring it (Python
# then installs no KeyboardInterrupt handler): that, not the load, is why this test used
# to wait out its bound in such runs.
IN_THE_FOREGROUND = ("import os, signal, sys\n"
                     "signal.signal(signal.SIGINT, signal.SIG_DFL)\n"
                     "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])\n")


def test_ctrl_c_in_vm_bench_is_one_line() -> None:
    """A small run: one quick benchmark, whose result line says the VM is under way,
    then one far too big to finish (Towers of 25 discs, the VM's side first in quick
    mode), interrupted while it runs. Should it not end, it is made to show where it
    was (faulthandler, on SIGABRT) and what it did with signals."""
    bench = vm_command("bench", "--quick", "--only", "Fib,Towers", "--size", "towers=25")
    child = subprocess.Popen([sys.executable, "-c", IN_THE_FOREGROUND, *bench[1:]],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=dict(environment(), PYTHONFAULTHANDLER="1"), cwd=ROOT)
    out, err = Lines(), Lines()
    readers = [threading.Thread(target=lines.feed, args=(stream,), daemon=True)
               for lines, stream in ((out, child.stdout), (err, child.stderr))]
    for reader in readers:
        reader.start()
    here = signal_state(os.getpid())
    status = None
    try:
        out.wait(r"^  Fib .* ok$", timeout=120)            # the first benchmark ran
        time.sleep(0.2)                                    # the second one is under way
        there = signal_state(child.pid)
        child.send_signal(signal.SIGINT)
        try:
            status = child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGABRT)
            child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
        for reader in readers:
            reader.join(10)
    assert (status, err.text()) == (130, "vm: interrupted"), (f"pytest: {here}\nvm bench: {there}\n"
                                                              f"{out.text()}\n{err.text()}")
    assert out.matching("Towers") == [], out.text()         # interrupted, not finished


def test_a_defect_of_the_vm_is_one_line_and_status_70() -> None:
    """A Python exception nobody expected (made here by breaking the machine builder)
    reaches the user as one line, never as a traceback."""
    program = ("import sys\n"
               "import smalltalk_vm.cli.main as cli\n"
               "def broken(*args, **kwargs):\n"
               "    raise RuntimeError('the machine builder broke')\n"
               "cli.make_machine = broken\n"
               "sys.argv = ['vm', 'eval', '3']\n"
               "cli.entry_point()\n")
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                            timeout=120, env=environment(), cwd=ROOT)
    assert result.returncode == 70
    assert result.stderr == ("vm: internal error: RuntimeError: the machine builder broke "
                             "(a defect of the VM, not of your program; please report it)\n")


@pytest.mark.parametrize("command, status, shown", [
    ("vm eval 3 2>&-", 0, "3\n"),                     # no stderr at all
    ("vm eval 'nil foo' 2>&-", 1, ""),
    ("vm repl <&-", 0, ""),                          # no stdin: an empty session
    ("echo 3 | vm repl >&- && echo fine", 0, "fine\n"),  # no stdout: output goes nowhere
])
def test_a_closed_standard_stream_is_no_internal_error(tmp_path: Path, command: str, status: int,
                                                        shown: str) -> None:
    shim = tmp_path / "vm"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m smalltalk_vm.cli.main "$@"\n')
    shim.chmod(0o755)
    env = dict(environment(), PATH=f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run(["bash", "-c", f"{command}; echo status=$? >&2"], capture_output=True, text=True,
                            timeout=120, env=env, cwd=ROOT)
    assert result.stdout == shown
    assert result.stderr.endswith(f"status={status}\n"), result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
