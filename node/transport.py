"""The gRPC side of a node: the server (service ``smalltalk.vm.Node`` with the
``Handshake`` unary method and the ``Channel`` bidirectional stream, both generic
handlers over raw bytes, plus the standard gRPC health service), dialling a peer, TLS
credentials, and the message size limits.

Rules:
- No protobuf for our own methods: requests and answers are bytes (CBOR). The health
  service is the one place protobuf is used, so ordinary tools can probe a node.
- The server is grpcio's synchronous one: a Channel holds one worker thread for its
  life, so the pool is sized well beyond the cluster (``MAX_WORKERS``) and a new join
  always finds a worker.
- gRPC's send and receive limits are ``max_frame`` on the server and on every
  channel: a bigger message is refused by gRPC before it is read into memory.
- Each dial opens a fresh gRPC channel with a subchannel of its own (never a shared
  TCP connection), its handshake calls bounded by the tick. Our own backoff (in
  ``membership``) decides when to dial again, so gRPC's retries are off.
- What a handshake decides about a name (admit, simultaneous connects, replacing a
  stale connection) belongs to ``membership``; this module asks it.

Handlers run on gRPC worker threads and never touch VM objects. ``dial`` blocks for
at most about two ticks and must run on a thread of its own.
"""
from __future__ import annotations

import socket
import threading
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from smalltalk_vm.node import frames as F
from smalltalk_vm.node.config import NodeConfig
from smalltalk_vm.node.handshake import (
    BAD_COOKIE,
    MALFORMED,
    NAME_IN_USE,
    SCHEMA_MISMATCH,
    SIMULTANEOUS,
    VERSION_MISMATCH,
    Callee,
    Caller,
    Identity,
    Refusal,
    Sessions,
    refusal_message,
)
from smalltalk_vm.vm.errors import os_error_text

SERVICE = "smalltalk.vm.Node"
HANDSHAKE = f"/{SERVICE}/Handshake"
CHANNEL = f"/{SERVICE}/Channel"
SESSION_KEY = "session"
MAX_WORKERS = 128

# Refusals that will not change by trying again.
DEFINITIVE = (BAD_COOKIE, VERSION_MISMATCH, SCHEMA_MISMATCH)


def _raw(data: bytes) -> bytes:
    return data


class DialFailure(Exception):
    """A dial that did not give a connection. ``refusal`` is the peer's (or our)
    handshake refusal, if that is why; ``definitive`` says retrying is pointless;
    ``quiet`` marks outcomes that are not failures (the other connection wins)."""

    def __init__(self, text: str, refusal: Refusal | None = None, peer: str | None = None,
                 quiet: bool = False, settled: bool = False) -> None:
        super().__init__(text)
        self.refusal = refusal
        self.peer = peer
        self.quiet = quiet
        self.settled = settled          # nothing left to join through that address

    @property
    def definitive(self) -> bool:
        return self.refusal is not None and self.refusal.reason in DEFINITIVE


def grpc_options(max_frame: int) -> list[tuple[str, Any]]:
    return [
        ("grpc.max_receive_message_length", max_frame),
        ("grpc.max_send_message_length", max_frame),
        ("grpc.enable_retries", 0),
        ("grpc.initial_reconnect_backoff_ms", 250),
        ("grpc.max_reconnect_backoff_ms", 5000),
        ("grpc.use_local_subchannel_pool", 1),
    ]


