"""Moving a process's own state between nodes: freeze it here, turn it into bytes,
thaw it there. The API the migration protocol calls (docs/distribution.md, "Moving a
running process", says what travels).

- Source side: ``freeze`` (at a safe point; refuses with ``MoveRefused``), ``encode``
  (bytes, or ``MoveRefused`` naming what cannot travel), then ``retire`` once the target
  has the process, or ``unfreeze`` if the move did not happen. A process moving itself
  parks with ``park_for_move`` first (``cancel_self_move`` if it is refused before it
  was frozen).
- Target side: ``read_header`` (what classes the bundle needs: ``missing_classes`` says
  which to fetch with code on demand), then ``thaw`` (a process in the scheduler, or
  ``BundleError`` with nothing built).

This module only gathers the parts: ``node.bundle_freeze``, ``node.bundle_writer``,
``node.bundle_reader`` (and its ``node.bundle_checks``), vocabulary in
``node.bundle_format``. Links, monitors, names and
the frames between nodes are the protocol's. Everything runs on the VM thread and never
blocks.
"""
from __future__ import annotations

from smalltalk_vm.node.bundle_format import BundleError, MissingCode, MoveRefused
from smalltalk_vm.node.bundle_freeze import Frozen, cancel_self_move, freeze, park_for_move, retire, unfreeze
from smalltalk_vm.node.bundle_reader import BundleHeader, Thawed, missing_classes, read_header, thaw
from smalltalk_vm.node.bundle_writer import encode

__all__ = ["BundleError", "BundleHeader", "Frozen", "MissingCode", "MoveRefused", "Thawed", "cancel_self_move",
           "encode", "freeze", "missing_classes", "park_for_move", "read_header", "retire", "thaw", "unfreeze"]
