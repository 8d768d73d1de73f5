"""The `vm` command: the composition root, the one module that imports every layer
(compiler, vm, and later image, node and repl) and wires them together. Nothing
imports it.

Subcommands: run, eval, disasm, test. Every failure a user can cause is reported as a
one-line message (a syntax error as ``file:line:column: message``), never as a Python
traceback.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from smalltalk_vm.compiler.front import compile_statements
from smalltalk_vm.image import store
from smalltalk_vm.image.boot import BadImage, make_machine
from smalltalk_vm.image.format import ImageFileError, read_header
from smalltalk_vm.vm.bytecodes import disassemble
from smalltalk_vm.vm.errors import LoadError, SmalltalkSyntaxError, VMFatal
from smalltalk_vm.vm.machine import Machine, Outcome
from smalltalk_vm.vm.objects import VClass

EXIT_ERROR = 1
EXIT_BAD_IMAGE = 2
EXIT_VM_FAILED = 70          # sysexits' EX_SOFTWARE: the VM itself failed, not the program


def split_classpath(value: str | None) -> list[str]:
    return [p for p in (value or "").split(os.pathsep) if p]


def report(message: str) -> None:
    sys.stdout.flush()
    sys.stderr.write(message.rstrip("\n") + "\n")


def report_outcome(outcome: Outcome) -> int:
    """Print what a failed run should show; answer the process exit status."""
    if outcome.status == "exit":
        return outcome.exit_code
    if outcome.status == "fatal":
        report(f"vm: fatal: {outcome.error_text}")
        return EXIT_VM_FAILED
    if outcome.status == "deadlock":
        report(f"deadlock: {outcome.waiting} processes waiting")
        return EXIT_ERROR
    if outcome.status == "error":
        lines = [f"ERROR: {outcome.error_text}"]
        lines.extend("  " + line for line in outcome.trace or [])
        report("\n".join(lines))
        return EXIT_ERROR
    return 0


# ---------------------------------------------------------------------- run

def resolve_program(target: str, classpath: list[str]) -> tuple[str, list[str]]:
    """``Foo`` or ``path/to/Foo.som`` -> (class name, classpath). A file's folder goes
    first on the classpath, as SOM does."""
    if target.endswith(".som") or os.sep in target:
        path = target if target.endswith(".som") else target + ".som"
        if not os.path.isfile(path):
            raise LoadError(f"no such file: {path}")
        folder = os.path.dirname(os.path.abspath(path))
        name = os.path.basename(path)[:-len(".som")]
        return name, [folder, *classpath]
    return target, classpath


def command_run(options: argparse.Namespace) -> int:
    if options.image is not None:
        machine = make_machine(split_classpath(options.classpath), options.image)
        return report_outcome(machine.resume(machine.resumed_main))
    if options.program is None:
        report("vm run: give a class or a .som file (or --image FILE)")
        return EXIT_ERROR
    name, classpath = resolve_program(options.program, split_classpath(options.classpath))
    machine = make_machine(classpath)
    if machine.universe.load_class(name) is None:   # syntax errors surface here too
        raise LoadError(f"class {name} not found on the classpath")
    outcome = machine.run_program([name, *options.arguments])
    return report_outcome(outcome)


# ---------------------------------------------------------------------- eval

def command_eval(options: argparse.Namespace) -> int:
    machine = make_machine(split_classpath(options.classpath))
    method = compile_statements(machine.universe, options.source, "<eval>")
    outcome = machine.evaluate(method)
    if outcome.status != "value":
        return report_outcome(outcome)
    sys.stdout.write(machine.print_string(outcome.value) + "\n")
    return 0


# ---------------------------------------------------------------------- disasm

def command_disasm(options: argparse.Namespace) -> int:
    machine = make_machine(split_classpath(options.classpath))
    spec = options.method
    if ">>" not in spec:
        report("vm disasm: expected Class>>selector or Class class>>selector")
        return EXIT_ERROR
    class_part, selector = (part.strip() for part in spec.split(">>", 1))
    class_side = class_part.endswith(" class")
    class_name = class_part[:-len(" class")].strip() if class_side else class_part
    cls = machine.universe.load_class(class_name)
    if not isinstance(cls, VClass):
        report(f"vm disasm: no class {class_name}")
        return EXIT_ERROR
    if class_side:
        cls = cls.cls
    method = cls.methods.get(selector)
    if method is None:
        report(f"vm disasm: {cls.name} has no method #{selector}")
        return EXIT_ERROR
    source_lines = _file_lines(method.source_file)
    universe = machine.universe
    print(f"{cls.name}>>{selector}  ({method.source_file}:{method.first_line}, "
          f"{method.num_args} args, {method.num_temps} temps)")
    if not method.code:
        print("  <primitive>")
        return 0
    for line in disassemble(method, lambda v: _describe_literal(machine, v), source_lines):
        print(line)
    del universe
    return 0


def _file_lines(path: str) -> list[str] | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().splitlines()
    except OSError:
        return None


def _describe_literal(machine: Machine, value: object) -> str:
    if isinstance(value, str):
        return value
    try:
        return machine.print_string(value)
    except Exception:
        return repr(value)


# ---------------------------------------------------------------------- test

def find_test_files(paths: Sequence[str]) -> list[str]:
    files: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            for root, _dirs, names in sorted(os.walk(path)):
                files.extend(os.path.join(root, n) for n in sorted(names) if n.endswith(".som"))
        elif os.path.isfile(path):
            files.append(path)
        else:
            raise LoadError(f"no such file or folder: {path}")
    return files


def command_test(options: argparse.Namespace) -> int:
    files = find_test_files(options.paths)
    folders = sorted({os.path.dirname(os.path.abspath(f)) for f in files})
    machine = make_machine([*folders, *split_classpath(options.classpath)])
    universe = machine.universe
    test_case = universe.load_class("TestCase")
    classes = []
    for path in files:
        cls = universe.load_class_file(path)
        if _inherits(cls, test_case) and cls is not test_case:
            classes.append(cls)
    runner_class = universe.load_class("TestRunner")
    outcome = machine.send(runner_class, "runClasses:", [universe.new_array(classes)])
    if outcome.status != "value":
        return report_outcome(outcome)
    runner = outcome.value
    failed = runner.fields[universe.field_index(runner.cls, "failed")]
    return 0 if universe.int_of(failed) == 0 else EXIT_ERROR


def _inherits(cls: VClass, ancestor: VClass | None) -> bool:
    while cls is not None:
        if cls is ancestor:
            return True
        cls = cls.superclass
    return False


# ---------------------------------------------------------------------- repl

def command_repl(options: argparse.Namespace) -> int:
    from smalltalk_vm.repl.app import run
    from smalltalk_vm.repl.session import ReplSession
    machine = make_machine(split_classpath(options.classpath), options.image)
    session = ReplSession(machine, options.image)
    try:
        return run(session)
    finally:
        session.close()


# ---------------------------------------------------------------------- bench

def command_bench(arguments: list[str]) -> int:
    """`vm bench ...` is `python -m bench ...` (its options are the harness's own)."""
    from smalltalk_vm.bench.harness import main as bench_main
    return bench_main(arguments)


# ---------------------------------------------------------------------- image

def command_image_info(options: argparse.Namespace) -> int:
    try:
        header = read_header(options.file)
    except ImageFileError as error:
        raise BadImage(f"{options.file}: {error}") from None
    for line in store.describe(header):
        print(line)
    return 0


# ---------------------------------------------------------------------- main

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vm", description="A live-coding Smalltalk VM.")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run a program: send run: (or run) to a new instance")
    run.add_argument("-cp", "--classpath", help="folders searched for classes, ':'-separated")
    run.add_argument("--image", metavar="FILE", help="resume a saved image instead")
    run.add_argument("program", nargs="?", help="a class name or a .som file")
    run.add_argument("arguments", nargs=argparse.REMAINDER, help="passed to the program")
    run.set_defaults(handler=command_run)

    evaluate = commands.add_parser("eval", help="evaluate statements and print the result")
    evaluate.add_argument("-cp", "--classpath")
    evaluate.add_argument("source")
    evaluate.set_defaults(handler=command_eval)

    disasm = commands.add_parser("disasm", help="show the bytecode of Class>>selector")
    disasm.add_argument("-cp", "--classpath")
    disasm.add_argument("method")
    disasm.set_defaults(handler=command_disasm)

    test = commands.add_parser("test", help="run the TestCase classes in files or folders")
    test.add_argument("-cp", "--classpath")
    test.add_argument("paths", nargs="+")
    test.set_defaults(handler=command_test)

    repl = commands.add_parser("repl", help="the interactive read-eval-print loop")
    repl.add_argument("-cp", "--classpath")
    repl.add_argument("--image", metavar="FILE", help="resume a saved image")
    repl.set_defaults(handler=command_repl)

    commands.add_parser("bench", help="the benchmark suite (options as python -m bench)")

    image_command = commands.add_parser("image", help="inspect image files")
    image_actions = image_command.add_subparsers(dest="action", required=True)
    info = image_actions.add_parser("info", help="print an image's header without loading it")
    info.add_argument("file")
    info.set_defaults(handler=command_image_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["bench"]:
        return command_bench(arguments[1:])
    options = build_parser().parse_args(arguments)
    try:
        return options.handler(options)
    except SmalltalkSyntaxError as error:
        report(error.located())
    except LoadError as error:
        report(f"vm: {error}")
    except VMFatal as error:
        report(f"vm: fatal: {error}")
    except BadImage as error:
        report(f"vm: {error}")
        return EXIT_BAD_IMAGE
    except KeyboardInterrupt:
        report("vm: interrupted")
        return 130
    except BrokenPipeError:
        return EXIT_ERROR
    return EXIT_ERROR


def entry_point() -> None:
    status = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    raise SystemExit(status)


if __name__ == "__main__":
    entry_point()
