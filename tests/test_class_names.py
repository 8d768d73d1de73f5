"""A class name is any identifier (SOM): a lowercase global loads `name.som` from the
classpath; one with no file is still an unknown global (nil after unknownGlobal:)."""
from __future__ import annotations

from conftest import run_vm


def test_a_lowercase_class_loads_from_the_classpath(tmp_path) -> None:
    (tmp_path / "other.som").write_text("other = ( answer = ( ^ 42 ) )\n", encoding="utf-8")
    result = run_vm(["eval", "-cp", str(tmp_path), "other new answer"], timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "42"


def test_an_unknown_lowercase_global_is_still_nil(tmp_path) -> None:
    result = run_vm(["eval", "-cp", str(tmp_path), "nothingByThatName isNil"], timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "true"


def test_a_file_defining_another_class_is_a_clean_error(tmp_path) -> None:
    (tmp_path / "wrong.som").write_text("Right = ( )\n", encoding="utf-8")
    result = run_vm(["eval", "-cp", str(tmp_path), "wrong new"], timeout=60)
    assert result.returncode == 1
    assert "expected wrong" in result.stderr and "Traceback" not in result.stderr
