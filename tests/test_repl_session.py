"""The REPL session in-process (repl/session.py, repl/debugging.py, repl/inspector.py),
as an interactive session: what each input and command answers as plain data, the
debugger's refusals, the inspector on proxies, broken and endless collections and the
VM's own objects, and a stopped do-it kept in an image and debugged after a restart."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import cbor2
import pytest
from conftest import ROOT, examples
from hypothesis import given, settings
from hypothesis import strategies as st

from smalltalk_vm.image.boot import make_machine
from smalltalk_vm.repl.protocol import RESULT_DATA, Result
from smalltalk_vm.repl.session import ReplSession


@pytest.fixture
def session():
    repl_session = ReplSession(make_machine([]))
    repl_session.set_interactive(True)
    yield repl_session
    repl_session.close()


def shown(session, text: str):
    return session.command(text) if text.startswith(":") else session.evaluate(text)


def test_results_are_plain_data_and_cross_as_dicts(session):
    """What a remote shell would send: every kind a session answers, made a dict of
    plain data, through CBOR and back, is the same Result and has its kind's data."""
    session.evaluate("Probe = Object ( fail: n = ( | t | t := n * 2. ^ t foo ) )")
    kinds = set()
    for text in ["3 + 4", "x := 5", "Probe >> twice = ( ^ 2 )", ":help", "3 +", "Probe new fail: 4",
                 ":debug", ":frame 3", ":eval t", ":inspect #(1 $a)", ":inspect 2",
                 ":inspect Dictionary new at: 1 put: 2; yourself", ":quit"]:
        result = shown(session, text)
        kinds.add(result.kind)
        plain = result.to_plain()
        assert json.loads(json.dumps(plain)) == plain, text
        assert Result.from_plain(cbor2.loads(cbor2.dumps(plain))) == result, text
        assert RESULT_DATA[result.kind] <= set(result.data), text
    assert kinds == set(RESULT_DATA) - {"interrupted"}       # Ctrl-C: the pty tests


@pytest.mark.parametrize("plain, fault", [
    ([], "a result is a dict, not list"),
    ({"kind": "value", "colour": "red"}, "unknown result fields: 'colour'"),
    ({"kind": "explode"}, "unknown result kind 'explode'"),
    ({"kind": "value", "text": 7}, "result field text is a int, not a str"),
    ({"kind": "syntax", "line": True}, "result field line is a bool, not a int"),
    ({"kind": "error", "trace": ["a", 2]}, "a result's trace is a list of strings"),
    ({"kind": "output", "data": {"x": {1, 2}}}, "a result's data is not plain data"),
    ({"kind": "output", "data": {1: "x"}}, "a result's data is not plain data"),
    ({"kind": "debug", "data": {"pid": 3}}, "a debug result lacks frames, more, status"),
])
def test_a_malformed_result_is_refused_with_its_fault(plain, fault):
    with pytest.raises(ValueError) as refused:
        Result.from_plain(plain)
    assert str(refused.value) == fault


PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=12)


@settings(max_examples=examples(1.5), deadline=None)
@given(st.dictionaries(st.sampled_from(["kind", "text", "trace", "column", "line", "data", "other"])
                       | st.integers() | st.none(),
                       PLAIN | st.sampled_from(sorted(RESULT_DATA))))
def test_from_plain_answers_a_result_or_a_value_error(plain):
    try:
        result = Result.from_plain(plain)
    except ValueError:
        return
    assert Result.from_plain(result.to_plain()) == result


TERMINAL_SIDE = ("app", "render", "theme", "editing", "lexer", "source")
TERMINAL_MAY_IMPORT = {f"smalltalk_vm.repl.{name}" for name in (*TERMINAL_SIDE, "protocol")} | {
    "smalltalk_vm.repl", "smalltalk_vm.vm.console", "smalltalk_vm.vm.errors"}


@pytest.mark.parametrize("name", (*TERMINAL_SIDE, "protocol"))
def test_the_terminal_side_knows_the_session_only_through_the_protocol(name):
    """What a remote shell reuses whole must not reach into the session side or the VM
    (only the console it writes to and the error texts of the OS)."""
    tree = ast.parse((Path(ROOT) / "repl" / f"{name}.py").read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("smalltalk_vm"):
            imported |= {node.module if node.module != "smalltalk_vm.repl" else f"{node.module}.{alias.name}"
                         for alias in node.names}
        elif isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names if alias.name.startswith("smalltalk_vm")}
    assert imported <= TERMINAL_MAY_IMPORT


