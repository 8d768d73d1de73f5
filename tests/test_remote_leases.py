"""Leases and release of exported objects, with real nodes and a 1-second lease
(DISTRIBUTION §6): renewals keep an export alive past its lease; collecting the last
proxy on the importer frees the export within one renewal period (lease/3); 1,000
exports imported and dropped leave 0 exports and 0 imports; kill -9 of the importing
node frees the export within 2 s; and an importer that stops answering (SIGSTOP,
with a tick far longer than the lease, so it is not declared down) lets its lease
lapse, which frees the export within 2 s too.

Node a's program prints its export count whenever it changes; the test reads when
each line arrived."""
from __future__ import annotations

import signal
import time

from cluster_support import write_class

LEASE = 1000
TICK = 20000        # no node is declared down by silence here: only a closed connection or a lease

THING = """RlThing = (
    ping = ( ^ #pong )
    ----
    passByReference = ( ^ true )
)"""

HOME = """RlHome = (
    give: p count: n = ( p send: ((1 to: n) collect: [ :i | RlThing new ]) )
)"""

EXPORTER = """RlExporter = (
    run = (
        | last now |
        last := -1.
        [ true ] whileTrue: [
            now := Remote exports at: #total.
            now = last ifFalse: [ ('exports ' + now printString) println. last := now ].
            Process sleep: 5 ] )
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
        many := nil.
        [ (Remote imports at: #total) > 0 ] whileTrue: [ Process sleep: 10 ].
        self say: 'imports 0'.
        p := (self fetch: 1 from: a) at: 1.
        self say: 'holding again ' + p ping printString.
        Process receive )
)"""


def test_leases_renewals_and_release(cluster, tmp_path) -> None:
    folder = tmp_path / "classes"
    for source in (THING, HOME, EXPORTER, IMPORTER):
        write_class(folder, source)
    lease = ("--lease", str(LEASE))
    a = cluster.start("a", *lease, classpath=[folder], program="RlExporter", tick=TICK)
    b = cluster.start("b", *lease, join=[a], classpath=[folder], program="RlImporter", tick=TICK)
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
