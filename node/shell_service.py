"""The node's second gRPC service, ``smalltalk.vm.Shell``, for operators' tools that are
not cluster members: the remote REPL (`vm repl --connect`) and the cluster view
(`vm cluster status|processes`, `vm node drain`). On the node's own port and TLS, with the node
handshake (``node.handshake``: the same hello, cookie challenge and refusals as a
peer's), then one ``Session`` stream per tool.

Rules:
- A shell is not a member: its handshake has a session table of its own, membership
  never hears of it, `Node all` does not list it.
- Messages are JSON arrays (``node.shell_protocol``). A message that is not one closes
  that connection (logged), never the node.
- ``open repl`` makes a REPL session on the node's VM (``make_session``, handed over by
  the composition root: the node layer does not know the REPL); a node started with
  `--no-shell` refuses it. The cluster view's calls are served on any connection.
- The evaluation's output, and that of every process it spawns, goes to the shell
  through an output group (``vm.output_groups``), not to the node's stdout.
- Each connection has a reader thread (requests; ``interrupt`` acts at once) and a
  worker thread (calls, one at a time: a REPL session is driven by one thread). The
  VM thread only puts output in the connection's queue and never waits: output beyond
  ``OUTPUT_BACKLOG`` characters not yet sent is dropped (said once), and what is
  queued goes out joined into few messages.
- When the tool goes away, its running evaluation is interrupted and a do-it kept
  stopped for its debugger is abandoned.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import grpc

from smalltalk_vm.node import cluster_view
from smalltalk_vm.node import shell_protocol as P
from smalltalk_vm.node.handshake import MALFORMED, Callee, Refusal, Sessions, refusal_message
from smalltalk_vm.vm.output_groups import OutputGroups

STARTING_TIMEOUT = 5.0         # seconds a tool waits for a node whose VM is not running yet
OUTPUT_BACKLOG = 8 * 1024 * 1024    # characters of output queued for a slow shell before it is dropped
OUTPUT_CHUNK = 256 * 1024           # characters of output joined into one message at most
DRAIN_WAIT = 90.0              # seconds `vm node drain` waits for the node's drain


def _raw(data: bytes) -> bytes:
    return data


class ShellService:
    """Serves the Shell service of one node. ``attach`` hands it the VM host and the
    REPL session factory once the VM runs; until then a REPL is refused. Handlers run
    on gRPC threads, never touch VM objects themselves (they go through the host) and
    never raise to gRPC except to abort a stream without a valid session."""

    def __init__(self, config: Any, membership: Any, log: Any) -> None:
        self.config = config
        self.membership = membership
        self.log = log
        self.sessions = Sessions()
        self.started = time.time()
        self.host: Any = None
        self.make_session: Callable[[Any, Any], Any] | None = None
        self.groups: OutputGroups | None = None
        self._connections: set[ShellConnection] = set()
        self._lock = threading.Lock()
        self.ready = threading.Event()             # set by attach: the VM runs

    def attach(self, host: Any, make_session: Callable[[Any, Any], Any]) -> None:
        """``make_session(host, console)`` makes a REPL session on the node's machine."""
        self.groups = OutputGroups(host.machine)
        self.groups.install()
        self.host = host
        self.make_session = make_session
        self.ready.set()

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(P.SERVICE, {
            "Handshake": grpc.unary_unary_rpc_method_handler(self._handshake, _raw, _raw),
            "Session": grpc.stream_stream_rpc_method_handler(self._session, _raw, _raw),
        })

    def stop(self) -> None:
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.close("the node is stopping")

    @property
    def identity(self) -> Any:
        return self.membership.identity

    # ------------------------------------------------------------------ handlers

    def _handshake(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        callee = Callee(self.identity, self.config.cookie, self.sessions)
        try:
            step = P.step_of(request)
            if step == "proof":
                reply, _ = callee.on_proof(request)
            else:
                reply, _ = callee.on_hello(request, lambda peer: False)
            return reply
        except Refusal as refusal:
            self.log(f"refused a shell from {context.peer()}: {refusal}")
            return refusal_message(refusal)
        except Exception as error:           # a bug must not answer with a traceback
            self.log(f"shell handshake from {context.peer()} failed: {type(error).__name__}: {error}")
            return refusal_message(Refusal(MALFORMED, "internal error"))

    def _session(self, requests: Any, context: grpc.ServicerContext) -> Any:
        metadata = dict(context.invocation_metadata())
        try:
            pending = self.sessions.take(bytes.fromhex(metadata.get(P.SESSION_KEY, "")))
        except (ValueError, Refusal):
            self.log(f"refused a shell session from {context.peer()}: unknown or expired session")
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "unknown or expired session")
        connection = ShellConnection(self, pending.peer.name, context.peer())
        with self._lock:
            self._connections.add(connection)
        context.add_callback(lambda: connection.close("the stream ended"))
        threading.Thread(target=connection.read, args=(requests,), name=f"shell-read-{pending.peer.name}",
                         daemon=True).start()
        return connection.outgoing()

    def forget(self, connection: ShellConnection) -> None:
        with self._lock:
            self._connections.discard(connection)

    # ------------------------------------------------------------------ the cluster view

    def status(self) -> dict:
        identity = self.identity
        line = self.host.call(lambda: cluster_view.status(self.host.machine, identity.name, identity.address,
                                                          self.started), timeout=5)
        line["peers"] = cluster_view.peers(self.membership)
        return line

    def processes(self) -> list[dict]:
        return self.host.call(lambda: cluster_view.processes(self.host.machine), timeout=5)

    def drain(self) -> dict:
        """`vm node drain`: move every process of this node to the others, then stop
        it (``node.migration_drain``); waits on this connection's worker thread."""
        finished = threading.Event()
        summary: dict = {}

        def done(answer: dict) -> None:
            summary.update(answer)
            finished.set()
        drainer = self.host.machine.universe.distribution.drainer
        self.host.call(lambda: drainer.start(done), timeout=5)
        if not finished.wait(DRAIN_WAIT):
            return {"error": "the drain did not finish in time"}
        return summary


