"""Peers a node must keep out, and what it must survive (DISTRIBUTION §2 and §3): a wrong
cookie (refused on both sides, the cookie never in the bytes), another protocol
version or schema, channels without a session, oversized messages; and the gRPC
health service. Real nodes; the bad peers are a second node behind the fault proxy
or a raw grpcio client (tests/rogue_client.py)."""
from __future__ import annotations

import time

import cbor2
import grpc
import pytest
from cluster_support import COOKIE
from faultproxy import FaultProxy
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rogue_client import RogueClient

from smalltalk_vm.node import frames as F
from smalltalk_vm.node import handshake as H


@pytest.fixture
def proxies():
    made: list[FaultProxy] = []

    def make(node) -> FaultProxy:
        proxy = FaultProxy(node.host, node.port)
        made.append(proxy)
        return proxy
    yield make
    for proxy in made:
        proxy.close()


def test_a_wrong_cookie_is_refused_on_both_sides_and_never_travels(cluster, proxies) -> None:
    a = cluster.start("a")
    proxy = proxies(a)
    wrong = "a-different-cookie-77"
    b = cluster.start("b", join=[proxy.address], cookie=wrong)
    a.wait_err(r"refused connection from b .*bad cookie")
    b.wait_err(r"join 127\.0\.0\.1:\d+ failed: .*bad cookie.*not retrying")
    traffic = proxy.captured()
    assert b"hello" in traffic and b"proof" in traffic     # the handshake did go through the proxy
    assert COOKIE.encode() not in traffic and wrong.encode() not in traffic
    assert not a.err.matching("nodeup") and not b.err.matching("nodeup")
    c = cluster.start("c", join=[proxy.address])           # the node goes on serving the right cookie
    c.wait_err(r"nodeup a ")


@pytest.mark.parametrize("changes, reason", [({"protocol": 2}, "version mismatch"),
                                             ({"schema": "0123456789abcdef"}, "schema mismatch")])
def test_a_peer_of_another_protocol_or_schema_is_refused(cluster, changes, reason) -> None:
    a = cluster.start("a")
    rogue = RogueClient(a.address, COOKIE.encode())
    try:
        with pytest.raises(H.Refusal) as refused:
            rogue.handshake(**changes)
        assert refused.value.reason == reason
    finally:
        rogue.close()
    a.wait_err(rf"refused connection from .*: {reason}")
    b = cluster.start("b", join=[a])
    b.wait_err(r"nodeup a ")


def test_a_channel_needs_a_fresh_proven_session(cluster) -> None:
    a = cluster.start("a")
    rogue = RogueClient(a.address, COOKIE.encode())
    try:
        rogue.open_channel(b"\x00" * 16)
        assert rogue.ended.wait(10)
        assert rogue.end_error is not None and rogue.end_error.code() == grpc.StatusCode.PERMISSION_DENIED
        caller = rogue.handshake()
        second = RogueClient(a.address, COOKIE.encode())
        second.open_channel(caller.session)
        deadline = time.monotonic() + 10
        while not second.received and time.monotonic() < deadline and not second.ended.is_set():
            time.sleep(0.01)
        assert second.received, "the proven session opens the channel"
        assert F.read_frames(second.received[0])[0][0].name == "members"
        third = RogueClient(a.address, COOKIE.encode())
        third.open_channel(caller.session)               # the same session again
        assert third.ended.wait(10) and third.end_error.code() == grpc.StatusCode.PERMISSION_DENIED
        second.close()
        third.close()
    finally:
        rogue.close()
    a.wait_err("refused a channel from .*unknown or expired session")


def test_a_message_over_the_frame_limit_is_refused_by_grpc_and_the_node_goes_on(cluster) -> None:
    a = cluster.start("a", "--max-frame", "65536")
    rogue = RogueClient(a.address, COOKIE.encode(), options=[("grpc.max_send_message_length", 1 << 24)])
    try:
        with pytest.raises(grpc.RpcError) as refused:
            rogue.call_handshake(b"\x00" * 100_000)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        caller = rogue.handshake()
        rogue.open_channel(caller.session)
        rogue.send(F.frame("ping", 1))
        rogue.send(F.frame("send", 1, b"\x00" * 100_000))
        assert rogue.ended.wait(10)
        assert rogue.end_error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "larger than max" in rogue.end_error.details()
    finally:
        rogue.close()
    a.wait_err(r"nodedown rogue: noconnection")
    b = cluster.start("b", join=[a])
    b.wait_err(r"nodeup a ")


def test_the_standard_health_service_answers(cluster) -> None:
    a = cluster.start("a")
    channel = grpc.insecure_channel(a.address)
    try:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", "smalltalk.vm.Node"):
            answer = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        channel.close()


def test_garbage_on_the_handshake_is_refused_not_fatal(cluster) -> None:
    a = cluster.start("a")
    rogue = RogueClient(a.address, COOKIE.encode())
    try:
        for data in (b"", b"\xff", cbor2.dumps({"step": "hello"}), cbor2.dumps(["proof", b"x", b"y", b"z"])):
            items = cbor2.loads(rogue.call_handshake(data))
            assert items[0] == "refused"
    finally:
        rogue.close()
    b = cluster.start("b", join=[a])
    b.wait_err(r"nodeup a ")
