"""`vm node` as DISTRIBUTION §1 fixes it: the listening line, cookie sources and the
0600 rule, program output line by line, a node that outlives its program, `system
exit:` and SIGTERM/SIGINT stopping it cleanly (peers see #shutdown), and two nodes
connecting. Every node is a real subprocess (tests/cluster_support.py)."""
from __future__ import annotations

import os
import signal
import socket
import time

import pytest
from cluster_support import COOKIE, write_class
from conftest import run_vm


def test_a_node_prints_its_real_listening_address_and_stops_on_sigterm(cluster) -> None:
    a = cluster.start("a")
    assert a.port > 0 and a.host == "127.0.0.1"
    assert a.stop() == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stopping_a_node_says_goodbye_peers_see_shutdown_and_do_not_reconnect(cluster, sig) -> None:
    a = cluster.start("a")
    b = cluster.start("b", join=[a])
    b.wait_err(r"nodeup a ")
    a.wait_err(r"nodeup b ")
    a.signal(sig)
    assert a.wait_exit() == 0
    b.wait_err(r"nodedown a: shutdown")
    time.sleep(1.5)                       # more than a tick: no reconnection attempt
    assert not b.err.matching(r"connection to a|join .* failed|nodeup a .*\n.*nodeup a")
    assert len(b.err.matching(r"nodeup a ")) == 1


def test_program_output_comes_line_by_line_and_the_node_outlives_its_program(cluster, tmp_path) -> None:
    write_class(tmp_path / "p", """Talk = (
        run = ( 'first' println. Process sleep: 1500. 'second' println. self error: 'boom' )
    )""")
    a = cluster.start("a", classpath=[tmp_path / "p"], program="Talk")
    a.wait_out(r"^first$", timeout=10)
    assert not a.out.matching(r"^second$")   # the first line was flushed before the sleep
    a.wait_out(r"^second$", timeout=10)
    a.wait_err(r"process \d+ died: ERROR: boom", timeout=10)
    time.sleep(0.3)
    assert a.popen.poll() is None            # still serving after the crash
    assert a.stop() == 0


def test_system_exit_stops_the_node_with_that_status_and_peers_see_shutdown(cluster, tmp_path) -> None:
    a = cluster.start("a")
    write_class(tmp_path / "p", """Leave = (
        run = ( [ (Node named: #a) isNil ] whileTrue: [ Process sleep: 20 ]. system exit: 7 )
    )""")
    b = cluster.start("b", join=[a], classpath=[tmp_path / "p"], program="Leave")
    assert b.wait_exit() == 7
    a.wait_err(r"nodedown b: shutdown")


def test_a_program_file_runs_with_its_arguments(cluster, tmp_path) -> None:
    path = write_class(tmp_path / "p", """Args = (
        run: args = ( args printString println. system exit: 0 )
    )""")
    a = cluster.start("a", program=str(path), args=["x", "y"], wait=False)
    assert a.wait_exit() == 0
    assert "#('Args' 'x' 'y')" in a.out.text()


def test_cookie_from_a_file_must_be_private(cluster, tmp_path) -> None:
    secret = tmp_path / "cookie"
    secret.write_text(COOKIE + "\n")
    os.chmod(secret, 0o644)
    refused = run_vm(["node", "--name", "a", "--cookie-file", str(secret)], timeout=60)
    assert refused.returncode == 2
    assert "accessible by group or others" in refused.stderr and "0644" in refused.stderr
    os.chmod(secret, 0o600)
    a = cluster.start("a", "--cookie-file", str(secret), cookie=None)
    b = cluster.start("b", join=[a])             # --cookie with the same text
    b.wait_err(r"nodeup a ")


def test_cookie_from_the_environment_then_the_default_file(cluster, tmp_path) -> None:
    a = cluster.start("a", cookie=None, env={"VM_COOKIE": COOKIE})
    b = cluster.start("b", join=[a])
    b.wait_err(r"nodeup a ")
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "VM_COOKIE": ""}
    c = cluster.start("c", cookie=None, env=env)
    made = home / ".config" / "smalltalk-vm" / "cookie"
    assert made.exists() and (made.stat().st_mode & 0o777) == 0o600
    d = cluster.start("d", cookie=None, env=env, join=[c])     # the same default file
    d.wait_err(r"nodeup c ")
    os.chmod(made, 0o640)
    refused = run_vm(["node", "--name", "e"], env=env, timeout=60)
    assert refused.returncode == 2 and "accessible by group or others" in refused.stderr


def test_bad_flags_are_one_line_errors() -> None:
    for args, text in ((["--name", "a b"], "not a node name"),
                       (["--tick", "5"], "--tick must be at least"),
                       (["--join", "nowhere"], "is not HOST:PORT"),
                       (["--tls-cert", "x.pem"], "TLS needs all three")):
        result = run_vm(["node", "--cookie", "c", *args], timeout=60)
        assert result.returncode == 2, (args, result.stderr)
        assert text in result.stderr and "Traceback" not in result.stderr


def test_a_port_in_use_is_one_line_with_the_reason() -> None:
    """Not gRPC's log line and its advice to turn on its debug log: the OS's reason."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        env = {key: value for key, value in os.environ.items() if key != "GRPC_VERBOSITY"}
        result = run_vm(["node", "--name", "a", "--cookie", "c", "--listen", f"127.0.0.1:{port}"],
                        env=env, timeout=60)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"vm node: cannot listen on 127.0.0.1:{port}: Address already in use"]


def test_a_repl_can_be_a_node(cluster) -> None:
    a = cluster.start("a")
    lines = "\n".join([
        "[ (Node named: #a) isNil ] whileTrue: [ Process sleep: 10 ]. (Node named: #a) ping",
        "Node current name",
        "(Node all collect: [ :n | n name ]) printString",
    ]) + "\n"
    result = run_vm(["repl", "--name", "r", "--cookie", COOKIE, "--tick", "1000", "--join", a.address],
                    input=lines, timeout=60)
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    assert out[0].startswith("node r listening on 127.0.0.1:")
    assert out[1:] == ["true", "#r", "'#(#a)'"], result.stdout
    a.wait_err(r"nodedown r: shutdown")


def test_the_remote_benchmark_runs_and_reports_against_its_references() -> None:
    result = run_vm(["bench", "--remote", "--pings", "50", "--messages", "300", "--spawns", "20", "--calls", "50"],
                    timeout=240)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("round trip (50 pings") and "raw grpcio unary" in lines[0]
    assert lines[1].startswith("one-way throughput (300 messages)") and "raw grpcio stream" in lines[1]
    assert lines[2].startswith("remote spawn: ")
    assert lines[3].startswith("remote call round trip (50 calls") and "raw grpcio unary" in lines[3]
    assert lines[4].startswith("calls through one proxy: ") and "from 10 concurrent callers" in lines[4]
    assert lines[5].startswith("failure detection: ")
