"""The REPL's general `:` commands (help, save, load, browse, push, processes, quit) and the
data completion asks for: names and the selectors a receiver's class understands.
The debugger's commands are ``repl.debugging``, the inspector's ``repl.inspector``.

Session side: VM objects are read on the VM thread only (``session.host.call``);
every command answers a ``Result`` and none raises for a bad argument.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from smalltalk_vm.repl.protocol import Result
from smalltalk_vm.repl.push import push_class
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.errors import LoadError, SmalltalkSyntaxError, file_failure_text
from smalltalk_vm.vm.objects import VClass
from smalltalk_vm.vm.primitives.context import running_method

HELP = """\
Each input is a do-it: statements, a class definition (`Name = Super ( ... )`), or a
method definition (`Name >> pattern = ( ... )`). The value of the last statement is
shown, unless it is an assignment, a print (`println`, `printNl`, ...) or the input ends
with a period. `_` is the last value, `__` the one before. Assigning an undeclared
name makes a workspace variable that lives for the session.

  :help              this text
  :save [FILE]       save the whole VM (workspace, classes, processes) as an image
  :load FILE.som     file in a class
  :browse Class      the definition of a class (and its version)
  :push Class        load the class as it is here on every connected node
  :processes         the live processes
  :inspect EXPR      inspect EXPR's value: fields, elements, contents
  :inspect N         go into entry N of the object shown;  :up  back;  :more  next page
  :debug [PID]       the stopped do-it's frames (or attach to process PID, suspending it)
  :frame N           select frame N: its source line, receiver, arguments, temporaries
  :eval EXPR         evaluate EXPR in the selected frame (its variables, self)
  :proceed [EXPR]    resume after a resumable exception (with EXPR's value, else nil)
  :restart           start the selected frame over (in its method's newest definition)
  :return EXPR       return EXPR's value from the selected frame
  :abandon           end the debugged process (its ensure: blocks run)
  :theme NAME        colours: default, dark, light or none
  :quit              leave (Ctrl-D too)

Enter runs the input once its brackets, parentheses and quotes are balanced and it does
not end waiting for a keyword's argument (Enter on an empty line runs it anyway);
Esc Enter starts a new line; Tab completes; Ctrl-C interrupts a running evaluation;
Ctrl-R searches the history."""


def table(session: Any) -> dict[str, Callable[[str], Result]]:
    return {
        ":help": lambda argument: Result("output", HELP),
        ":quit": lambda argument: Result("quit"),
        ":q": lambda argument: Result("quit"),
        ":save": lambda argument: save(session, argument),
        ":load": lambda argument: load(session, argument),
        ":browse": lambda argument: browse(session, argument),
        ":push": lambda argument: Result(*push_class(session.host, session.universe, argument)),
        ":processes": lambda argument: processes(session),
    }


def save(session: Any, argument: str) -> Result:
    path = argument or session.image_path or os.path.join(os.getcwd(), "session.image")
    saver = session.universe.image_saver
    if saver is None:
        return Result("error", "this VM cannot save images")
    try:
        session.host.call(lambda: saver(path), timeout=None)
    except Exception as error:
        return Result("error", f"cannot save {file_failure_text(error, path)}")
    session.image_path = path
    return Result("output", f"saved {path}")


def load(session: Any, argument: str) -> Result:
    if not argument:
        return Result("error", ":load needs a .som file")
    try:
        cls = session.host.call(lambda: session.universe.load_class_file(argument))
    except (SmalltalkSyntaxError, LoadError) as error:
        return Result("error", load_failure_text(error))
    return Result("defined", f"defined class {cls.name}")


def browse(session: Any, argument: str) -> Result:
    if not argument:
        return Result("error", ":browse needs a class name")
    universe = session.universe

    def definition() -> Result:
        cls = universe.globals.get(argument)
        if not isinstance(cls, VClass):
            try:
                cls = universe.load_class(argument) if argument[:1].isupper() else None
            except (SmalltalkSyntaxError, LoadError) as error:
                return Result("error", f"cannot load {argument}: {load_failure_text(error)}")
        if not isinstance(cls, VClass):
            return Result("error", f"no class named {argument}")
        return Result("output", class_definition(universe, cls))
    return session.host.call(definition)


def processes(session: Any) -> Result:
    def listing() -> Result:
        lines = [f"{'pid':>5}  {'status':<9} {'name':<12} {'msgs':>4}  where"]
        for proc in sorted(session.machine.scheduler.live_processes(), key=lambda p: p.pid):
            status = "suspended" if proc.suspended else proc.state
            lines.append(f"{proc.pid:>5}  {status:<9} {proc.name or '':<12} "
                         f"{proc.message_count():>4}  {running_method(proc.ctx)}")
        return Result("output", "\n".join(lines))
    return session.host.call(listing)


def load_failure_text(error: SmalltalkSyntaxError | LoadError) -> str:
    return error.located() if isinstance(error, SmalltalkSyntaxError) else str(error)


def class_definition(universe: Any, cls: VClass) -> str:
    """A class's definition as it is now, rebuilt from its fields and its methods'
    sources (so methods added or redefined after the class show as they are)."""
    superclass = cls.superclass.name if cls.superclass is not None else "nil"
    lines = [f"{cls.name} = {superclass} ("]
    if cls.instance_fields:
        lines.append(f"    | {' '.join(cls.instance_fields)} |")
    lines.extend("    " + (m.source or f"{m.selector} = primitive") for m in cls.methods.values())
    if cls.cls.methods or cls.cls.instance_fields:
        lines.append("    ----")
        if cls.cls.instance_fields:
            lines.append(f"    | {' '.join(cls.cls.instance_fields)} |")
        lines.extend("    " + (m.source or f"{m.selector} = primitive") for m in cls.cls.methods.values())
    lines.append(")")
    versions = universe.code_versions.versions(cls)
    lines.append(f'"version {versions[0]}' + (f" (old: {versions[1]})" if len(versions) > 1 else "") + '"')
    return "\n".join(lines)


# ---------------------------------------------------------------------- completion data

def global_names(universe: Any) -> tuple[list[str], list[str]]:
    """(class names and other globals, workspace variables). VM thread."""
    classes, variables = set(), []
    for name, value in universe.globals.items():
        if isinstance(value, VClass):
            classes.add(name)
        elif name not in ("nil", "true", "false"):
            variables.append(name)
    # Classes not loaded yet: every class file along the classpath and in lib/.
    for folder in [*universe.classpath, universe.lib_dir]:
        try:
            classes.update(f[:-4] for f in os.listdir(folder) if f.endswith(".som"))
        except OSError:
            pass
    return sorted(classes), sorted(variables)


def selectors_for(universe: Any, receiver: str | None) -> list[str]:
    """Selectors the receiver's class understands when it can be known from the text
    (a literal, a workspace variable, a global); else every known selector. VM thread."""
    cls = receiver_class(universe, receiver)
    if cls is None:
        seen: set[str] = set()
        for c in [c for c in universe.globals.values() if isinstance(c, VClass)]:
            seen.update(c.methods)
            seen.update(c.cls.methods)
        return sorted(seen)
    selectors: set[str] = set()
    while cls is not None:
        selectors.update(cls.methods)
        cls = cls.superclass
    return sorted(selectors)


def receiver_class(universe: Any, receiver: str | None) -> VClass | None:
    if not receiver:
        return None
    if receiver[0].isdigit() or (receiver[0] == "-" and receiver[1:2].isdigit()):
        return universe.Double if ("." in receiver or "e" in receiver) else universe.Integer
    if receiver[0] == "'":
        return universe.String
    if receiver[0] == "#":
        return universe.Array if receiver.startswith("#(") else universe.Symbol
    if receiver[0] == "$":
        return universe.Character
    if receiver[0] in "[":
        return universe.block_classes[0]
    if receiver in ("true", "false", "nil"):
        return universe.class_of({"true": V.TRUE, "false": V.FALSE, "nil": V.NIL}[receiver])
    if receiver.isidentifier():
        value = universe.globals.get(receiver)
        if value is not None:
            return universe.class_of(value)
    return None
