"""The `vm` command: the composition root, the one module that imports every layer
(compiler, vm, image, repl, bench) and wires them together. Nothing imports it.

Subcommands: run, eval, disasm, test, repl, bench, image info, node (``cli.node_command``),
cluster (``cli.cluster_command``;
docs/language.md, "The command line"). Every failure a user can cause is reported as
one line on stderr (a syntax error as ``file:line:column: message``, an OS error as
``path: reason``), never
as a Python traceback: ``FAILURES`` maps each kind of failure to its line and exit
status, and anything else that escapes is reported as an internal error. The VM's
output and the results go through one ``Console``, so that a closed pipe or a full
disk ends the command quietly instead of in a traceback.
"""
from __future__ import annotations

import argparse
import errno
import os
import stat
import sys
from collections.abc import Callable, Sequence
from typing import Any

from smalltalk_vm.cli import node_command
from smalltalk_vm.compiler.front import check_text, compile_input
from smalltalk_vm.image import store
from smalltalk_vm.image.boot import BadImage, make_machine
from smalltalk_vm.image.format import ImageFileError, read_header
from smalltalk_vm.vm.bytecodes import disassemble
from smalltalk_vm.vm.console import Console, silence
from smalltalk_vm.vm.errors import LoadError, SmalltalkSyntaxError, VMFatal, os_error_text
from smalltalk_vm.vm.machine import Machine, Outcome
from smalltalk_vm.vm.objects import VClass, inherits
from smalltalk_vm.vm.universe import read_source

EXIT_ERROR = 1
EXIT_BAD_IMAGE = 2
EXIT_INTERNAL = 70              # EX_SOFTWARE: a defect of the VM, not of the program
EXIT_INTERRUPTED = 128 + 2      # what a shell reports for a program ended by SIGINT


def refuse_special_file(path: str) -> None:
    """ImageFileError when ``path`` names something that is not a regular file: reading
    a FIFO as an image would wait for ever. (A path that cannot be examined is left to
    the reader, which says why.) The reason does not name the path: the caller does."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if not stat.S_ISREG(mode):
        reason = os.strerror(errno.EISDIR) if stat.S_ISDIR(mode) else "not a regular file"
        raise ImageFileError(reason)


def image_argument(path: str | None) -> str | None:
    """An image path from the command line (--image), refused as a BadImage when it is
    not a regular file."""
    if path is not None:
        try:
            refuse_special_file(path)
        except ImageFileError as error:
            raise BadImage(f"cannot load image {path}: {error}") from None
    return path


def split_classpath(value: str | None) -> list[str]:
    """The folders of a ``-cp`` value; each one that cannot be listed is reported (and
    kept: a folder made later is searched then), as javac's -Xlint:path does."""
    folders = [p for p in (value or "").split(os.pathsep) if p]
    for folder in folders:
        try:
            os.listdir(folder)
        except OSError as error:
            report(f"vm: warning: classpath {os_error_text(error, folder)}")
    return folders


def report(message: str) -> None:
    """One message on stderr, after whatever is pending on stdout. Never raises."""
    for stream, text in ((sys.stdout, ""), (sys.stderr, message.rstrip("\n") + "\n")):
        try:
            if stream is not None:
                stream.write(text)
                stream.flush()
        except (OSError, ValueError):
            pass


def console_for(machine: Machine) -> Console:
    """The console of a command's machine: the VM's output and the results go through
    it, and when it cannot write any more the VM stops with the status it calls for."""
    universe = machine.universe

    def stop(status: int) -> None:
        if universe.exit_status is None:
            universe.exit_status = status
    console = Console(on_failure=stop)
    machine.set_output(console.write, console.write_error)
    return console


