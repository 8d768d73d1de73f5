"""Remote objects with real nodes (DISTRIBUTION §6): a counter exported by node a and
used from b and c — synchronous sends, ~> sends, errors re-signalled with the far
text, callTimeout: firing on a call that never answers; a proxy passed on from b to c
reaches the same object, and two copies of it on c are ==; handles cannot be forged
(a guessed or altered handle gives #noobject and the export is untouched); and kill
-9 of the exporter breaks every pending promise and fails every waiting call with
#noconnection on the other nodes within the tick.

The programs run on b (and c, through remote spawn); a only exports. The counter's
class passes by reference; the references reach b in a message from a process b
spawned on a."""
from __future__ import annotations

import os
import re
import signal
import time

import cbor2
from cluster_support import COOKIE, write_class
from grpc_capture import node_frames
from rogue_client import RogueClient

from smalltalk_vm.node import frames as F
from smalltalk_vm.node.wire_tags import TAG_REMOTE_REF, TAG_SYMBOL

COUNTER = """RoCounter = (
    | n notes |
    increment = ( n := self count + 1. ^ n )
    count = ( ^ n ifNil: [ 0 ] )
    add: k = ( n := self count + k. ^ n )
    failWith: text = ( ^ self error: text )
    hang = ( ^ Process receive )
    exportsHere = ( ^ Remote exports )
    quit = ( Process current exit: #bye )
    note: x = ( notes isNil ifTrue: [ notes := Vector new ]. Process yield. notes append: x. ^ x )
    notes = ( ^ notes asArray )
    callBack: other = ( ^ other poke: self )
    callBackEventually: other = ( ^ other ~> poke: self )
    ----
    passByReference = ( ^ true )
)"""

POKER = """RoPoker = (
    poke: aCounter = ( ^ aCounter count )
)"""

HOME = """RoHome = (
    give: p = ( p send: { RoCounter new. RoCounter new } )
    gateTo: p = ( p send: Process receive )
)"""

PEER = """RoPeer = (
    take: p = (
        | first second results |
        first := Process receive.
        second := Process receive.
        results := Vector new.
        results append: (first == second); append: first printString.
        10 timesRepeat: [ first increment ].
        results append: (first ~> increment) wait.
        results append: ((Remote imports at: #nodes) at: #a).
        p send: results asArray.
        Process receive: [ :m | m == #done ] )
    waitOn: hanger tell: p = (
        | promise |
        promise := hanger ~> hang.
        p send: #waiting.
        p send: { 'c'. [ promise wait. 'answered' ] on: RemoteError do: [ :e | e reason printString ] } )
)"""

CLIENT = """RoClient = (
    say: text = ( text println )
    nodes = ( | a c | [ (a := Node named: #a) notNil and: [ (c := Node named: #c) notNil ] ]
                whileFalse: [ Process sleep: 10 ]. ^ { a. c } )
    caught: aBlock = ( ^ [ aBlock value. nil ] on: RemoteError do: [ :e | e ] )
    run = (
        | me a c pair counter hanger e t0 peer results gate |
        me := Process current.
        pair := self nodes. a := pair at: 1. c := pair at: 2.
        a spawn: RoHome selector: #give: arguments: { me }.
        pair := Process receive.
        counter := pair at: 1. hanger := pair at: 2.
        self say: 'proxy ' + counter printString + ' ' + counter isRemote printString + ' '
            + (counter remoteNode == a) printString + ' ' + (counter == (pair at: 1)) printString.
        self say: 'sync ' + counter increment printString + ' ' + counter increment printString.
        self say: 'eventual ' + (counter ~> increment) wait printString + ' '
            + ((counter ~> increment) then: [ :v | v * 10 ]) wait printString.
        e := self caught: [ counter failWith: 'the far text, exactly' ].
        self say: 'error ' + e messageText + '|' + e reason printString + '|' + e remoteClassName + '|'
            + ((e remoteTrace indexOf: 'RoCounter>>failWith:') > 0) printString.
        e := self caught: [ (counter ~> failWith: 'eventual text') wait ].
        self say: 'eventual error ' + e messageText + '|' + e reason printString.
        e := self caught: [ counter noSuchMessage: 3 ].
        self say: 'dnu ' + e messageText + '|' + e remoteClassName.
        e := self caught: [ counter quit ].
        self say: 'lives on ' + counter count printString + ' ' + e messageText.
        ((1 to: 30) collect: [ :i | counter ~> note: i ]) do: [ :p | p wait ].
        self say: 'in order ' + (counter notes = (1 to: 30)) printString.
        hanger callTimeout: 300.
        t0 := system time.
        e := self caught: [ hanger hang ].
        self say: 'timeout ' + e reason printString + ' ' + ((system time - t0) between: 299 and: 5000) printString
            + ' ' + e messageText.
        counter callTimeout: 500.
        e := self caught: [ counter callBack: RoPoker new asRemote ].
        self say: 'callback ' + e reason printString.
        self say: 'eventual callback ' + (counter callBackEventually: RoPoker new asRemote) printString.
        counter callTimeout: 30000.
        peer := c spawn: RoPeer selector: #take: arguments: { me }.
        peer send: counter. peer send: counter.
        results := Process receive.
        self say: 'on c ' + results printString.
        self say: 'same object ' + counter count printString.
        self say: 'exports ' + counter exportsHere printString.
        peer send: #done.
        t0 := system time.
        [ ((counter exportsHere at: #nodes) containsKey: #c) and: [ system time - t0 < 10000 ] ]
            whileTrue: [ Process sleep: 20 ].
        self say: 'released by c ' + counter exportsHere printString.
        gate := a spawn: RoHome selector: #gateTo: arguments: { me }.
        self say: 'gate ' + gate printString.
        Process receive.
        self say: 'untouched ' + counter count printString + ' ' + counter increment printString + ' '
            + ((counter exportsHere at: #total) = 2) printString.
        system exit: 0 )
)"""


