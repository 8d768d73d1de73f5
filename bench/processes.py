"""Process benchmarks (issue 3): a token ring against the same ring written with asyncio
tasks and queues in the same run, spawn rate and memory per parked process, and timer
precision of `sleep:` / `receiveWithin:`.

Run: ``python -m bench.processes [--ring N LAPS] [--spawn N] [--json FILE]``.
Figures are printed as ratios against the asyncio reference measured in the same run.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import time
import tracemalloc

from smalltalk_vm.bench.results import save_json
from smalltalk_vm.compiler.front import compile_input
from smalltalk_vm.image.boot import make_machine

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

RING_CLASS = """
BenchRing = (
    relay: main = (
        | next token |
        next := Process receive.
        [ token := Process receive.
          token = 0 ifTrue: [ main send: #done ] ifFalse: [ next send: token - 1 ].
          token > 0 ] whileTrue )
    ring: n laps: laps = (
        | procs me |
        me := Process current.
        procs := Array new: n.
        1 to: n do: [ :i | procs at: i put: [ self relay: me ] spawn ].
        1 to: n do: [ :i | (procs at: i) send: (procs at: i \\\\ n + 1) ].
        (procs at: 1) send: n * laps.
        ^ Process receive )
    spawnParked: n = (
        | procs |
        procs := Array new: n.
        1 to: n do: [ :i | procs at: i put: [ Process receive ] spawn ].
        Process yield.
        ^ procs )
    killAll: procs = ( procs do: [ :p | p kill ] )
    sleepLateness: ms times: k = (
        | late t |
        late := Array new: k.
        1 to: k do: [ :i | t := system ticks. Process sleep: ms. late at: i put: (system ticks - t) - (ms * 1000) ].
        ^ late )
    receiveLateness: ms times: k = (
        | late t |
        late := Array new: k.
        1 to: k do: [ :i |
            t := system ticks.
            Process receiveWithin: ms ifTimeout: [ nil ].
            late at: i put: (system ticks - t) - (ms * 1000) ].
        ^ late )
)
"""


def new_machine():
    machine = make_machine([])
    compile_input(machine.universe, RING_CLASS, "<bench>")
    return machine


def evaluate(machine, source: str):
    compiled = compile_input(machine.universe, source, "<bench>")
    outcome = machine.evaluate(compiled.method)
    if outcome.status != "value":
        raise RuntimeError(f"{source}: {outcome.status} {outcome.error_text}")
    return outcome.value


def vm_ring(n: int, laps: int) -> float:
    machine = new_machine()
    start = time.perf_counter()
    evaluate(machine, f"BenchRing new ring: {n} laps: {laps}")
    return time.perf_counter() - start


async def _asyncio_ring(n: int, laps: int) -> None:
    queues = [asyncio.Queue() for _ in range(n)]
    done = asyncio.get_running_loop().create_future()

    async def relay(i: int) -> None:
        inbox, nxt = queues[i], queues[(i + 1) % n]
        while True:
            token = await inbox.get()
            if token == 0:
                done.set_result(True)
                return
            nxt.put_nowait(token - 1)

    tasks = [asyncio.create_task(relay(i)) for i in range(n)]
    queues[0].put_nowait(n * laps)
    await done
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def asyncio_ring(n: int, laps: int) -> float:
    start = time.perf_counter()
    asyncio.run(_asyncio_ring(n, laps))
    return time.perf_counter() - start


def memory_per_parked(n: int) -> float:
    """Bytes of Python allocations per parked process (tracemalloc, measured apart
    because tracing slows allocation down)."""
    machine = new_machine()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    procs = evaluate(machine, f"BenchRing new spawnParked: {n}")
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del procs
    return (after - before) / n


def spawn_parked(n: int) -> dict:
    machine = new_machine()
    start = time.perf_counter()
    procs = evaluate(machine, f"BenchRing new spawnParked: {n}")
    spawn_seconds = time.perf_counter() - start
    parked = sum(1 for p in machine.scheduler.processes.values() if p.state == "waiting")
    machine.universe.globals["BenchProcs"] = procs
    start = time.perf_counter()
    evaluate(machine, "BenchRing new killAll: BenchProcs")
    kill_seconds = time.perf_counter() - start
    alive = len(machine.scheduler.processes)
    return {"spawned": n, "parked": parked, "alive_after_kill": alive,
            "spawns_per_second": n / spawn_seconds, "kills_per_second": n / kill_seconds,
            "bytes_per_parked_process": memory_per_parked(min(n, 20_000))}


def lateness(kind: str, ms: int, times: int) -> dict:
    machine = new_machine()
    selector = "sleepLateness:" if kind == "sleep" else "receiveLateness:"
    values = evaluate(machine, f"BenchRing new {selector} {ms} times: {times}")
    micros = [machine.universe.int_of(v) for v in values.items]
    millis = [m / 1000 for m in micros]
    return {"kind": kind, "requested_ms": ms, "mean_late_ms": statistics.mean(millis),
            "max_late_ms": max(millis), "min_late_ms": min(millis)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ring", nargs=2, type=int, default=[10_000, 100], metavar=("N", "LAPS"))
    parser.add_argument("--spawn", type=int, default=100_000)
    parser.add_argument("--json", help="write the results to this file")
    options = parser.parse_args(argv)
    n, laps = options.ring
    hops = n * laps
    vm_seconds = vm_ring(n, laps)
    asyncio_seconds = asyncio_ring(n, laps)
    results = {
        "ring": {"processes": n, "laps": laps, "hops": hops,
                 "vm_seconds": vm_seconds, "asyncio_seconds": asyncio_seconds,
                 "vm_hops_per_second": hops / vm_seconds,
                 "asyncio_hops_per_second": hops / asyncio_seconds,
                 "vm_over_asyncio_time": vm_seconds / asyncio_seconds},
        "spawn": spawn_parked(options.spawn),
        "timers": [lateness("sleep", 50, 20), lateness("receive", 50, 20)],
    }
    ring = results["ring"]
    print(f"ring {n} x {laps} laps ({hops} hops): VM {vm_seconds:.2f}s "
          f"({ring['vm_hops_per_second']:,.0f} hops/s), asyncio {asyncio_seconds:.2f}s "
          f"({ring['asyncio_hops_per_second']:,.0f} hops/s): VM/asyncio = {ring['vm_over_asyncio_time']:.2f}x")
    spawn = results["spawn"]
    print(f"spawn {spawn['spawned']} parked: {spawn['spawns_per_second']:,.0f} spawns/s, "
          f"{spawn['kills_per_second']:,.0f} kills/s, {spawn['bytes_per_parked_process']:.0f} bytes/parked process, "
          f"{spawn['alive_after_kill']} left alive")
    for timer in results["timers"]:
        print(f"{timer['kind']} {timer['requested_ms']} ms: late by mean {timer['mean_late_ms']:.2f} ms, "
              f"max {timer['max_late_ms']:.2f} ms")
    save_json(options.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