def report_outcome(outcome: Outcome) -> int:
    """Print what a failed run should show; answer the process exit status."""
    if outcome.status == "exit":
        return outcome.exit_code
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
    first on the classpath, as SOM does. A file that cannot be read is a LoadError
    naming it and the reason."""
    if target.endswith(".som") or os.sep in target:
        path = target if target.endswith(".som") or os.path.lexists(target) else target + ".som"
        read_source(path)
        if not path.endswith(".som"):
            raise LoadError(f"{path}: not a .som file")
        folder = os.path.dirname(os.path.abspath(path))
        name = os.path.basename(path)[:-len(".som")]
        return name, [folder, *classpath]
    return target, classpath


def command_run(options: argparse.Namespace) -> int:
    if options.image is not None:
        machine = make_machine(split_classpath(options.classpath), image_argument(options.image))
        console = console_for(machine)
        return finish(console, report_outcome(machine.resume(machine.resumed_main)))
    if options.program is None:
        report("vm run: give a class or a .som file (or --image FILE)")
        return EXIT_ERROR
    name, classpath = resolve_program(options.program, split_classpath(options.classpath))
    machine = make_machine(classpath)
    console = console_for(machine)
    if machine.universe.load_class(name) is None:   # syntax errors surface here too
        raise LoadError(f"class {name} not found on the classpath")
    outcome = machine.run_program([name, *options.arguments])
    return finish(console, report_outcome(outcome))


def finish(console: Console, status: int) -> int:
    """The exit status once the output is flushed: a console that could not write
    (a closed pipe, a full disk) calls for its own."""
    console.flush()
    return console.failed if console.failed is not None else status


# ---------------------------------------------------------------------- eval

def command_eval(options: argparse.Namespace) -> int:
    """Each argument is a do-it, as in the REPL: statements (their value is printed),
    a class definition or a method definition (silent). Assigning an undeclared name
    makes a workspace variable for the later arguments. The first failure stops."""
    machine = make_machine(split_classpath(options.classpath))
    console = console_for(machine)
    universe = machine.universe
    several = len(options.sources) > 1
    for number, source in enumerate(options.sources, 1):
        filename = f"<eval {number}>" if several else "<eval>"
        compiled = compile_input(universe, check_text(source, filename), filename, workspace=True)
        if compiled.kind != "statements":
            continue
        outcome = machine.evaluate(compiled.method)
        if outcome.status != "value":
            console.end_line()
            return finish(console, report_outcome(outcome))
        text = machine.print_string(outcome.value)
        if universe.exit_status is not None:           # stopped while printing
            break
        console.show(text)
    return finish(console, universe.exit_status or 0)


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
            def unreadable(error: OSError) -> None:
                raise LoadError(os_error_text(error))
            for root, _dirs, names in sorted(os.walk(path, onerror=unreadable)):
                files.extend(os.path.join(root, n) for n in sorted(names) if n.endswith(".som"))
        elif os.path.lexists(path):
            files.append(path)               # loading it says what is wrong with it
        else:
            raise LoadError(f"{path}: {os.strerror(errno.ENOENT)}")
    return files


def command_test(options: argparse.Namespace) -> int:
    files = find_test_files(options.paths)
    folders = sorted({os.path.dirname(os.path.abspath(f)) for f in files})
    machine = make_machine([*folders, *split_classpath(options.classpath)])
    console = console_for(machine)
    universe = machine.universe
    test_case = universe.load_class("TestCase")
    classes = []
    for path in files:
        cls = universe.load_class_file(path)
        if inherits(cls, test_case) and cls is not test_case:
            classes.append(cls)
    runner_class = universe.load_class("TestRunner")
    outcome = machine.send(runner_class, "runClasses:", [universe.new_array(classes)])
    if outcome.status != "value":
        return finish(console, report_outcome(outcome))
    failed = machine.send(outcome.value, "failed")
    if failed.status != "value":
        return finish(console, report_outcome(failed))
    return finish(console, 0 if failed.value == universe.make_int(0) else EXIT_ERROR)



# ---------------------------------------------------------------------- repl

def command_repl(options: argparse.Namespace) -> int:
    from smalltalk_vm.repl.app import run
    from smalltalk_vm.repl.changelog import ChangeLog, log_path
    from smalltalk_vm.repl.session import ReplSession
    if options.connect is not None:
        from smalltalk_vm.cli.shell_command import command_connect
        return command_connect(options, logged)
    machine = make_machine(split_classpath(options.classpath), image_argument(options.image))
    log = ChangeLog(log_path(options.image), options.image, options.name)
    session = logged(ReplSession(machine, options.image), log)
    try:
        if node_command.wants_node(options):
            return node_command.command_repl_node(options, session, lambda: run(session))
        return run(session)
    finally:
        session.close()


def logged(session: Any, log: Any) -> Any:
    """``session`` writing to the change log ``log``; at a terminal, the REPL first says
    how many changes since the last image save the log holds."""
    from smalltalk_vm.repl.logged_session import LoggedSession
    wrapped = LoggedSession(session, log)
    if sys.stdin.isatty() and sys.stdout.isatty():
        notice = wrapped.notice()
        if notice is not None:
            session.console.write(notice + "\n")
    return wrapped


# ---------------------------------------------------------------------- bench

def command_bench(arguments: list[str]) -> int:
    """`vm bench ...` is `python -m bench ...` (its options are the harness's own);
    `vm bench --remote ...` is `python -m bench.remote ...`, `vm bench --hotload ...`
    is `python -m bench.hotload ...`, `vm bench --migration ...` is `python -m
    bench.migration ...`."""
    if arguments[:1] == ["--remote"]:
        from smalltalk_vm.bench.remote import main as remote_main
        return remote_main(arguments[1:])
    if arguments[:1] == ["--hotload"]:
        from smalltalk_vm.bench.hotload import main as hotload_main
        return hotload_main(arguments[1:])
    if arguments[:1] == ["--migration"]:
        from smalltalk_vm.bench.migration import main as migration_main
        return migration_main(arguments[1:])
    from smalltalk_vm.bench.harness import main as bench_main
    return bench_main(arguments, prog="vm bench")


# ---------------------------------------------------------------------- image

def command_image_info(options: argparse.Namespace) -> int:
    try:
        refuse_special_file(options.file)
        header = read_header(options.file)
    except ImageFileError as error:
        raise BadImage(f"{options.file}: {error}") from None
    for line in store.describe(header):
        print(line)
    return 0


# ---------------------------------------------------------------------- main

CLASSPATH_HELP = f"folders searched for classes before lib/, separated by '{os.pathsep}'"

# First words whose command line is parsed without `vm cluster`, whose client imports
# gRPC (a third of `vm eval '3+4'`'s start-up); any other first word (`cluster`,
# `--help`, a typo) gets the whole parser, which lists every command.
PARSED_WITHOUT_CLUSTER = frozenset({"run", "eval", "disasm", "test", "repl", "node", "image"})


def version_text() -> str:
    """What `vm --version` prints: the version images record as their creator."""
    from smalltalk_vm.image.format import FORMAT_VERSION
    python = ".".join(str(part) for part in sys.version_info[:3])
    return f"smalltalk-vm {store.vm_version()} (image format {FORMAT_VERSION}, Python {python})"


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of the whole command line; for a ``command`` among PARSED_WITHOUT_CLUSTER,
    one without `vm cluster` (that parses ``command``'s arguments the same)."""
    parser = argparse.ArgumentParser(prog="vm", description="A live-coding Smalltalk VM.")
    parser.add_argument("--version", action="version", version=version_text(),
                        help="print the VM's version and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     help="what to do (vm COMMAND --help tells more):")

    run = commands.add_parser("run", help="run a program: send run: (or run) to a new instance")
    run.add_argument("-cp", "--classpath", metavar="PATH", help=CLASSPATH_HELP)
    run.add_argument("--image", metavar="FILE", help="resume a saved image instead")
    run.add_argument("program", nargs="?", help="a class name (found on the classpath) or a .som file")
    run.add_argument("arguments", nargs=argparse.REMAINDER,
                     help="words passed to the program (run: gets them after the class name)")
    run.set_defaults(handler=command_run)

    evaluate = commands.add_parser(
        "eval", help="evaluate do-its and print the value of each",
        description="Each SOURCE is a do-it, as in the REPL: statements (the value of the last "
                    "one is printed), a class definition or a method definition (silent). "
                    "Assigning an undeclared name makes a workspace variable the later "
                    "SOURCEs can use. The first failing SOURCE stops the command (status 1).")
    evaluate.add_argument("-cp", "--classpath", metavar="PATH", help=CLASSPATH_HELP)
    evaluate.add_argument("sources", nargs="+", metavar="SOURCE",
                          help="a do-it: statements, 'Name = Super ( ... )' or 'Name >> pattern = ( ... )'")
    evaluate.set_defaults(handler=command_eval)

    disasm = commands.add_parser("disasm", help="show the bytecode of Class>>selector")
    disasm.add_argument("-cp", "--classpath", metavar="PATH", help=CLASSPATH_HELP)
    disasm.add_argument("method", help="'Class>>selector' or 'Class class>>selector'")
    disasm.set_defaults(handler=command_disasm)

    test = commands.add_parser("test", help="run the TestCase classes in files or folders")
    test.add_argument("-cp", "--classpath", metavar="PATH", help=CLASSPATH_HELP)
    test.add_argument("paths", nargs="+", metavar="PATH",
                      help="a .som file, or a folder searched for .som files (and its subfolders)")
    test.set_defaults(handler=command_test)

    repl = commands.add_parser("repl", help="the interactive read-eval-print loop")
    repl.add_argument("-cp", "--classpath", metavar="PATH", help=CLASSPATH_HELP)
    repl.add_argument("--image", metavar="FILE", help="resume a saved image")
    repl.add_argument("--connect", metavar="HOST:PORT",
                      help="a remote shell: run the do-its on the node at HOST:PORT (with its --cookie and TLS)")
    node_command.add_node_options(repl)
    repl.set_defaults(handler=command_repl)

    node_command.register(commands)
    if command not in PARSED_WITHOUT_CLUSTER:
        from smalltalk_vm.cli import cluster_command
        cluster_command.register(commands)

    commands.add_parser("bench", help="the benchmark suite (vm bench --help for its options)")

    image_command = commands.add_parser("image", help="inspect image files")
    image_actions = image_command.add_subparsers(dest="action", required=True, metavar="ACTION",
                                                 help="what to do with it:")
    info = image_actions.add_parser("info", help="print an image's header without loading it")
    info.add_argument("file", help="an image file (written by system saveImage: or :save)")
    info.set_defaults(handler=command_image_info)
    return parser


def _internal_error(error: BaseException) -> str:
    return (f"vm: internal error: {type(error).__name__}: {error} "
            "(a defect of the VM, not of your program; please report it)")


# What each failure that reaches the top shows (one line on stderr; None: nothing) and
# the exit status. The first matching row wins, so a subclass comes before its base.
FAILURES: tuple[tuple[type[BaseException], Callable[[BaseException], str | None], int], ...] = (
    (SmalltalkSyntaxError, lambda error: error.located(), EXIT_ERROR),
    (LoadError, lambda error: f"vm: {error}", EXIT_ERROR),
    (BadImage, lambda error: f"vm: {error}", EXIT_BAD_IMAGE),
    (VMFatal, lambda error: f"vm: fatal: {error}", EXIT_ERROR),
    (BrokenPipeError, lambda error: None, EXIT_ERROR),
    (OSError, lambda error: f"vm: {os_error_text(error)}", EXIT_ERROR),
    (KeyboardInterrupt, lambda error: "vm: interrupted", EXIT_INTERRUPTED),
    (Exception, _internal_error, EXIT_INTERNAL),
)


def describe_failure(error: BaseException) -> tuple[str | None, int]:
    """The line to show for a failure that ended a command, and the exit status."""
    for kind, describe, status in FAILURES:
        if isinstance(error, kind):
            return describe(error), status
    raise error                 # SystemExit and the like: not failures


def open_missing_streams() -> None:
    """A standard stream that was closed when the command started (`vm eval 3 2>&-`)
    is None in Python; every layer may write to (or read from) it, so it becomes the
    null device, as Python's own print() treats a missing stdout: silently."""
    for name, mode in (("stdin", "r"), ("stdout", "w"), ("stderr", "w")):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, mode, encoding="utf-8"))  # noqa: SIM115 — lives as long as the process


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    open_missing_streams()
    try:
        if arguments[:1] == ["bench"]:
            return command_bench(arguments[1:])
        options = build_parser(arguments[0] if arguments else None).parse_args(arguments)
        return options.handler(options)
    except (Exception, KeyboardInterrupt) as error:
        message, status = describe_failure(error)
        if message is not None:
            report(message)
        return status


def entry_point() -> None:
    status = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            silence(stream)       # else Python's own flush at exit fails again, loudly
    raise SystemExit(status)


if __name__ == "__main__":
    entry_point()
