"""Links and monitors of a moved process: they live with the process on its new node,
and every node that held the old pid learns where it runs now.

Rules:
- The bundle carries the process's links, its monitors and its watchers. At the
  commit the new node installs them on the moved process (``install``) in its own
  terms — a partner of this node is the local process, a watcher of this node is
  keyed by the very Reference it holds — and tells every connected node that the old
  pid is its new process now (``moved_here``). A node that holds the old pid records
  it as an **alias** (``aliases``: old reference -> where it runs now, chains a -> b
  -> c followed) and matches the Exits and Downs that come from the new node against
  the entries naming the old pid: every Exit and Down still names the pid the
  watcher used (``==``), and a Down the very Reference the watcher holds.
- The old node keeps, on the forwarder, only the entries of its own processes (which
  hold the forwarder object itself), so that if the new node is lost they get
  ``#noconnection`` from the forwarder; the new node has them too, as pids of the old
  node, and tells the old node's processes of the death directly.
- Order: a signal from A to B is never overtaken by a later one from A to B. Messages
  to the old pid go through the forwarder, so every link and monitor signal for the
  old pid goes the same way while the old node is connected: the forwarder passes it
  on in order (``moved_relay``) — requests that come after the move included, with the
  entries changed while the process was frozen. Only when the old node is not
  connected do signals (and messages) for the old pid go straight to where the
  process runs (``route``). The moved process's own signals leave from its new node.
- A Down or Exit is delivered only while the entry exists where the process runs, so
  after ``demonitor:`` or ``unlink:`` returns none comes for it, however it travels.
- A node that was not connected to the new node at the commit learns the alias when
  it connects (``peer_up``), or when it asks the old pid for a link or monitor (the
  new node answers ``moved_here`` to the node a relayed request came from); until then
  its signals go through the forwarder, which passes them on.

VM thread only; never blocks. Frame handlers ignore frames about processes that are
gone (they are late, not malformed) and raise BadFrame for a relay of no known kind.
"""
from __future__ import annotations

import weakref
from typing import Any

from smalltalk_vm.node import frames as F
from smalltalk_vm.node.codeload import BadFrame
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.distribution import RemoteProcess
from smalltalk_vm.vm.process import MOVED, Process

CHAIN_LIMIT = 64          # moves followed through aliases (a chain longer than this is cut)


