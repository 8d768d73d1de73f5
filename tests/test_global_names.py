"""Global names (lib/Global.som, node/globalnames.py) with real nodes: registration is
agreed among the nodes of a group, so of several nodes racing for one name exactly one
wins and every node names the same process right after; names go with their process
and with their node; a partition healed runs the resolver once per name, and NodeUp
comes after the names are merged; overlapping partitions never leave one node with
two live holders of a name. (Faults come from the fault proxy, per pair of nodes.)"""
from __future__ import annotations

import re
import signal
import time

from cluster_support import write_class

RACE = """GlobalRace = (
    "One racer per node; the coordinator (the program, on node a) sends every racer
    go for the same name at once, and each starts a fresh process that registers it."
    racer: coordinator = ( [ true ] whileTrue: [ self obey: Process receive for: coordinator ] )
    obey: m for: coordinator = (
        (m at: 1) == #go ifTrue: [ ^ self race: (m at: 2) for: coordinator ].
        (m at: 1) == #ask ifTrue: [
            ^ coordinator send: { #named. m at: 2. Node current name. Global named: (m at: 2) } ] )
    race: name for: coordinator = (
        [ | result |
          Process sleep: system ticks % 8.          "a different head start on each node, each round"
          result := Global register: name as: Process current.
          coordinator send: { #result. name. Process current. result }.
          Process receive ] spawn )

    collect: tag count: n = (
        | got m |
        got := Vector new.
        [ got size < n ] whileTrue: [
            m := Process receive: [ :x | (x isKindOf: Array) and: [ (x at: 1) == tag ] ]
                within: 20000 ifTimeout: [ ^ got ].
            got append: m ].
        ^ got )

    run: args = (
        | me racers rounds start |
        rounds := (args at: 2) asInteger.
        [ Node all size < 2 ] whileTrue: [ Process sleep: 20 ].
        me := Process current.
        racers := Vector new.
        racers append: [ self racer: me ] spawn.
        Node all do: [ :n | racers append: (n spawn: GlobalRace selector: #racer: arguments: { me }) ].
        start := system time.
        1 to: rounds do: [ :i |
            | name results winners winner named |
            name := ('race' + i printString) asSymbol.
            racers reverseDo: [ :r | r send: { #go. name } ].
            results := self collect: #result count: 3.
            winners := results select: [ :x | (x at: 4) == true ].
            winner := winners isEmpty ifTrue: [ nil ] ifFalse: [ (winners at: 1) at: 3 ].
            racers do: [ :r | r send: { #ask. name } ].
            named := self collect: #named count: 3.
            ('round ' + i printString
                + ' answers ' + results size printString
                + ' winners ' + (winners collect: [ :x | (x at: 3) node name ]) asArray printString
                + ' named ' + (named collect: [ :x | (x at: 4) == winner ]) asArray printString) println ].
        ('done in ' + (system time - start) printString + ' ms') println.
        system exit: 0 )
)"""

ROUND = re.compile(r"^round (\d+) answers (\d+) winners #\((.*)\) named #\((.*)\)$")


def test_three_nodes_racing_for_a_name_100_times_have_one_winner_each_time(cluster, tmp_path) -> None:
    write_class(tmp_path / "race", RACE)
    a = cluster.start("a", classpath=[tmp_path / "race"], program="GlobalRace", args=["100"])
    cluster.start("b", join=[a])
    cluster.start("c", join=[a])
    done = a.wait_out(r"^done in ", timeout=120)
    rounds = [ROUND.match(line) for _, line in a.out.matching(r"^round ")]
    assert len(rounds) == 100 and all(rounds), a.report()
    won_by = {}
    for match in rounds:
        _, answers, winners, named = match.groups()
        assert answers == "3", match.group(0)
        assert len(winners.split()) == 1, match.group(0)             # exactly one true
        assert named == "true true true", match.group(0)            # every node names the winner
        won_by[winners] = won_by.get(winners, 0) + 1
    print(f"100 rounds, {done}; rounds won per node: {won_by}")
    assert len(won_by) >= 2, f"no real contention: {won_by}"       # the race is a race


# --------------------------------------------------------------------------- partitions

