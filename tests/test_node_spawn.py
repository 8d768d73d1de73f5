"""Remote spawn and code on demand (DISTRIBUTION §5) with real nodes, and class
versions in one VM.

The acceptance scenario: a; b --join a; c --join b. A program on c spawns a process
on a, from a class that exists only on c's classpath (with a superclass that exists
only there too); the process computes and sends the result to a process on c. a
fetches the classes once: a second spawn does not fetch again."""
from __future__ import annotations

from cluster_support import write_class
from conftest import VMSession

from smalltalk_vm.vm.versions import class_version, definition_text

BASE = """SquareBase = (
    | factor |
    square: n = ( ^ n * n * self factor )
    factor = ( ^ factor ifNil: [ 1 ] )
)"""

SQUARER = """Squarer = SquareBase (
    run: n replyTo: p = ( p send: { Node current name. self square: n. self class version } )
)"""

SPAWNER = """Spawner = (
    say: text = ( text println )
    answer = ( ^ Process receiveWithin: 10000 ifTimeout: [ #timeout ] )
    run = (
        | a first second |
        [ (a := Node named: #a) notNil and: [ (Node named: #b) notNil ] ] whileFalse: [ Process sleep: 10 ].
        first := a spawn: Squarer selector: #run:replyTo: arguments: { 7. Process current }.
        self say: 'first ' + first printString + ' ' + self answer printString.
        second := a spawn: Squarer selector: #run:replyTo: arguments: { 8. Process current }.
        self say: 'second ' + second printString + ' ' + self answer printString.
        self say: 'version ' + Squarer version.
        self say: 'here ' + ((Node current spawn: Squarer selector: #run:replyTo: arguments: { 3. Process current })
            isLocal) printString + ' ' + self answer printString.
        system exit: 0 )
)"""


def test_a_spawned_class_is_fetched_once_with_its_superclass(cluster, tmp_path) -> None:
    only_c = tmp_path / "c"
    for source in (BASE, SQUARER, SPAWNER):
        write_class(only_c, source)
    a = cluster.start("a")
    b = cluster.start("b", join=[a])
    c = cluster.start("c", join=[b], classpath=[only_c], program="Spawner")
    assert c.wait_exit(60) == 0, c.report()
    out = c.out.text().splitlines()[1:]
    version = out[2].split()[1]
    assert out[0].startswith("first a Process(") and out[0].endswith(f" on #a) #(#a 49 '{version}')")
    assert out[1].startswith("second a Process(") and out[1].endswith(f" on #a) #(#a 64 '{version}')")
    assert out[3] == f"here true #(#c 9 '{version}')"
    loaded = [line for _, line in a.err.matching("loaded class")]
    assert [line.split()[4] for line in loaded] == ["SquareBase", "Squarer"], a.report()
    assert f"loaded class Squarer version {version} from c" in loaded[1]
    assert not b.err.matching("loaded class")


CLASH = """Clash = (
    run: p = ( p send: #mine )
)"""

CLASH_ELSEWHERE = """Clash = (
    run: p = ( p send: #theirs )
    other = ( ^ 1 )
)"""

ERRORS = """SpawnErrors = (
    say: text = ( text println )
    try: aBlock = ( ^ [ aBlock value. 'no error' ] on: Error do: [ :e | e messageText ] )
    run = (
        | a p ref |
        [ (a := Node named: #a) isNil ] whileTrue: [ Process sleep: 10 ].
        self say: (self try: [ a spawn: Clash selector: #run: arguments: { Process current } ]).
        self say: (self try: [ a spawn: Gift selector: #run: arguments: { [ 1 ] } ]).
        p := a spawn: Gift selector: #nothingLikeThis arguments: #().
        ref := Process current monitor: p.
        self say: (Process receive: [ :m | m isKindOf: Down ] within: 5000 ifTimeout: [ nil ]) reason printString.
        p := a spawnMonitor: Gift selector: #nothingLikeThis arguments: #().
        self say: (Process receive: [ :m | m isKindOf: Down ] within: 5000 ifTimeout: [ nil ]) reason messageText.
        Process current trapExit: true.
        a spawnLink: Gift selector: #run: arguments: { Process current }.
        self say: (Process receiveWithin: 5000 ifTimeout: [ nil ]) printString.
        self say: (Process receive: [ :m | m isKindOf: Exit ] within: 5000 ifTimeout: [ nil ]) reason printString.
        Node monitorNodes: true.
        'stop a' println.
        Process receive: [ :m | m isKindOf: NodeDown ] within: 20000 ifTimeout: [ nil ].
        self say: (self try: [ a spawn: Gift selector: #run: arguments: { Process current } ]).
        system exit: 0 )
)"""

