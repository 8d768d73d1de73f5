"""The remote shell, `vm repl --connect HOST:PORT`, against real `vm node` processes:
in a pseudo-terminal (evaluation, a class defined from the shell and used by the
node's own program, Tab completion of a class only the node has, Ctrl-C of a busy
loop leaving the node's other processes running, `:processes`, the change log naming
the node, the node killed and reconnected), and piped (output of the evaluation's
processes in the shell, not on the node; a wrong cookie and `--no-shell` refused;
`:push` from the shell reaching the cluster's other nodes).
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest
from cluster_support import COOKIE, ROOT, free_port, node_environment, write_class
from test_repl_interactive import PROMPT, Terminal

SERVER = """Server = Object (
    run = (
        Process register: Process current as: #server.
        [ true ] whileTrue: [
            | name |
            name := Process receive.
            ((system global: name) new greeting) println ] )
)
"""
NODE_ONLY = "NodeOnlyWidget = Object ( frob = ( ^ 42 ) )\n"


def _program(tmp_path):
    folder = tmp_path / "program"
    write_class(folder, SERVER)
    write_class(folder, NODE_ONLY)
    return folder


def _shell(tmp_path, node, *extra: str, env: dict | None = None) -> Terminal:
    terminal = Terminal(str(tmp_path / "state"), env, ["--connect", node.address, "--cookie", COOKIE, *extra])
    terminal.expect(PROMPT, timeout=30)
    return terminal


def _piped(node_address: str, text: str, *extra: str, state: str, cookie: str = COOKIE):
    environment = node_environment({"XDG_STATE_HOME": state})
    return subprocess.run([sys.executable, "-m", "smalltalk_vm.cli.main", "repl", "--connect", node_address,
                           "--cookie", cookie, *extra], input=text, capture_output=True, text=True,
                          timeout=60, env=environment, cwd=ROOT)


def test_a_remote_shell_evaluates_defines_completes_interrupts_and_lists_on_the_node(cluster, tmp_path):
    node = cluster.start("alpha", classpath=[_program(tmp_path)], program="Server")
    terminal = _shell(tmp_path, node)
    try:
        terminal.evaluate("3 + 4", "7")
        # A class defined in the shell is used by the node's own program.
        terminal.evaluate("Greeter = Object ( greeting = ( ^ 'hello from the shell' ) )", "defined class Greeter")
        terminal.type("(Process named: #server) send: #Greeter.\r")
        terminal.expect(PROMPT)
        node.wait_out(r"^'?hello from the shell'?$", timeout=15)
        # Tab completes a class that only the node's classpath has.
        terminal.seen = len(terminal.screen_text)
        terminal.type("NodeOnlyW")
        terminal.drain(0.3)
        terminal.type("\t")
        terminal.expect("NodeOnlyWidget")
        terminal.type(" new frob\r")
        terminal.expect(r"^42$")
        # Ctrl-C ends the busy loop only: the node's server still serves.
        terminal.type("[ true ] whileTrue\r")
        terminal.wait_until_evaluating()
        terminal.drain(0.5)
        terminal.interrupt()
        terminal.expect(r"interrupted$", timeout=15)
        terminal.evaluate("(Process named: #server) isAlive", "true")
        terminal.type("(Process named: #server) send: #Greeter.\r")
        terminal.expect(PROMPT)
        node.wait_out(r"hello from the shell", timeout=15, count=2)
        # A failing do-it stays stopped on the node for the debugger.
        terminal.type("NodeOnlyWidget new frob / 0\r")
        terminal.expect(r"process (\d+) stopped at ZeroDivide: :debug shows its frames")
        terminal.type(":debug\r")
        terminal.expect(r">\s+1\s+\S+")
        terminal.type(":abandon\r")
        terminal.expect(r"process \d+ abandoned")
        # :inspect looks at the node's objects (a class only the node has).
        terminal.type(":inspect NodeOnlyWidget new\r")
        terminal.expect(r"a NodeOnlyWidget\s+\(NodeOnlyWidget")
        # :processes lists the node's processes (its registered server among them).
        terminal.type(":processes\r")
        terminal.expect(r"pid\s+status\s+name")
        terminal.expect(r"^\s*\d+\s+waiting\s+server\b")
        terminal.type("\x04")
        assert terminal.wait_for_exit() == 0
    finally:
        terminal.close()
    # The evaluation's results never reached the node's own output.
    assert "42" not in node.out.text().splitlines()


def test_the_node_killed_is_reported_and_the_shell_reconnects_when_asked(cluster, tmp_path):
    port = free_port()
    node = cluster.start("beta", "--listen", f"127.0.0.1:{port}")
    terminal = _shell(tmp_path, node)
    try:
        terminal.evaluate("Counter = Object ( )", "defined class Counter")
        terminal.evaluate("Counter >> bump = ( ^ 1 )", "defined Counter>>bump")
        node.kill()
        terminal.expect(rf"connection to node beta at 127\.0\.0\.1:{port} lost", timeout=20)
        terminal.type("\r")
        terminal.expect(rf"reconnect to 127\.0\.0\.1:{port}\? \[y/N\]")
        again = cluster.start("beta", "--listen", f"127.0.0.1:{port}")
        os.write(terminal.master, b"y\r")
        terminal.expect(r"connected to node beta", timeout=20)
        terminal.expect(PROMPT, timeout=20)
        terminal.evaluate("3 + 4", "7")
        # The change log lives on the shell's side and names the node: the two
        # definitions typed before the kill can be replayed on the new node.
        terminal.type(":replay 1-2\r")
        terminal.expect(r"replayed 2 changes")
        terminal.evaluate("Counter new bump", "1")
        with open(tmp_path / "state" / "smalltalk-vm" / "changes-beta") as handle:
            logged = handle.read()
        assert f'"node": "beta@127.0.0.1:{port}"' in logged
        again.kill()
        terminal.expect("lost", timeout=20)
        terminal.type("\r")
        terminal.expect(r"reconnect to .*\[y/N\]")
        os.write(terminal.master, b"n\r")
        assert terminal.wait_for_exit() == 1
    finally:
        terminal.close()


def test_code_typed_into_a_remote_shell_survives_kill_9_of_the_shell(cluster, tmp_path):
    node = cluster.start("gamma")
    first = _shell(tmp_path, node)
    try:
        first.evaluate("Pair = Object ( | a | a = ( ^ a ) )", "defined class Pair")
        first.evaluate("Pair >> a: x = ( a := x )", "defined Pair>>a:")
        first.evaluate("Pair >> twice = ( ^ a * 2 )", "defined Pair>>twice")
        first.expect(PROMPT)
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait(timeout=10)
    finally:
        first.close()
    # The node itself forgets nothing here, so start a fresh one of the same name.
    node.kill()
    fresh = cluster.start("gamma")
    second = Terminal(str(tmp_path / "state"), None, ["--connect", fresh.address, "--cookie", COOKIE])
    try:
        second.expect(r"^3 changes since the last image save in the change log .*changes-gamma "
                      r"\(node gamma@127\.0\.0\.1:\d+\): :changes lists them, :replay replays them$", timeout=30)
        second.expect(PROMPT, timeout=30)
        second.type(":replay\r")
        second.expect(r"replayed 3 changes")
        second.evaluate("(Pair new a: 21; yourself) twice", "42")
    finally:
        second.close()


def test_piped_output_goes_to_the_shell_and_refusals_say_why(cluster, tmp_path):
    node = cluster.start("delta")
    state = str(tmp_path / "state")
    ran = _piped(node.address, "[ 'from a process' println ] spawn.\nProcess sleep: 300\n'done' println\n",
                 state=state)
    assert ran.returncode == 0, ran.stderr
    assert "'from a process'" in ran.stdout or "from a process" in ran.stdout
    assert "from a process" not in node.out.text()
    # A flood of output arrives whole and in order (joined into few messages).
    flood = _piped(node.address, "1 to: 5000 do: [ :i | i println ]\n", state=state)
    assert flood.returncode == 0, flood.stderr
    assert flood.stdout.splitlines() == [str(i) for i in range(1, 5001)] + ["1"]
    wrong = _piped(node.address, "3 + 4\n", state=state, cookie="not-the-cookie")
    assert wrong.returncode == 2
    assert re.fullmatch(r"vm repl: refused by 127\.0\.0\.1:\d+: bad cookie\n", wrong.stderr), wrong.stderr
    assert "7" not in wrong.stdout
    node.wait_err(r"refused a shell from .*: bad cookie")
    closed = cluster.start("epsilon", "--no-shell")
    refused = _piped(closed.address, "3 + 4\n", state=state)
    assert refused.returncode == 2
    assert "serves no remote shell (it was started with --no-shell)" in refused.stderr


ACCOUNT = "Acc = Object ( | balance fee | )\n"
SUB_ACCOUNT = "SubAcc = Acc ( charge = ( ^ fee ) )\n"


def test_push_from_a_remote_shell_reaches_the_other_nodes(cluster, tmp_path):
    """`:push` typed into `vm repl --connect` runs on the node it is connected to: a
    class defined, then changed, in the shell is loaded on every node of the cluster;
    a push another node refuses names that node and changes nothing there."""
    program = tmp_path / "program"
    write_class(program, ACCOUNT)
    write_class(program, SUB_ACCOUNT)
    alpha = cluster.start("alpha")
    beta = cluster.start("beta", join=[alpha], classpath=[program])
    beta.wait_err(r"nodeup alpha")
    state = str(tmp_path / "state")
    on_beta = _piped(beta.address, "SubAcc new charge\n", state=state)     # beta loads both classes
    assert on_beta.returncode == 0 and on_beta.stdout == "nil\n", on_beta.stderr
    pushed = _piped(alpha.address, "Greeter = Object ( greeting = ( ^ 'v1' ) )\n"
                                   ":push Greeter\n"
                                   "Greeter >> greeting = ( ^ 'v2' )\n"
                                   ":push Greeter\n"
                                   "Acc = Object ( | balance | )\n"
                                   ":push Acc\n"
                                   ":push NoSuchClass\n", state=state)
    lines = pushed.stdout.splitlines()
    assert lines[0] == "defined class Greeter"
    assert re.fullmatch(r"pushed Greeter version [0-9a-f]{16} to 2 nodes", lines[1]), lines
    assert lines[2] == "defined Greeter>>greeting"
    second = re.fullmatch(r"pushed Greeter version ([0-9a-f]{16}) to 2 nodes", lines[3])
    assert second and lines[1] != lines[3], lines
    assert lines[4] == "defined class Acc"
    refused = pushed.stderr
    assert "push of Acc refused, nothing changed:\n  beta: " in refused, refused
    assert "redefining Acc would break SubAcc>>charge" in refused and "undeclared variable 'fee'" in refused
    assert "no class named NoSuchClass" in refused
    # The other node answers the new version of Greeter, and kept its Acc.
    asked = _piped(beta.address, "Greeter new greeting\nGreeter version\nAcc fields\n", state=state)
    assert asked.returncode == 0, asked.stderr
    assert asked.stdout.splitlines() == ["'v2'", f"'{second.group(1)}'", "#(#balance #fee)"]
    beta.wait_err(rf"hot loaded class Greeter version {second.group(1)} from alpha")


@pytest.mark.parametrize("option", [["--name", "x"], ["--image", "some.image"]])
def test_connect_refuses_the_options_of_a_local_vm(tmp_path, option):
    ran = subprocess.run([sys.executable, "-m", "smalltalk_vm.cli.main", "repl", "--connect", "127.0.0.1:1",
                          "--cookie", COOKIE, *option], capture_output=True, text=True, timeout=60,
                         env=node_environment(), cwd=ROOT)
    assert ran.returncode == 2
    assert ran.stderr == f"vm repl: --connect runs the REPL on the node: {option[0]} does not apply\n"


def test_ctrl_c_gives_the_prompt_back_when_the_node_is_stopped(cluster, tmp_path):
    node = cluster.start("zeta")
    terminal = _shell(tmp_path, node)
    try:
        node.signal(signal.SIGSTOP)
        terminal.type("3 + 4\r")
        terminal.wait_until_evaluating()
        terminal.drain(0.5)
        terminal.interrupt()
        terminal.expect(r"node zeta at .* did not answer in time", timeout=20)
        node.signal(signal.SIGCONT)
        terminal.evaluate("6 * 7", "42", timeout=20)
    finally:
        node.signal(signal.SIGCONT)
        terminal.close()


def test_a_wrong_cookie_at_the_terminal_is_one_line_and_status_2(cluster, tmp_path):
    node = cluster.start("eta")
    terminal = Terminal(str(tmp_path / "state"), None, ["--connect", node.address, "--cookie", "not-the-cookie"])
    try:
        terminal.expect(rf"^vm repl: refused by {re.escape(node.address)}: bad cookie$", timeout=30)
        assert terminal.wait_for_exit(timeout=20) == 2
        assert PROMPT not in terminal.screen_text
    finally:
        terminal.close()
    node.wait_err(r"refused a shell from .*: bad cookie")