def mesh_behind_proxies(cluster, names: list[str]) -> tuple[dict, dict]:
    """Nodes each behind a fault proxy that recognises the others as callers, joined
    one after the other to the first, and fully connected."""
    nodes, proxies = {}, {}
    for name in names:
        node, proxy = cluster.proxied(name, join=[proxies[names[0]].address] if proxies else [],
                                      classpath=[cluster.workdir / "prog"], program="Partition", args=[name])
        proxy.watch_callers(set(names) - {name})
        nodes[name], proxies[name] = node, proxy
    for node in nodes.values():
        node.wait_out("^ready$", timeout=30)
    return nodes, proxies


def part(proxies: dict, pairs: list[tuple[str, str]]) -> None:
    """Cut the connections between each pair (both proxies block the other caller)."""
    blocked: dict[str, set[str]] = {name: set() for name in proxies}
    for x, y in pairs:
        blocked[x].add(y)
        blocked[y].add(x)
    for name, proxy in proxies.items():
        proxy.block_callers(blocked[name])


PARTITION = """Partition = (
    "Run on each of alpha, bravo, charlie. After a partition {alpha} | {bravo, charlie}
    each side registers #leader (default resolver), #chief (on alpha with a
    resolver that keeps the other side's process) and #deputy (on alpha with a
    resolver that fails: neither keeps it); after the heal every node prints
    what it sees, at once when NodeUp comes and again once settled."
    | role |
    say: text = ( (role + ': ' + text) println )
    show: name = (
        | p |
        p := Global named: name.
        ^ p isNil ifTrue: [ 'none' ] ifFalse: [ p node name + '/' + p pid printString ] )
    spawnHolder: name = (
        | p |
        p := [ Process receive ] spawn.
        [ | ref d |
          ref := Process current monitor: p.
          d := Process receive: [ :m | (m isKindOf: Down) and: [ m ref = ref ] ].
          self say: 'holder of ' + name + ' ended ' + d reason printString ] spawn.
        ^ p )
    nodeEvent: kind = ( ^ Process receive: [ :m | m isKindOf: kind ] within: 60000 ifTimeout: [ nil ] )
    run: args = (
        | lost up chief |
        role := args at: 2.
        Node monitorNodes: true.
        [ Node all size < 2 ] whileTrue: [ Process sleep: 20 ].
        Process sleep: 500.
        [ (Process receiveWithin: 0 ifTimeout: [ nil ]) notNil ] whileTrue.
        'ready' println.
        lost := role = 'alpha' ifTrue: [ 2 ] ifFalse: [ 1 ].
        lost timesRepeat: [ self say: 'lost ' + (self nodeEvent: NodeDown) node name ].
        role = 'bravo' ifFalse: [
            self say: 'leader ' + (Global register: #leader as: (self spawnHolder: #leader)) printString.
            chief := role = 'alpha'
                ifTrue: [ Global register: #chief as: (self spawnHolder: #chief)
                    resolve: [ :name :p1 :p2 | self say: 'resolver ran for ' + name + ' with '
                        + p1 node name + ' and ' + p2 node name. p2 ] ]
                ifFalse: [ Global register: #chief as: (self spawnHolder: #chief) ].
            self say: 'chief ' + chief printString.
            self say: 'deputy ' + (role = 'alpha'
                ifTrue: [ Global register: #deputy as: (self spawnHolder: #deputy)
                    resolve: [ :name :p1 :p2 | self error: 'this resolver fails' ] ]
                ifFalse: [ Global register: #deputy as: (self spawnHolder: #deputy) ]) printString ].
        self say: 'registered'.
        lost timesRepeat: [
            up := self nodeEvent: NodeUp.
            self say: 'up ' + up node name + ' leader ' + (self show: #leader) + ' chief ' + (self show: #chief)
                + ' deputy ' + (self show: #deputy) ].
        Process sleep: 1500.
        self say: 'settled leader ' + (self show: #leader) + ' chief ' + (self show: #chief)
            + ' deputy ' + (self show: #deputy) + ' names ' + Global names printString.
        Process sleep: 60000 )
)"""