def classes(folder) -> None:
    for source in (COUNTER, POKER, HOME, PEER, CLIENT):
        write_class(folder, source)


def reference_handles(frames) -> list[bytes]:
    """The handles of the references in the send frames seen."""
    handles = []

    def walk(item) -> None:
        if isinstance(item, cbor2.CBORTag):
            if item.tag == TAG_REMOTE_REF:
                handles.append(bytes(item.value[2]))
            else:
                walk(item.value)
        elif isinstance(item, (list, tuple)):
            for x in item:
                walk(x)
    for frame in frames:
        if frame.name == "send":
            walk(cbor2.loads(frame.fields[1]))
    return handles


def rogue_calls(address: str, handles: list[bytes], gate_pid: int) -> list:
    """A peer holding the cookie but not the handles: its calls on guessed and altered
    handles, and a release of one, then the message that lets b go on."""
    rogue = RogueClient(address, COOKIE.encode(), name="rogue")
    try:
        caller = rogue.handshake()
        rogue.open_channel(caller.session)
        args = cbor2.dumps([])
        for number, handle in enumerate(handles, 1):
            rogue.send(F.frame("call", number, handle, "increment", args, False))
        rogue.send(F.frame("release", [[handle, 1000] for handle in handles]))
        deadline = time.monotonic() + 20
        answers = []
        while len(answers) < len(handles) and time.monotonic() < deadline:
            answers = [item for message in list(rogue.received) for _, item in F.read_frames(message)
                       if item[0] == F.KIND["answer"]]
            time.sleep(0.05)
        rogue.send(F.frame("send", gate_pid, cbor2.dumps(cbor2.CBORTag(TAG_SYMBOL, "go"))))
        time.sleep(0.3)
        return answers
    finally:
        rogue.close()


def test_a_counter_exported_by_a_is_used_from_b_and_c(cluster, tmp_path) -> None:
    folder = tmp_path / "classes"
    classes(folder)
    a, a_proxy = cluster.proxied("a", classpath=[folder])
    c = cluster.start("c", join=[a], classpath=[folder])
    b = cluster.start("b", join=[a_proxy.address], classpath=[folder], program="RoClient")
    line = b.wait_out(r"^gate ", 60)
    gate_pid = int(re.search(r"Process\((\d+) on #a\)", line).group(1))
    real = reference_handles(node_frames(a_proxy.chunks("out")))
    assert len(real) >= 2, b.report()
    guessed = os.urandom(16)
    altered = bytes([real[0][0] ^ 1]) + real[0][1:]
    answers = rogue_calls(f"127.0.0.1:{a.port}", [guessed, altered], gate_pid)
    assert b.wait_exit(60) == 0, b.report() + a.report() + c.report()
    assert sorted(answer[1] for answer in answers) == [1, 2]
    for answer in answers:
        ok, record = answer[2], cbor2.loads(answer[3])
        assert ok is False and record[2] == cbor2.CBORTag(TAG_SYMBOL, "noobject"), record
    out = b.out.text().splitlines()[1:]
    assert out[0] == "proxy a RemoteProxy(a RoCounter on #a) true true true"
    assert out[1:5] == ["sync 1 2", "eventual 3 40", "error the far text, exactly|#error|Error|true",
                        "eventual error eventual text|#error"]
    assert out[5] == "dnu Method noSuchMessage: not found in class RoCounter|MessageNotUnderstood"
    assert out[6] == "lives on 4 the process serving the call ended: bye"
    assert out.pop(7) == "in order true"      # calls from one node run in the order it sent them
    assert out[7] == "timeout #timeout true #hang to a RoCounter on node a: no answer within 300 ms (#timeout)"
    assert out[8:10] == ["callback #timeout", "eventual callback 4"]   # a sync callback deadlocks; ~> does not
    assert out[10] == "on c #(true 'a RemoteProxy(a RoCounter on #a)' 15 1)"
    assert out[11] == "same object 15"
    assert out[12] == "exports a Dictionary(#total->2 #nodes->a Dictionary(#b->2 #c->1))"
    assert out[13] == "released by c a Dictionary(#total->2 #nodes->a Dictionary(#b->2))"
    assert out[15] == "untouched 15 16 true"


