"""First checks that the language core runs end to end."""
from conftest import run_vm


def test_hello_example_runs():
    result = run_vm(["run", "examples/Hello.som"])
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Hello, World!\n"


def test_eval_prints_print_string(vm):
    assert vm.eval("3 + 4") == "7"
    assert vm.eval("'abc'") == "'abc'"
    assert vm.eval("#foo") == "#foo"