class ShellConnection:
    """One tool's Session stream. ``read`` runs on a thread of its own, calls on the
    worker thread; ``close`` may be called from any thread, more than once."""

    def __init__(self, service: ShellService, name: str, where: str) -> None:
        self.service = service
        self.name = name
        self.where = where
        self.session: Any = None
        self.group = object()                        # this shell's output group
        self._out: queue.Queue = queue.Queue()         # messages (lists), None at the end
        self._queued_output = 0                         # characters of output in _out
        self._lock = threading.Lock()
        self._calls: queue.Queue = queue.Queue()
        self._closed = threading.Event()
        self._dropped = False
        self._opened = False                             # worker thread only
        self._worker = threading.Thread(target=self._work, name=f"shell-{name}", daemon=True)
        self._worker.start()

    # ------------------------------------------------------------------ the streams

    def outgoing(self) -> Any:
        """The stream to the tool: queued messages, consecutive output of one stream
        joined into one message (up to ``OUTPUT_CHUNK`` characters)."""
        carried: list | None = None
        while True:
            if carried is not None:
                message, carried = carried, None
            else:
                try:
                    message = self._out.get(timeout=0.5)
                except queue.Empty:
                    if self._closed.is_set():
                        return
                    continue
            if message is None:
                return
            if message[0] == "output":
                message, carried = self._joined(message)
                with self._lock:
                    self._queued_output -= len(message[1])
            yield P.encode(message)

    def _joined(self, first: list) -> tuple[list, list | None]:
        """``first`` with the output messages queued after it on the same stream; the
        first other message taken, if any, comes back to be sent next."""
        texts, size, is_error = [first[1]], len(first[1]), first[2]
        while size < OUTPUT_CHUNK:
            try:
                following = self._out.get_nowait()
            except queue.Empty:
                break
            if following is None or following[0] != "output" or following[2] != is_error:
                return ["output", "".join(texts), is_error], following
            texts.append(following[1])
            size += len(following[1])
        return ["output", "".join(texts), is_error], None

    def send(self, *message: Any) -> None:
        if self._closed.is_set():
            return
        self._out.put(list(message))

    def read(self, requests: Any) -> None:
        try:
            for raw in requests:
                try:
                    message = P.decode_request(raw)
                except P.ProtocolError as error:
                    self.service.log(f"shell {self.name} ({self.where}) sent a bad message: {error}")
                    self.close(f"bad message: {error}")
                    return
                if message[0] == "interrupt":
                    if self.session is not None:
                        self.session.interrupt()
                else:
                    self._calls.put(message)
        except grpc.RpcError:
            pass                                       # the tool went away
        except Exception as error:                     # a defect: this connection ends, not the node
            self.service.log(f"shell {self.name}: {type(error).__name__}: {error}")
        self.close("the shell left")

    def close(self, reason: str) -> None:
        if self._closed.is_set():
            return
        self.send("ended", reason)
        self._closed.set()
        self._out.put(None)
        self._calls.put(None)
        self.service.forget(self)
        if self.session is not None:
            self.session.interrupt()          # the worker may be waiting for an evaluation

    # ------------------------------------------------------------------ calls (worker thread)

    def _work(self) -> None:
        try:
            while True:
                message = self._calls.get()
                if message is None:
                    break
                self._handle(message)
        finally:
            self._end_session()

    def _handle(self, message: list) -> None:
        kind = message[0]
        if kind == "open":
            if self._opened:
                self.service.log(f"shell {self.name} ({self.where}) made a bad call: a second open")
                self.close("bad call: the session is open already")
                return
            self._opened = True
            self._open(message[1])
            return
        _, number, method, args = message
        try:
            answer = self._answer(method, args)
        except P.ProtocolError as error:
            self.service.log(f"shell {self.name} ({self.where}) made a bad call: {error}")
            self.close(f"bad call: {error}")
            return
        except TimeoutError:
            answer = {"error": "the node's VM did not answer in time"}
        except Exception as error:                     # a defect: said to the tool, the node goes on
            answer = {"error": f"{method} failed on the node: {type(error).__name__}: {error}"}
        self.send("answer", number, answer)

    def _open(self, kind: str) -> None:
        service = self.service
        identity = service.identity
        if kind == "repl" and not service.config.shell:
            self.send("refused", "this node serves no remote shell (it was started with --no-shell)")
            self.close("no shell")
            return
        # The node announces its address a moment before its VM runs: wait for it.
        if not service.ready.wait(STARTING_TIMEOUT):
            self.send("refused", "this node is still starting")
            self.close("starting")
            return
        if kind == "repl":
            service.groups.add(self.group, self.output, self.error_output)
            self.session = service.make_session(_GroupHost(service.host, self.group), _ShellConsole(self))
            service.log(f"remote shell {self.name} connected from {self.where}")
        self.send("opened", identity.name, identity.address)

    def _answer(self, method: str, args: list) -> Any:
        view = VIEW_CALLS.get(method)
        if view is not None:
            return view(self.service)
        call = SESSION_CALLS.get(method)
        if call is None or self.session is None:
            raise P.ProtocolError(f"no call {method!r} on this connection")
        return call(self.session, args)

    def _end_session(self) -> None:
        session = self.session
        if self.service.groups is not None:
            self.service.groups.remove(self.group)
        if session is None:
            return
        try:
            session.interrupt()
            if session.stopped is not None:
                session.command(":abandon")
            session.close()
        except Exception as error:
            self.service.log(f"shell {self.name}: ending its session: {type(error).__name__}: {error}")
        self.service.log(f"remote shell {self.name} left")

    # ------------------------------------------------------------------ output (VM thread)

    def output(self, text: str) -> None:
        self._queue_output(text, False)

    def error_output(self, text: str) -> None:
        self._queue_output(text, True)

    def _queue_output(self, text: str, is_error: bool) -> None:
        with self._lock:
            full = self._queued_output + len(text) > OUTPUT_BACKLOG
            if not full:
                self._queued_output += len(text)
        if full:
            if not self._dropped:
                self._dropped = True
                self.send("output", "\n[output dropped: the shell does not keep up]\n", True)
            return
        self._dropped = False
        self.send("output", text, is_error)