class Transport:
    """One node's gRPC server and dialer. ``membership`` decides about names and owns
    the connections; ``log`` is the node log. Thread-safe; ``dial`` blocks (about two
    ticks at most) and raises DialFailure, the handlers never raise to gRPC except
    to abort a Channel without a valid session."""

    def __init__(self, config: NodeConfig, membership: Any, log: Any) -> None:
        self.config = config
        self.membership = membership
        self.log = log
        self.sessions = Sessions()
        self.identity: Identity | None = None           # known once the port is bound
        self.callee: Callee | None = None
        self.server: grpc.Server | None = None
        self.health: health.HealthServicer | None = None
        self._channels: set[grpc.Channel] = set()
        self._lock = threading.Lock()
        self.extra_handlers: list[grpc.GenericRpcHandler] = []   # other services on the port (the Shell)

    # ------------------------------------------------------------------ server

    def bind(self) -> str:
        """Make the server and bind its port; answer the real address (HOST:PORT)."""
        options = grpc_options(self.config.max_frame)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=MAX_WORKERS,
                                                        thread_name_prefix="grpc"),
                             options=options)
        handler = grpc.method_handlers_generic_handler(SERVICE, {
            "Handshake": grpc.unary_unary_rpc_method_handler(self._handshake, _raw, _raw),
            "Channel": grpc.stream_stream_rpc_method_handler(self._channel, _raw, _raw),
        })
        server.add_generic_rpc_handlers((handler, *self.extra_handlers))
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        host = self.config.listen.rpartition(":")[0]
        tls = self.config.tls
        try:
            if tls is not None:
                credentials = grpc.ssl_server_credentials([(tls.key, tls.cert)], root_certificates=tls.ca,
                                                          require_client_auth=True)
                port = server.add_secure_port(self.config.listen, credentials)
            else:
                port = server.add_insecure_port(self.config.listen)
        except RuntimeError:                   # gRPC's text only says to turn on its debug log
            port = 0
        if port == 0:
            raise bind_failure(self.config.listen)
        self.server = server
        return f"{host}:{port}"

    def serve(self, identity: Identity) -> None:
        """Start answering, as ``identity``."""
        self.identity = identity
        self.callee = Callee(identity, self.config.cookie, self.sessions)
        self.server.start()
        for service in ("", SERVICE):
            self.health.set(service, health_pb2.HealthCheckResponse.SERVING)

    def stop(self, grace: float = 0.5) -> None:
        if self.health is not None:
            self.health.enter_graceful_shutdown()
        if self.server is not None:
            self.server.stop(grace).wait(grace + 1.0)
        with self._lock:
            channels, self._channels = list(self._channels), set()
        for channel in channels:
            channel.close()

    def _handshake(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        """Both handshake steps arrive here: ``hello`` then ``proof``."""
        where = context.peer()
        pending = None
        try:
            step = F.read_item(request)[0] if request else None
        except (F.FrameError, TypeError, IndexError, KeyError):
            step = None
        try:
            if step == "proof":
                try:
                    reply, pending = self.callee.on_proof(request)
                except Refusal as refusal:
                    pending = refusal.pending
                    if pending is not None:
                        self.membership.handshake_failed(pending)
                    raise
                self.membership.proven(pending)
                return reply
            reply, pending = self.callee.on_hello(request, self.membership.admit)
            self.membership.accepting(pending)
            return reply
        except Refusal as refusal:
            if refusal.reason != SIMULTANEOUS:
                who = f"{pending.peer.name} ({where})" if pending is not None else where
                self.log(f"refused connection from {who}: {refusal}")
            return refusal_message(refusal)
        except Exception as error:           # a bug must not answer with a traceback
            self.log(f"handshake from {where} failed: {type(error).__name__}: {error}")
            return refusal_message(Refusal(MALFORMED, "internal error"))

    def _channel(self, requests: Any, context: grpc.ServicerContext) -> Any:
        metadata = dict(context.invocation_metadata())
        try:
            session = bytes.fromhex(metadata.get(SESSION_KEY, ""))
            pending = self.sessions.take(session)
        except (ValueError, Refusal):
            self.log(f"refused a channel from {context.peer()}: unknown or expired session")
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "unknown or expired session")
        conn = self.membership.new_connection(pending.peer, pending.peer.name)
        conn.cancel = context.cancel
        if not self.membership.attach_incoming(conn, pending):
            context.abort(grpc.StatusCode.ALREADY_EXISTS, "superseded")
        # The reader sees why a stream ended (it gets gRPC's error); this backstop
        # closes a connection whose reader somehow did not, a moment later.
        context.add_callback(lambda: threading.Timer(0.5, conn.close, ("the stream ended",)).start())
        threading.Thread(target=conn.read, args=(requests,), name=f"read-{conn.name}",
                         daemon=True).start()
        return conn.outgoing()

    # ------------------------------------------------------------------ dialling

    def _open_channel(self, address: str) -> grpc.Channel:
        channel = open_channel(address, self.config.tls, self.config.max_frame)
        with self._lock:
            self._channels.add(channel)
        return channel

    def _close_channel(self, channel: grpc.Channel) -> None:
        with self._lock:
            self._channels.discard(channel)
        channel.close()

    def dial(self, address: str, token: object, expected: str | None) -> None:
        """Handshake with the node at ``address`` and open the Channel; the
        connection is handed to membership, which declares it up when the peer's
        first frame arrives. Raises DialFailure."""
        channel = self._open_channel(address)
        try:
            self._dial(channel, address, token, expected)
        except BaseException:
            self._close_channel(channel)
            raise

    def _dial(self, channel: grpc.Channel, address: str, token: object, expected: str | None) -> None:
        caller = Caller(self.identity, self.config.cookie)
        handshake = channel.unary_unary(HANDSHAKE, request_serializer=_raw, response_deserializer=_raw)
        deadline = self.config.tick
        try:
            welcome = handshake(caller.hello(), timeout=deadline, wait_for_ready=False)
            peer = caller.on_welcome(welcome)
        except grpc.RpcError as error:
            raise DialFailure(f"cannot reach {address}: {_rpc_text(error)}") from None
        except Refusal as refusal:
            raise DialFailure(f"refused by {address}: {refusal}", refusal, quiet=refusal.reason == SIMULTANEOUS) \
                from None
        if peer.name == self.identity.name:
            raise DialFailure(f"{address} is this node", Refusal(NAME_IN_USE, "dialled itself"), quiet=True,
                              settled=True)
        if not self.membership.claim(peer, token, expected):
            raise DialFailure(f"already connected to {peer.name}", peer=peer.name, quiet=True, settled=True)
        try:
            accepted = handshake(caller.proof(), timeout=deadline, wait_for_ready=False)
            caller.on_accepted(accepted)
        except grpc.RpcError as error:
            raise DialFailure(f"handshake with {peer.name} at {address} failed: {_rpc_text(error)}",
                              peer=peer.name) from None
        except Refusal as refusal:
            raise DialFailure(f"connection to {peer.name} at {address} refused: {refusal}", refusal,
                              peer=peer.name) from None
        conn = self.membership.new_connection(peer, self.identity.name)
        stream = channel.stream_stream(CHANNEL, request_serializer=_raw, response_deserializer=_raw)
        call = stream(conn.outgoing(), metadata=((SESSION_KEY, caller.session.hex()),))

        def cancel() -> None:
            call.cancel()
            self._close_channel(channel)
        conn.cancel = cancel
        if not self.membership.pending_outgoing(conn, token):
            conn.close("superseded")
            raise DialFailure(f"superseded connection to {peer.name}", peer=peer.name, quiet=True)
        threading.Thread(target=conn.read, args=(call,), name=f"read-{peer.name}", daemon=True).start()


