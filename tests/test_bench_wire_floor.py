"""bench/wire_floor.py, the lower bound under any pure-Python wire codec: its minimal
conversion must really carry the whole message (else its figure bounds nothing), and
its command runs and reports the ratios."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from wire_support import children_to_compare

from smalltalk_vm.bench import wire as bench_wire
from smalltalk_vm.bench import wire_floor


@pytest.fixture(scope="module")
def message() -> tuple:
    return bench_wire.vm_message()


def assert_same_content(universe: object, original: object, copy: object) -> None:
    """Equal structure, sharing not compared (the floor does not keep it)."""
    pending = [(original, copy, "root")]
    while pending:
        a, b, path = pending.pop()
        if type(a) in (int, float):
            assert type(b) is type(a) and b == a, f"{path}: {b!r} != {a!r}"
            continue
        pending.extend(children_to_compare(universe, a, b, path))


def test_the_floor_carries_the_whole_message(message: tuple) -> None:
    universe, value = message
    floor = wire_floor.Floor(universe)
    copy = floor.decode(floor.encode(value))
    assert_same_content(universe, value, copy)
    assert floor.encode(copy) == floor.encode(value)


def test_the_floor_refuses_what_it_does_not_convert(message: tuple) -> None:
    universe, _ = message
    with pytest.raises(TypeError, match="does not convert"):
        wire_floor.Floor(universe).to_plain(universe.globals["Object"])


def test_the_command_reports_both_ratios(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "floor.json"
    assert wire_floor.main(["--iterations", "3", "--repeats", "1", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "floor / pickle:" in printed and "wire  / pickle:" in printed
    results = json.loads(out.read_text())
    assert results["floor_over_pickle"] > 0 and set(results["seconds_per_round_trip"]) >= {"floor", "wire", "pickle"}
