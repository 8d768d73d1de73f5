"""The frame table and its strict reader (node/frames.py), and a connection's handling
of batches and fragments (node/peer.py) without sockets."""
from __future__ import annotations

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smalltalk_vm.node import frames as F
from smalltalk_vm.node.handshake import Identity
from smalltalk_vm.node.peer import Connection

FIELD_VALUES = {
    F.UINT: st.integers(0, 2**64 - 1),
    F.TEXT: st.text(max_size=40),
    F.BYTES: st.binary(max_size=64),
    F.VALUE: st.binary(max_size=64),
    F.BOOL: st.booleans(),
    F.OPT_TEXT: st.none() | st.text(max_size=20),
    F.MEMBERS: st.lists(st.tuples(st.text(max_size=10), st.integers(0, 2**32), st.text(max_size=20))
                        .map(list), max_size=4),
    F.DEFINITIONS: st.lists(st.tuples(st.text(max_size=10), st.text(max_size=10), st.text(max_size=30))
                            .map(list), max_size=3),
}


@st.composite
def valid_frames(draw):
    spec = draw(st.sampled_from(F.FRAMES))
    return spec, [draw(FIELD_VALUES[kind]) for _, kind in spec.fields]


def test_the_table_has_one_entry_per_kind_and_name() -> None:
    assert len({f.kind for f in F.FRAMES}) == len(F.FRAMES)
    assert len({f.name for f in F.FRAMES}) == len(F.FRAMES)
    assert {f.side for f in F.FRAMES} == {"transport", "vm"}
    for f in F.FRAMES:
        assert all(kind in FIELD_VALUES for _, kind in f.fields), f.name


@given(st.lists(valid_frames(), min_size=1, max_size=5))
def test_frames_written_read_back_with_their_table_entry(frames) -> None:
    data = b"".join(F.frame(spec.name, *fields) for spec, fields in frames)
    read = F.read_frames(data)
    assert [spec for spec, _ in read] == [spec for spec, _ in frames]
    assert [item[1:] for _, item in read] == [fields for _, fields in frames]


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_frame_error(data) -> None:
    try:
        F.read_frames(data)
    except F.FrameError:
        pass


@settings(max_examples=200)
@given(valid_frames(), st.data())
def test_truncated_frames_are_refused(frame, data) -> None:
    spec, fields = frame
    encoded = F.frame(spec.name, *fields)
    cut = data.draw(st.integers(1, len(encoded) - 1)) if len(encoded) > 1 else 0
    with pytest.raises(F.FrameError):
        F.read_frames(encoded[:cut] if cut else b"")


@pytest.mark.parametrize("item, reason", [
    ([99], "unknown frame kind 99"),
    ([1, 2], "has 0 fields"),
    ([10, -1, b""], "field to"),
    ([10, 1, "text"], "field message"),
    (["send"], "starting with its kind"),
    ({"kind": 1}, "maps and tags"),
    (cbor2.CBORTag(1, 5), "maps and tags"),
    ([1.5], "floats"),
])
def test_frames_outside_the_table_are_refused_with_a_reason(item, reason) -> None:
    with pytest.raises(F.FrameError, match=reason):
        F.read_frames(cbor2.dumps(item))


def test_nesting_declared_lengths_and_indefinite_items_are_bounded() -> None:
    with pytest.raises(F.FrameError, match="nested too deep"):
        F.read_frames(b"\x81" * 10 + b"\x01")
    with pytest.raises(F.FrameError, match="runs past"):
        F.read_frames(b"\x9b\xff\xff\xff\xff\xff\xff\xff\xff")
    with pytest.raises(F.FrameError, match="runs past"):
        F.read_frames(b"\x83\x0a\x01\x5b\x00\x00\x00\x10\x00\x00\x00\x00")
    with pytest.raises(F.FrameError, match="indefinite"):
        F.read_frames(b"\x9f\x01\xff")


