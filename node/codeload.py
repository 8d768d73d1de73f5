"""Code on demand: a class named by a peer (in a spawn request, or inside a message)
that this node lacks is fetched from that peer, compiled and installed, and the frames
that needed it run afterwards, in their order.

Rules:
- A class is found here first: already loaded, else on this node's classpath. If it
  exists with another version than the one asked for, the request is refused with
  ``version mismatch``: two nodes never overwrite each other's code by accident.
- Otherwise the node asks the peer (``code_request``) and holds back every later
  frame from that peer (except ``code``) until the answer: order is kept. The answer
  carries the class and each superclass up to the first library class, superclasses
  first, as definition texts rebuilt from what is installed (``vm.versions``), with
  their versions; each one this node has already must match, each it lacks is
  compiled. Every class installed is logged (``loaded class NAME version V from
  PEER``), so a second request for the same version visibly does not fetch again.
- Only the classes this node asked a peer for are accepted from it: a ``code``
  frame nobody asked for closes the connection.
- A fetch that fails (the peer has no such class, another version, source that does
  not compile here) makes the frames that waited for it fail as they would for any
  unavailable class: a spawn is answered with the reason, a message is dropped and
  logged.

VM thread only (it compiles and installs classes); never blocks: the answer comes as
a frame like any other.
"""
from __future__ import annotations

import os
from typing import Any

from smalltalk_vm.node import frames as F
from smalltalk_vm.node.wire_tags import CLASS_NAME
from smalltalk_vm.vm.errors import LoadError, SmalltalkSyntaxError
from smalltalk_vm.vm.objects import VClass
from smalltalk_vm.vm.versions import class_version, definition_text


class NeedCode(Exception):
    """A frame needs a class this node must fetch first."""

    def __init__(self, class_name: str, version: str | None) -> None:
        super().__init__(f"needs class {class_name}")
        self.class_name = class_name
        self.version = version


class CodeUnavailable(Exception):
    """A class this node cannot have (the text says why)."""


class BadFrame(Exception):
    """A frame that must close its connection."""


class CodeLoader:
    """The code-on-demand side of one node runtime (``runtime``). VM thread only (it
    compiles and installs classes); never blocks. Raises NeedCode, CodeUnavailable
    and BadFrame for the runtime to handle."""

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime
        self.vm = runtime.vm
        self.unavailable: dict[tuple[str, str], str] = {}

    # ------------------------------------------------------------------ finding classes

    def _local(self, name: str) -> VClass | None:
        if not CLASS_NAME.match(name):
            raise CodeUnavailable(f"{name!r} is not a class name")
        found = self.vm.globals.get(name)
        if found is None:
            try:
                found = self.vm.load_class(name)
            except (LoadError, SmalltalkSyntaxError, OSError) as error:
                raise CodeUnavailable(f"class {name} does not load on node {self.rt.name}: {error}") from None
        if found is None:
            return None
        if type(found) is not VClass or found.is_meta:
            raise CodeUnavailable(f"{name} is not a class on node {self.rt.name}")
        return found

    def ensure(self, view: Any, name: str, version: str | None) -> VClass:
        """The class ``name`` (of ``version``, if given), or NeedCode/CodeUnavailable."""
        cls = self._local(name)
        if cls is not None:
            mine = class_version(self.vm, cls)
            if version is not None and mine != version:
                raise CodeUnavailable(f"version mismatch: node {self.rt.name} has {name} version {mine}, "
                                      f"node {view.name} asked for version {version}")
            return cls
        known = self.unavailable.get((view.name, name))
        if known is not None:
            raise CodeUnavailable(known)
        raise NeedCode(name, version)

    def missing(self, view: Any, name: str) -> Exception:
        """What to raise for a message naming a class this node lacks."""
        known = self.unavailable.get((view.name, name))
        if known is not None:
            return CodeUnavailable(known)
        try:
            if self._local(name) is not None:      # loaded meanwhile: decode again
                return NeedCode(name, None)
        except CodeUnavailable as error:
            return error
        return NeedCode(name, None)

    def request(self, view: Any, need: NeedCode) -> None:
        view.requested.add(need.class_name)
        view.conn.send(F.frame("code_request", need.class_name, need.version))

    # ------------------------------------------------------------------ frames

    def on_code_request(self, view: Any, name: str, version: str | None) -> None:
        try:
            cls = self._local(name)
            if cls is None:
                raise CodeUnavailable(f"node {self.rt.name} has no class {name}")
            mine = class_version(self.vm, cls)
            if version is not None and mine != version:
                raise CodeUnavailable(f"node {self.rt.name} has {name} version {mine}, not {version}")
        except CodeUnavailable as error:
            view.conn.send(F.frame("code", name, [], str(error)))
            return
        chain = []
        walker: VClass | None = cls
        while walker is not None and not self._is_library(walker):
            chain.append([walker.name, class_version(self.vm, walker), definition_text(walker)])
            walker = walker.superclass
        chain.reverse()
        view.conn.send(F.frame("code", name, chain, None))

    def on_code(self, view: Any, name: str, definitions: list, error: str | None) -> None:
        if name not in view.requested:
            raise BadFrame(f"code for {name}, which was not asked for")
        view.requested.discard(name)
        key = (view.name, name)
        problem = error
        if problem is None and not definitions:
            problem = f"node {view.name} sent no definition of {name}"
        if problem is None:
            problem = self._install(view, definitions)
        if problem is not None:
            self.unavailable[key] = problem
            self.rt.log(f"cannot load class {name} from {view.name}: {problem}")
        try:
            self.rt.replay(view)
        finally:
            self.unavailable.pop(key, None)

    def _install(self, view: Any, definitions: list) -> str | None:
        """Install the definitions (superclasses first); the problem, or None."""
        for name, version, text in definitions:
            try:
                existing = self._local(name)
            except CodeUnavailable as error:
                return str(error)
            if existing is not None:
                mine = class_version(self.vm, existing)
                if mine != version:
                    return (f"version mismatch: node {self.rt.name} has {name} version {mine}, "
                            f"node {view.name} has version {version}")
                continue
            try:
                cls = self.vm.class_loader(self.vm, text, f"<{name} from node {view.name}>")
            except (SmalltalkSyntaxError, LoadError) as error:
                return f"class {name} from node {view.name} does not compile here: {error}"
            if cls.name != name:
                return f"node {view.name} sent class {cls.name} for {name}"
            got = class_version(self.vm, cls)
            self.rt.log(f"loaded class {name} version {got} from {view.name}")
            if got != version:
                return f"version mismatch: {name} compiled here to version {got}, not {version}"
        return None

    def _is_library(self, cls: VClass) -> bool:
        source = cls.source_file or ""
        if not source or source.startswith("<"):
            return False
        return os.path.dirname(os.path.abspath(source)) == os.path.abspath(self.vm.lib_dir)
