"""The benchmark harness (issue 8): runs each program of ``bench/programs`` in the VM
and its plain-Python twin in the same process and run, checks that both answer the
same verified result, and reports median times, the ratio VM/native per benchmark
and the geometric mean of the ratios.

Run: ``python -m bench [--quick] [--only NAME,...] [--suite classic|idioms]
[--iterations N] [--clock cpu|wall] [--json FILE]`` (``vm bench`` takes the same
arguments through :func:`main`). There are two suites, reported separately and
together: ``classic`` (the first suite: the classic benchmark programs and
micro-benchmarks) and ``idioms`` (programs written the way SOM programmers write
them, exercising the idioms issue 19 names). Times are the process's CPU time unless
``--clock wall`` says otherwise.

Each benchmark is a class ``<Name>.som`` whose class side answers ``benchmark: size``,
and a module ``bench/programs/<module>.py`` with ``benchmark(size)`` (the same
algorithm in Python) and ``verify(size, result)`` (an independent check of the
answer: a closed form, a published value or a different computation). A benchmark
fails when the VM raises, when the VM's answer differs from the twin's, or when the
twin's answer does not verify.
"""
from __future__ import annotations

import argparse
import gc
import importlib
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any

from smalltalk_vm.bench.results import save_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROGRAMS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "programs")

DEFAULT_ITERATIONS = 5
# What a measurement reads: the process's CPU time by default, so that other work on
# a shared machine does not count (the VM runs its processes on the calling thread);
# --clock wall reads the wall clock instead.
CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.process_time, "wall": time.perf_counter}
# Doubles must agree to this relative precision; both twins do the same IEEE-754
# operations in the same order, so in practice they agree exactly.
FLOAT_TOLERANCE = 1e-12


@dataclass(frozen=True)
class Benchmark:
    """One program: its class in the VM, its twin module, and its two sizes
    (default: one VM iteration of roughly 0.2-2 s when chosen; quick: for CI)."""
    name: str
    module: str
    default_size: int
    quick_size: int
    kind: str          # "macro" (classic program) or "micro" (one mechanism)
    suite: str = "classic"   # "classic" (the first suite) or "idioms" (issue 19)


BENCHMARKS: list[Benchmark] = [
    Benchmark("Richards", "richards", 5, 1, "macro"),
    Benchmark("DeltaBlue", "deltablue", 300, 20, "macro"),
    Benchmark("Json", "jsonparse", 15, 1, "macro"),
    Benchmark("Bounce", "bounce", 400, 5, "macro"),
    Benchmark("Sieve", "sieve", 50000, 1000, "macro"),
    Benchmark("Queens", "queens", 6, 1, "macro"),
    Benchmark("Towers", "towers", 15, 6, "macro"),
    Benchmark("Permute", "permute", 8, 5, "macro"),
    Benchmark("Lists", "lists", 6, 1, "macro"),
    Benchmark("Storage", "storage", 5, 1, "macro"),
    Benchmark("NBody", "nbody", 1000, 10, "macro"),
    Benchmark("Mandelbrot", "mandelbrot", 60, 8, "macro"),
    Benchmark("Fib", "fib", 24, 10, "micro"),
    Benchmark("Dispatch", "dispatch", 800, 5, "micro"),
    Benchmark("BlockEval", "blockeval", 60000, 500, "micro"),
    Benchmark("NonLocalReturn", "nonlocalreturn", 15000, 200, "micro"),
    Benchmark("ExceptionHandling", "exceptionhandling", 5000, 100, "micro"),
    # The idioms real SOM programs use (issue 19), written the way SOM programmers
    # write them: Booleans with evaluated arguments, ^ out of loops in recursion,
    # small methods on Arrays, text scanned a character at a time, the library's
    # collections, and polymorphic send sites.
    Benchmark("BoolAdder", "booladder", 1000, 20, "macro", "idioms"),
    Benchmark("FirstQueens", "firstqueens", 15, 8, "macro", "idioms"),
    Benchmark("HanoiArrays", "hanoiarrays", 14, 5, "macro", "idioms"),
    Benchmark("JsonText", "jsontext", 150, 5, "macro", "idioms"),
    Benchmark("Collections", "libcollections", 10, 1, "macro", "idioms"),
    Benchmark("ExprTree", "exprtree", 400, 10, "macro", "idioms"),
]

SUITES = ("classic", "idioms")


