"""A rogue client sends random and truncated frames, frames of unknown kinds, bad
CBOR, frames whose values do not decode, and misused fragments — after a correct
handshake and without one. Only that connection closes (or, for frames that are
harmless, it goes on answering): the node lives and its connection to a well-behaved
node is never disturbed.

A few hundred examples run in CI; ``pytest -m fuzz`` runs 10,000."""
from __future__ import annotations

import itertools
import time

import cbor2
import grpc
import pytest
from cluster_support import COOKIE, Cluster
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rogue_client import RogueClient

from smalltalk_vm.node import frames as F
from smalltalk_vm.node import handshake as H

PING_ID = 424242
names = itertools.count(1)


@pytest.fixture(scope="module")
def victim(tmp_path_factory):
    nodes = Cluster(tmp_path_factory.mktemp("fuzz"))
    try:
        a = nodes.start("a")
        b = nodes.start("b", join=[a])
        b.wait_err(r"nodeup a ")
        channel = grpc.insecure_channel(a.address)
        yield a, b, health_pb2_grpc.HealthStub(channel)
        channel.close()
        assert not b.err.matching("nodedown a"), b.report()
        assert not a.err.matching("nodedown b"), a.report()
        # A frame the table admits but whose values make no sense is a bad frame, never
        # a Python exception caught by the last-resort handler.
        assert not a.err.matching("internal error"), a.report()
        assert a.popen.poll() is None
    finally:
        nodes.stop_all()


simple = st.one_of(st.integers(-2**63, 2**64 - 1), st.text(max_size=12), st.binary(max_size=24),
                   st.booleans(), st.none())
handle = st.binary(min_size=F.HANDLE_SIZE, max_size=F.HANDLE_SIZE)
unknown_kind = st.integers(0, 300).filter(lambda k: k not in F.BY_KIND)


@st.composite
def hostile_message(draw) -> bytes:
    shape = draw(st.integers(0, 7))
    if shape == 0:                                          # anything at all
        return draw(st.binary(min_size=1, max_size=300))
    if shape == 1:                                          # a frame of no known kind
        return cbor2.dumps([draw(unknown_kind), *draw(st.lists(simple, max_size=4))])
    spec = draw(st.sampled_from(F.FRAMES))
    if shape == 2:                                          # a known kind, fields of any type
        return cbor2.dumps([spec.kind, *draw(st.lists(simple, max_size=len(spec.fields) + 1))])
    if shape == 3:                                          # bad CBOR
        return draw(st.sampled_from([b"\xff", b"\x9f\x01", b"\x1f", b"\x5f\x41\x00\xff", b"\xbf\xff",
                                     b"\xc1\x01", b"\xd8\x1c\x81\x0a", b"\xfb\x00"]))
    fields = []
    for _, kind in spec.fields:                             # a frame of the right shape ...
        if kind == F.VALUE:                                  # ... whose values are garbage, or an Array
            fields.append(draw(st.binary(max_size=40) | st.sampled_from([cbor2.dumps([]), cbor2.dumps([1, "x"])])))
        elif kind in (F.UINT,):
            fields.append(draw(st.integers(0, 70)))
        elif kind == F.TEXT:
            fields.append(draw(st.sampled_from(["", "x", "Nope", "9bad", "a b", "Object"])))
        elif kind == F.BYTES:
            fields.append(draw(st.binary(max_size=30)))
        elif kind == F.BOOL:
            fields.append(draw(st.booleans()))
        elif kind == F.OPT_TEXT:
            fields.append(draw(st.none() | st.text(max_size=8)))
        elif kind == F.HANDLE:                              # remote objects: handles nobody exported
            fields.append(draw(handle))
        elif kind == F.HANDLES:
            fields.append(draw(st.lists(handle, max_size=3)))
        elif kind == F.RELEASES:
            fields.append(draw(st.lists(st.tuples(handle, st.integers(0, 5)).map(list), max_size=3)))
        elif kind == F.MEMBERS:
            fields.append([["m", 1, "127.0.0.1:1"]] if draw(st.booleans()) else [])
        else:
            fields.append([["Nope", "0", "Nope = ( x = ( ^ 1 ) )"]] if draw(st.booleans()) else [])
    data = cbor2.dumps([spec.kind, *fields])
    if shape == 5:                                          # truncated
        return data[:draw(st.integers(1, max(1, len(data) - 1)))]
    if shape == 6:                                          # a fragment left hanging
        return F.frame("fragment", True, data) + F.frame("ping", 1)
    return data


