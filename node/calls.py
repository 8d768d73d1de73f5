"""Messages to objects of other nodes: questions this node asks (a process waiting in a
synchronous send, a Promise of a ``~>`` send, a pipelined call it forwards), answers it
owes its peers, the processes that serve calls, pipelining and the embargo.

Rules (DISTRIBUTION §6; Cap'n Proto's questions and answers, E's promises):
- The asking node numbers its questions. A ``call`` names an export by handle; a
  ``pcall`` names an earlier question of the same asker whose answer is not known
  there yet: it waits in that answer and is delivered to the value once known, so a
  chain of ``~>`` sends costs one round trip. A question asked with ``keep`` (every
  ``~>``) keeps its answer on the answering node until the asker sends ``finish``, so
  pcalls sent meanwhile find it.
- Each object that calls are delivered to is served by one process at a time
  (``Remote class>>serveCalls``), which runs its calls one after another in arrival
  order, so calls from one node run in the order they were sent. The process ends when
  nothing is queued; a serving process that dies fails its current call and a new one
  serves the rest. A call whose method answers a Promise is answered when the promise
  settles, and the next call does not wait for it.
- A call delivered to a proxy (an answer that is an object of a third node) is
  forwarded there and its answer relayed.
- Embargo: when an answer that had calls pipelined on it turns out to be an object of
  another node than the one answering (or of this node), its Promise is settled only
  once the node answering has confirmed, through that object's node, that the
  pipelined calls are delivered there (``disembargo``/``_relay``/``_done``); sends made
  to the promise meanwhile are held and go first after it. So messages sent to one
  promise arrive in the order they were sent, wherever its answer lives.
- A node that is lost breaks every question asked of it (``#noconnection``): waiting
  processes get RemoteError, promises break, forwarded calls answer the error; the
  answers owed to it are forgotten (their calls still run).
- A frame that breaks the protocol (a question number in use, a malformed error
  record or arguments that are not an Array) raises BadFrame, which closes that
  connection.

VM thread only; never blocks: every answer is a frame, handled when it comes.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from smalltalk_vm.node import frames as F
from smalltalk_vm.node.codeload import BadFrame, CodeUnavailable
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.errors import SignalException
from smalltalk_vm.vm.objects import Instance, VArray, VString
from smalltalk_vm.vm.proxies import NOCONNECTION, NOOBJECT, Done, RemoteObject, article

PENDING, OK, FAILED = "pending", "ok", "failed"


class ErrorRecord(NamedTuple):
    """What a failed call answers: travels as an Array of these four."""
    class_name: str
    text: str
    reason: str          # error, noconnection, noobject, timeout
    trace: str


@dataclass(eq=False)
class Question:
    number: int
    node: str
    creation: int
    target: str                          # what was asked, for messages: "#foo to a Counter"
    done: Done | None = None             # a process parked in a synchronous send
    promise: Any = None                  # a ~> send
    relay: Answer | None = None          # a call this node forwards for a peer
    keep: bool = False
    timer: Any = None
    pipelined: int = 0                   # pcalls sent on its answer
    embargo: int = 0                     # waiting for disembargo_done with this number
    embargo_node: str = ""
    resolved: Any = None                 # the answer, while embargoed
    held: list | None = None             # sends to the promise while embargoed


@dataclass(eq=False)
class Answer:
    peer: str
    creation: int
    number: int
    keep: bool
    state: str = PENDING
    value: Any = None                    # the value, or the ErrorRecord
    waiting: list = field(default_factory=list)   # pcalls: (selector, arguments, Answer)


@dataclass(eq=False)
class Server:
    key: Any
    receiver: Any
    queue: deque = field(default_factory=deque)   # (selector, arguments, ticket)
    process: Any = None
    running: int = 0


class Calls:
    """Questions, answers and serving for one node runtime; ``table`` is its
    ``node.objects.RemoteObjectTable``. VM thread only; never blocks. A message that
    cannot be sent raises SignalException (WireError) into the sending process; frame
    handlers raise NeedCode or BadFrame for the runtime."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.rt = table.rt
        self.vm = table.rt.vm
        self.scheduler = table.rt.vm.scheduler
        self.questions: dict[int, Question] = {}
        self.next_question = 1
        self.promises: dict[int, Question] = {}      # id(promise) -> its question, while pending
        self.embargoes: dict[int, Question] = {}
        self.next_embargo = 1
        self.answers: dict[tuple[str, int], Answer] = {}
        self.tickets: dict[int, Answer] = {}
        self.next_ticket = 1
        self.servers: dict[Any, Server] = {}
        self.serving: dict[int, Server] = {}          # pid -> the server it runs
        self.scheduler.on_death.append(self._process_died)

    # ------------------------------------------------------------------ helpers

    def _reach(self, node: str, creation: int) -> Any:
        view = self.rt.peers.get(node)
        return view if view is not None and view.creation == creation else None

    def _new_question(self, **fields: Any) -> Question:
        question = Question(self.next_question, **fields)
        self.next_question += 1
        self.questions[question.number] = question
        return question

    @staticmethod
    def _target(selector: str, proxy: RemoteObject) -> str:
        return f"#{selector} to {article(proxy.class_name)} {proxy.class_name} on node {proxy.node}"

    def remote_error(self, record: ErrorRecord) -> Any:
        vm = self.vm
        return vm.make_exception("RemoteError", record.text, reason=vm.symbol(record.reason),
                                 remoteClassName=vm.new_string(record.class_name),
                                 remoteTrace=vm.new_string(record.trace))

    def _local_error(self, reason: str, text: str) -> ErrorRecord:
        return ErrorRecord("RemoteError", f"{text} (#{reason})", reason, "")

    def _encode_record(self, record: ErrorRecord) -> bytes:
        vm = self.vm
        return self.rt.encode(vm.new_array([vm.new_string(record.class_name), vm.new_string(record.text),
                                            vm.symbol(record.reason), vm.new_string(record.trace)]),
                              "an error")

    def _decode_record(self, view: Any, data: bytes) -> ErrorRecord:
        vm = self.vm
        value = self.rt.decode(view, data)
        items = value.items if type(value) is VArray else None
        if items is None or len(items) != 4 or not all(type(x) is VString for x in (items[0], items[1], items[3])) \
                or not V.is_symbol(items[2]):
            raise BadFrame("an error answer is [class name, text, reason, trace]")
        return ErrorRecord(items[0].chars, items[1].chars, vm.symbol_name(items[2]), items[3].chars)

    def _arguments(self, view: Any, data: bytes) -> VArray | ErrorRecord:
        """The decoded arguments of a call, or the error to answer it with."""
        try:
            args = self.rt.decode(view, data)
        except CodeUnavailable as error:
            return ErrorRecord("WireError", f"the arguments cannot be received on node {self.rt.name}: {error}",
                               "error", "")
        if type(args) is not VArray:
            raise BadFrame("the arguments of a call are an Array")
        return args

    # ------------------------------------------------------------------ promises

    def new_promise(self) -> Any:
        vm = self.vm
        cls = vm.kernel_class("Promise")
        promise = vm.new_instance(cls)
        promise.fields[vm.field_index(cls, "state")] = vm.symbol("pending")
        return promise

    def settle(self, promise: Any, ok: bool, value: Any) -> None:
        """Fulfil or break a Promise made here; its waiters and callbacks run in a
        process of their own."""
        vm = self.vm
        names = vm.all_field_names(promise.cls)
        fields = promise.fields
        state = names.index("state")
        if fields[state] != vm.symbol("pending"):
            return
        fields[state] = vm.symbol("fulfilled" if ok else "broken")
        fields[names.index("result")] = value
        if fields[names.index("waiters")] != V.NIL or fields[names.index("callbacks")] != V.NIL:
            self.scheduler.spawn_send(promise, "notifySettled", [])

    def _broken_promise(self, record: ErrorRecord) -> Any:
        promise = self.new_promise()
        self.settle(promise, False, self.remote_error(record))
        return promise

    # ------------------------------------------------------------------ asking (the VM's API)

    def call(self, proc: Any, proxy: RemoteObject, selector: str, args: list, done: Done) -> None:
        """A synchronous send: ``done`` gets the answer or the RemoteError."""
        target = self._target(selector, proxy)
        view = None if proxy.broken else self._reach(proxy.node, proxy.creation)
        if view is None:
            reason = proxy.broken or NOCONNECTION
            done(False, self.remote_error(self._unreachable(reason, target, proxy.node)))
            return
        data = self.rt.encode(self.vm.new_array(args), f"the arguments of {target}", to=view)
        question = self._new_question(node=view.name, creation=view.creation, target=target, done=done)
        if proxy.timeout_ms is not None:
            number, ms = question.number, proxy.timeout_ms
            question.timer = self.scheduler.add_timer(ms / 1000.0, lambda: self._timed_out(number, ms))
        view.conn.send(F.frame("call", question.number, proxy.handle, selector, data, False))

    def _unreachable(self, reason: str, target: str, node: str) -> ErrorRecord:
        if reason == NOOBJECT:
            return self._local_error(NOOBJECT, f"{target}: that object is gone (node {node} restarted)")
        return self._local_error(NOCONNECTION, f"{target}: node {node} is not connected")

    def _timed_out(self, number: int, ms: float) -> None:
        question = self.questions.pop(number, None)
        if question is not None and question.done is not None:
            question.done(False, self.remote_error(self._local_error(
                "timeout", f"{question.target}: no answer within {ms:g} ms")))

    def eventual(self, receiver: Any, selector: str, args: list) -> Any:
        """The Promise of ``receiver ~> selector args`` if it crosses to another node."""
        if type(receiver) is RemoteObject:
            return self.send_eventual(receiver, selector, args, self.new_promise())
        vm = self.vm
        if type(receiver) is not Instance or receiver.cls is not vm.kernel_class("Promise"):
            return None
        question = self.promises.get(id(receiver))
        if question is not None and question.promise is receiver:
            if question.held is not None:
                promise = self.new_promise()
                question.held.append((selector, args, promise))
                return promise
            return self._pipeline(question, selector, args)
        names = vm.all_field_names(receiver.cls)
        result = receiver.fields[names.index("result")]
        if type(result) is RemoteObject and receiver.fields[names.index("state")] == vm.symbol("fulfilled"):
            return self.send_eventual(result, selector, args, self.new_promise())
        return None

    def send_eventual(self, proxy: RemoteObject, selector: str, args: list, promise: Any) -> Any:
        target = self._target(selector, proxy)
        view = None if proxy.broken else self._reach(proxy.node, proxy.creation)
        if view is None:
            self.settle(promise, False, self.remote_error(
                self._unreachable(proxy.broken or NOCONNECTION, target, proxy.node)))
            return promise
        data = self.rt.encode(self.vm.new_array(args), f"the arguments of {target}", to=view)
        question = self._new_question(node=view.name, creation=view.creation, target=target, promise=promise,
                                      keep=True)
        self.promises[id(promise)] = question
        view.conn.send(F.frame("call", question.number, proxy.handle, selector, data, True))
        return promise

    def _pipeline(self, on: Question, selector: str, args: list) -> Any:
        """A ~> send to the promise of a remote answer not known yet: it goes now, to the
        node computing that answer."""
        target = f"#{selector} to the answer of {on.target}"
        view = self._reach(on.node, on.creation)
        if view is None:
            return self._broken_promise(self._local_error(NOCONNECTION, f"{target}: node {on.node} is not connected"))
        data = self.rt.encode(self.vm.new_array(args), f"the arguments of {target}", to=view)
        promise = self.new_promise()
        question = self._new_question(node=view.name, creation=view.creation, target=target, promise=promise,
                                      keep=True)
        self.promises[id(promise)] = question
        on.pipelined += 1
        view.conn.send(F.frame("pcall", question.number, on.number, selector, data))
        return promise

    # ------------------------------------------------------------------ answers to our questions

    def on_answer(self, view: Any, number: int, ok: bool, result: bytes) -> None:
        refs = self.table.incoming(view)
        if ok:
            try:
                value = self.rt.decode(view, result, refs=refs)
            except CodeUnavailable as error:
                ok, value = False, ErrorRecord("WireError", f"the answer cannot be received on node "
                                                            f"{self.rt.name}: {error}", "error", "")
        else:
            value = self._decode_record(view, result)
        question = self.questions.get(number)
        if question is None or question.node != view.name:
            return                           # timed out: the value is dropped (and its references released)
        del self.questions[number]
        if question.timer is not None:
            self.scheduler.cancel_timer(question.timer)
        if question.done is not None:
            question.done(ok, value if ok else self.remote_error(value))
        elif question.relay is not None:
            self.settle_answer(question.relay, ok, value)
        elif question.promise is not None:
            home = refs.reference_node(value) if ok else None
            if ok and question.pipelined and home is not None and home != view.name \
                    and (home == self.rt.name or home in self.rt.peers):
                self._embargo(view, question, value, home)
                return
            self._resolve(question, ok, value)

    def _resolve(self, question: Question, ok: bool, value: Any) -> None:
        self.promises.pop(id(question.promise), None)
        self.settle(question.promise, ok, value if ok else self.remote_error(value))
        view = self._reach(question.node, question.creation)
        if question.keep and view is not None:
            view.conn.send(F.frame("finish", question.number))

    def _embargo(self, view: Any, question: Question, value: Any, home: str) -> None:
        question.embargo = self.next_embargo
        self.next_embargo += 1
        question.embargo_node = home
        question.resolved = value
        question.held = []
        self.embargoes[question.embargo] = question
        view.conn.send(F.frame("disembargo", question.number, question.embargo))

    def on_disembargo_done(self, view: Any, embargo: int) -> None:
        question = self.embargoes.get(embargo)
        if question is None or view.name not in (question.node, question.embargo_node):
            return
        del self.embargoes[embargo]
        held, question.held = question.held or [], None
        value = question.resolved
        self._resolve(question, True, value)
        for selector, args, promise in held:
            if type(value) is RemoteObject:
                try:
                    self.send_eventual(value, selector, args, promise)
                except SignalException as error:
                    self.settle(promise, False, self.vm.make_exception(error.class_name, error.message_text))
            else:
                self.scheduler.spawn_send(self.vm.kernel_class("Remote"), "perform:on:with:into:",
                                          [self.vm.symbol(selector), value, self.vm.new_array(args), promise])

    # ------------------------------------------------------------------ questions from peers

    def _open_answer(self, view: Any, number: int, keep: bool) -> Answer:
        key = (view.name, number)
        if key in self.answers:
            raise BadFrame(f"question {number} is already being answered")
        answer = self.answers[key] = Answer(view.name, view.creation, number, keep)
        return answer

    def on_call(self, view: Any, number: int, handle: bytes, selector: str, arguments: bytes, keep: bool) -> None:
        args = self._arguments(view, arguments)
        answer = self._open_answer(view, number, keep)
        if type(args) is ErrorRecord:
            self.settle_answer(answer, False, args)
            return
        export = self.table.exports.lookup(handle)
        if export is None:
            self.settle_answer(answer, False, self._local_error(
                NOOBJECT, f"#{selector}: node {self.rt.name} has no such object "
                          "(released, its lease lapsed, or never exported)"))
            return
        self.deliver(export.obj, self.vm.symbol(selector), args, answer)

    def on_pcall(self, view: Any, number: int, on: int, selector: str, arguments: bytes) -> None:
        args = self._arguments(view, arguments)
        answer = self._open_answer(view, number, True)
        if type(args) is ErrorRecord:
            self.settle_answer(answer, False, args)
            return
        earlier = self.answers.get((view.name, on))
        symbol = self.vm.symbol(selector)
        if earlier is None:
            self.settle_answer(answer, False, self._local_error(
                NOOBJECT, f"#{selector}: node {self.rt.name} has no answer {on} to deliver it to"))
        elif earlier.state == PENDING:
            earlier.waiting.append((symbol, args, answer))
        else:
            self._apply(earlier, symbol, args, answer)

    def _apply(self, earlier: Answer, selector: int, args: VArray, answer: Answer) -> None:
        if earlier.state == FAILED:
            self.settle_answer(answer, False, earlier.value)
        else:
            self.deliver(earlier.value, selector, args, answer)

    def on_finish(self, view: Any, number: int) -> None:
        answer = self.answers.get((view.name, number))
        if answer is None:
            return
        if answer.state == PENDING:
            answer.keep = False               # forgotten once settled
        else:
            del self.answers[(view.name, number)]

    def on_disembargo(self, view: Any, number: int, embargo: int) -> None:
        answer = self.answers.get((view.name, number))
        value = answer.value if answer is not None and answer.state == OK else None
        if type(value) is RemoteObject and not value.broken:
            home = self._reach(value.node, value.creation)
            if home is not None:               # after the calls forwarded there: it tells the asker
                home.conn.send(F.frame("disembargo_relay", value.handle, view.name, embargo))
                return
        view.conn.send(F.frame("disembargo_done", embargo))

    def on_disembargo_relay(self, view: Any, handle: bytes, requester: str, embargo: int) -> None:
        if requester == self.rt.name:
            self.on_disembargo_done(view, embargo)
            return
        asker = self.rt.peers.get(requester)
        if asker is not None:
            asker.conn.send(F.frame("disembargo_done", embargo))

    def settle_answer(self, answer: Answer, ok: bool, value: Any) -> None:
        """The answer is known: send it (if its asker is still there), keep it for
        pipelined calls if asked to, and deliver the calls waiting in it."""
        if answer.state != PENDING:
            return
        key = (answer.peer, answer.number)
        current = self.answers.get(key) is answer
        view = self._reach(answer.peer, answer.creation) if current else None
        data = None
        if view is not None and ok:
            try:
                data = self.rt.encode(value, "an answer", to=view)
            except SignalException as error:
                ok, value = False, ErrorRecord(error.class_name, f"the answer cannot be sent: {error.message_text}",
                                               "error", "")
        # Pipelined calls go to the object itself, not to asRemote's wrapper.
        answer.state, answer.value = (OK, self.table.unwrap(value)) if ok else (FAILED, value)
        if view is not None:
            view.conn.send(F.frame("answer", answer.number, ok, data if ok else self._encode_record(value)))
        if current and not answer.keep:
            del self.answers[key]
        waiting, answer.waiting = answer.waiting, []
        for selector, args, later in waiting:
            self._apply(answer, selector, args, later)

    # ------------------------------------------------------------------ serving

    def deliver(self, receiver: Any, selector: int, args: VArray, answer: Answer) -> None:
        """Queue a call for the process serving ``receiver`` (or forward it, if
        ``receiver`` is itself a proxy)."""
        if type(receiver) is RemoteObject:
            self._forward(receiver, selector, args, answer)
            return
        ticket = self.next_ticket
        self.next_ticket += 1
        self.tickets[ticket] = answer
        key = ("value", type(receiver), receiver) if type(receiver) in (int, float) else id(receiver)
        server = self.servers.get(key)
        if server is None:
            server = self.servers[key] = Server(key, receiver)
        server.queue.append((selector, args, ticket))
        if server.process is None:
            self._start_serving(server)

    def _start_serving(self, server: Server) -> None:
        proc = self.scheduler.spawn_send(self.vm.kernel_class("Remote"), "serveCalls", [])
        server.process = proc
        self.serving[proc.pid] = server

    def _forward(self, proxy: RemoteObject, selector: int, args: VArray, answer: Answer) -> None:
        name = self.vm.symbol_name(selector)
        target = self._target(name, proxy)
        view = None if proxy.broken else self._reach(proxy.node, proxy.creation)
        if view is None:
            self.settle_answer(answer, False, self._unreachable(proxy.broken or NOCONNECTION, target, proxy.node))
            return
        try:
            data = self.rt.encode(args, f"the arguments of {target}", to=view)
        except SignalException as error:
            self.settle_answer(answer, False, ErrorRecord(error.class_name, error.message_text, "error", ""))
            return
        question = self._new_question(node=view.name, creation=view.creation, target=target, relay=answer)
        view.conn.send(F.frame("call", question.number, proxy.handle, name, data, False))

    def next_call(self, proc: Any) -> Any:
        server = self.serving.get(getattr(proc, "pid", None))
        if server is None or server.process is not proc:
            return V.NIL
        if not server.queue:
            del self.serving[proc.pid]
            if self.servers.get(server.key) is server:
                del self.servers[server.key]
            return V.NIL
        selector, args, ticket = server.queue.popleft()
        server.running = ticket
        return self.vm.new_array([server.receiver, selector, args, self.vm.make_int(ticket)])

    def answer(self, ticket: int, value: Any) -> bool:
        answer = self.tickets.pop(ticket, None)
        if answer is None:
            return False
        self.settle_answer(answer, True, value)
        return True

    def fail(self, ticket: int, class_name: str, text: str, trace: str) -> bool:
        answer = self.tickets.pop(ticket, None)
        if answer is None:
            return False
        self.settle_answer(answer, False, ErrorRecord(class_name, text, "error", trace))
        return True

    def _process_died(self, proc: Any, reason: Any) -> None:
        server = self.serving.pop(getattr(proc, "pid", None), None)
        if server is None or server.process is not proc:
            return
        server.process = None
        if server.running in self.tickets:
            why = self.rt.machine.describe_reason(reason)
            self.fail(server.running, "Error", f"the process serving the call ended: {why}", "")
        if server.queue:
            self._start_serving(server)
        elif self.servers.get(server.key) is server:
            del self.servers[server.key]

    # ------------------------------------------------------------------ a lost node

    def node_lost(self, name: str) -> None:
        for question in [q for q in self.questions.values() if q.node == name]:
            del self.questions[question.number]
            if question.timer is not None:
                self.scheduler.cancel_timer(question.timer)
            record = self._local_error(NOCONNECTION, f"{question.target}: the connection to node {name} was lost")
            if question.done is not None:
                question.done(False, self.remote_error(record))
            elif question.relay is not None:
                self.settle_answer(question.relay, False, record)
            elif question.promise is not None:
                self.promises.pop(id(question.promise), None)
                self.settle(question.promise, False, self.remote_error(record))
        for embargo, question in list(self.embargoes.items()):
            if name in (question.node, question.embargo_node):
                del self.embargoes[embargo]
                record = self._local_error(NOCONNECTION, f"{question.target}: the connection to node {name} was lost")
                self.promises.pop(id(question.promise), None)
                self.settle(question.promise, False, self.remote_error(record))
                for _, _, promise in question.held or ():
                    self.settle(promise, False, self.remote_error(record))
        for key in [k for k in self.answers if k[0] == name]:
            del self.answers[key].waiting[:]
            del self.answers[key]
