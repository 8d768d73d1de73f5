"""The messages of the ``smalltalk.vm.Shell`` service, both directions: JSON arrays,
checked strictly on arrival. The handshake before them is the node handshake
(``node.handshake``), whose messages are CBOR like a peer's.

Tool -> node:
    ["open", "repl" | "view"]            first: a REPL session, or the cluster view only
    ["call", N, METHOD, [ARGS...]]       answered by ["answer", N, VALUE]
    ["interrupt"]                        Ctrl-C: end the running evaluation
Node -> tool:
    ["opened", NODE, ADDRESS]            or ["refused", REASON], then the stream ends
    ["answer", N, VALUE]                 VALUE {"error": text} when the call failed
    ["output", TEXT, IS_ERROR]           what the evaluation (and its processes) printed
    ["ended", REASON]                    the node ends the session

Pure functions; ``ProtocolError`` names what is wrong with a message.
"""
from __future__ import annotations

import json
from typing import Any

from smalltalk_vm.node import frames as F

SERVICE = "smalltalk.vm.Shell"
HANDSHAKE = f"/{SERVICE}/Handshake"
SESSION = f"/{SERVICE}/Session"
SESSION_KEY = "session"
OPEN_KINDS = ("repl", "view")


class ProtocolError(Exception):
    """A message that is not one of the Shell service's."""


def encode(message: list) -> bytes:
    return json.dumps(message, ensure_ascii=True).encode("ascii")


def decode(raw: bytes) -> list:
    """Any Shell message: a JSON array starting with its kind."""
    try:
        message = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ProtocolError(f"not a JSON message ({type(error).__name__})") from None
    if type(message) is not list or not message or type(message[0]) is not str:
        raise ProtocolError("not an array starting with its kind")
    return message


def decode_request(raw: bytes) -> list:
    """A tool's message, checked field by field."""
    message = decode(raw)
    kind = message[0]
    if kind == "open" and len(message) == 2 and message[1] in OPEN_KINDS:
        return message
    if kind == "interrupt" and len(message) == 1:
        return message
    if kind == "call" and len(message) == 4 and type(message[1]) is int and type(message[2]) is str \
            and type(message[3]) is list:
        return message
    raise ProtocolError(f"unknown or malformed {kind[:40]!r} message")


def step_of(request: bytes) -> Any:
    """The step of a handshake message (``hello`` or ``proof``), None if unreadable
    (the handshake then refuses it as malformed)."""
    try:
        item = F.read_item(request)
    except F.FrameError:
        return None
    return item[0] if type(item) is list and item else None