def _answers(rogue: RogueClient, timeout: float = 3.0) -> str:
    """'pong' if the connection still answers, 'closed' if the node closed it."""
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        for message in rogue.received[seen:]:
            seen += 1
            try:
                if any(item[0] == F.KIND["pong"] and item[1] == PING_ID for _, item in F.read_frames(message)):
                    return "pong"
            except F.FrameError:
                return "garbage from the node"
        if rogue.ended.is_set():
            return "closed"
        time.sleep(0.002)
    return "held"                     # e.g. waiting for code the rogue will never send


def _attack(victim, messages: list[bytes], handshake: bool) -> None:
    a, _, health = victim
    rogue = RogueClient(a.address, COOKIE.encode(), name=f"rogue{next(names)}")
    try:
        if handshake:
            caller = rogue.handshake()
            rogue.open_channel(caller.session)
            for message in messages:
                rogue.send(message)
            rogue.send(F.frame("ping", PING_ID))
            assert _answers(rogue) in ("pong", "closed", "held")
        else:
            for message in messages:
                try:
                    answer = cbor2.loads(rogue.call_handshake(message, timeout=5))
                    assert answer[0] in ("refused", "welcome")
                except grpc.RpcError as error:
                    assert error.code() in (grpc.StatusCode.RESOURCE_EXHAUSTED,)
    finally:
        rogue.close()
    answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    assert a.popen.poll() is None, a.report()


FUZZ = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]}


@settings(max_examples=150, **FUZZ)
@given(st.lists(hostile_message(), min_size=1, max_size=3))
def test_hostile_frames_after_a_handshake_close_only_that_connection(victim, messages) -> None:
    _attack(victim, messages, handshake=True)


@settings(max_examples=100, **FUZZ)
@given(st.lists(hostile_message(), min_size=1, max_size=3))
def test_hostile_bytes_without_a_handshake_are_refused(victim, messages) -> None:
    _attack(victim, messages, handshake=False)


@pytest.mark.fuzz
@settings(max_examples=10_000, **FUZZ)
@given(st.lists(hostile_message(), min_size=1, max_size=3), st.booleans())
def test_ten_thousand_hostile_peers(victim, messages, handshake) -> None:
    _attack(victim, messages, handshake)


@pytest.mark.parametrize("message, reason", [
    (b"\xff", "bad frame: "),
    (cbor2.dumps([250]), "unknown frame kind 250"),
    (F.frame("send", 1, b"\xff\xff"), "bad send frame"),
    (F.frame("fragment", False, b"\x81\x63"), "bad frame: "),
    (F.frame("code", "Object", [], None), "not asked for"),
])
def test_each_kind_of_bad_frame_closes_the_connection_with_its_reason(victim, message, reason) -> None:
    a, _, _ = victim
    rogue = RogueClient(a.address, COOKIE.encode(), name=f"rogue{next(names)}")
    try:
        caller = rogue.handshake()
        rogue.open_channel(caller.session)
        rogue.send(message)
        assert rogue.ended.wait(10)
    finally:
        rogue.close()
    a.wait_err(rf"nodedown {rogue.identity.name}: noconnection \(.*{reason}")


def test_a_handshake_from_a_taken_name_is_refused(victim) -> None:
    a, _, _ = victim
    rogue = RogueClient(a.address, COOKIE.encode(), name="a")
    try:
        with pytest.raises(H.Refusal) as refused:
            rogue.handshake()
        assert refused.value.reason == H.NAME_IN_USE
    finally:
        rogue.close()
