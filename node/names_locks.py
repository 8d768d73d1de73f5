"""The locks of one node's share of the global name registry: a lock per name, and the
whole-table lock a merge of two groups takes.

Rules:
- A lock is held by one transaction at a time, named by its key (the requesting
  node's name and creation, and its transaction number). A name lock conflicts with
  the same name's lock and with the whole-table lock; the whole-table lock conflicts
  with every lock.
- Requests are granted in arrival order: a request waits while it conflicts with a
  holder or with an earlier request still waiting, so a merge is not starved by a
  stream of registrations (nor the other way round).
- Transactions take the locks of the nodes they involve in ascending order of node
  name (``node.names_txn``); with first-come grants at each node, no two
  transactions can wait for each other in a circle.
- ``grant`` callbacks run after the table is updated, so a callback may request or
  release locks itself.

Pure data and callbacks: no frames, no VM objects, no threads (the VM thread owns it).
"""
from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass

WHOLE = None          # the scope of the whole-table lock
_ABSENT = object()


@dataclass
class _Request:
    key: Hashable
    scope: str | None
    grant: Callable[[], None]


def _conflict(a: str | None, b: str | None) -> bool:
    return a is WHOLE or b is WHOLE or a == b


class LockTable:
    """Name locks and the whole-table lock of one node (see the module rules). The VM
    thread only; never blocks; raises nothing."""

    def __init__(self) -> None:
        self.held: dict[Hashable, str | None] = {}
        self.waiting: list[_Request] = []

    def request(self, key: Hashable, scope: str | None, grant: Callable[[], None]) -> None:
        """Ask for the lock on ``scope`` (a name, or WHOLE) for ``key``; ``grant()`` is
        called when it is held (at once, if it is free)."""
        if key in self.held or any(r.key == key for r in self.waiting):
            return                              # one lock per transaction and node
        request = _Request(key, scope, grant)
        if self._free(scope) and not any(_conflict(r.scope, scope) for r in self.waiting):
            self.held[key] = scope
            grant()
            return
        self.waiting.append(request)

    def release(self, key: Hashable) -> bool:
        """Give up ``key``'s lock, held or still waited for; answer whether it was held."""
        was_held = self.held.pop(key, _ABSENT) is not _ABSENT
        self.waiting = [r for r in self.waiting if r.key != key]
        self._advance()
        return was_held

    def release_owner(self, owner: Callable[[Hashable], bool]) -> None:
        """Give up every lock held or waited for by keys ``owner`` accepts (the
        transactions of a node that is gone)."""
        for key in [k for k in self.held if owner(k)]:
            del self.held[key]
        self.waiting = [r for r in self.waiting if not owner(r.key)]
        self._advance()

    def holds(self, key: Hashable) -> bool:
        return key in self.held

    def whole_held(self) -> bool:
        """Whether a merge holds the whole table here."""
        return WHOLE in self.held.values()

    def _free(self, scope: str | None) -> bool:
        return not any(_conflict(held, scope) for held in self.held.values())

    def _advance(self) -> None:
        granted: list[_Request] = []
        still: list[_Request] = []
        for request in self.waiting:
            blocked = not self._free(request.scope) or any(_conflict(r.scope, request.scope) for r in still)
            if blocked:
                still.append(request)
            else:
                self.held[request.key] = request.scope
                granted.append(request)
        self.waiting = still
        for request in granted:
            request.grant()

