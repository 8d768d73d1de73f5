"""The shape of the house: the import rules of the design hold, ruff is clean, and an
installed wheel puts exactly one import name into site-packages."""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT
from readme_support import FreshInstalls

LAYERS = ("vm", "compiler", "image", "node", "repl", "cli", "bench", "lib")

# layer -> layers it must never import
FORBIDDEN = {
    "vm": {"compiler", "image", "node", "repl", "cli", "bench"},
    "compiler": {"image", "node", "repl", "cli", "bench"},
    "node": {"repl", "cli", "bench"},
    "image": {"repl", "cli", "bench"},
    "repl": {"cli", "bench"},
    "bench": {"cli"},
    "lib": {"vm", "compiler", "image", "node", "repl", "cli", "bench"},
}


def imported_layers(path: Path) -> set[str]:
    """The smalltalk_vm layers a module imports (any import statement, at any depth)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "smalltalk_vm" and len(parts) > 1 and parts[1] in LAYERS:
                found.add(parts[1])
            elif parts[0] in LAYERS:
                found.add(f"bare:{parts[0]}")    # an import outside the one package name
    return found


def modules_of(layer: str) -> list[Path]:
    return sorted(Path(ROOT, layer).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layers_import_only_what_the_design_allows(layer: str) -> None:
    offences = []
    for module in modules_of(layer):
        for imported in imported_layers(module):
            if imported.startswith("bare:") or imported in FORBIDDEN[layer]:
                offences.append(f"{module.relative_to(ROOT)} imports {imported}")
    assert offences == []


def test_nothing_outside_the_command_line_imports_it() -> None:
    offences = [f"{module.relative_to(ROOT)}"
                for layer in LAYERS if layer != "cli"
                for module in modules_of(layer) if "cli" in imported_layers(module)]
    offences += [f"{module.relative_to(ROOT)}" for module in sorted(Path(ROOT, "tests").rglob("*.py"))
                 if "cli" in imported_layers(module)]
    assert offences == []


def test_the_rule_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "sample.py"
    module.write_text("def f():\n    from smalltalk_vm.repl import session\nimport node.wire\n")
    assert imported_layers(module) == {"repl", "bare:node"}


def test_ruff_is_clean() -> None:
    ruff = shutil.which("ruff", path=os.path.dirname(sys.executable)) or shutil.which("ruff")
    assert ruff is not None, "ruff is a test extra: pip install -e '.[test]'"
    result = subprocess.run([ruff, "check", "--no-cache", "--output-format", "concise", ROOT],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def _venv_site_packages(folder: Path) -> Path:
    return next(folder.glob("lib/python*/site-packages"))


def test_a_wheel_installs_one_import_name(fresh_installs: FreshInstalls, tmp_path: Path) -> None:
    """The wheel (built from a clean checkout) holds only ``smalltalk_vm``; installed
    beside its dependencies it adds only ``smalltalk_vm`` and its dist-info — then it
    runs. The virtualenv is the one the README's first command made (its dependencies
    as pip installed them for the project), with that editable install removed first."""
    built = fresh_installs.wheel_build
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    wheel = next(fresh_installs.wheels.glob("smalltalk_vm-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
        extensions = sorted(name for name in archive.namelist() if name.endswith(".so"))
    assert {top for top in tops if not top.endswith(".dist-info")} == {"smalltalk_vm"}
    if shutil.which("cc") or shutil.which("gcc"):        # the wire codec's two accelerators
        assert [name.split("/")[-1].split(".")[0] for name in extensions] == ["_wire_c_decoder", "_wire_c_encoder"]

    readme = fresh_installs.readme
    assert readme.returncode == 0, "the README's install failed:\n" + readme.stderr[-2000:]
    env_dir = fresh_installs.venv
    python = env_dir / "bin" / "python"
    removed = subprocess.run([str(python), "-m", "pip", "uninstall", "-y", "-q", "smalltalk-vm"],
                             capture_output=True, text=True, timeout=600)
    assert removed.returncode == 0, removed.stderr[-2000:]
    before = set(os.listdir(_venv_site_packages(env_dir)))
    assert not any(name.startswith(("smalltalk_vm", "__editable__")) for name in before), sorted(before)
    installed = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
                               capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr[-2000:]
    added = set(os.listdir(_venv_site_packages(env_dir))) - before
    assert {name for name in added if not name.endswith(".dist-info")} == {"smalltalk_vm"}
    assert len([name for name in added if name.endswith(".dist-info")]) == 1

    scratch = tmp_path / "elsewhere"
    scratch.mkdir()
    ran = subprocess.run([str(env_dir / "bin" / "vm"), "eval", "(1 to: 4) inject: 0 into: [ :a :b | a + b ]"],
                         cwd=scratch, capture_output=True, text=True, timeout=300,
                         env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path),
                              "XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert (ran.returncode, ran.stdout.strip()) == (0, "10"), ran.stderr


WIRE_ROUND_TRIP = """
from smalltalk_vm.image.boot import make_machine
from smalltalk_vm.node import wire, wire_c_decoding, wire_c_encoding
u = make_machine([]).universe
value = u.new_array([u.make_int(42), u.new_string('text'), u.symbol('sym'), 2.5])
back = wire.decode(u, wire.encode(u, value))
print(wire_c_encoding.__file__, wire_c_encoding.AVAILABLE, wire_c_decoding.AVAILABLE,
      [type(item).__name__ for item in back.items], back.items[0] == value.items[0], back.items[1].chars)
"""


def test_without_a_c_compiler_the_package_builds_and_the_wire_runs_in_python(
        fresh_installs: FreshInstalls, tmp_path: Path) -> None:
    """Where the C compiler fails (CC=false), the wire codec's optional accelerators are
    left out and the wheel builds all the same; from it the codec runs its Python paths."""
    built = fresh_installs.plain_wheel_build
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    wheel = next(fresh_installs.plain_wheels.glob("smalltalk_vm-*.whl"))
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(wheel) as archive:
        assert not [name for name in archive.namelist() if name.endswith(".so")]
        archive.extractall(unpacked)
    # -S: no site, so no .pth file adds this checkout's editable install to the path (its
    # namespace packages would merge with the wheel's); the dependencies come from the
    # site-packages folders named on the path instead.
    libraries = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    ran = subprocess.run([sys.executable, "-S", "-c", WIRE_ROUND_TRIP], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join([str(unpacked), *sorted(libraries)]),
                              "XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert ran.returncode == 0, ran.stderr[-2000:]
    where, *rest = ran.stdout.split(" ", 1)
    assert where.startswith(str(unpacked)), where          # the unpacked wheel, not this checkout
    assert rest == ["False False ['int', 'VString', 'int', 'float'] True text\n"]