def test_an_interactive_session_echoes_only_wanted_values_and_keeps_the_last_two(session):
    assert session.evaluate("x := 3 + 4").kind == "done"
    assert session.evaluate("x").text == "7"
    assert session.evaluate("'a' , 'b'.").kind == "done"
    assert session.evaluate("_").text == "'ab'"
    assert session.evaluate("__").text == "'ab'"          # `_` itself was the last value
    assert session.evaluate("__").text == "'ab'"
    session.evaluate("Foo = Object ( )")                   # a definition leaves them alone
    session.evaluate("1 / 0")                              # and so does an error
    session.command(":abandon")
    assert session.evaluate("_").text == "'ab'"


def test_a_piped_session_echoes_everything_and_keeps_nothing_stopped():
    piped = ReplSession(make_machine([]))
    try:
        assert piped.evaluate("x := 3 + 4").text == "7"
        result = piped.evaluate("nil foo")
        assert result.kind == "error" and "stopped" not in result.data
        assert piped.command(":debug").text.startswith("nothing to debug")
    finally:
        piped.close()


def test_a_block_frame_of_a_redefined_method_is_not_restarted_into_the_old_code(session):
    session.evaluate("Probe = Object ( each = ( ^ #(1 2) collect: [ :x | x foo ] ) )")
    assert "stopped" in session.evaluate("Probe new each").data
    frames = session.command(":debug").data["frames"]
    block = next(f["index"] for f in frames if f["where"].startswith("[] in Probe>>each"))
    method = next(f["index"] for f in frames if f["where"].startswith("Probe>>each"))
    session.evaluate("Probe >> each = ( ^ #(1 2) collect: [ :x | x * 10 ] )")
    session.command(f":frame {block}")
    refused = session.command(":restart")
    assert refused.text == (f"frame {block} is a block of Probe>>each, which has been redefined: "
                            f"restart frame {method} to run the new definition")
    session.command(f":frame {method}")
    assert session.command(":frame " + str(method)).data["redefined"] is True
    assert session.command(":restart").text == "#(10 20)"


def test_debugger_commands_refuse_what_does_not_fit(session):
    assert session.command(":frame x").text == ":frame takes a frame number (see :debug)"
    assert session.command(":debug x").text == ":debug takes a process id (see :processes), or nothing"
    assert session.command(":eval").text == ":eval needs an expression"
    session.evaluate("worker := [ Process receive ] spawn")
    pid = session.evaluate("worker pid").text
    assert session.command(f":debug {pid}").data["status"] == "suspended (waiting)"
    session.evaluate("nil foo")                   # a newer stopped do-it takes the debugger...
    listed = [line.split() for line in session.command(":processes").text.splitlines()[1:]]
    assert [pid, "suspended"] in [row[:2] for row in listed]    # ...and the attached one stays suspended
    session.command(":abandon")
    session.command(f":debug {pid}")
    assert session.command(":proceed 3").text == \
        f"process {pid} did not stop at an exception: :proceed takes no value"
    assert session.command(":restart now").text.startswith(":restart takes nothing")
    syntax = session.command(":eval 3 +")
    assert (syntax.kind, syntax.line, syntax.column, syntax.data["file"]) == ("syntax", 1, 4, "<eval>")
    assert session.command(":proceed").text == f"process {pid} resumed"
    assert session.evaluate("worker send: 5. Process sleep: 50. worker isAlive").text == "false"
    assert session.command(f":debug {pid}").text == f"no live process {pid} (see :processes)"


