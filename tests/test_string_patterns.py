"""`split:` and `copyReplaceAll:with:` with an empty pattern used to loop for ever; with
a deadline on each run they now answer at once (tests/st/StringSplitTest.som has the
full behaviour)."""
from __future__ import annotations

import pytest
from conftest import run_vm


@pytest.mark.parametrize(("source", "stdout", "status"), [
    ("'abc' copyReplaceAll: '' with: 'x'", "'abc'", 0),
    ("[ 'abc' split: '' ] on: Error do: [ :e | e messageText ]", "'split: needs a non-empty separator'", 0),
    ("'abc' lines size", "1", 0),
])
def test_empty_patterns_terminate(source: str, stdout: str, status: int) -> None:
    result = run_vm(["eval", source], timeout=60)
    assert result.returncode == status, result.stderr
    assert result.stdout.strip() == stdout
