"""The process benchmarks of bench/processes.py run in CI at small sizes: the token
ring delivers every message (a lost one would leave it waiting forever, so it is
bounded by a timeout), and spawning, parking and killing many processes completes."""
from __future__ import annotations

from smalltalk_vm.bench.processes import evaluate, new_machine, spawn_parked, vm_ring


def test_a_token_ring_delivers_every_message() -> None:
    seconds = vm_ring(500, 4)                  # 2,000 hops
    assert seconds > 0


def test_many_processes_are_spawned_parked_and_killed() -> None:
    result = spawn_parked(5_000)
    assert result["parked"] == 5_000
    assert result["alive_after_kill"] == 0
    assert result["bytes_per_parked_process"] > 0


def test_ring_answers_done() -> None:
    machine = new_machine()
    assert machine.universe.symbol_name(evaluate(machine, "BenchRing new ring: 50 laps: 3")) == "done"
