"""The Shell service's messages and its behaviour towards hostile tools: the message
reader under arbitrary bytes (hypothesis), a raw client that sends garbage or an
unknown call on a proven session (that connection closes, the node goes on serving),
a stream opened without a handshake (refused), and the tools over mutual TLS.
"""
from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time

import grpc
import pytest
from cluster_support import COOKIE, ROOT, node_environment
from hypothesis import given
from hypothesis import strategies as st
from tls_support import CA

from smalltalk_vm.node import handshake as H
from smalltalk_vm.node import shell_protocol as P


@given(st.binary(max_size=200))
def test_any_bytes_are_a_request_or_a_protocol_error(data):
    try:
        message = P.decode_request(data)
    except P.ProtocolError:
        return
    assert message[0] in ("open", "call", "interrupt")


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                    lambda inner: st.lists(inner, max_size=4), max_leaves=12))
def test_json_values_that_are_not_requests_are_refused(value):
    raw = P.encode(value if isinstance(value, list) else [value])
    try:
        message = P.decode_request(raw)
    except P.ProtocolError:
        return
    assert P.decode_request(P.encode(message)) == message


def test_deeply_nested_json_is_a_protocol_error():
    with pytest.raises(P.ProtocolError):
        P.decode_request(b"[" * 100_000 + b"]" * 100_000)


def _raw(data: bytes) -> bytes:
    return data


class RawShell:
    """A proven Session stream from a raw grpcio client."""

    def __init__(self, address: str, cookie: bytes) -> None:
        self.channel = grpc.insecure_channel(address)
        unary = self.channel.unary_unary(P.HANDSHAKE, request_serializer=_raw, response_deserializer=_raw)
        caller = H.Caller(H.Identity("raw-tool", 7, ""), cookie)
        caller.on_welcome(unary(caller.hello(), timeout=10))
        caller.on_accepted(unary(caller.proof(), timeout=10))
        self.requests: queue.SimpleQueue = queue.SimpleQueue()
        self.received: list[list] = []
        self.ended = threading.Event()
        stream = self.channel.stream_stream(P.SESSION, request_serializer=_raw, response_deserializer=_raw)
        self.call = stream(self._outgoing(), metadata=((P.SESSION_KEY, caller.session.hex()),))
        threading.Thread(target=self._read, daemon=True).start()

    def _outgoing(self):
        while True:
            item = self.requests.get()
            if item is None:
                return
            yield item

    def _read(self) -> None:
        try:
            for raw in self.call:
                self.received.append(P.decode(raw))
        except grpc.RpcError:
            pass
        self.ended.set()

    def close(self) -> None:
        self.requests.put(None)
        self.call.cancel()
        self.channel.close()


def _status(address: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "smalltalk_vm.cli.main", "cluster", "status", address,
                           "--cookie", COOKIE, *extra], capture_output=True, text=True, timeout=60,
                          env=node_environment(), cwd=ROOT)


BAD_MESSAGES = [b"\xff\x00 not json", P.encode(["call", 1, "rm -rf", []]), P.encode(["open", "root"]),
                P.encode(["call", "one", "status", []]), b"[" * 100_000, P.encode(["open", "repl"])]


def test_a_bad_message_closes_that_connection_and_the_node_goes_on(cluster):
    node = cluster.start("a")
    for number, bad in enumerate(BAD_MESSAGES, 1):
        shell = RawShell(node.address, COOKIE.encode())
        try:
            shell.requests.put(P.encode(["open", "view"]))
            deadline = time.monotonic() + 15
            while not shell.received and time.monotonic() < deadline:
                time.sleep(0.05)
            assert shell.received[0][0] == "opened"
            shell.requests.put(bad)
            assert shell.ended.wait(15), f"the node kept a connection that sent {bad[:20]!r}"
            assert shell.received[-1][0] == "ended"
        finally:
            shell.close()
        node.wait_err(r"shell raw-tool .*(bad message|bad call)", count=number)
    assert _status(node.address).returncode == 0


def test_a_session_stream_without_a_handshake_is_refused(cluster):
    node = cluster.start("a")
    channel = grpc.insecure_channel(node.address)
    try:
        stream = channel.stream_stream(P.SESSION, request_serializer=_raw, response_deserializer=_raw)
        call = stream(iter([P.encode(["open", "repl"])]), metadata=((P.SESSION_KEY, "00" * 16),), timeout=10)
        with pytest.raises(grpc.RpcError) as refused:
            list(call)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        channel.close()
    node.wait_err(r"refused a shell session from .*: unknown or expired session")


def test_the_tools_use_the_cluster_tls(cluster, tmp_path):
    ca = CA(tmp_path / "pki")
    node = cluster.start("a", *ca.tls_flags("a"))
    with_certificate = _status(node.address, *ca.tls_flags("operator"))
    assert with_certificate.returncode == 0, with_certificate.stderr
    assert with_certificate.stdout.splitlines()[1].startswith("a ")
    without = _status(node.address)
    assert without.returncode == 1
    assert without.stderr.startswith(f"vm cluster: cannot reach {node.address}: ")
    shell = subprocess.run([sys.executable, "-m", "smalltalk_vm.cli.main", "repl", "--connect", node.address,
                            "--cookie", COOKIE, *ca.tls_flags("operator")], input="6 * 7\n",
                           capture_output=True, text=True, timeout=60,
                           env=node_environment({"XDG_STATE_HOME": str(tmp_path / "state")}), cwd=ROOT)
    assert shell.returncode == 0, shell.stderr
    assert shell.stdout == "42\n"
