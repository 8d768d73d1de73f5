"""Leases and release of exported objects, with real nodes and a 1-second lease
(DISTRIBUTION §6): renewals keep an export alive past its lease, and go in one frame
per peer every lease/3 naming every handle held (the frames crossing a fault proxy in
front of the exporter show it); collecting the last proxy on the importer frees the
export within one renewal period (lease/3); 1,000 exports imported and dropped leave
0 exports and 0 imports; kill -9 of the importing node frees the export within 2 s;
and an importer that stops answering (SIGSTOP, with a tick far longer than the lease,
so it is not declared down) lets its lease lapse, which frees the export within 2 s
too.

Node a's program prints its export count whenever it changes; the test reads when
each line arrived."""
from __future__ import annotations

import signal
import time

from cluster_support import write_class
from grpc_capture import node_frames

LEASE = 1000
TICK = 20000        # no node is declared down by silence here: only a closed connection or a lease

THING = """RlThing = (
    ping = ( ^ #pong )
    ----
    passByReference = ( ^ true )
)"""

HOME = """RlHome = (
    give: p count: n = ( p send: ((1 to: n) collect: [ :i | RlThing new ]) )
    "answers once the exporter has printed 'exports 0' (it polls every 5 ms, and a new
    import right after the release could otherwise land between two of its polls)"
    printedNoExportsTo: p = (
        [ RlExporter printed = 0 ] whileFalse: [ Process sleep: 5 ].
        p send: #printed )
)"""

EXPORTER = """RlExporter = (
    run = (
        | last now |
        last := -1.
        [ true ] whileTrue: [
            now := Remote exports at: #total.
            now = last ifFalse: [ ('exports ' + now printString) println. last := now. RlExporter printed: now ].
            Process sleep: 5 ] )
    ----
    | printed |
    printed = ( ^ printed )
    printed: count = ( printed := count )
)"""

IMPORTER = """RlImporter = (
    say: text = ( text println )
    fetch: n from: a = (
        a spawn: RlHome selector: #give:count: arguments: { Process current. n }.
        ^ Process receive )
    run = (
        | a p many |
        [ (a := Node named: #a) isNil ] whileTrue: [ Process sleep: 10 ].
        p := (self fetch: 1 from: a) at: 1.
        self say: 'holding ' + p ping printString.
        Process sleep: 2500.
        self say: 'still ' + p ping printString.
        self say: 'dropping'.
        p := nil.
        many := self fetch: 1000 from: a.
        self say: 'imported ' + (Remote imports at: #total) printString + ' ' + (many at: 500) ping printString.
        Process sleep: 800.
        many := nil.
        [ (Remote imports at: #total) > 0 ] whileTrue: [ Process sleep: 10 ].
        self say: 'imports 0'.
        a spawn: RlHome selector: #printedNoExportsTo: arguments: { Process current }.
        Process receive: [ :m | m == #printed ] within: 20000 ifTimeout: [ self say: 'exports never 0' ].
        p := (self fetch: 1 from: a) at: 1.
        self say: 'holding again ' + p ping printString.
        Process receive )
)"""


def test_leases_renewals_and_release(cluster, tmp_path) -> None:
    folder = tmp_path / "classes"
    for source in (THING, HOME, EXPORTER, IMPORTER):
        write_class(folder, source)
    lease = ("--lease", str(LEASE))
    a, proxy = cluster.proxied("a", *lease, classpath=[folder], program="RlExporter", tick=TICK)
    b = cluster.start("b", *lease, join=[proxy.address], classpath=[folder], program="RlImporter", tick=TICK)
    period = LEASE / 3 / 1000

    b.wait_out(r"^still #pong$", 60)
    # renewals kept it for 2.5 leases: nothing was freed meanwhile
    assert [line for _, line in a.out.matching(r"^exports ")] == ["exports 0", "exports 1"], a.report()
    dropped = b.out.wait(r"^dropping$", 10)[0]
    freed = a.out.wait(r"^exports 0$", 10, count=2)[0]
    print(f"the last proxy collected: export freed {(freed - dropped) * 1000:.0f} ms later "
          f"(renewal period {period * 1000:.0f} ms)")
    assert freed - dropped < period

    b.wait_out(r"^imports 0$", 30)
    a.wait_out(r"^exports 1000$", 10)
    a.out.wait(r"^exports 0$", 10, count=3)
    assert b.out.matching(r"^imported ")[0][1] == "imported 1000 #pong"
    # renewals are batched: one frame per peer every lease/3, naming every handle held
    renewals = [f for f in node_frames(proxy.chunks("in")) if f.name == "renew"]
    assert renewals[0].fields == [LEASE, []]                # the lease, announced at once
    held_one = [f for f in renewals if f.time < dropped]
    assert all(len(f.fields[1]) == 1 for f in held_one[1:])
    assert 4 <= len(held_one) - 1 <= 10                     # ~2.5 s / 333 ms while it held one
    batched = [f for f in renewals if len(f.fields[1]) == 1000]
    assert 1 <= len(batched) <= 4 and all(len(set(f.fields[1])) == 1000 for f in batched)
    print(f"renew frames: {len(held_one) - 1} while holding 1 reference for 2.5 s, "
          f"{len(batched)} of 1000 handles each while holding 1000 for 0.8 s")

    b.wait_out(r"^holding again #pong$", 30)
    a.out.wait(r"^exports 1$", 10, count=2)
    killed = time.monotonic()
    b.signal(signal.SIGKILL)
    freed = a.out.wait(r"^exports 0$", 10, count=4)[0]
    print(f"kill -9 of the importer: export freed {(freed - killed) * 1000:.0f} ms later")
    assert freed - killed < 2.0

    c = cluster.start("c", *lease, join=[a], classpath=[folder], program="RlImporter", tick=TICK)
    c.wait_out(r"^holding ", 60)
    a.out.wait(r"^exports 1$", 10, count=3)
    c.signal(signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        freed = a.out.wait(r"^exports 0$", 10, count=5)[0]
    finally:
        c.signal(signal.SIGCONT)
    print(f"an importer stopped: its lease lapsed and the export was freed {(freed - stopped) * 1000:.0f} ms later")
    assert freed - stopped < 2.0
    assert not a.err.matching("nodedown c")      # freed by the lease, not by a nodedown
