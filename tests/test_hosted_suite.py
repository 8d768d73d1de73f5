"""Runs the hosted-language test suite (tests/st/*.som, SUnit-style TestCase classes)
with `vm test tests/st` and checks that every test passes and that the suite is
substantial (at least 300 assertions)."""
from __future__ import annotations

import re
import subprocess

SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed \((\d+) assertions\)$")
MINIMUM_ASSERTIONS = 300


def parse_summary(stdout: str) -> tuple[int, int, int] | None:
    """(passed, failed, assertions) from the runner's last summary line, if any."""
    for line in reversed(stdout.splitlines()):
        match = SUMMARY.match(line.strip())
        if match:
            passed, failed, assertions = (int(group) for group in match.groups())
            return passed, failed, assertions
    return None


def test_parse_summary_reads_the_last_summary_line() -> None:
    output = "FAIL: FooTest>>#testBar: Expected 1 but was 2\n3 passed, 1 failed (12 assertions)\n"
    assert parse_summary(output) == (3, 1, 12)
    assert parse_summary("vm: fatal: something broke\n") is None


def test_hosted_suite_passes(hosted_suite: subprocess.CompletedProcess) -> None:
    result = hosted_suite              # `vm test tests/st`, run early (tests/early_jobs.py)
    summary = parse_summary(result.stdout)
    assert summary is not None, f"no summary line:\n{result.stdout}\n{result.stderr}"
    passed, failed, assertions = summary
    failures = "\n".join(line for line in result.stdout.splitlines() if not SUMMARY.match(line))
    assert failed == 0, f"{failed} hosted test(s) failed:\n{failures}\n{result.stderr}"
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert passed > 0
    assert assertions >= MINIMUM_ASSERTIONS, f"only {assertions} assertions"