def test_a_healed_partition_resolves_each_name_once_before_nodeup(cluster, tmp_path) -> None:
    write_class(tmp_path / "prog", PARTITION)
    nodes, proxies = mesh_behind_proxies(cluster, ["alpha", "bravo", "charlie"])
    alpha, charlie = nodes["alpha"], nodes["charlie"]
    part(proxies, [("alpha", "bravo"), ("alpha", "charlie")])
    for node in (alpha, charlie):
        node.wait_out(r": registered$", timeout=20)
    assert "alpha: leader true" in alpha.out.text() and "charlie: leader true" in charlie.out.text()
    for proxy in proxies.values():
        proxy.heal()
    settled = {name: node.wait_out(r": settled ", timeout=40) for name, node in nodes.items()}
    everyone = "\n".join(n.report() for n in nodes.values())
    views = {line.split(" names ")[0].split(": ", 1)[1] for line in settled.values()}
    assert len(views) == 1, everyone                          # every node agrees
    view = views.pop()
    assert view.startswith("settled leader alpha/") and " chief charlie/" in view, everyone
    assert view.endswith(" deputy none"), everyone
    assert len(re.findall(r"name #deputy was registered by .*: neither keeps it", everyone)) == 1, everyone
    # The default rule ran once (logged by the node that merged), the resolver block once.
    assert len(re.findall(r"name #leader was registered by", everyone)) == 1, everyone
    assert len(re.findall(r"resolver ran for chief with alpha and charlie", everyone)) == 1, everyone
    charlie.wait_out(r"charlie: holder of leader ended #nameConflict", timeout=10)
    assert "holder of chief ended" not in everyone          # a resolver's loser only loses the name
    assert "holder of deputy ended" not in everyone
    # NodeUp for the healed connection came after the merge: what it saw is the outcome.
    outcome = view.split("settled ", 1)[1]
    for name, node in nodes.items():
        ups = [line.split(" ", 3)[3] for _, line in node.out.matching(r": up ")]
        assert ups and all(seen == outcome for seen in ups), (name, ups, outcome)


OVERLAP = """Overlap = (
    "Run on each node: whenever this node names no holder of #x it registers a fresh
    process (which lives until it is told otherwise); every 250 ms it prints the holder
    it names, and it prints the Down of every holder it has named."
    | role watched |
    describe: p = ( ^ p isNil ifTrue: [ 'none' ] ifFalse: [ p node name + '/' + p pid printString ] )
    watch: p = (
        (watched includes: p) ifTrue: [ ^ self ].
        watched add: p.
        [ | ref d |
          ref := Process current monitor: p.
          d := Process receive: [ :m | (m isKindOf: Down) and: [ m ref = ref ] ].
          (role + ': down ' + (self describe: p) + ' ' + d reason printString) println ] spawn )
    run: args = (
        | ticks holder |
        role := args at: 2.
        watched := Set new.
        [ Node all size < 2 ] whileTrue: [ Process sleep: 20 ].
        Process sleep: 300.
        'ready' println.
        ticks := 0.
        [ true ] whileTrue: [
            holder := Global named: #x.
            holder isNil ifTrue: [
                Global register: #x as: [ Process receive ] spawn.
                holder := Global named: #x ].
            holder isNil ifFalse: [ self watch: holder ].
            ticks := ticks + 1.
            ticks \\\\ 5 = 0 ifTrue: [ (role + ': view ' + (self describe: holder)) println ].
            Process sleep: 50 ] )
)"""


def views(node, since: float, until: float) -> set[str]:
    return {line.split(": view ", 1)[1] for t, line in node.out.matching(r": view ") if since <= t <= until}


def test_overlapping_partitions_never_leave_a_node_two_live_holders(cluster, tmp_path) -> None:
    write_class(tmp_path / "prog", OVERLAP)
    nodes = {}
    proxies = {}
    names = ["alpha", "bravo", "charlie"]
    for name in names:
        node, proxy = cluster.proxied(name, join=[proxies["alpha"].address] if proxies else [],
                                      classpath=[tmp_path / "prog"], program="Overlap", args=[name])
        proxy.watch_callers(set(names) - {name})
        nodes[name], proxies[name] = node, proxy
    for node in nodes.values():
        node.wait_out("^ready$", timeout=30)
    alpha, charlie = nodes["alpha"], nodes["charlie"]
    charlie.wait_out(r": view \w+/", timeout=20)
    part(proxies, [("alpha", "charlie")])                 # alpha sees bravo, bravo sees charlie
    alpha.wait_err(r"nodedown charlie", timeout=10)
    charlie.wait_err(r"nodedown alpha", timeout=10)
    time.sleep(4.0)                                       # splits and merges settle
    start = time.monotonic()
    time.sleep(3.0)
    window = {name: views(node, start, time.monotonic()) for name, node in nodes.items()}
    everyone = "\n".join(n.report() for n in nodes.values())
    for name, seen in window.items():
        assert len(seen) == 1 and "none" not in seen, (name, window, everyone)
    seen = {name: next(iter(v)) for name, v in window.items()}
    assert seen["bravo"] in (seen["alpha"], seen["charlie"]), (seen, everyone)
    # Every holder a node names is alive (a Down for #noconnection only says that the
    # watcher lost the holder's node).
    downs = [line for node in nodes.values() for _, line in node.out.matching(r": down ")
             if not line.endswith("#noconnection")]
    for holder in seen.values():
        assert not any(holder in line for line in downs), (holder, downs)
    print(f"overlap: alpha names {seen['alpha']}, bravo {seen['bravo']}, charlie {seen['charlie']}")
    for proxy in proxies.values():
        proxy.heal()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = time.monotonic()
        final = {name: views(node, now - 0.8, now) for name, node in nodes.items()}
        if all(len(v) == 1 for v in final.values()) and len(set().union(*final.values())) == 1:
            break
    else:
        raise AssertionError(f"no agreement after the heal: {final}\n" + "\n".join(n.report() for n in nodes.values()))
    winner = next(iter(final["alpha"]))
    for holder in set(seen.values()) - {winner}:      # the holders that lost at the heal
        lines = [line for node in nodes.values() for _, line in node.out.matching(r": down " + re.escape(holder))
                 if not line.endswith("#noconnection")]
        assert lines and all(line.endswith("#nameConflict") for line in lines), (holder, lines)