EXPORTER_LOSS = """RoLoss = (
    say: text = ( text println )
    run = (
        | e me a c pair counter hanger peer promises waiters outcomes |
        me := Process current.
        [ (a := Node named: #a) notNil and: [ (c := Node named: #c) notNil ] ] whileFalse: [ Process sleep: 10 ].
        a spawn: RoHome selector: #give: arguments: { me }.
        pair := Process receive.
        counter := pair at: 1. hanger := pair at: 2.
        hanger callTimeout: nil.
        peer := c spawn: RoPeer selector: #waitOn:tell: arguments: { hanger. me }.
        Process receive: [ :m | m == #waiting ].
        promises := (1 to: 3) collect: [ :i | hanger ~> hang ].
        promises := promises , { (hanger ~> hang) ~> add: 5 }.
        waiters := (1 to: 3) collect: [ :i | [ me send: { 'sync'.
            [ hanger hang. 'answered' ] on: RemoteError do: [ :e | e reason printString ] } ] spawn ].
        Process sleep: 300.
        self say: 'pending ' + (promises collect: [ :p | p isPending ]) printString.
        outcomes := promises collect: [ :p | [ p wait. 'answered' ] on: RemoteError do: [ :e | e reason printString ] ].
        self say: 'promises ' + outcomes printString.
        outcomes := (1 to: 4) collect: [ :i | Process receive: [ :m | m isArray ] ].
        self say: 'waiters ' + (outcomes collect: [ :m | (m at: 1) + ' ' + (m at: 2) ]) printString.
        e := [ counter increment. 'answered' ] on: RemoteError do: [ :err | err reason printString ].
        self say: 'broken proxy ' + e + ' ' + counter printString.
        system exit: 0 )
)"""


def test_kill_9_of_the_exporter_fails_every_waiting_call_and_promise_within_the_tick(cluster, tmp_path) -> None:
    folder = tmp_path / "classes"
    classes(folder)
    write_class(folder, EXPORTER_LOSS)
    a = cluster.start("a", classpath=[folder])
    c = cluster.start("c", join=[a], classpath=[folder])
    b = cluster.start("b", join=[a], classpath=[folder], program="RoLoss")
    b.wait_out(r"^pending ", 60)
    killed = time.monotonic()
    os.killpg(a.pid, signal.SIGKILL)
    assert b.wait_exit(30) == 0, b.report() + c.report()
    out = b.out.text().splitlines()[1:]
    assert out[0] == "pending #(true true true true)"
    assert out[1] == "promises #('#noconnection' '#noconnection' '#noconnection' '#noconnection')"
    assert sorted(re.findall(r"'(\w+ #\w+)'", out[2])) == ["c #noconnection"] + ["sync #noconnection"] * 3, out
    assert out[3] == "broken proxy #noconnection a RemoteProxy(a RoCounter on #a, broken: #noconnection)"
    settled = b.out.matching(r"^promises ")[0][0] - killed
    failed = b.out.matching(r"^waiters ")[0][0] - killed      # the calls waiting on b and c
    tick = cluster.tick / 1000
    print(f"promises broken {settled * 1000:.0f} ms and every waiting call failed {failed * 1000:.0f} ms "
          f"after kill -9 (tick {cluster.tick} ms)")
    assert settled < tick and failed < tick


def test_the_documented_worked_example_runs(cluster, tmp_path) -> None:
    from conftest import ROOT
    with open(os.path.join(ROOT, "docs", "distribution.md"), encoding="utf-8") as handle:
        text = handle.read()
    block = text[text.index('"Bank.som"'):]
    block = block[:block.index("```")]
    parts = re.split(r'^"(\w+)\.som[^"\n]*"\n', block, flags=re.M)
    folder = tmp_path / "bank"
    for source in parts[2::2]:
        write_class(folder, source.strip() + "\n")
    assert sorted(p.stem for p in folder.iterdir()) == ["Account", "Bank", "BankHome", "Teller"]
    a = cluster.start("a", classpath=[folder])
    b = cluster.start("b", join=[a], classpath=[folder], program="Teller")
    assert b.wait_exit(60) == 0, b.report() + a.report()
    assert b.out.text().splitlines()[1:] == ["100", "100", "a deposit must be positive", "#error"]


