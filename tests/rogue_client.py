"""A raw grpcio client that speaks (or misspeaks) the node protocol, for tests of how a
node treats hostile or foreign peers: it is not a node, only a socket with opinions.
It uses the product's own handshake module to build correct messages, then lets the
test tamper with them."""
from __future__ import annotations

import queue
import threading
from dataclasses import replace

import grpc

from smalltalk_vm.node import handshake as H
from smalltalk_vm.node.transport import CHANNEL, HANDSHAKE, SESSION_KEY


def _raw(data: bytes) -> bytes:
    return data


class RogueClient:
    def __init__(self, address: str, cookie: bytes, name: str = "rogue", options: list | None = None,
                 credentials: grpc.ChannelCredentials | None = None) -> None:
        self.address = address
        self.cookie = cookie
        self.identity = H.Identity(name, 1234, "127.0.0.1:1", vm_version="rogue")
        opts = [("grpc.use_local_subchannel_pool", 1)] + (options or [])
        if credentials is None:
            self.channel = grpc.insecure_channel(address, options=opts)
        else:
            self.channel = grpc.secure_channel(address, credentials, options=opts)
        self.unary = self.channel.unary_unary(HANDSHAKE, request_serializer=_raw, response_deserializer=_raw)
        self.stream = self.channel.stream_stream(CHANNEL, request_serializer=_raw, response_deserializer=_raw)
        self.outgoing: queue.SimpleQueue = queue.SimpleQueue()
        self.received: list[bytes] = []
        self.ended = threading.Event()
        self.end_error: Exception | None = None
        self.call = None

    def call_handshake(self, data: bytes, timeout: float = 10.0) -> bytes:
        return self.unary(data, timeout=timeout)

    def handshake(self, **changes) -> H.Caller:
        """A complete handshake (identity fields changed as given); the Caller, whose
        ``session`` opens a Channel. Raises Refusal as a node's caller would."""
        caller = H.Caller(replace(self.identity, **changes), self.cookie)
        caller.on_welcome(self.call_handshake(caller.hello()))
        caller.on_accepted(self.call_handshake(caller.proof()))
        return caller

    def open_channel(self, session: bytes) -> None:
        def requests():
            while True:
                item = self.outgoing.get()
                if item is None:
                    return
                yield item
        self.call = self.stream(requests(), metadata=((SESSION_KEY, session.hex()),))
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for message in self.call:
                self.received.append(message)
        except Exception as error:
            self.end_error = error
        self.ended.set()

    def send(self, data: bytes) -> None:
        self.outgoing.put(data)

    def close(self) -> None:
        self.outgoing.put(None)
        if self.call is not None:
            self.call.cancel()
        self.channel.close()
