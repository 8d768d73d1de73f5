"""Random command lines, built from the pieces a user (or a script gone wrong) puts
together — every subcommand and option, paths that are missing, folders, FIFOs,
symbolic-link loops, files that are binary, not UTF-8 or do not compile, do-its that are
broken or end their own process — never make `vm` show a traceback, an internal error
or a raw ``[Errno N]``: each ends with one of its documented statuses.

Hypothesis draws batches of command lines; each batch runs in one child process that
calls the command's ``main`` once per command line (the child may import the command
line module; the tests may not), with stdin given and stdout/stderr captured."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

DOCUMENTED_STATUSES = {0, 1, 2, 130, 141}

DRIVER = r"""
import io, json, sys
import smalltalk_vm.cli.main as cli
results = []
for argv, stdin in json.load(sys.stdin):
    out, err = io.StringIO(), io.StringIO()
    sys.stdin, sys.stdout, sys.stderr = io.StringIO(stdin), out, err
    try:
        status = cli.main(argv)
    except SystemExit as leave:          # argparse's usage errors and --help
        status = leave.code if isinstance(leave.code, int) else 2
    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    results.append([argv, status, err.getvalue()])
print(json.dumps(results))
"""


def scratch_files(folder: Path) -> dict[str, str]:
    (folder / "Good.som").write_text("Good = ( run = ( 'good' println ) run: a = ( a println ) )\n")
    (folder / "GoodTest.som").write_text("GoodTest = TestCase ( testA = ( self assert: true ) )\n")
    (folder / "Latin.som").write_bytes(b"Latin = ( run = ( 'caf\xe9' println ) )\n")
    (folder / "Binary.som").write_bytes(bytes(range(256)) * 4)
    (folder / "Broken.som").write_text("Broken = ( run = ( ^ 3 + ) \n")
    (folder / "Wrong.som").write_text("Other = ( )\n")
    (folder / "Loop.som").symlink_to("Loop.som")
    os.mkfifo(folder / "Fifo.som")
    (folder / "sub").mkdir()
    (folder / "garbage.image").write_bytes(b"SOMVMIMG" + bytes(100))
    names = ["Good.som", "GoodTest.som", "Latin.som", "Binary.som", "Broken.som", "Wrong.som",
             "Loop.som", "Fifo.som", "sub", "Missing.som", "garbage.image", "nowhere/x.image"]
    return {name: str(folder / name) for name in names}


DO_ITS = ["3 + 4", "'abc' print", "x := 3", "x + 1", "Foo = ( bar = ( ^ 1 ) )", "Foo >> baz = ( ^ 2 )",
          "Foo new baz", "3 +", "(((", "'unterminated", "nil foo", "1/0", "Process current exit: #normal",
          "[ :x | x ] value: 3", "#(1 $a 'b' #c)", "system exit: 3", "Nope >> x = ( ^ 1 )",
          "[ 1/0 ] on: ZeroDivide do: [ :e | e messageText ]", "", "\ufeff3", "caf\udce9",
          "(2 raisedTo: 200) printString size", "Error signal: 'boom'", "| t | t := 4. t * t"]

STDIN = ["", "3 + 4\n", "'x' print\n4\n", ":load <Latin.som>\n5\n", ":load <Fifo.som>\n", ":browse Broken\n6\n",
         ":save <nowhere/x.image>\n", "Process current exit: #normal\n7\n", "(\n", ":nonsense\n"]


def with_paths(text: str, paths: dict[str, str]) -> str:
    for name, path in paths.items():
        text = text.replace(f"<{name}>", path)
    return text


def command_lines(paths: dict[str, str]):
    path = st.sampled_from(sorted(paths.values()))
    classpath = st.lists(path, max_size=2).map(os.pathsep.join)
    options = st.lists(st.tuples(st.sampled_from(["-cp", "--classpath"]), classpath).map(list),
                       max_size=1).map(lambda pairs: [word for pair in pairs for word in pair])
    do_it = st.sampled_from(DO_ITS)
    run = st.tuples(st.just(["run"]), options, st.lists(path | st.sampled_from(["Good", "Nope", "x/y"]),
                                                        min_size=0, max_size=2))
    run_image = st.tuples(st.just(["run", "--image"]), st.just([]), st.lists(path, min_size=1, max_size=1))
    evaluate = st.tuples(st.just(["eval"]), options, st.lists(do_it, min_size=0, max_size=3))
    test = st.tuples(st.just(["test"]), options, st.lists(path, min_size=0, max_size=2))
    disasm = st.tuples(st.just(["disasm"]), options,
                       st.lists(st.sampled_from(["Integer>>max:", "Integer class>>fromString:", "Nope>>x",
                                                 "Integer>>nope", "garbage", "Good>>run", "Broken>>run"]),
                                max_size=1))
    repl = st.tuples(st.just(["repl"]), options, st.sampled_from([[], ["--image"]]).flatmap(
        lambda image: st.lists(path, min_size=len(image), max_size=len(image)).map(lambda p: image + p)))
    image = st.tuples(st.just(["image"]), st.just([]),
                      st.sampled_from([[], ["info"], ["frob"]]).flatmap(
                          lambda action: st.lists(path, max_size=1).map(lambda p: action + p)))
    other = st.tuples(st.sampled_from([["--version"], ["--help"], [], ["frob"], ["bench", "--help"],
                                       ["bench", "--list"], ["bench", "--only", "NoSuchBench"],
                                       ["bench", "--frob"], ["run", "--help"], ["eval", "-cp"]]),
                      st.just([]), st.just([]))
    argv = st.one_of(run, run_image, evaluate, test, disasm, repl, image, other).map(
        lambda parts: parts[0] + parts[1] + parts[2])
    stdin = st.sampled_from(STDIN).map(lambda text: with_paths(text, paths))
    return st.lists(st.tuples(argv, stdin), min_size=20, max_size=20)


@pytest.fixture(scope="module")
def paths(tmp_path_factory) -> dict[str, str]:
    return scratch_files(tmp_path_factory.mktemp("fuzz"))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_random_command_lines_end_cleanly(paths: dict[str, str], data) -> None:
    batch = data.draw(command_lines(paths))
    child = subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps(batch), capture_output=True,
                           text=True, timeout=600, cwd=os.path.dirname(paths["Good.som"]),
                           env=dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")))
    assert child.returncode == 0, child.stderr[-3000:]
    for argv, status, errors in json.loads(child.stdout.splitlines()[-1]):
        assert status in DOCUMENTED_STATUSES | {3}, (argv, status, errors)   # 3: `system exit: 3`
        assert "Traceback" not in errors, (argv, errors)
        assert "internal error" not in errors, (argv, errors)
        assert "Errno" not in errors, (argv, errors)