KEEPER = """RoKeeper = (
    keep = ( | counter | counter := RoCounter new. [ true ] whileTrue: [ Process receive send: counter ] )
)"""

REJOIN = """RoRejoin = (
    say: text = ( text println )
    run = (
        | me a keeper old fresh e down up |
        me := Process current.
        [ (a := Node named: #a) isNil ] whileTrue: [ Process sleep: 10 ].
        keeper := a spawn: RoKeeper selector: #keep arguments: #().
        keeper send: me.
        old := Process receive.
        Node monitorNodes: true.
        self say: 'before ' + old increment printString.
        down := Process receive: [ :m | m class == NodeDown ].
        up := Process receive: [ :m | m class == NodeUp ].
        self say: 'down ' + down reason printString + ', up again ' + (up node == a) printString.
        e := [ old increment. 'answered' ] on: RemoteError do: [ :err | err reason printString ].
        self say: 'old proxy ' + e + ' ' + old printString.
        keeper send: me.
        fresh := Process receive.
        self say: 'new reference ' + (fresh == old) printString + ' ' + fresh increment printString
            + ' ' + fresh printString.
        e := [ old count. 'answered' ] on: RemoteError do: [ :err | err reason printString ].
        self say: 'old proxy still ' + e.
        system exit: 0 )
)"""


def test_a_proxy_to_a_lost_node_stays_broken_when_the_node_comes_back(cluster, tmp_path) -> None:
    folder = tmp_path / "classes"
    classes(folder)
    write_class(folder, KEEPER)
    write_class(folder, REJOIN)
    a, proxy = cluster.proxied("a", classpath=[folder])
    b = cluster.start("b", join=[proxy.address], classpath=[folder], program="RoRejoin")
    b.wait_out(r"^before 1$", 60)
    proxy.cut()                                 # both sides see the connection close; b rejoins
    assert b.wait_exit(60) == 0, b.report() + a.report()
    assert len(a.err.matching(r"nodeup b ")) == 2, a.report()
    out = b.out.text().splitlines()[2:]
    assert out == ["down #noconnection, up again true",
                   "old proxy #noconnection a RemoteProxy(a RoCounter on #a, broken: #noconnection)",
                   "new reference false 2 a RemoteProxy(a RoCounter on #a)",
                   "old proxy still #noconnection"]


def test_remote_object_frames_naming_nothing_change_nothing_and_a_reused_question_closes(cluster) -> None:
    """A peer with the cookie sends each remote-object frame naming handles, questions,
    handoffs and embargoes that do not exist: calls are answered #noobject, the rest is
    ignored (the connection still answers a ping); a question number reused while its
    answer is kept breaks the protocol and closes that connection, not the node."""
    a = cluster.start("a")
    rogue = RogueClient(a.address, COOKIE.encode(), name="rogue")
    handle, args = os.urandom(F.HANDLE_SIZE), cbor2.dumps([])
    try:
        rogue.open_channel(rogue.handshake().session)
        for message in (F.frame("call", 1, handle, "foo", args, True),   # kept: no finish follows
                        F.frame("pcall", 2, 1, "bar", args),             # on the failed answer 1
                        F.frame("pcall", 3, 99, "bar", args),            # on no answer at all
                        F.frame("answer", 7, True, cbor2.dumps(3)), F.frame("finish", 42),
                        F.frame("renew", 1000, [handle]), F.frame("release", [[handle, 3]]),
                        F.frame("acquire", handle, "nobody", 5), F.frame("handoff_done", 9),
                        F.frame("disembargo", 77, 11), F.frame("disembargo_relay", handle, "nobody", 12),
                        F.frame("disembargo_done", 13), F.frame("ping", 4242)):
            rogue.send(message)
        deadline = time.monotonic() + 20
        frames: list = []
        while not any(item[0] == F.KIND["pong"] for item in frames) and time.monotonic() < deadline:
            time.sleep(0.05)
            frames = [item for message in list(rogue.received) for _, item in F.read_frames(message)]
        answers = {item[1]: (item[2], cbor2.loads(item[3])) for item in frames if item[0] == F.KIND["answer"]}
        assert sorted(answers) == [1, 2, 3], frames
        for ok, record in answers.values():
            assert ok is False and record[2] == cbor2.CBORTag(TAG_SYMBOL, "noobject"), record
        assert [item[1:] for item in frames if item[0] == F.KIND["disembargo_done"]] == [[11]]
        assert not rogue.ended.is_set()
        rogue.send(F.frame("call", 1, handle, "foo", args, False))
        assert rogue.ended.wait(10)
    finally:
        rogue.close()
    a.wait_err(r"nodedown rogue: noconnection \(.*question 1 is already being answered")
    assert a.popen.poll() is None