def test_the_schema_hash_covers_frames_and_wire_tags(monkeypatch) -> None:
    assert F.schema_hash() == F.SCHEMA_HASH
    monkeypatch.setattr(F, "FRAMES", F.FRAMES[:-1])
    assert F.schema_hash() != F.SCHEMA_HASH
    monkeypatch.undo()
    from smalltalk_vm.node import wire_tags
    monkeypatch.setitem(wire_tags.TAGS, 51999, "something new")
    assert F.schema_hash() != F.SCHEMA_HASH


class Recorder:
    """Stands in for membership (transport frames) and the runtime (VM frames)."""

    def __init__(self) -> None:
        self.events: list = []
        self.closed: list[str] = []

    def __getattr__(self, name):
        if name.startswith("on_"):
            return lambda conn, *fields: self.events.append((name[3:], *fields))
        raise AttributeError(name)


def make_connection(max_frame: int = 1 << 20) -> tuple[Connection, Recorder]:
    recorder = Recorder()
    conn = Connection(Identity("b", 7, "127.0.0.1:1"), "a", max_frame, recorder,
                      lambda c, frames: recorder.events.append(("vm", [item for _, item in frames])),
                      lambda c, reason: recorder.closed.append(reason))
    return conn, recorder


def test_a_connection_batches_queued_frames_into_one_message_and_fragments_big_ones() -> None:
    conn, _ = make_connection(max_frame=1 << 20)
    small = [F.frame("send", i, b"x" * 10) for i in range(5)]
    for data in small:
        conn.send(data)
    big = F.frame("send", 9, b"y" * 600_000)
    conn.send(big)
    conn.finish()
    messages = list(conn.outgoing())
    assert messages[0].startswith(b"".join(small))
    assert all(len(m) <= conn.fragment_size + F.FRAGMENT_OVERHEAD for m in messages)
    reader, recorder = make_connection(max_frame=1 << 20)
    reader.read(iter(messages))
    sends = [frame for event in recorder.events if event[0] == "vm" for frame in event[1]]
    assert [f[1] for f in sends] == [0, 1, 2, 3, 4, 9]
    assert sends[-1][2] == b"y" * 600_000
    assert recorder.closed == ["the connection closed"]


def test_a_fragmented_frame_over_the_limit_closes_the_connection() -> None:
    conn, recorder = make_connection(max_frame=8192)
    pieces = F.fragments(F.frame("send", 1, b"z" * 20000), 4096)
    conn.read(iter(pieces))
    assert recorder.closed and "over the 8192-byte limit" in recorder.closed[0]
    assert not [e for e in recorder.events if e[0] == "vm"]


def test_transport_frames_stay_on_the_transport_side() -> None:
    conn, recorder = make_connection()
    conn.read(iter([F.TICK + F.frame("joined", "c", 3, "127.0.0.1:9") + F.frame("ping", 4)]))
    assert recorder.events == [("tick",), ("joined", "c", 3, "127.0.0.1:9"), ("vm", [[24, 4]])]


def test_a_bad_message_closes_with_its_reason_after_the_good_ones_are_handed_on() -> None:
    conn, recorder = make_connection()
    conn.read(iter([F.frame("ping", 1), b"\xff\x00"]))
    assert recorder.events == [("vm", [[24, 1]])]
    assert recorder.closed[0].startswith("bad frame:")


def test_the_documented_frame_table_is_the_table() -> None:
    import os
    import re

    from conftest import ROOT
    with open(os.path.join(ROOT, "docs", "distribution.md"), encoding="utf-8") as handle:
        text = handle.read()
    rows = re.findall(r"^\| (\d+) \| (\w+) \|\s*(.*?)\s*\| (transport|vm) \| (.*?) \|$", text, re.M)
    documented = [(int(k), name, fields.replace("\\|", "|"), side, doc) for k, name, fields, side, doc in rows]
    actual = [(f.kind, f.name, ", ".join(f"{n}: {t}" for n, t in f.fields), f.side, f.doc) for f in F.FRAMES]
    assert documented == actual
