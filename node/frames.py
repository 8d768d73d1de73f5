"""THE table of frame kinds between two nodes, and the envelope frames travel in.

Rules:
- A frame is one CBOR array ``[kind, field...]``. ``FRAMES`` is the only place a kind
  is defined: its number, name, the type of each field, who handles it (``transport``:
  the connection's own reader thread, bytes only; ``vm``: the node runtime on the VM
  thread) and the name of the handler method. Fields of type ``value`` are byte
  strings holding a VM value encoded by the wire codec (``node.wire``); everything
  else is plain CBOR.
- One gRPC message carries one or more frames back to back (a CBOR sequence, RFC
  8742), so the sender can batch.
- Reading is strict and bounded: definite lengths only, no tags, no maps, no floats,
  nesting at most ``MAX_NESTING``, every declared length checked against the bytes
  there before anything is allocated, and each frame checked against its table
  entry. Anything else is ``FrameError`` — the only exception ``read_frames`` raises —
  and closes that connection (never the node).
- The **schema hash** is computed from this table and the wire codec's tag table:
  builds that would misread each other's frames refuse each other at the handshake.

Pure functions; no threads, no VM objects.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import cbor2

from smalltalk_vm.node.wire_tags import TAGS

PROTOCOL_VERSION = 1
MAX_NESTING = 4

# Field types: how each is checked when read.
UINT, TEXT, BYTES, BOOL, VALUE, OPT_TEXT, MEMBERS, DEFINITIONS = (
    "uint", "text", "bytes", "bool", "value", "text|null", "members", "definitions")
# Remote objects: a handle is the 16 random bytes naming an export of the receiver.
HANDLE, HANDLES, RELEASES = "handle", "handles", "releases"
HANDLE_SIZE = 16


@dataclass(frozen=True)
class FrameKind:
    kind: int
    name: str
    fields: tuple[tuple[str, str], ...]
    side: str             # "transport" or "vm"
    handler: str          # method name on the handling side
    doc: str


def _k(kind: int, name: str, side: str, doc: str, *fields: tuple[str, str]) -> FrameKind:
    return FrameKind(kind, name, tuple(fields), side, f"on_{name}", doc)


FRAMES: tuple[FrameKind, ...] = (
    # -- the connection itself (handled on the transport side, never by the VM)
    _k(1, "tick", "transport", "keepalive: never more than tick/4 passes without a frame"),
    _k(2, "fragment", "transport", "a piece of a frame over 256 KiB; the last has more = false",
       ("more", BOOL), ("chunk", BYTES)),
    _k(3, "goodbye", "transport", "the sender is stopping: do not reconnect", ("reason", TEXT)),
    _k(4, "members", "transport", "the members the sender is connected to, sent once a channel opens",
       ("members", MEMBERS)),
    _k(5, "joined", "transport", "gossip: the sender connected to this member",
       ("name", TEXT), ("creation", UINT), ("address", TEXT)),
    _k(6, "left", "transport", "gossip: this member stopped cleanly", ("name", TEXT), ("creation", UINT)),
    # -- signals between processes (handled by the VM thread); numbers are local pids
    _k(10, "send", "vm", "a message for a process of the receiver", ("to", UINT), ("message", VALUE)),
    _k(11, "link", "vm", "link a process of the sender to one of the receiver", ("from", UINT), ("to", UINT)),
    _k(12, "unlink", "vm", "remove that link", ("from", UINT), ("to", UINT)),
    _k(13, "exit", "vm", "an exit signal sent with exit: or kill", ("from", UINT), ("to", UINT),
       ("reason", VALUE)),
    _k(14, "link_exit", "vm", "a linked process of the sender died", ("from", UINT), ("to", UINT),
       ("reason", VALUE)),
    _k(15, "monitor", "vm", "a process of the sender monitors one of the receiver",
       ("watcher", UINT), ("target", UINT), ("ref", UINT)),
    _k(16, "demonitor", "vm", "that monitor is removed", ("watcher", UINT), ("target", UINT), ("ref", UINT)),
    _k(17, "down", "vm", "a monitored process of the sender died", ("ref", UINT), ("watcher", UINT),
       ("target", UINT), ("reason", VALUE)),
    # -- remote spawn and code on demand
    _k(20, "spawn", "vm", "start AClass new perform: selector withArguments: arguments",
       ("request", UINT), ("requester", UINT), ("class", TEXT), ("version", TEXT), ("selector", TEXT),
       ("arguments", VALUE), ("option", TEXT), ("ref", UINT)),
    _k(21, "spawned", "vm", "the answer to a spawn: the new process's number, or why not",
       ("request", UINT), ("process", UINT), ("error", OPT_TEXT)),
    _k(22, "code_request", "vm", "send me this class (with the superclasses I may lack)",
       ("class", TEXT), ("version", OPT_TEXT)),
    _k(23, "code", "vm", "class definitions, superclasses first, or why they cannot be sent",
       ("class", TEXT), ("definitions", DEFINITIONS), ("error", OPT_TEXT)),
    _k(24, "ping", "vm", "answer with pong", ("id", UINT)),
    _k(25, "pong", "vm", "the answer to ping", ("id", UINT)),
    # -- remote objects (question numbers are chosen by the node asking)
    _k(30, "call", "vm", "call an export of the receiver; keep: the answer may be pipelined on",
       ("question", UINT), ("handle", HANDLE), ("selector", TEXT), ("arguments", VALUE), ("keep", BOOL)),
    _k(31, "pcall", "vm", "call what an earlier question of the sender answers, once it is known",
       ("question", UINT), ("answer", UINT), ("selector", TEXT), ("arguments", VALUE)),
    _k(32, "answer", "vm", "the answer to a question: its value, or (ok false) the error",
       ("question", UINT), ("ok", BOOL), ("result", VALUE)),
    _k(33, "finish", "vm", "the sender has the answer to a kept question: forget it", ("question", UINT)),
    _k(34, "renew", "vm", "the sender still holds these exports of the receiver (its lease in ms)",
       ("lease", UINT), ("handles", HANDLES)),
    _k(35, "release", "vm", "the sender dropped these exports: [handle, times it received each]",
       ("releases", RELEASES)),
    _k(36, "acquire", "vm", "the sender got this export of the receiver from node via: count it",
       ("handle", HANDLE), ("via", TEXT), ("handoff", UINT)),
    _k(37, "handoff_done", "vm", "the node a reference was passed to now holds it: stop holding it",
       ("handoff", UINT)),
    _k(38, "disembargo", "vm", "tell the node serving this answer once the calls pipelined on it are there",
       ("question", UINT), ("embargo", UINT)),
    _k(39, "disembargo_relay", "vm", "the calls before this are delivered here: tell the requester",
       ("handle", HANDLE), ("requester", TEXT), ("embargo", UINT)),
    _k(40, "disembargo_done", "vm", "the calls pipelined before the embargo are delivered",
       ("embargo", UINT)),
    # -- global names and their groups (node.globalnames); txn numbers belong to the requester
    _k(50, "global_lock", "vm", "lock a name (or, with no name, the whole table) for this transaction",
       ("txn", UINT), ("name", OPT_TEXT), ("probe", VALUE)),
    _k(51, "global_granted", "vm", "the lock is held for the transaction; what this node knows of it",
       ("txn", UINT), ("report", VALUE)),
    _k(52, "global_commit", "vm", "apply these changes, then release the transaction's lock",
       ("txn", UINT), ("ops", VALUE)),
    _k(53, "global_release", "vm", "release the transaction's lock (held or asked for) unchanged",
       ("txn", UINT)),
    _k(54, "global_done", "vm", "the changes of the transaction are applied here", ("txn", UINT)),
    _k(55, "global_lost", "vm", "a node of the sender's group lost its connection to another",
       ("origin", TEXT), ("origin_creation", UINT), ("lost", TEXT), ("lost_creation", UINT), ("seq", UINT)),
    _k(56, "global_ungroup", "vm", "the sender no longer shares names with the receiver"),
    _k(57, "global_resolve", "vm", "run the resolver of your registration of this name",
       ("request", UINT), ("name", TEXT), ("first", VALUE), ("second", VALUE)),
    _k(58, "global_resolved", "vm", "the survivor a resolver chose (nil: neither; #default: no resolver)",
       ("request", UINT), ("survivor", VALUE)),
    _k(59, "global_gone", "vm", "this process of the sender died: drop the name if it still holds it",
       ("name", TEXT), ("process", VALUE)),
    # -- load gossip (placement of supervised children)
    _k(60, "load", "vm", "the sender's load: its live and runnable processes", ("processes", UINT),
       ("runnable", UINT)),
    # -- hot code: Cluster load: in two phases, and what was loaded for nodes that come later
    _k(70, "load_prepare", "vm", "would this definition load here? (nothing is installed yet)",
       ("load", UINT), ("stamp", UINT), ("source", TEXT)),
    _k(71, "load_prepared", "vm", "the answer to load_prepare: null if it would load, else why not",
       ("load", UINT), ("error", OPT_TEXT)),
    _k(72, "load_commit", "vm", "every node can: install the prepared definition", ("load", UINT)),
    _k(73, "load_abort", "vm", "some node cannot: forget the prepared definition", ("load", UINT)),
    _k(74, "load_installed", "vm", "the answer to load_commit: the version installed, or why not",
       ("load", UINT), ("version", TEXT), ("error", OPT_TEXT)),
    _k(75, "loaded_code", "vm", "a class as a Cluster load: left it, for a node that was not there",
       ("class", TEXT), ("version", TEXT), ("source", TEXT), ("stamp", UINT), ("origin", TEXT)),
    # -- moving a running process (node.migration); move numbers belong to the source node
    _k(100, "migrate", "vm", "take this frozen process (it was number process on the sender)",
       ("move", UINT), ("process", UINT), ("bundle", BYTES)),
    _k(101, "migrate_answer", "vm", "the process is here as number process, held until the commit; or why not",
       ("move", UINT), ("process", UINT), ("error", OPT_TEXT)),
    _k(102, "migrate_commit", "vm", "go: run the process (the sender forwards to it); else forget it",
       ("move", UINT), ("go", BOOL)),
    _k(103, "migrate_query", "vm", "the connection was lost during this move: do you hold the process?",
       ("move", UINT)),
    _k(104, "moved_signal", "vm", "an exit signal for a process that moved to the receiver",
       ("to", UINT), ("from", VALUE), ("reason", VALUE)),
    _k(105, "moved_exit", "vm", "the process that moved from the receiver (its number there) died",
       ("process", UINT), ("reason", VALUE)),
    _k(106, "relink", "vm", "the sender is draining: its process old is now new; re-point your references",
       ("old", UINT), ("new", VALUE)),
    _k(107, "relink_end", "vm", "that was the last relink of the drain: acknowledge"),
    _k(108, "relinked", "vm", "the relinks of the drain are done here"),
    _k(109, "drain_link", "vm", "link your process (moved from the sender's drain) to this one",
       ("to", UINT), ("other", VALUE)),
    _k(110, "migrate_request", "vm", "move your process to the node named node (a migrateTo: sent on the sender)",
       ("request", UINT), ("process", UINT), ("node", TEXT)),
    _k(111, "migrate_reply", "vm", "the answer to migrate_request: the moved process, or why it stayed",
       ("request", UINT), ("process", VALUE), ("error", OPT_TEXT)),
    _k(112, "moved_home", "vm", "a drain re-pointed my forwarder old to your process: tell me when it dies",
       ("process", UINT), ("old", UINT)),
    _k(115, "moved_here", "vm", "the process number old of node old_node is my process number now (it moved)",
       ("old_node", TEXT), ("old_creation", UINT), ("old", UINT), ("process", UINT)),
    _k(116, "moved_relay", "vm", "a link or monitor signal (kind) from process other of node origin, which "
       "named it by the pid via, for the process that moved to the receiver (its number there)",
       ("process", UINT), ("kind", TEXT), ("origin", TEXT), ("origin_creation", UINT), ("other", UINT),
       ("ref", UINT), ("reason", VALUE), ("via", TEXT), ("via_creation", UINT), ("via_number", UINT)),
)

BY_KIND: dict[int, FrameKind] = {f.kind: f for f in FRAMES}
BY_NAME: dict[str, FrameKind] = {f.name: f for f in FRAMES}
KIND = {f.name: f.kind for f in FRAMES}        # name -> number, for the senders

FRAGMENT_SIZE = 256 * 1024
FRAGMENT_OVERHEAD = 16      # what a fragment frame adds around its chunk, at most


class FrameError(Exception):
    """Bytes that are not valid frames: the connection they came on is closed."""


# ====================================================================== writing

def frame(name: str, *fields: Any) -> bytes:
    """The bytes of one frame (fields in the table's order)."""
    return cbor2.dumps([KIND[name], *fields])


TICK = frame("tick")


def fragments(data: bytes, size: int = FRAGMENT_SIZE) -> list[bytes]:
    """A frame over ``size`` bytes as fragment frames, in order."""
    pieces = [data[i:i + size] for i in range(0, len(data), size)]
    return [frame("fragment", i < len(pieces) - 1, piece) for i, piece in enumerate(pieces)]


# ====================================================================== reading

_SIMPLE = {20: False, 21: True, 22: None}


def _argument(data: bytes, pos: int, info: int) -> tuple[int, int]:
    if info < 24:
        return info, pos
    width = {24: 1, 25: 2, 26: 4, 27: 8}.get(info)
    if width is None:
        raise FrameError("indefinite length or reserved header")
    end = pos + width
    if end > len(data):
        raise FrameError("truncated frame")
    return int.from_bytes(data[pos:end], "big"), end


def _item(data: bytes, pos: int, depth: int) -> tuple[Any, int]:
    if pos >= len(data):
        raise FrameError("truncated frame")
    initial = data[pos]
    major, info = initial >> 5, initial & 31
    pos += 1
    if major == 7:
        if info not in _SIMPLE:
            raise FrameError("floats and unknown simple values are not frame fields")
        return _SIMPLE[info], pos
    n, pos = _argument(data, pos, info)
    if major == 0:
        return n, pos
    if major == 1:
        return -1 - n, pos
    if major == 2 or major == 3:
        end = pos + n
        if end > len(data):
            raise FrameError("a length runs past the end of the frame")
        chunk = data[pos:end]
        if major == 2:
            return bytes(chunk), end
        try:
            return chunk.decode("utf-8"), end
        except UnicodeDecodeError:
            raise FrameError("text that is not UTF-8") from None
    if major == 4:
        if depth >= MAX_NESTING:
            raise FrameError("frame nested too deep")
        if n > len(data) - pos:
            raise FrameError("a length runs past the end of the frame")
        items = []
        for _ in range(n):
            item, pos = _item(data, pos, depth + 1)
            items.append(item)
        return items, pos
    raise FrameError("maps and tags are not frame fields")


def read_item(data: bytes) -> Any:
    """One strict item filling ``data`` exactly (the handshake's messages)."""
    try:
        item, end = _item(data, 0, 0)
    except FrameError:
        raise
    except Exception as error:
        raise FrameError(f"unreadable item ({type(error).__name__})") from None
    if end != len(data):
        raise FrameError(f"{len(data) - end} bytes after the item")
    return item


def _check_field(kind: str, value: Any) -> bool:
    if kind == UINT:
        return type(value) is int and value >= 0
    if kind == TEXT:
        return type(value) is str
    if kind == BYTES or kind == VALUE:
        return type(value) is bytes
    if kind == BOOL:
        return type(value) is bool
    if kind == OPT_TEXT:
        return value is None or type(value) is str
    if kind == MEMBERS:
        return type(value) is list and all(
            type(m) is list and len(m) == 3 and type(m[0]) is str and type(m[1]) is int and m[1] >= 0
            and type(m[2]) is str for m in value)
    if kind == DEFINITIONS:
        return type(value) is list and all(
            type(d) is list and len(d) == 3 and all(type(x) is str for x in d) for d in value)
    if kind == HANDLE:
        return type(value) is bytes and len(value) == HANDLE_SIZE
    if kind == HANDLES:
        return type(value) is list and all(type(h) is bytes and len(h) == HANDLE_SIZE for h in value)
    if kind == RELEASES:
        return type(value) is list and all(
            type(r) is list and len(r) == 2 and type(r[0]) is bytes and len(r[0]) == HANDLE_SIZE
            and type(r[1]) is int and r[1] >= 0 for r in value)
    return False


def check(item: Any) -> FrameKind:
    """The table entry of a decoded frame; FrameError if it does not fit it."""
    if type(item) is not list or not item or type(item[0]) is not int:
        raise FrameError("a frame is an array starting with its kind")
    spec = BY_KIND.get(item[0])
    if spec is None:
        raise FrameError(f"unknown frame kind {item[0]}")
    if len(item) != 1 + len(spec.fields):
        raise FrameError(f"a {spec.name} frame has {len(spec.fields)} fields, not {len(item) - 1}")
    for (field_name, field_kind), value in zip(spec.fields, item[1:]):
        if not _check_field(field_kind, value):
            raise FrameError(f"field {field_name} of a {spec.name} frame must be {field_kind}")
    return spec


def read_frames(data: bytes) -> list[tuple[FrameKind, list]]:
    """Every frame of one gRPC message, checked: (table entry, [kind, fields...])."""
    if not data:
        raise FrameError("an empty message")
    frames = []
    pos = 0
    try:
        while pos < len(data):
            item, pos = _item(data, pos, 0)
            frames.append((check(item), item))
    except FrameError:
        raise
    except Exception as error:       # nothing else may escape: a bug here must not end the node
        raise FrameError(f"unreadable frame ({type(error).__name__})") from None
    return frames


# ====================================================================== schema

def schema_hash() -> str:
    """A hash of this table and of the wire codec's tags."""
    digest = hashlib.sha256()
    for f in FRAMES:
        digest.update(repr((f.kind, f.name, f.fields, f.side)).encode())
    for tag, name in sorted(TAGS.items()):
        digest.update(repr((tag, name)).encode())
    return digest.hexdigest()[:16]


SCHEMA_HASH = schema_hash()