def test_a_stopped_do_it_in_a_saved_image_is_debugged_after_a_restart(session, tmp_path):
    session.evaluate("Probe = Object ( half: n = ( ^ n / 0 ) )")
    stopped = session.evaluate("(Probe new half: 8) + 1")
    pid = stopped.data["stopped"]
    image = tmp_path / "stopped.image"
    assert session.command(f":save {image}").kind == "output"
    later = ReplSession(make_machine([], str(image)), str(image))
    later.set_interactive(True)
    try:
        listing = later.command(f":debug {pid}")
        assert listing.data["status"] == "stopped at ZeroDivide: Division by zero."
        half = next(f["index"] for f in listing.data["frames"] if f["where"].startswith("Probe>>half:"))
        later.command(f":frame {half}")
        assert later.command(":return 41").text == f"process {pid} returned from frame {half}"
        assert later.evaluate("Process sleep: 50. (Process allProcesses collect: [ :p | p pid ]) "
                              f"includes: {pid}").text == "false"
    finally:
        later.close()


# ---------------------------------------------------------------------- the inspector

PROXY = """FarProxy = nil (
    | node target |
    node: n target: t = ( node := n. target := t )
    isRemote = ( ^ true )
    remoteNode = ( ^ node )
    printString = ( ^ 'a proxy for a ' , target class name , ' on ' , node )
    doesNotUnderstand: selector arguments: arguments = ( ^ target perform: selector withArguments: arguments )
    ----
    node: n target: t = ( ^ self new node: n target: t )
)"""


def test_a_proxy_shows_itself_without_a_round_trip_and_offers_the_far_printstring(session):
    session.evaluate(PROXY)
    session.evaluate("Far = Object ( | calls | calls = ( ^ calls ) "
                     "printOn: s = ( calls := (calls ifNil: [ 0 ]) + 1. s nextPutAll: 'far 42' ) )")
    session.evaluate("far := Far new")
    session.evaluate("proxy := FarProxy node: 'b' target: far")
    view = session.command(":inspect proxy").data
    assert view["title"] == "a proxy for a Far on b"
    assert view["notes"] == ["a proxy for an object on another node"]
    assert [(e["label"], e["value"]) for e in view["entries"]] == [
        ("node", "'b'"), ("target", "far 42"), ("far printString", "(ask the far node: :inspect 3)")]
    before = session.evaluate("far calls").text
    assert session.command(":inspect 3").text == "far 42"           # asked through the proxy
    assert int(session.evaluate("far calls").text) == int(before) + 1


def test_a_collection_whose_iteration_never_ends_shows_its_fields_and_says_why(session):
    session.evaluate("Endless = Object ( | seed | do: aBlock = ( [ true ] whileTrue: [ aBlock value: 1 ] ) )")
    view = session.command(":inspect Endless new").data
    assert view["heading"] == "fields"
    assert view["notes"] == ["its contents could not be read (it did not finish in time): its fields are shown"]
    assert [e["label"] for e in view["entries"]] == ["seed"]


def test_a_failing_printstring_is_shown_in_its_place(session):
    session.evaluate("Grumpy = Object ( printOn: s = ( ^ self error: 'no printing' ) )")
    view = session.command(":inspect { 1. Grumpy new }").data
    assert [e["value"] for e in view["entries"]] == ["1", "<printString failed: no printing>"]


def test_the_vm_own_objects_have_views(session):
    assert [e["label"] for e in session.command(":inspect [ :x | x ]").data["entries"]] == [
        "receiver", "outer context", "method"]
    frame = session.command(":inspect | t | t := 4. thisContext").data
    assert frame["heading"] == "frame"
    assert ("t", "4") in [(e["label"], e["value"]) for e in frame["entries"]]
    process = session.command(":inspect [ Process receive ] spawn").data
    assert [e["label"] for e in process["entries"]][:2] == ["status", "top frame"]
    klass = session.command(":inspect Vector").data
    assert klass["entries"][0] == {"index": 1, "label": "superclass", "value": "Object"}
    assert session.command(":inspect 3 + 4").data["entries"] == []


def test_inspector_navigation_refusals(session):
    assert session.command(":up").text == "nothing is being inspected"
    assert session.command(":more").text == "nothing is being inspected"
    session.command(":inspect #(1 2)")
    assert session.command(":inspect 5").text == "there is no entry 5 (the view has 2)"
    assert session.command(":up").text == "nothing to go up to"
    assert session.command(":more").text == "no more entries"
    assert session.command(":inspect (2)").data["title"] == "2"          # the number itself
    assert session.command(":inspect Foo = Object ( )").text == ":inspect takes an expression, not a definition"
