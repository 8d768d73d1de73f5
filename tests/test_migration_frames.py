"""The migration frames (100-111) from a hostile peer (tests/rogue_client.py): a bundle
that is not one, or is cut short, is refused with the reason and the node goes on;
commits, queries, answers and exits for moves that do not exist change nothing; a
request to move a process that does not exist is answered with the reason; a relink
naming something that is not a process closes that connection, never the node."""
from __future__ import annotations

from cluster_support import COOKIE
from rogue_client import RogueClient
from test_hot_code_frames import answers

from smalltalk_vm.node import frames as F

NIL = bytes([0xF6])         # the wire encoding of nil (docs/wire.md)
THREE = bytes([0x03])       # of the Integer 3


def test_hostile_migration_frames_are_refused_or_ignored_and_the_node_goes_on(cluster) -> None:
    a = cluster.start("a")
    rogue = RogueClient(a.address, COOKIE.encode())
    try:
        caller = rogue.handshake()
        rogue.open_channel(caller.session)
        for frame in (
            F.frame("migrate", 1, 5, b"not a bundle"),
            F.frame("migrate", 2, 5, b""),
            F.frame("migrate_commit", 3, True),
            F.frame("migrate_commit", 1, True),
            F.frame("migrate_query", 4),
            F.frame("migrate_answer", 9, 3, None),
            F.frame("moved_exit", 1, NIL),
            F.frame("moved_signal", 1, NIL, NIL),
            F.frame("relink_end"),
            F.frame("migrate_request", 6, 424242, "a"),
            F.frame("migrate_reply", 7, NIL, "no such request"),
            F.frame("ping", 8),
        ):
            rogue.send(frame)
        refused = {item[1]: item[3] for item in answers(rogue, "migrate_answer", 3)}
        assert refused[1] and refused[2], refused                   # each names why
        assert refused[4] == "it did not reach this node"
        assert answers(rogue, "relinked", 1)
        reply = answers(rogue, "migrate_reply", 1)[0]
        assert reply[1] == 6 and "424242" in reply[3] and "ended" in reply[3]
        answers(rogue, "migrate_commit", 1)      # the answer to a move nobody started: forget it
        assert answers(rogue, "pong", 1)[0][1] == 8
        rogue.send(F.frame("relink", 3, THREE))
        assert rogue.ended.wait(10)                                  # that connection is closed
    finally:
        rogue.close()
    a.wait_err(r"bad relink frame: relink names a process")
    assert a.popen.poll() is None                                    # the node goes on
