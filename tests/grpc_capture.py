"""Reading the node frames out of bytes a fault proxy captured (tests/faultproxy.py):
HTTP/2 frames, the DATA of each stream, the gRPC messages in it (a 5-byte prefix
each), and the node frames in each message (node/frames.py), with the time the chunk
completing each message was read. Messages that are not node frames (the handshake's)
are skipped. For tests that count the frames crossing a link."""
from __future__ import annotations

from dataclasses import dataclass

from smalltalk_vm.node import frames as F

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, PADDED = 0x0, 0x8


@dataclass
class SeenFrame:
    time: float
    name: str
    fields: list


def node_frames(chunks: list[tuple[float, int, bytes]]) -> list[SeenFrame]:
    """The node frames in one direction's chunks, in order, over every connection."""
    seen: list[SeenFrame] = []
    for connection in sorted({c for _, c, _ in chunks}):
        seen.extend(_connection_frames([(t, data) for t, c, data in chunks if c == connection]))
    seen.sort(key=lambda f: f.time)
    return seen


def _connection_frames(chunks: list[tuple[float, bytes]]) -> list[SeenFrame]:
    stream = bytearray()
    ends: list[tuple[int, float]] = []           # (end offset, time read)
    for stamp, data in chunks:
        stream += data
        ends.append((len(stream), stamp))

    def time_at(offset: int) -> float:
        for end, stamp in ends:
            if offset <= end:
                return stamp
        return ends[-1][1]
    pos = len(PREFACE) if stream.startswith(PREFACE) else 0
    pending: dict[int, bytearray] = {}
    seen: list[SeenFrame] = []
    while pos + 9 <= len(stream):
        length = int.from_bytes(stream[pos:pos + 3], "big")
        kind, flags = stream[pos + 3], stream[pos + 4]
        stream_id = int.from_bytes(stream[pos + 5:pos + 9], "big") & 0x7FFFFFFF
        body = stream[pos + 9:pos + 9 + length]
        if len(body) < length:
            break
        pos += 9 + length
        if kind != DATA:
            continue
        if flags & PADDED:
            body = body[1:len(body) - body[0]]
        buffer = pending.setdefault(stream_id, bytearray())
        buffer += body
        while len(buffer) >= 5:
            size = int.from_bytes(buffer[1:5], "big")
            if len(buffer) < 5 + size:
                break
            message = bytes(buffer[5:5 + size])
            del buffer[:5 + size]
            try:
                frames = F.read_frames(message)
            except F.FrameError:
                continue                                  # a handshake message
            stamp = time_at(pos)
            seen.extend(SeenFrame(stamp, spec.name, item[1:]) for spec, item in frames)
    return seen