@dataclass
class Result:
    """What one benchmark did: its times (seconds), answers and verdict."""
    name: str
    size: int
    vm_times: list[float] = field(default_factory=list)
    native_times: list[float] = field(default_factory=list)
    vm_result: Any = None
    native_result: Any = None
    verified: bool = False
    error: str | None = None

    @property
    def vm_median(self) -> float | None:
        return statistics.median(self.vm_times) if self.vm_times else None

    @property
    def native_median(self) -> float | None:
        return statistics.median(self.native_times) if self.native_times else None

    @property
    def ratio(self) -> float | None:
        vm, native = self.vm_median, self.native_median
        if vm is None or not native:
            return None
        return vm / native

    def as_dict(self) -> dict:
        data = asdict(self)
        data.update(vm_median=self.vm_median, native_median=self.native_median, ratio=self.ratio)
        return data


class BenchmarkFailed(Exception):
    """A run raised, answered wrongly, or disagreed with its twin."""


# ------------------------------------------------------------------ the VM side

class VMProgram:
    """A fresh VM with one benchmark's classes loaded (from bench/programs), ready
    to send ``benchmark: size`` to the benchmark class."""

    def __init__(self, class_name: str) -> None:
        from smalltalk_vm.image.boot import make_machine  # the composition root; imported late on purpose
        self.machine = make_machine([PROGRAMS_DIR])
        self.universe = self.machine.universe
        self.benchmark_class = self.universe.load_class(class_name)
        if self.benchmark_class is None:
            raise BenchmarkFailed(f"no class {class_name} in {PROGRAMS_DIR}")

    def run(self, size: int, clock: Callable[[], float] = time.process_time) -> tuple[float, Any]:
        """One timed iteration: seconds taken and the answer as a Python value."""
        argument = self.universe.make_int(size)
        start = clock()
        outcome = self.machine.send(self.benchmark_class, "benchmark:", [argument])
        seconds = clock() - start
        if outcome.status != "value":
            trace = "\n  ".join(outcome.trace or [])
            raise BenchmarkFailed(f"VM run ended with {outcome.status}: {outcome.error_text}"
                                  + (f"\n  {trace}" if trace else ""))
        return seconds, self.to_python(outcome.value)

    def to_python(self, value: Any) -> Any:
        """Integers, Doubles, Strings, nil, booleans and Arrays of them as Python values."""
        universe = self.universe
        if type(value) is float:
            return value
        if value == universe.bool(True) and type(value) is int:
            return True
        if value == universe.bool(False) and type(value) is int:
            return False
        items = getattr(value, "items", None)
        if isinstance(items, list):
            return [self.to_python(item) for item in items]
        for convert in (universe.int_of, universe.str_of):
            try:
                return convert(value)
            except Exception:
                pass
        if value == universe.global_value("nil"):
            return None
        return self.machine.print_string(value)


# ------------------------------------------------------------------ comparing answers

def same_answer(vm_answer: Any, native_answer: Any) -> bool:
    """Equal, with Doubles compared to FLOAT_TOLERANCE (recursively in lists)."""
    if isinstance(vm_answer, list) and isinstance(native_answer, list):
        return len(vm_answer) == len(native_answer) and all(
            same_answer(a, b) for a, b in zip(vm_answer, native_answer))
    if isinstance(vm_answer, float) and isinstance(native_answer, float):
        return math.isclose(vm_answer, native_answer, rel_tol=FLOAT_TOLERANCE, abs_tol=0.0)
    if isinstance(vm_answer, bool) or isinstance(native_answer, bool):
        return vm_answer is native_answer
    return type(vm_answer) is type(native_answer) and vm_answer == native_answer


def load_twin(bench: Benchmark) -> ModuleType:
    module = importlib.import_module(f"smalltalk_vm.bench.programs.{bench.module}")
    for required in ("benchmark", "verify"):
        if not callable(getattr(module, required, None)):
            raise BenchmarkFailed(f"bench/programs/{bench.module}.py has no {required}()")
    return module


def timed(function: Callable[[int], Any], size: int,
          clock: Callable[[], float] = time.process_time) -> tuple[float, Any]:
    start = clock()
    answer = function(size)
    return clock() - start, answer


# ------------------------------------------------------------------ running

