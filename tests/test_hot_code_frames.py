"""The hot-load frames (70-75) from a hostile peer (tests/rogue_client.py): answers to
loads that do not exist are ignored, a commit with nothing prepared and an aborted
load are answered with the reason, a bad definition is refused by the checker, a
`loaded_code` that does not compile, redefines a kernel class or names another class
than its text is logged and installs nothing — and the node goes on answering, with a
clock a hostile stamp did not push out of range; a definition over the frame limit is
refused for every peer before anything is sent; a second load of a class is refused
while one is prepared."""
from __future__ import annotations

import time

from cluster_support import COOKIE, write_class
from rogue_client import RogueClient

from smalltalk_vm.node import frames as F


def answers(rogue: RogueClient, kind: str, count: int, timeout: float = 20.0) -> list[list]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [item for message in list(rogue.received) for spec, item in F.read_frames(message)
                 if spec.name == kind]
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} {kind} frames: {rogue.received}")


PUSHER = """PushFromA = (
    push: replyTo = (
        | big |
        big := [ (Cluster load: 'Big = ( v = ( ^ ''' + (String new: 70000 withAll: $x) + ''' ) )') wait ]
            on: LoadRefused do: [ :e | e refusals at: #b ].
        replyTo send: big.
        replyTo send: (Cluster load: 'Late = ( v = ( ^ 1 ) )') wait )
    run = (
        | a |
        [ (a := Node named: #a) isNil ] whileTrue: [ Process sleep: 10 ].
        a spawn: PushFromA selector: #push: arguments: { Process current }.
        ('big ' + (Process receiveWithin: 20000 ifTimeout: [ nil ])) println.
        ('pushed ' + ((Process receiveWithin: 20000 ifTimeout: [ nil ]) = Late version) printString) println.
        system exit: 0 )
)"""


def test_hostile_hot_load_frames_change_nothing_and_the_node_goes_on(cluster, tmp_path) -> None:
    a = cluster.start("a", "--max-frame", "65536")
    rogue = RogueClient(a.address, COOKIE.encode())
    try:
        caller = rogue.handshake()
        rogue.open_channel(caller.session)
        for frame in (
            F.frame("load_prepared", 999, None),
            F.frame("load_installed", 5, "abc", None),
            F.frame("load_commit", 77),
            F.frame("load_prepare", 1, 1, "Foo = ( x = ( ^ 1 ) "),
            F.frame("load_prepare", 2, 2, "Rogue = ( hi = ( ^ 1 ) )"),
            F.frame("load_abort", 2),
            F.frame("load_commit", 2),
            F.frame("load_prepare", 3, 3, "3 + 4"),
            F.frame("load_prepare", 4, 2 ** 64 - 1, "Object = ( )"),
            F.frame("loaded_code", "Object", "x", "Object = ( )", 9, "rogue"),
            F.frame("loaded_code", "Evil", "x", "Evil = ( x = ( ^ ", 9, "rogue"),
            F.frame("loaded_code", "Named", "x", "Other = ( )", 9, "rogue"),
            F.frame("load_prepare", 5, 5, "Held = ( v = ( ^ 1 ) )"),
            F.frame("load_prepare", 6, 6, "Held >> v = ( ^ 2 )"),
            F.frame("load_abort", 5),
            F.frame("load_prepare", 7, 7, "Held = ( v = ( ^ 3 ) )"),
            F.frame("load_abort", 7),
            F.frame("ping", 7),
        ):
            rogue.send(frame)
        prepared = {item[1]: item[2] for item in answers(rogue, "load_prepared", 7)}
        assert prepared[1].startswith("<Cluster load>:1:") and "unexpected end of input" in prepared[1]
        assert prepared[2] is None
        assert "not a class or method definition" in prepared[3]
        assert "Object is a kernel class" in prepared[4]
        # one load of a class at a time: a second is refused while the first is prepared
        assert prepared[5] is None and prepared[7] is None
        assert prepared[6] == "another Cluster load of Held is under way (from node rogue)"
        installed = {item[1]: item[3] for item in answers(rogue, "load_installed", 2)}
        assert installed == {77: "nothing prepared for this load (it expired)",
                             2: "nothing prepared for this load (it expired)"}
        assert answers(rogue, "pong", 1) == [[F.KIND["pong"], 7]]
        a.wait_err("cannot load class Object loaded in the cluster, from rogue: .*kernel class")
        a.wait_err("cannot load class Evil loaded in the cluster, from rogue: <Cluster load>:1:")
        a.wait_err("cannot load class Named loaded in the cluster, from rogue: the text does not define it")
        assert not a.err.matching("hot loaded|loaded class (Rogue|Other|Evil)"), a.report()
    finally:
        rogue.close()
    # The node goes on, and its clock stayed a frame field despite the stamp 2^64 - 1:
    # a load it starts reaches another node.
    write_class(tmp_path, PUSHER)
    b = cluster.start("b", join=[a], classpath=[tmp_path], program="PushFromA")
    assert b.wait_exit(60) == 0, b.report() + a.report()
    assert "pushed true" in b.out.text(), b.report()
    assert "big the definition is 70086 bytes, over the 65536-byte frame limit" in b.out.text(), b.report()
    assert not a.err.matching("Big"), a.report()
