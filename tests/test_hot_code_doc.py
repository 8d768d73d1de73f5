"""docs/hot-code.md stays true: its worked example (the class files marked
``<!-- file: Name.som -->``) is run with `vm run Demo.som` and must print exactly the
block marked ``<!-- output of: vm run Demo.som -->``."""
from __future__ import annotations

import re
from pathlib import Path

from conftest import ROOT, run_vm

DOC = Path(ROOT, "docs", "hot-code.md")
BLOCK = r"<!-- {0} -->\n```\n(.*?)```"


def test_the_worked_example_prints_what_the_page_shows(tmp_path) -> None:
    text = DOC.read_text(encoding="utf-8")
    files = re.findall(BLOCK.format(r"file: (\w+\.som)"), text, re.S)
    assert [name for name, _ in files] == ["Counter.som", "Demo.som"]
    for name, source in files:
        (tmp_path / name).write_text(source, encoding="utf-8")
    expected = re.search(BLOCK.format("output of: vm run Demo.som"), text, re.S)
    assert expected is not None
    result = run_vm(["run", "Demo.som"], cwd=str(tmp_path), timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected.group(1)