def run_benchmark(bench: Benchmark, size: int, iterations: int, warm_up: bool,
                  clock: Callable[[], float] = time.process_time) -> Result:
    """Warm up both sides once (unless told not to), then alternate VM and native
    iterations so that drifts in machine speed hit both alike. Every answer is checked."""
    result = Result(bench.name, size)
    try:
        twin = load_twin(bench)
        program = VMProgram(bench.name)
        if warm_up:
            _, native_answer = timed(twin.benchmark, size)
            check_native(twin, size, native_answer)
            _, vm_answer = program.run(size)
            check_agreement(vm_answer, native_answer)
        for _ in range(iterations):
            gc.collect()
            seconds, vm_answer = program.run(size, clock)
            result.vm_times.append(seconds)
            result.vm_result = vm_answer
            gc.collect()
            seconds, native_answer = timed(twin.benchmark, size, clock)
            result.native_times.append(seconds)
            result.native_result = native_answer
            check_native(twin, size, native_answer)
            check_agreement(vm_answer, native_answer)
        result.verified = True
    except BenchmarkFailed as failure:
        result.error = str(failure)
    except Exception as crash:
        result.error = f"{type(crash).__name__}: {crash}"
    return result


def check_native(twin: ModuleType, size: int, answer: Any) -> None:
    if not twin.verify(size, answer):
        raise BenchmarkFailed(f"the native twin's answer {answer!r} does not verify")


def check_agreement(vm_answer: Any, native_answer: Any) -> None:
    if not same_answer(vm_answer, native_answer):
        raise BenchmarkFailed(f"the VM answered {vm_answer!r}, the native twin {native_answer!r}")


def geometric_mean(values: Sequence[float]) -> float | None:
    positive = [v for v in values if v and v > 0]
    if not positive:
        return None
    return math.exp(sum(math.log(v) for v in positive) / len(positive))


# ------------------------------------------------------------------ reporting

def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git(*arguments: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", ROOT, *arguments], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def machine_description() -> dict:
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "commit": git("rev-parse", "--short", "HEAD"),
        # Uncommitted changes to tracked files make the commit an approximate label.
        "uncommitted_changes": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 1:
        return f"{seconds:.3f} s"
    return f"{seconds * 1000:.2f} ms"


def format_table(results: Sequence[Result], geomean: float | None, title: str = "") -> str:
    header = f"{'benchmark':<18} {'size':>7} {'VM median':>12} {'native median':>14} {'VM/native':>10}  check"
    lines = [title] if title else []
    lines += [header, "-" * len(header)]
    for r in results:
        ratio = f"{r.ratio:.1f}x" if r.ratio is not None else "-"
        verdict = "ok" if r.verified else "FAILED"
        lines.append(f"{r.name:<18} {r.size:>7} {format_seconds(r.vm_median):>12} "
                     f"{format_seconds(r.native_median):>14} {ratio:>10}  {verdict}")
    lines.append("-" * len(header))
    lines.append(f"geometric mean VM/native: {geomean:.1f}x" if geomean is not None
                 else "geometric mean VM/native: -")
    return "\n".join(lines)


def suite_geomeans(results: Sequence[Result]) -> dict[str, float | None]:
    """The geometric mean of each suite that ran, and of everything ("all")."""
    suite_of = {b.name: b.suite for b in BENCHMARKS}
    ratios: dict[str, list[float]] = {}
    for r in results:
        if r.verified and r.ratio is not None:
            ratios.setdefault(suite_of.get(r.name, "classic"), []).append(r.ratio)
            ratios.setdefault("all", []).append(r.ratio)
    return {name: geometric_mean(values) for name, values in ratios.items()}


def select(only: str | None, suite: str | None = None) -> list[Benchmark]:
    if not only:
        return [b for b in BENCHMARKS if suite is None or b.suite == suite]
    by_name = {b.name.lower(): b for b in BENCHMARKS}
    chosen = []
    for name in only.split(","):
        name = name.strip().lower()
        if not name:
            continue
        if name not in by_name:
            raise SystemExit(f"unknown benchmark {name!r}; known: "
                             + ", ".join(b.name for b in BENCHMARKS))
        chosen.append(by_name[name])
    return chosen


def parse_sizes(pairs: Sequence[str]) -> dict[str, int]:
    sizes = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if not value.isdigit():
            raise SystemExit(f"--size wants NAME=INTEGER, not {pair!r}")
        sizes[name.strip().lower()] = int(value)
    return sizes


def build_parser(prog: str = "python -m bench") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run the benchmark programs in the VM and as plain Python; "
                    "report median times and VM/native ratios.")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, one iteration, no warm-up: correctness only")
    parser.add_argument("--only", metavar="NAME,...", help="run just these benchmarks")
    parser.add_argument("--suite", choices=SUITES, help="run just one suite")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                        help="what a measurement reads: the process's CPU time (default) or the wall clock")
    parser.add_argument("--iterations", type=int, metavar="N",
                        help=f"timed iterations per side (default {DEFAULT_ITERATIONS}; 1 with --quick)")
    parser.add_argument("--size", action="append", default=[], metavar="NAME=N",
                        help="override one benchmark's size (repeatable)")
    parser.add_argument("--json", metavar="FILE", help="also write all results as JSON")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and sizes")
    return parser