def open_channel(address: str, tls: Any, max_frame: int) -> grpc.Channel:
    """A gRPC channel to ``address``: mutual TLS with ``tls`` (TLSFiles), else plain."""
    options = grpc_options(max_frame)
    if tls is not None:
        credentials = grpc.ssl_channel_credentials(root_certificates=tls.ca, private_key=tls.key,
                                                   certificate_chain=tls.cert)
        return grpc.secure_channel(address, credentials, options=options)
    return grpc.insecure_channel(address, options=options)


def rpc_text(error: grpc.RpcError) -> str:
    """A gRPC failure in a few words (its code and details)."""
    return _rpc_text(error)


def _rpc_text(error: grpc.RpcError) -> str:
    try:
        return f"{error.code().name}: {error.details()}"
    except Exception:
        return type(error).__name__


def bind_failure(listen: str) -> OSError:
    """Why ``listen`` (HOST:PORT) cannot be bound, in the operating system's words (a
    plain bind of the same address, made only to learn the reason)."""
    host, _, port = listen.rpartition(":")
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.bind((host.strip("[]"), int(port)))
    except OSError as error:
        return OSError(os_error_text(error))
    except (ValueError, OverflowError) as error:
        return OSError(f"not an address to listen on ({error})")
    return OSError("gRPC could not bind it")
