"""Hot code versions on one VM: the current and the old version of each class, which
processes still run old code of it, purging, and the ``updateFrom:`` state migration
that follows a change of fields.

Rules:
- A **load** is one class definition or one method definition (a do-it, a file, a
  ``Cluster load:``, code on demand). After a load that changed the class's version
  (``vm.versions``), that version is the *current* one and the one before it is
  *old*; the version that was old until then is dropped from the class's history. A
  load never stops anything: activations keep the method objects they started, so a
  process inside a dropped version goes on running it.
- **Old code** of a class is any method of the class (either side) that is no longer
  the one installed under its selector, and every block of such a method — not the
  code that was never installed (launchers, do-its). A process
  *runs old code* of a class while one of its activations is such a method or block.
  Closures kept in variables are not counted until they run (then they are
  activations like any other): nothing is unloaded, so a held closure of old code
  cannot fail for being old (docs/decisions.md, "Hot code").
- ``purge`` ends every process that runs old code of the class with the reason
  ``#purged`` (no unwinding, as ``kill``) and forgets the old version;
  ``soft_purge`` ends nothing: it answers False while any process runs old code, and
  forgets the old version (answering True) otherwise.
- When a redefinition changes the fields of a class, the compiler migrates every
  instance by field name (``compiler.redefinition``) and hands the migrated
  instances here with their old field names and values; those whose class
  implements ``updateFrom:`` are sent it, with a Dictionary old name -> old value, by
  one migrator process put at the front of the run queue, so it runs before any
  other process. ``system evaluate:`` waits for it, so that code which loads a class
  sees its instances migrated.
- ``load_definition`` is one node's part of ``Cluster load:``: check the definition
  (nothing changes if it would not load), then install it, through the callables the
  composition root gave the universe (``definition_checker``/``definition_installer``).

VM thread only; nothing here blocks. Nothing here compiles itself (the compiler calls
``loaded``; loads go through the universe's callables) or runs Smalltalk code (the
migrator is a process).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.errors import LoadError, SmalltalkSyntaxError
from smalltalk_vm.vm.objects import LAUNCHER_FILE, CompiledBlock, VClass
from smalltalk_vm.vm.process import DEAD
from smalltalk_vm.vm.versions import class_version

KEPT_VERSIONS = 2           # the current version and the old one
MIGRATOR_CLASS = "Code"
MIGRATOR_SELECTOR = "migrate:"
UPDATE_SELECTOR = "updateFrom:"
DOIT_SELECTOR = "doIt"       # what the compiler names a do-it's method


class CodeVersions:
    """The version history and old-code queries of one universe. VM thread only;
    never blocks; raises nothing a program can cause."""

    def __init__(self, universe: Any) -> None:
        self.vm = universe
        # class -> its versions, current first; a class never reloaded has none here.
        self.history: dict[VClass, list[str]] = {}
        self.fresh_migrator: Any = None      # the migrator the last load started, if any
        self.load_count = 0                  # loads so far: a check made at the same count still holds

    # ------------------------------------------------------------------ loads

    def version_before_load(self, cls: VClass | None) -> str | None:
        """The version of a class about to be loaded again (None for a new class)."""
        return class_version(self.vm, cls) if isinstance(cls, VClass) and not cls.is_meta else None

    def loaded(self, cls: VClass, previous: str | None,
               migrated: Iterable[tuple[Any, list[str], list]] = ()) -> str:
        """Record a load of ``cls`` (which had version ``previous``); start the
        ``updateFrom:`` migration of ``migrated`` (instance, old names, old values).
        Answers the new version."""
        self.load_count += 1
        version = class_version(self.vm, cls)
        history = self.history.get(cls)
        if history is None:
            history = self.history[cls] = [previous] if previous is not None else []
        if not history or history[0] != version:
            history.insert(0, version)
            del history[KEPT_VERSIONS:]
        self._start_migration(migrated)
        return version

    def versions(self, cls: VClass) -> list[str]:
        """The versions the class holds, current first (one or two)."""
        current = class_version(self.vm, cls)
        history = self.history.get(cls)
        if not history or history[0] != current:
            # Changed by a load this module did not see (a superclass's, say).
            history = self.history[cls] = [current, *(history or [])[:KEPT_VERSIONS - 1]]
        return list(history)

    def forget_old(self, cls: VClass) -> None:
        self.history[cls] = [class_version(self.vm, cls)]

    # ------------------------------------------------------------------ old code

    def runs_old_code(self, proc: Any, cls: VClass) -> bool:
        sides = (cls, cls.cls)
        ctx = proc.ctx
        while ctx is not None:
            unit = ctx.method
            method = unit.method if type(unit) is CompiledBlock else unit
            holder = getattr(method, "holder", None)
            if holder is not None and (holder is sides[0] or holder is sides[1]) \
                    and holder.methods.get(method.selector) is not method and not _never_installed(method):
                return True
            ctx = ctx.sender
        return False

    def old_processes(self, cls: VClass) -> list[Any]:
        """The live processes running old code of ``cls``, by pid."""
        return [proc for _, proc in sorted(self.vm.scheduler.processes.items())
                if proc.state != DEAD and self.runs_old_code(proc, cls)]

    def soft_purge(self, cls: VClass) -> bool:
        if self.old_processes(cls):
            return False
        self.forget_old(cls)
        return True

    def purge(self, cls: VClass) -> list[Any]:
        """End every process running old code of ``cls`` (reason #purged); answers them."""
        victims = self.old_processes(cls)
        reason = self.vm.symbol("purged")
        for proc in victims:
            self.vm.scheduler.terminate(proc, reason)
        self.forget_old(cls)
        return victims

    # ------------------------------------------------------------------ updateFrom:

    def _start_migration(self, migrated: Iterable[tuple[Any, list[str], list]]) -> None:
        vm = self.vm
        work = []
        for obj, names, values in migrated:
            if vm.lookup(obj.cls, UPDATE_SELECTOR) is None:
                continue
            work.append(vm.new_array([obj, vm.new_array([vm.symbol(n) for n in names]),
                                      vm.new_array(list(values))]))
        self.fresh_migrator = None
        if not work:
            return
        scheduler = vm.scheduler
        migrator = scheduler.spawn_send(vm.kernel_class(MIGRATOR_CLASS), MIGRATOR_SELECTOR,
                                        [vm.new_array(work)])
        scheduler.run_queue.remove(migrator)
        scheduler.run_queue.appendleft(migrator)       # before every other process
        self.fresh_migrator = migrator

    def take_fresh_migrator(self) -> Any:
        """The migrator the last load started (once), for its loader to wait for."""
        migrator, self.fresh_migrator = self.fresh_migrator, None
        return migrator


def _never_installed(method: Any) -> bool:
    """Code that runs without being a method of its holder: the launchers processes
    start with, and do-its (compiled for a receiver, never installed)."""
    return method.source_file == LAUNCHER_FILE or (method.selector == DOIT_SELECTOR
                                                   and DOIT_SELECTOR not in method.holder.methods)


# ---------------------------------------------------------------------- loads by Cluster load:

LOAD_FILENAME = "<Cluster load>"


def check_definition(vm: Any, text: str, filename: str = LOAD_FILENAME) -> tuple[str | None, int]:
    """Why a definition would not load here (or None), and the load count the answer
    holds for: while no other load has happened, it needs no checking again."""
    if vm.definition_checker is None:
        return "this VM has no compiler", vm.code_versions.load_count
    return vm.definition_checker(text, filename), vm.code_versions.load_count


def load_definition(vm: Any, text: str, filename: str = LOAD_FILENAME,
                    checked_at: int | None = None) -> tuple[VClass | None, str | None]:
    """Check, then install, a class or method definition on this VM: (the class, None)
    or (None, why it does not load — and then nothing changed). A definition checked
    (``check_definition``) at the current load count is not checked again."""
    if vm.definition_checker is None or vm.definition_installer is None:
        return None, "this VM has no compiler"
    if checked_at != vm.code_versions.load_count:
        problem = vm.definition_checker(text, filename)
        if problem is not None:
            return None, problem
    try:
        return vm.definition_installer(text, filename), None
    except (SmalltalkSyntaxError, LoadError) as error:
        return None, str(error)


def load_answer(vm: Any, version: str | None, refusals: list[tuple[str, str]] = ()) -> Any:
    """What ``Cluster primLoad:`` answers: { true. version } or { false. { { node. why } ... } }."""
    if version is not None and not refusals:
        return vm.new_array([V.TRUE, vm.new_string(version)])
    return vm.new_array([V.FALSE, vm.new_array([
        vm.new_array([vm.symbol(node), vm.new_string(why)]) for node, why in sorted(refusals)])])