def main(argv: Sequence[str] | None = None, out: Callable[[str], Any] | None = None,
         prog: str = "python -m bench") -> int:
    """The command (named ``prog`` in its help): answers 0 when every selected
    benchmark verified, else 1."""
    write = out or (lambda text: print(text, flush=True))
    options = build_parser(prog).parse_args(list(argv) if argv is not None else None)
    if options.list:
        for b in BENCHMARKS:
            write(f"{b.name:<18} {b.suite:<7} {b.kind:<6} default size {b.default_size:>6}  "
                  f"quick size {b.quick_size:>5}  (bench/programs/{b.name}.som, {b.module}.py)")
        return 0
    chosen = select(options.only, options.suite)
    overrides = parse_sizes(options.size)
    iterations = options.iterations or (1 if options.quick else DEFAULT_ITERATIONS)
    if iterations < 1:
        raise SystemExit("--iterations must be at least 1")
    mode = "quick" if options.quick else "full"
    machine = machine_description()   # before the run, so the load average is the one it met
    write(f"Python {machine['python']} ({machine['implementation']}) on {machine['cpu']}, "
          f"{machine['cpu_count']} CPUs, {machine['platform']}")
    write(f"{mode} run: {len(chosen)} benchmarks, {iterations} iteration(s) each"
          f"{'' if options.quick else ' after a warm-up'}, {options.clock} time")
    started = time.perf_counter()
    results = []
    for bench in chosen:
        size = overrides.get(bench.name.lower(), bench.quick_size if options.quick else bench.default_size)
        result = run_benchmark(bench, size, iterations, warm_up=not options.quick,
                               clock=CLOCKS[options.clock])
        results.append(result)
        ratio = f"{result.ratio:.1f}x" if result.ratio is not None else "-"
        status = "ok" if result.verified else f"FAILED: {result.error}"
        write(f"  {bench.name:<18} VM {format_seconds(result.vm_median):>10}  "
              f"native {format_seconds(result.native_median):>10}  {ratio:>8}  {status}")
    total = time.perf_counter() - started
    geomeans = suite_geomeans(results)
    geomean = geomeans.get("all")
    suite_of = {b.name: b.suite for b in chosen}
    for suite in SUITES:
        members = [r for r in results if suite_of[r.name] == suite]
        if members:
            write("")
            write(format_table(members, geomeans.get(suite), f"{suite} suite"))
    if len({suite_of[r.name] for r in results}) > 1:
        write("")
        write(f"geometric mean VM/native, both suites: {geomean:.1f}x" if geomean is not None
              else "geometric mean VM/native, both suites: -")
        worst = max((r for r in results if r.ratio is not None), key=lambda r: r.ratio, default=None)
        if worst is not None:
            write(f"slowest: {worst.name} at {worst.ratio:.1f}x")
    if options.quick:
        write("(quick mode checks correctness; its times are single cold runs, not measurements)")
    failed = [r.name for r in results if not r.verified]
    if failed:
        write(f"FAILED: {', '.join(failed)}")
    write(f"total harness time: {total:.1f} s")
    if options.json:
        report = {
            "mode": mode,
            "iterations": iterations,
            "warm_up": not options.quick,
            "machine": machine,
            "benchmarks": [dict(r.as_dict(), suite=suite_of[r.name]) for r in results],
            "clock": options.clock,
            "geomean_ratio": geomean,
            "suite_geomeans": {suite: geomeans.get(suite) for suite in SUITES if suite in geomeans},
            "all_verified": not failed,
            "total_seconds": total,
        }
        save_json(options.json, report)
        write(f"results written to {options.json}")
    return 1 if failed else 0
