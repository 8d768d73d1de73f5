"""A ``repl.protocol.Session`` that writes every accepted input to a change log
(``repl.changelog``) before handing it to the session it wraps — a local one, a node's,
or a remote shell's: the log always lives on the side where the code was typed — and
that adds the commands `:changes` and `:replay`.

Rules:
- An input is logged when it parses (a do-it, a class or a method definition); one
  with a syntax error is not (it was not accepted), and neither is a command.
- The log is written, flushed and synced *before* the input is evaluated. A log that
  cannot be written is reported once (``no change log: reason``) and the session goes
  on without one, as the history does.
- A successful `:save` writes a save mark: the changes before it are in an image.
- `:replay` evaluates logged changes again, in order, without logging them again;
  replaying a definition twice leaves the same definition, so replay is idempotent
  for definitions (do-its run again).

Called from the terminal thread only, like the session it wraps; nothing raises.
"""
from __future__ import annotations

from typing import Any

from smalltalk_vm.compiler import ast as A
from smalltalk_vm.compiler.parser import parse_input
from smalltalk_vm.repl.changelog import Change, ChangeLog, ChangeLogError, Contents, parse_range
from smalltalk_vm.repl.protocol import Result, Session
from smalltalk_vm.vm.errors import SmalltalkSyntaxError

KINDS = {A.ClassDef: "class", A.MethodDoIt: "method", A.DoIt: "doit"}
LOG_COMMANDS = [":changes", ":replay"]
LOG_HELP = """\
The change log keeps every input before it runs (it survives a crash of the REPL):
  :changes [all]     the changes since the last image save (all: every one logged)
  :replay [N[-M]]    run the unsaved changes again (or changes N to M)"""


def change_kind(text: str) -> str | None:
    """``class``, ``method`` or ``doit`` for an input that parses; None otherwise."""
    try:
        node = parse_input(text, "<repl>")
    except SmalltalkSyntaxError:
        return None
    except Exception:              # a parser defect must not cost the input
        return "doit"
    return KINDS.get(type(node), "doit")


class LoggedSession:
    """Wraps ``inner``; ``log`` is None when the change log could not be opened."""

    def __init__(self, inner: Session, log: ChangeLog | None) -> None:
        self.inner = inner
        self.log = log
        self.console = inner.console

    # ------------------------------------------------------------------ what the log adds

    def notice(self) -> str | None:
        """What to say at the start, when the log holds unsaved changes."""
        contents = self._contents()
        if isinstance(contents, str) or not contents.unsaved:
            return None
        count = len(contents.unsaved)
        where = f" (node {self.log.node})" if self.log.node else ""
        text = (f"{count} change{'s' if count != 1 else ''} since the last image save in the change "
                f"log {self.log.path}{where}: :changes lists them, :replay replays them")
        if contents.damaged:
            text += f" ({contents.damaged} damaged line{'s' if contents.damaged != 1 else ''} skipped)"
        return text

    def _contents(self) -> Contents | str:
        if self.log is None:
            return "no change log this session"
        try:
            return self.log.read()
        except ChangeLogError as error:
            return str(error)

    def _record(self, text: str) -> None:
        kind = change_kind(text)
        if kind is None or self.log is None:
            return
        try:
            self.log.append(kind, text)
        except ChangeLogError as error:
            self.log = None
            self.console.write_error(f"no change log: {error}\n")

    def changes(self, argument: str) -> Result:
        contents = self._contents()
        if isinstance(contents, str):
            return Result("error", contents)
        if argument not in ("", "all"):
            return Result("error", ":changes lists the unsaved changes; :changes all, every change in the log")
        listed = contents.changes if argument == "all" else contents.unsaved
        which = "in the change log" if argument == "all" else "since the last image save"
        if not listed:
            return Result("output", f"no changes {which} ({self.log.path})")
        lines = [f"{len(listed)} change{'s' if len(listed) != 1 else ''} {which} ({self.log.path}):"]
        lines.extend(_describe(change) for change in listed)
        return Result("output", "\n".join(lines))

    def replay(self, argument: str) -> Result:
        contents = self._contents()
        if isinstance(contents, str):
            return Result("error", contents)
        if argument in ("", "all"):
            chosen = contents.unsaved
        else:
            numbers = parse_range(argument, len(contents.changes))
            if numbers is None:
                return Result("error", f":replay takes N or N-M, numbers of changes 1 to {len(contents.changes)} "
                                       "(see :changes all), or nothing for the unsaved ones")
            chosen = [contents.changes[n - 1] for n in numbers]
        if not chosen:
            return Result("output", "no changes to replay")
        lines = []
        for change in chosen:
            result = self.inner.evaluate(change.source)
            if result.kind == "quit":
                return Result("quit", result.text)
            lines.append(f"{change.number:>4}  {_summary(result)}")
        lines.append(f"replayed {len(chosen)} change{'s' if len(chosen) != 1 else ''}")
        return Result("output", "\n".join(lines))

    # ------------------------------------------------------------------ the Session protocol

    def set_interactive(self, interactive: bool) -> None:
        self.inner.set_interactive(interactive)

    def evaluate(self, text: str) -> Result:
        self._record(text)
        return self.inner.evaluate(text)

    def command(self, line: str) -> Result:
        name, _, argument = line.strip().partition(" ")
        if name == ":changes":
            return self.changes(argument.strip())
        if name == ":replay":
            return self.replay(argument.strip())
        result = self.inner.command(line)
        if name == ":help" and result.kind == "output":
            return Result("output", result.text + "\n\n" + LOG_HELP)
        if name == ":save" and result.kind == "output" and result.text.startswith("saved ") \
                and self.log is not None:
            try:
                self.log.mark_saved(result.text[len("saved "):])
            except ChangeLogError as error:
                self.console.write_error(f"the change log could not record the save: {error}\n")
        return result

    def command_names(self) -> list[str]:
        return sorted(self.inner.command_names() + LOG_COMMANDS)

    def names(self) -> tuple[list[str], list[str]]:
        return self.inner.names()

    def selectors_for(self, receiver: str | None) -> list[str]:
        return self.inner.selectors_for(receiver)

    @property
    def alive(self) -> bool:
        return self.inner.alive

    @property
    def failure(self) -> str | None:
        return self.inner.failure

    @property
    def exit_status(self) -> int | None:
        return self.inner.exit_status

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        # What the front end reads beyond the protocol (the machine of a local session,
        # for `vm repl --name`) comes from the wrapped session.
        return getattr(self.inner, name)


def _describe(change: Change) -> str:
    when = change.time.replace("T", " ")[:23]
    node = f"  on {change.node}" if change.node else ""
    source = "\n".join("        " + line for line in change.source.rstrip("\n").splitlines())
    return f"  {change.number:>4}  {when} UTC  {change.kind}{node}\n{source}"


def _summary(result: Result) -> str:
    if result.kind == "done":
        return "done"
    if result.kind == "syntax":
        return f"syntax error at {result.line}:{result.column}: {result.text}"
    if result.kind == "error":
        return f"{result.data.get('label', 'ERROR')}: {result.text}"
    return result.text.splitlines()[0] if result.text else result.kind
