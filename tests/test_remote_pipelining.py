"""Promise pipelining and the embargo, with real nodes and a fault proxy delaying the
link (DISTRIBUTION §6).

- With 100 ms added each way between b and the bank's node a,
  `((bank ~> accountNamed: 'x') ~> balance) wait` takes one round trip (less than 1.5
  times a synchronous send's), where two sequential synchronous sends take two; the
  frames crossing the proxy show why: both requests went out before the first answer
  came back, and nothing else was asked.
- E-order across resolution: an answer that turns out to be an object of a third
  node x (reached from a over a link slowed by 400 ms) had calls pipelined to it; the
  promise settles only once those are delivered at x, so sends made directly
  afterwards arrive after them."""
from __future__ import annotations

import re

from cluster_support import write_class
from grpc_capture import node_frames

BANK = """RpBank = (
    | accounts |
    accountNamed: name = (
        accounts isNil ifTrue: [ accounts := Dictionary new ].
        ^ (accounts at: name ifAbsentPut: [ RpAccount new ]) asRemote )
    ping = ( ^ #pong )
    ----
    passByReference = ( ^ true )
)"""

ACCOUNT = """RpAccount = (
    | balance |
    balance = ( ^ balance ifNil: [ 100 ] )
)"""

HOME = """RpHome = (
    give: p = ( p send: RpBank new )
    giveLog: p = ( p send: RpLog new )
    giveHolder: p = ( p send: RpHolder new )
)"""

LOG = """RpLog = (
    | entries |
    add: x = ( entries isNil ifTrue: [ entries := Vector new ]. entries append: x. ^ x )
    entries = ( ^ entries isNil ifTrue: [ #() ] ifFalse: [ entries asArray ] )
    ----
    passByReference = ( ^ true )
)"""

HOLDER = """RpHolder = (
    | log |
    keep: aLog = ( log := aLog )
    log = ( ^ log )
    ----
    passByReference = ( ^ true )
)"""

TIMING = """RpTiming = (
    say: text = ( text println )
    micros: aBlock = ( | t0 | t0 := system ticks. aBlock value. ^ system ticks - t0 )
    best: aBlock = ( ^ ((1 to: 3) collect: [ :i | self micros: aBlock ]) inject: 1000000000 into: [ :m :t | m min: t ] )
    run = (
        | a bank one two piped value |
        [ (a := Node named: #a) isNil ] whileTrue: [ Process sleep: 10 ].
        a spawn: RpHome selector: #give: arguments: { Process current }.
        bank := Process receive.
        5 timesRepeat: [ bank ping. ((bank ~> accountNamed: 'x') ~> balance) wait. (bank accountNamed: 'x') balance ].
        self say: 'ready'.
        Process sleep: 1500.
        one := self best: [ bank ping ].
        two := self best: [ (bank accountNamed: 'x') balance ].
        piped := self best: [ value := ((bank ~> accountNamed: 'x') ~> balance) wait ].
        self say: 'one ' + one printString + ' two ' + two printString + ' piped ' + piped printString
            + ' value ' + value printString.
        system exit: 0 )
)"""


def test_a_pipelined_chain_costs_one_round_trip(cluster, tmp_path) -> None:
    folder = tmp_path / "classes"
    for source in (BANK, ACCOUNT, HOME, TIMING):
        write_class(folder, source)
    a, proxy = cluster.proxied("a", classpath=[folder])
    b = cluster.start("b", join=[proxy.address], classpath=[folder], program="RpTiming")
    b.wait_out(r"^ready$", 60)
    proxy.delay("in", 0.1)
    proxy.delay("out", 0.1)
    assert b.wait_exit(60) == 0, b.report() + a.report()
    line = b.out.text().splitlines()[-1]
    one, two, piped, value = (int(x) for x in re.match(r"one (\d+) two (\d+) piped (\d+) value (\d+)", line).groups())
    print(f"one round trip {one / 1000:.0f} ms, two sequential sends {two / 1000:.0f} ms, "
          f"the pipelined chain {piped / 1000:.0f} ms ({piped / one:.2f} round trips)")
    assert value == 100
    assert one >= 200_000                       # the delays are in force
    assert piped < 1.5 * one
    assert two > 1.7 * one
    requests = node_frames(proxy.chunks("in"))
    answers = node_frames(proxy.chunks("out"))
    pcalls = [f for f in requests if f.name == "pcall"]
    assert len(pcalls) == 5 + 3                 # one per chain run: warm-up and measured
    for pcall in pcalls[-3:]:
        question, on = pcall.fields[0], pcall.fields[1]
        call = next(f for f in requests if f.name == "call" and f.fields[0] == on)
        replies = [f for f in answers if f.name == "answer" and f.fields[0] in (question, on)]
        assert call.fields[2] == "accountNamed:" and pcall.fields[2] == "balance" and len(replies) == 2
        asked = [f for f in requests if f.name in ("call", "pcall") and call.time <= f.time < replies[0].time]
        assert asked == [call, pcall]           # both requests out before the first answer came back
    sequential = [f for f in requests if f.name == "call" and f.fields[2] == "balance"][-1]
    first = next(f for f in requests if f.name == "call" and f.fields[0] == sequential.fields[0] - 1)
    first_answer = next(f for f in answers if f.name == "answer" and f.fields[0] == first.fields[0])
    assert sequential.time > first_answer.time  # the second sync send waited for the first answer


EMBARGO = """RpEmbargo = (
    say: text = ( text println )
    run = (
        | a x holder log p q t0 waited |
        [ (a := Node named: #a) notNil and: [ (x := Node named: #x) notNil ] ] whileFalse: [ Process sleep: 10 ].
        a spawn: RpHome selector: #giveHolder: arguments: { Process current }.
        holder := Process receive.
        x spawn: RpHome selector: #giveLog: arguments: { Process current }.
        log := Process receive.
        holder keep: log.
        self say: 'ready'.
        Process sleep: 1500.
        p := holder ~> log.
        p ~> add: 1.
        q := p ~> add: 2.
        t0 := system ticks.
        p wait.
        waited := system ticks - t0.
        p result add: 3.
        (p ~> add: 4) wait.
        q wait.
        self say: 'entries ' + log entries printString + ' ' + (p result == log) printString
            + ' waited ' + waited printString.
        system exit: 0 )
)"""


def test_sends_after_resolution_arrive_after_the_pipelined_ones(cluster, tmp_path) -> None:
    folder = tmp_path / "classes"
    for source in (LOG, HOLDER, HOME, EMBARGO):
        write_class(folder, source)
    a, proxy = cluster.proxied("a", classpath=[folder])
    x = cluster.start("x", join=[proxy.address], classpath=[folder])   # a <-> x is the proxied link
    x.wait_err(r"nodeup a")
    b = cluster.start("b", join=[a], classpath=[folder], program="RpEmbargo")
    b.wait_out(r"^ready$", 60)
    assert proxy.connections == 1, "only a <-> x may go through the proxy"
    proxy.delay("out", 0.4)                     # a -> x
    assert b.wait_exit(60) == 0, b.report() + a.report() + x.report()
    line = b.out.text().splitlines()[-1]
    match = re.match(r"entries (.*) (true|false) waited (\d+)$", line)
    assert match, line
    print(f"the embargoed promise settled after {int(match.group(3)) / 1000:.0f} ms (a -> x takes 400 ms)")
    assert match.group(1) == "#(1 2 3 4)" and match.group(2) == "true"
    assert int(match.group(3)) >= 400_000
