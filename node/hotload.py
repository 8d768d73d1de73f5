"""``Cluster load:`` across nodes: a class or method definition installed on every
connected node, in two phases, and handed to nodes that connect later.

Rules:
- The node where ``Cluster load:`` runs (the *origin*) checks the definition itself
  and sends ``load_prepare`` to every connected peer; each checks it as loading would
  compile it (``compiler.hotcheck`` through the universe), installs nothing, and
  answers ``load_prepared``. A refusal anywhere — the source does not compile there,
  the connection is lost, no answer within ``PREPARE_SECONDS`` — aborts the load
  everywhere (``load_abort``): nothing changed on any node, and the promise is broken
  naming every node that refused and why.
- One load of a class at a time on a node: while a load of class X is prepared here
  for a peer, or started here and not finished, another load of X is refused
  (``another Cluster load of X is under way``), so two nodes pushing the same class at
  once cannot leave the cluster holding different versions; one (or both) aborts.
- A check still holds at the install while no other load has happened on that node
  in between (``codeversions.check_definition``); otherwise it is checked again.
- When every node (the origin too) can, the origin installs it, then sends
  ``load_commit``; each peer installs what it prepared and answers
  ``load_installed`` with the version it got. The promise is fulfilled with the
  origin's version once every peer has answered; a peer that installed another
  version (its superclasses differ) or could not install after all, or that did not
  answer within ``COMMIT_SECONDS``, breaks it, named. A peer whose connection is lost
  during the commit is no longer connected: it does not hold the promise up, and gets
  the version when it connects again (below).
- Every install made by a ``Cluster load:`` is remembered per class with a **stamp**
  (a Lamport clock: loads carry it, every node keeps the largest seen) and the
  origin's name. When a connection opens, each side sends the other every class it
  remembers (``loaded_code``, oldest first); a node installs one it lacks or has
  with an older stamp — so a node started after a push has the new version before any
  process of the pusher can reach it, and a newer load is never undone by an older.
- A prepared definition waits for its commit at most ``PREPARED_SECONDS`` and is
  forgotten when its origin's connection is lost.

VM thread only: frames come from the runtime's dispatch, timers from the scheduler;
nothing blocks. A malformed or unexpected frame (an answer to a load that is not
pending) is ignored when it can be late, never trusted.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from smalltalk_vm.node import frames as F
from smalltalk_vm.vm.codeversions import check_definition, load_answer, load_definition
from smalltalk_vm.vm.versions import class_version, definition_text

PREPARE_SECONDS = 10.0
COMMIT_SECONDS = 10.0
PREPARED_SECONDS = 30.0
FRAME_OVERHEAD = 64         # what a load_prepare frame adds around its source, at most
MAX_STAMP = 1 << 62          # a peer's stamp beyond this is not believed (the clock must stay a CBOR uint)


@dataclass
class _Load:
    """A Cluster load this node started."""
    number: int
    text: str
    reply: Any
    stamp: int
    waiting: set[str]                          # peers whose answer is due
    peers: dict[str, Any]                      # name -> PeerView, as at the start
    refusals: dict[str, str] = field(default_factory=dict)
    phase: str = "prepare"
    version: str | None = None
    timer: Any = None
    name: str | None = None                    # the class it defines or changes
    checked_at: int | None = None              # the load count of this node's own check


@dataclass
class _Prepared:
    """A definition a peer asked this node to be ready to install."""
    text: str
    name: str | None
    stamp: int
    checked_at: int
    timer: Any


@dataclass
class _Remembered:
    """A class as the last Cluster load of it left it."""
    version: str
    text: str
    stamp: int
    origin: str


class HotLoader:
    """The Cluster load side of one node runtime. VM thread only; never blocks;
    raises nothing (a failing load is an answer, not an exception)."""

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime
        self.vm = runtime.vm
        self.scheduler = runtime.scheduler
        self.loads: dict[int, _Load] = {}
        self.next_load = 1
        self.clock = 0
        self.prepared: dict[tuple[str, int], _Prepared] = {}     # by (origin, load number)
        self.remembered: dict[str, _Remembered] = {}

    # ------------------------------------------------------------------ the origin

    def cluster_load(self, text: str, reply: Any) -> None:
        self.clock += 1
        peers = dict(self.rt.peers)
        load = _Load(self.next_load, text, reply, self.clock, set(peers), peers, name=_class_name(text))
        self.next_load += 1
        busy = self._busy(load.name, None)
        self.loads[load.number] = load
        size = len(text.encode("utf-8", "surrogateescape")) + FRAME_OVERHEAD
        if peers and size > self.rt.config.max_frame:
            limit = self.rt.config.max_frame
            for name in peers:
                load.refusals[name] = f"the definition is {size} bytes, over the {limit}-byte frame limit"
            load.waiting = set()
        for name in load.waiting:
            peers[name].conn.send(F.frame("load_prepare", load.number, load.stamp, text))
        problem, load.checked_at = check_definition(self.vm, text)    # while the peers check theirs
        if problem is None and busy is not None:
            problem = busy
        if problem is not None:
            load.refusals[self.rt.name] = problem
        load.timer = self.scheduler.add_timer(PREPARE_SECONDS, lambda: self._overdue(load, "prepare"))
        self._advance(load)

    def on_load_prepared(self, view: Any, number: int, error: str | None) -> None:
        load = self._pending(view, number, "prepare")
        if load is None:
            return
        load.waiting.discard(view.name)
        if error is not None:
            load.refusals[view.name] = error
        self._advance(load)

    def on_load_installed(self, view: Any, number: int, version: str, error: str | None) -> None:
        load = self._pending(view, number, "commit")
        if load is None:
            return
        load.waiting.discard(view.name)
        if error is not None:
            load.refusals[view.name] = error
        elif version != load.version:
            load.refusals[view.name] = f"installed version {version}, not {load.version} (its superclasses differ)"
        self._advance(load)

    def _pending(self, view: Any, number: int, phase: str) -> _Load | None:
        load = self.loads.get(number)
        if load is None or load.phase != phase or view.name not in load.waiting \
                or load.peers.get(view.name) is not view:
            return None                      # late (after a timeout) or not ours: ignored
        return load

    def _advance(self, load: _Load) -> None:
        if load.waiting:
            return
        if load.phase == "prepare":
            if load.refusals:
                self._send_to_connected(load, F.frame("load_abort", load.number))
                self._finish(load)
                return
            cls, problem = load_definition(self.vm, load.text, checked_at=load.checked_at)
            if cls is None:                  # changed here since the check: abort everywhere
                load.refusals[self.rt.name] = problem
                self._send_to_connected(load, F.frame("load_abort", load.number))
                self._finish(load)
                return
            load.version = class_version(self.vm, cls)
            self._remember(cls, load.stamp, self.rt.name)
            self.rt.log(f"hot loaded class {cls.name} version {load.version} (Cluster load {load.number})")
            load.phase = "commit"
            load.waiting = {name for name, view in load.peers.items() if self.rt.peers.get(name) is view}
            self._send_to_connected(load, F.frame("load_commit", load.number))
            self.scheduler.cancel_timer(load.timer)
            load.timer = self.scheduler.add_timer(COMMIT_SECONDS, lambda: self._overdue(load, "commit"))
            if load.waiting:
                return
        self._finish(load)

    def _send_to_connected(self, load: _Load, data: bytes) -> None:
        for name, view in load.peers.items():
            if self.rt.peers.get(name) is view:
                view.conn.send(data)

    def _overdue(self, load: _Load, phase: str) -> None:
        if self.loads.get(load.number) is not load or load.phase != phase:
            return
        seconds = PREPARE_SECONDS if phase == "prepare" else COMMIT_SECONDS
        for name in load.waiting:
            load.refusals[name] = f"no answer within {seconds:g} s"
        load.waiting = set()
        load.timer = None
        self._advance(load)

    def _finish(self, load: _Load) -> None:
        del self.loads[load.number]
        if load.timer is not None:
            self.scheduler.cancel_timer(load.timer)
        refusals = sorted(load.refusals.items())
        load.reply(load_answer(self.vm, load.version, refusals))

    # ------------------------------------------------------------------ the other nodes

    def on_load_prepare(self, view: Any, number: int, stamp: int, text: str) -> None:
        self._saw(stamp)
        key = (view.name, number)
        self._drop_prepared(key)
        name = _class_name(text)
        problem = self._busy(name, key)
        if problem is None:
            problem, checked_at = check_definition(self.vm, text)
        if problem is None:
            timer = self.scheduler.add_timer(PREPARED_SECONDS, lambda: self._drop_prepared(key))
            self.prepared[key] = _Prepared(text, name, stamp, checked_at, timer)
        view.conn.send(F.frame("load_prepared", number, problem))

    def on_load_commit(self, view: Any, number: int) -> None:
        entry = self._drop_prepared((view.name, number))
        if entry is None:
            view.conn.send(F.frame("load_installed", number, "", "nothing prepared for this load (it expired)"))
            return
        cls, problem = load_definition(self.vm, entry.text, checked_at=entry.checked_at)
        if cls is None:
            view.conn.send(F.frame("load_installed", number, "", problem))
            return
        version = class_version(self.vm, cls)
        self._remember(cls, entry.stamp, view.name)
        self.rt.log(f"hot loaded class {cls.name} version {version} from {view.name}")
        view.conn.send(F.frame("load_installed", number, version, None))

    def on_load_abort(self, view: Any, number: int) -> None:
        self._drop_prepared((view.name, number))

    def _saw(self, stamp: int) -> None:
        self.clock = max(self.clock, min(stamp, MAX_STAMP))

    def _drop_prepared(self, key: tuple[str, int]) -> _Prepared | None:
        entry = self.prepared.pop(key, None)
        if entry is not None:
            self.scheduler.cancel_timer(entry.timer)
        return entry

    def _busy(self, name: str | None, key: tuple[str, int] | None) -> str | None:
        """Why a load of class ``name`` must wait: another one of it is under way here
        (prepared for a peer, or started by this node)."""
        if name is None:
            return None
        for (origin, number), entry in self.prepared.items():
            if entry.name == name and (origin, number) != key:
                return f"another Cluster load of {name} is under way (from node {origin})"
        for load in self.loads.values():
            if load.name == name:
                return f"another Cluster load of {name} is under way (from node {self.rt.name})"
        return None

    # ------------------------------------------------------------------ nodes that come later

    def _remember(self, cls: Any, stamp: int, origin: str) -> None:
        self.remembered[cls.name] = _Remembered(class_version(self.vm, cls), definition_text(cls), stamp, origin)

    def peer_up(self, view: Any) -> None:
        for name, entry in sorted(self.remembered.items(), key=lambda item: (item[1].stamp, item[0])):
            view.conn.send(F.frame("loaded_code", name, entry.version, entry.text, entry.stamp, entry.origin))

    def on_loaded_code(self, view: Any, name: str, version: str, text: str, stamp: int, origin: str) -> None:
        self._saw(stamp)
        mine = self.remembered.get(name)
        if mine is not None and (mine.stamp, mine.origin) >= (stamp, origin):
            return
        existing = self.vm.globals.get(name)
        if existing is not None and getattr(existing, "name", None) == name \
                and class_version(self.vm, existing) == version:
            self.remembered[name] = _Remembered(version, text, stamp, origin)
            return
        if not re.match(rf"\s*{re.escape(name)}\s*=", text):
            self.rt.log(f"cannot load class {name} loaded in the cluster, from {view.name}: "
                        "the text does not define it")
            return
        cls, problem = load_definition(self.vm, text)
        if cls is None or cls.name != name:
            self.rt.log(f"cannot load class {name} loaded in the cluster, from {view.name}: "
                        f"{problem or 'it defines another class'}")
            return
        got = class_version(self.vm, cls)
        self.remembered[name] = _Remembered(got, text, stamp, origin)
        self.rt.log(f"loaded class {name} version {got} from {view.name} (Cluster load of {origin})")

    def node_lost(self, view: Any) -> None:
        for key in [key for key in self.prepared if key[0] == view.name]:
            self._drop_prepared(key)
        for load in list(self.loads.values()):
            if load.peers.get(view.name) is not view or view.name not in load.waiting:
                continue
            load.waiting.discard(view.name)
            if load.phase == "prepare":
                load.refusals[view.name] = "connection lost"
            self._advance(load)


def _class_name(text: str) -> str | None:
    """The class a definition defines or changes: its first word (``Name = ...``,
    ``Name >> ...``, ``Name class >> ...``)."""
    found = re.match(r"\s*([A-Za-z_]\w*)", text)
    return found.group(1) if found else None
