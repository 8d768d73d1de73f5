"""The benchmark suite in quick mode (how CI runs it): every program runs in the VM
and as its Python twin at its small size, and both answers must agree and verify.
Also checks that the harness really fails a benchmark that answers wrongly."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from smalltalk_vm.bench import harness
from smalltalk_vm.bench.harness import BENCHMARKS, PROGRAMS_DIR, Benchmark, run_benchmark

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

EXPECTED_NAMES = {
    "Richards", "DeltaBlue", "Json", "Bounce", "Sieve", "Queens", "Towers", "Permute",
    "Lists", "Storage", "NBody", "Mandelbrot", "Fib", "Dispatch", "BlockEval",
    "NonLocalReturn", "ExceptionHandling",
    "BoolAdder", "FirstQueens", "HanoiArrays", "JsonText", "Collections", "ExprTree",
}


def test_the_suite_is_complete_and_every_program_has_its_twin() -> None:
    assert {b.name for b in BENCHMARKS} == EXPECTED_NAMES
    for bench in BENCHMARKS:
        assert os.path.isfile(os.path.join(PROGRAMS_DIR, bench.name + ".som")), bench.name
        assert os.path.isfile(os.path.join(PROGRAMS_DIR, bench.module + ".py")), bench.module
        assert 0 < bench.quick_size <= bench.default_size


@pytest.mark.parametrize("bench", BENCHMARKS, ids=lambda b: b.name)
def test_benchmark_runs_in_the_vm_and_verifies(bench: Benchmark) -> None:
    result = run_benchmark(bench, bench.quick_size, iterations=1, warm_up=False)
    assert result.error is None, result.error
    assert result.verified
    assert len(result.vm_times) == 1 and len(result.native_times) == 1
    assert result.vm_result == result.native_result or isinstance(result.vm_result, float)


def test_a_vm_answer_that_differs_from_the_twin_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    fib = pytest.importorskip("smalltalk_vm.bench.programs.fib")
    monkeypatch.setattr(fib, "benchmark", lambda n: fib.Fib().fib(n) + 1)
    monkeypatch.setattr(fib, "verify", lambda n, answer: True)
    result = run_benchmark(Benchmark("Fib", "fib", 10, 10, "micro"), 10, iterations=1, warm_up=False)
    assert not result.verified
    assert "the VM answered 55" in result.error


def test_an_answer_that_does_not_verify_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    towers = pytest.importorskip("smalltalk_vm.bench.programs.towers")
    monkeypatch.setattr(towers, "verify", lambda discs, answer: answer == 2 ** discs)
    result = run_benchmark(Benchmark("Towers", "towers", 5, 5, "macro"), 5, iterations=1, warm_up=True)
    assert not result.verified
    assert "does not verify" in result.error


def test_a_vm_error_fails_the_benchmark_with_its_message() -> None:
    # A projection of no variables leaves the source variable nil: a doesNotUnderstand.
    bench = Benchmark("DeltaBlue", "deltablue", 0, 0, "macro")
    result = run_benchmark(bench, 0, iterations=1, warm_up=False)
    assert not result.verified
    assert result.error.startswith("VM run ended with error")
    assert "DeltaBlue class>>projectionTest:" in result.error


def test_a_missing_program_class_fails_the_benchmark() -> None:
    result = run_benchmark(Benchmark("NoSuchProgram", "fib", 1, 1, "micro"), 1,
                           iterations=1, warm_up=False)
    assert not result.verified
    assert "no class NoSuchProgram" in result.error


def test_answers_are_compared_strictly_except_for_float_rounding() -> None:
    assert harness.same_answer([1, 2.0], [1, 2.0])
    assert not harness.same_answer([1, 2], [1, 3])
    assert not harness.same_answer(1, 1.0)
    assert not harness.same_answer(True, 1)
    assert harness.same_answer(0.1 + 0.2, 0.3)
    assert not harness.same_answer(-0.169087605, -0.169087606)


def test_the_command_in_quick_mode_writes_a_json_report(tmp_path) -> None:
    report_file = tmp_path / "bench.json"
    environment = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "fib,towers,nbody", "--json", str(report_file)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=environment)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "geometric mean VM/native" in done.stdout
    report = json.loads(report_file.read_text())
    assert report["mode"] == "quick" and report["all_verified"] is True
    assert [b["name"] for b in report["benchmarks"]] == ["Fib", "Towers", "NBody"]
    for entry in report["benchmarks"]:
        assert entry["verified"] and entry["ratio"] > 0
    assert report["machine"]["python"] == sys.version.split()[0]
    assert report["geomean_ratio"] > 0


def test_an_unknown_benchmark_name_is_refused() -> None:
    with pytest.raises(SystemExit):
        harness.main(["--quick", "--only", "NoSuchThing"], out=lambda text: None)