def _text(args: list, index: int = 0) -> str:
    if len(args) <= index or type(args[index]) is not str:
        raise P.ProtocolError("expected a text argument")
    return args[index]


def _optional_text(args: list) -> str | None:
    return None if not args or args[0] is None else _text(args)


def _flag(args: list) -> bool:
    if not args or type(args[0]) is not bool:
        raise P.ProtocolError("expected a boolean argument")
    return args[0]


SESSION_CALLS: dict[str, Callable[[Any, list], Any]] = {
    "evaluate": lambda session, args: session.evaluate(_text(args)).to_plain(),
    "command": lambda session, args: session.command(_text(args)).to_plain(),
    "names": lambda session, args: list(session.names()),
    "selectors_for": lambda session, args: session.selectors_for(_optional_text(args)),
    "command_names": lambda session, args: session.command_names(),
    "set_interactive": lambda session, args: session.set_interactive(_flag(args)),
}

VIEW_CALLS: dict[str, Callable[[ShellService], Any]] = {
    "status": lambda service: service.status(),
    "processes": lambda service: service.processes(),
    "drain": lambda service: service.drain(),
}


class _GroupHost:
    """The node's VM host as one shell's session sees it: work it posts runs in the
    shell's output group, so the processes it spawns write to the shell."""

    def __init__(self, host: Any, group: object) -> None:
        self._host = host
        self._group = group

    def submit(self, work: Callable[[], Any]) -> Any:
        scheduler = self._host.scheduler

        def grouped() -> Any:
            scheduler.outside_group = self._group
            try:
                return work()
            finally:
                scheduler.outside_group = None
        return self._host.submit(grouped)

    def call(self, work: Callable[[], Any], timeout: float | None = 10.0) -> Any:
        return self.submit(work).result(timeout=timeout)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._host, name)


class _ShellConsole:
    """What a node-side session writes results and its own messages to: the shell."""

    line_open = False
    at_prompt = False
    failed = None

    def __init__(self, connection: ShellConnection) -> None:
        self._connection = connection

    def write(self, text: str) -> None:
        self._connection.output(text)

    def write_error(self, text: str) -> None:
        self._connection.error_output(text)

    def end_line(self) -> None:
        pass

    def flush(self) -> None:
        pass

    def show(self, text: str, is_error: bool = False) -> None:
        (self.write_error if is_error else self.write)(text if text.endswith("\n") else text + "\n")