class MovedLinks:
    """The link and monitor side of migration on one node runtime. VM thread only;
    never blocks; raises nothing to its callers."""

    def __init__(self, migration: Any) -> None:
        self.migration = migration
        self.rt = migration.rt
        self.vm = migration.vm
        self.scheduler = migration.scheduler
        # old RemoteProcess -> where that process runs now (a Process here, or a
        # RemoteProcess); weak: an alias nobody here holds the old pid of is forgotten.
        self.aliases: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        # (node, creation, old pid) -> the process that moved in here from there (while it lives)
        self.moved_in: dict[tuple[str, int, int], Process] = {}
        self.scheduler.on_death.append(self._died)
        self.apply_kind = {"link": self._apply_link, "unlink": self._apply_unlink,
                           "link_exit": self._apply_link_exit, "monitor": self._apply_monitor,
                           "demonitor": self._apply_demonitor, "down": self._apply_down,
                           "forget": self._apply_forget}

    # ------------------------------------------------------------------ where a process runs now

    def current(self, proc: Any) -> Any:
        """Where the process ``proc`` names runs now: itself unless it moved (a
        forwarder here, or an old pid with an alias)."""
        forwards = self.migration.forwards
        for _ in range(CHAIN_LIMIT):
            if type(proc) is Process:
                following = forwards.get(proc.pid) if proc.state == MOVED else None
            elif type(proc) is RemoteProcess:
                following = self.aliases.get(proc)
                if following is None:          # moved in here: known by its old pid even if nobody held it
                    following = self.moved_in.get((proc.node, proc.creation, proc.number))
            else:
                return proc
            if following is None or following is proc:
                return proc
            proc = following
        return proc

    def held_name(self, entries: Any, proc: Any) -> Any:
        """The member of ``entries`` (a link set) that names ``proc``: ``proc`` itself,
        or an old pid of it; None if there is none."""
        if not entries:
            return None
        if proc in entries:
            return proc
        for entry in entries:
            if entry is not proc and type(entry) in (Process, RemoteProcess) and self.current(entry) is proc:
                return entry
        return None

    def route(self, target: RemoteProcess) -> tuple[Any, Any]:
        """How to reach ``target``: (view, number) of its node while that is connected
        (a forwarder passes on in order), else of where it runs now; (local Process,
        None) when it runs here; (None, why) when it cannot be reached."""
        view, why = self.rt.remote.reach(target)
        if view is not None:
            return view, target.number
        now = self.current(target)
        if now is target:
            return None, why
        if type(now) is Process:
            return (now, None) if now.alive and now.state != MOVED else (None, "noproc")
        view, why = self.rt.remote.reach(now)
        return (view, now.number) if view is not None else (None, why)

    # ------------------------------------------------------------------ the new node, at the commit

    def install(self, proc: Process, thawed: Any, source: Any, old_pid: int) -> None:
        """The moved process ``proc`` runs here now: its links and monitors from the
        bundle become entries of this node, and everyone is told (``moved_here``)."""
        self.moved_in[(source.name, source.creation, old_pid)] = proc
        links = {p for p in thawed.links if p is not proc and (type(p) is not Process or p.alive)}
        proc.links = links or None
        monitors: dict = {}
        for ref, watched in thawed.monitors:
            if type(watched) is Process:
                if not self._take_local_watch(watched, ref, source, proc):
                    continue                    # it died while the process moved: the Down came as a message
            monitors[ref] = watched
        proc.monitors = monitors or None
        watchers: dict = {}
        for key, watcher in thawed.monitored_by:
            key = self._watch_key(key, watcher, source, proc)
            if key is not None:
                watchers[key] = watcher
        proc.monitored_by = watchers or None
        for view in list(self.rt.peers.values()):
            view.conn.send(F.frame("moved_here", source.name, source.creation, old_pid, proc.pid))

    def _take_local_watch(self, watched: Process, ref: Any, source: Any, proc: Process) -> bool:
        """``proc`` monitors ``watched``, a process of this node, which keyed that
        monitor by (source node, ref id): key it by the Reference itself now."""
        if not watched.alive:
            return False
        table = watched.monitored_by or {}
        ref_id = self._ref_id(ref)
        for key, watcher in list(table.items()):   # keyed by the node it monitored from (a chain: any)
            if type(key) is tuple and key[1] == ref_id and self.current(watcher) is proc:
                del table[key]
                break
        table[ref] = proc
        watched.monitored_by = table
        return True

    def _watch_key(self, key: Any, watcher: Any, source: Any, proc: Process) -> Any:
        """A watcher's key in this node's terms: (node, ref id) for a watcher of another
        node, the watcher's own Reference for a watcher of this node."""
        if type(key) is not tuple:            # a Reference: its watcher is a process of the source
            return (source.name, self._ref_id(key))
        if type(watcher) is not Process:
            return key
        for ref, held in (watcher.monitors or {}).items():
            if self._ref_id(ref) == key[1] and self.current(held) is proc:
                return ref
        return None                           # demonitored meanwhile

    def peer_up(self, view: Any) -> None:
        """A node (re)connected: tell it the old pids of the processes that moved in
        here, so that one unreachable at their commit re-points its entries now."""
        for (node, creation, old), proc in list(self.moved_in.items()):
            if node != view.name and proc.alive:
                view.conn.send(F.frame("moved_here", node, creation, old, proc.pid))

    def _died(self, proc: Any, reason: Any) -> None:
        home = self.migration.homes.get(proc.pid)
        if home is not None and self.moved_in.get(home) is proc:
            del self.moved_in[home]

    def on_moved_here(self, view: Any, old_node: str, old_creation: int, old: int, number: int) -> None:
        if old_node == self.rt.name and old_creation == self.rt.creation:
            return                            # the forwarder here knows already
        held = self.rt.pids.find(old_node, old_creation, old)
        if held is not None:
            self.aliases[held] = self.rt.pids.get(view.name, view.creation, number)

    # ------------------------------------------------------------------ the old node: relaying

    def relay_frame(self, view: Any, kind: str, number: int, other: int, ref: int, reason: bytes | None) -> bool:
        """A link or monitor frame from ``view``'s node for process ``number`` here: if
        that is a forwarder, pass it on to where the process went and answer True."""
        proc = self.scheduler.processes.get(number)
        if proc is None or proc.state != MOVED:
            return False
        value = self.rt.decode_reason(view, reason) if reason is not None else None
        self._relay(proc, kind, view.name, view.creation, other, ref, value)
        return True

    def _here(self, forwarder: Process) -> tuple[str, int, int]:
        return self.rt.name, self.rt.creation, forwarder.pid

    def local_signal(self, kind: str, forwarder: Process, partner: Process, ref: Any, reason: Any) -> None:
        """A process of this node linked, unlinked, monitored, demonitored or died
        linked to (or watched by) the forwarder ``forwarder``: pass it on."""
        ref_id = self._ref_id(ref) if ref is not None else 0
        self._relay(forwarder, kind, self.rt.name, self.rt.creation, partner.pid, ref_id, reason)

    def _relay(self, forwarder: Process, kind: str, origin: str, creation: int, other: int, ref: int,
               reason: Any, via: tuple[str, int, int] | None = None) -> None:
        """Pass a signal for ``forwarder`` on to where it forwards; ``via`` is the pid
        the origin used (this forwarder's, unless it came along a chain)."""
        via = via if via is not None else self._here(forwarder)
        target = self.migration.forwards.get(forwarder.pid)
        if target is None:
            return
        if type(target) is Process:           # a drain brought it back here
            self.apply(target, kind, self._partner(origin, creation, other), ref, reason, origin)
            return
        view, _ = self.rt.remote.reach(target)
        if view is None:
            return
        data = self.rt.encode_reason(reason if reason is not None else V.NIL, view)
        view.conn.send(F.frame("moved_relay", target.number, kind, origin, creation, other, ref, data, *via))

    def on_moved_relay(self, view: Any, number: int, kind: str, origin: str, creation: int, other: int,
                       ref: int, reason: bytes, via: str, via_creation: int, via_number: int) -> None:
        if kind not in self.apply_kind:
            raise BadFrame(f"moved_relay of an unknown kind {kind!r}")
        proc = self.scheduler.processes.get(number)
        if proc is None:
            if kind in ("link", "monitor"):
                origin_view = self.rt.peers.get(origin)
                if origin_view is not None and origin != via:     # so that it matches the answer
                    origin_view.conn.send(F.frame("moved_here", via, via_creation, via_number, number))
                self._refuse_dead(kind, self._partner(origin, creation, other), number, ref)
            return
        value = self.rt.decode_reason(view, reason)
        if proc.state == MOVED:               # moved on: pass it on along the chain
            self._relay(proc, kind, origin, creation, other, ref, value, (via, via_creation, via_number))
            return
        if kind in ("link", "monitor") and origin != self.rt.name and origin != via:
            origin_view = self.rt.peers.get(origin)     # it may not know the alias yet: before any Exit or Down
            if origin_view is not None and origin_view.creation == creation:
                origin_view.conn.send(F.frame("moved_here", via, via_creation, via_number, number))
        self.apply(proc, kind, self._partner(origin, creation, other), ref, value, origin)

    def _partner(self, origin: str, creation: int, number: int) -> Any:
        if origin == self.rt.name and creation == self.rt.creation:
            return self.scheduler.processes.get(number)
        return self.rt.pids.get(origin, creation, number)

    def _refuse_dead(self, kind: str, partner: Any, number: int, ref: int) -> None:
        """A link or monitor request that came after the process died here: #noproc, as
        for any process that is gone (the partner's node matches it by the alias)."""
        if partner is None or type(partner) is Process:
            return                            # the local partner was told by the death itself
        view, _ = self.rt.remote.reach(partner)
        if view is None:
            return
        noproc = self.rt.encode(self.vm.symbol("noproc"), "a reason")
        if kind == "link":
            view.conn.send(F.frame("link_exit", number, partner.number, noproc))
        else:
            view.conn.send(F.frame("down", ref, partner.number, number, noproc))

    # ------------------------------------------------------------------ applying a signal where the process runs

    def apply(self, proc: Process, kind: str, partner: Any, ref: int, reason: Any, origin: str) -> None:
        """Apply a link or monitor signal from ``partner`` (of node ``origin``) to
        ``proc``, which runs here."""
        if partner is None or not proc.alive:
            return
        self.apply_kind[kind](proc, partner, ref, reason, origin)

    def _apply_link(self, proc: Process, partner: Any, ref: int, reason: Any, origin: str) -> None:
        if type(partner) is Process and not partner.alive:
            return
        if proc.links is None:
            proc.links = set()
        proc.links.add(partner)

    def _apply_unlink(self, proc: Process, partner: Any, ref: int, reason: Any, origin: str) -> None:
        if proc.links:
            proc.links.discard(partner)

    def _apply_link_exit(self, proc: Process, partner: Any, ref: int, reason: Any, origin: str) -> None:
        if not proc.links or partner not in proc.links:
            return                            # unlinked meanwhile: the signal no longer applies
        proc.links.discard(partner)
        self.vm.signals.exit_signal(proc, partner, reason)

    def _watcher_key(self, proc: Process, partner: Any, ref: int, origin: str) -> Any:
        if type(partner) is not Process:
            return (origin, ref)
        for key, held in (partner.monitors or {}).items():
            if self._ref_id(key) == ref and self.current(held) is proc:
                return key
        return None

    def _apply_monitor(self, proc: Process, partner: Any, ref: int, reason: Any, origin: str) -> None:
        key = self._watcher_key(proc, partner, ref, origin)
        if key is None:
            return
        if proc.monitored_by is None:
            proc.monitored_by = {}
        proc.monitored_by[key] = partner

    def _apply_demonitor(self, proc: Process, partner: Any, ref: int, reason: Any, origin: str) -> None:
        if not proc.monitored_by:
            return
        for key, watcher in list(proc.monitored_by.items()):
            if watcher is partner and self._key_id(key) == ref:
                del proc.monitored_by[key]
                return

    def _own_monitor(self, proc: Process, partner: Any, ref: int) -> Any:
        for key, watched in (proc.monitors or {}).items():
            if self._ref_id(key) == ref and watched is partner:
                return key
        return None

    def _apply_down(self, proc: Process, partner: Any, ref: int, reason: Any, origin: str) -> None:
        key = self._own_monitor(proc, partner, ref)
        if key is None:
            return                            # demonitored meanwhile: no Down
        del proc.monitors[key]
        self.scheduler.deliver(proc, self.vm.signals.make("Down", ref=key, process=partner, reason=reason))

    def _apply_forget(self, proc: Process, partner: Any, ref: int, reason: Any, origin: str) -> None:
        key = self._own_monitor(proc, partner, ref)
        if key is not None:
            del proc.monitors[key]

    # ------------------------------------------------------------------ the old node, at the commit

    def keep_local(self, forwarder: Process, encoded: tuple, links: set, monitors: dict,
                   monitored_by: dict, target: Any) -> None:
        """The forwarder keeps the entries of this node's processes; what changed while
        the process was frozen (after its bundle was made) is passed on now."""
        forwarder.links = {p for p in links if type(p) is Process} or None
        forwarder.monitors = {r: p for r, p in monitors.items() if type(p) is Process} or None
        forwarder.monitored_by = {k: w for k, w in monitored_by.items() if type(w) is Process} or None
        old_links, old_monitors, old_watchers = encoded
        me = (self.rt.name, self.rt.creation)
        for partner in links - old_links:
            self._relay(forwarder, "link", *self._origin(partner, me), 0, None)
        for partner in old_links - links:
            self._relay(forwarder, "unlink", *self._origin(partner, me), 0, None)
        for ref, watched in old_monitors.items():
            if ref not in monitors:
                self._relay(forwarder, "forget", *self._origin(watched, me), self._ref_id(ref), None)
        for key, watcher in monitored_by.items():
            if key not in old_watchers:
                self._relay(forwarder, "monitor", *self._origin(watcher, me), self._key_id(key), None)
        for key, watcher in old_watchers.items():
            if key not in monitored_by:
                self._relay(forwarder, "demonitor", *self._origin(watcher, me), self._key_id(key), None)

    def _origin(self, proc: Any, me: tuple[str, int]) -> tuple[str, int, int]:
        if type(proc) is Process:
            return me[0], me[1], proc.pid
        return proc.node, proc.creation, proc.number

    # ------------------------------------------------------------------ helpers

    def _ref_id(self, ref: Any) -> int:
        return self.vm.int_of(ref.fields[0])

    def _key_id(self, key: Any) -> int:
        return key[1] if type(key) is tuple else self._ref_id(key)