# --------------------------------------------------------------------------- deaths and node loss

GONE = """NameGone = (
    "Run on a and c; the holders live on b. On c: twenty times, a holder on b is
    registered, ends (killed from here, or by its own error), and at its Down c at once
    looks the name up and registers it for a fresh process. Then on both a and c: a
    holder on b is registered under a name of each, and at the Down that b's loss
    (kill -9 from the test) brings, the same."
    hold = ( Process receive = #crash ifTrue: [ self error: 'asked to crash' ]. Process receive )
    downOf: p within: ms = (
        | ref |
        ref := Process current monitor: p.
        ^ Process receive: [ :m | (m isKindOf: Down) and: [ m ref = ref ] ] within: ms ifTimeout: [ nil ] )
    retake: name = (
        "The name right at the Down, and whether it can be registered again then."
        | before fresh |
        before := Global named: name.
        fresh := [ Process receive ] spawn.
        ^ before printString + ' ' + (Global register: name as: fresh) printString )
    run: args = (
        | role b name holder down |
        role := args at: 2.
        [ Node all size < 2 ] whileTrue: [ Process sleep: 20 ].
        Process sleep: 300.
        b := Node named: #b.
        role = 'c' ifTrue: [
            1 to: 20 do: [ :i |
                holder := b spawn: NameGone selector: #hold arguments: #().
                (Global register: #dying as: holder) ifFalse: [
                    ('death ' + i printString + ' not registered') println ].
                i odd ifTrue: [ holder kill ] ifFalse: [ holder send: #crash ].
                down := self downOf: holder within: 5000.
                ('death ' + i printString + ' ' + down reason class name + ' ' + (self retake: #dying)) println.
                Global unregister: #dying ] ].
        name := ('onB' + role) asSymbol.
        holder := b spawn: NameGone selector: #hold arguments: #().
        ('armed ' + (Global register: name as: holder) printString) println.
        down := self downOf: holder within: 60000.
        ('loss ' + down reason printString + ' ' + (self retake: name)) println.
        Process sleep: 60000 )
)"""


def test_a_name_is_gone_at_the_down_of_its_holder_and_of_its_node(cluster, tmp_path) -> None:
    write_class(tmp_path / "gone", GONE)
    a = cluster.start("a", classpath=[tmp_path / "gone"], program="NameGone", args=["a"])
    b = cluster.start("b", join=[a])
    c = cluster.start("c", join=[a], classpath=[tmp_path / "gone"], program="NameGone", args=["c"])
    for node in (a, c):
        assert node.wait_out(r"^armed ", timeout=60) == "armed true", node.report()
    deaths = [line for _, line in c.out.matching(r"^death ")]
    assert len(deaths) == 20, c.report()
    for i, line in enumerate(deaths, 1):     # gone at the Down, and free to take again
        reason = "Symbol" if i % 2 else "Error"     # killed (#killed), or its own error
        assert line == f"death {i} {reason} nil true", c.report()
    b.signal(signal.SIGKILL)
    for node in (a, c):
        assert node.wait_out(r"^loss ", timeout=10) == "loss #noconnection nil true", node.report()