GIFT = """Gift = (
    | payload |
    payload: x = ( payload := x )
    payload = ( ^ payload )
    run: p = ( p send: (Gift new payload: #present; yourself) )
)"""


def test_spawn_errors_name_their_reason(cluster, tmp_path) -> None:
    here, there = tmp_path / "c", tmp_path / "a"
    for source in (CLASH, ERRORS, GIFT):
        write_class(here, source)
    write_class(there, CLASH_ELSEWHERE)
    a = cluster.start("a", classpath=[there])
    c = cluster.start("c", join=[a], classpath=[here], program="SpawnErrors")
    c.wait_out("^stop a$", timeout=60)
    a.stop()
    assert c.wait_exit(60) == 0, c.report()
    lines = c.out.text().splitlines()[1:]
    assert lines[0].startswith("spawn on node a: version mismatch: node a has Clash version "), lines
    assert lines[1] == ("spawn on node a: spawn arguments cannot be sent: "
                        "a block cannot be sent: code travels as source")
    assert lines[2] == "#noproc"               # it died before the monitor came: spawnMonitor: is atomic
    assert lines[3] == "Method nothingLikeThis not found in class Gift"
    assert lines[4] == "a Gift"                # an object by value of a class a fetched, coming back
    assert lines[5] == "#normal"
    assert lines[6] == "stop a"
    assert lines[7] == "spawn on node a: it is not connected (#noconnection)"


def test_a_message_holding_an_object_of_a_class_the_receiver_lacks_fetches_it(cluster, tmp_path) -> None:
    here = tmp_path / "c"
    write_class(here, GIFT)
    write_class(here, """Giver = (
        run = (
            | a echo |
            [ (a := Node named: #a) isNil ] whileTrue: [ Process sleep: 10 ].
            echo := a spawn: Echo selector: #echo arguments: #().
            echo send: { Process current. Gift new payload: 42; yourself }.
            echo send: { Process current. #after }.
            (Process receiveWithin: 5000 ifTimeout: [ nil ]) payload printString println.
            (Process receiveWithin: 5000 ifTimeout: [ nil ]) printString println.
            system exit: 0 )
    )""")
    write_class(here, """Echo = (
        echo = ( | m | [ true ] whileTrue: [ m := Process receive. (m at: 1) send: (m at: 2) ] )
    )""")
    a = cluster.start("a")
    c = cluster.start("c", join=[a], classpath=[here], program="Giver")
    assert c.wait_exit(60) == 0, c.report()
    assert c.out.text().splitlines()[1:] == ["42", "#after"]      # and in order: held until Gift came
    assert [line.split()[4] for _, line in a.err.matching("loaded class")] == ["Echo", "Gift"]


def test_versions_follow_the_definition() -> None:
    vm = VMSession()
    vm.define("Shape = ( | sides | sides = ( ^ sides ) )")
    vm.define("Square = Shape ( area = ( ^ 4 ) )")
    universe = vm.universe
    shape, square = universe.globals["Shape"], universe.globals["Square"]
    before = (class_version(universe, shape), class_version(universe, square))
    assert vm.eval("Square version") == repr(before[1])
    vm.define("Shape >> name = ( ^ 'shape' )")
    after = (class_version(universe, shape), class_version(universe, square))
    assert after[0] != before[0] and after[1] != before[1]       # a superclass change counts
    other = VMSession()
    other.define(definition_text(shape))
    other.define(definition_text(square))
    assert class_version(other.universe, other.universe.globals["Square"]) == after[1]
    vm.define("Shape = ( | sides corners | sides = ( ^ sides ) name = ( ^ 'shape' ) )")
    assert class_version(universe, shape) != after[0]             # fields count too
