"""Real nodes for tests: each `vm node` runs as a subprocess on 127.0.0.1 (port 0), in a
process group of its own, with its stdout and stderr read line by line on threads so
a test can wait (always with a deadline) for a line to appear. Whatever happens, every
node's group is killed at teardown.

    def test_two_nodes(cluster):
        a = cluster.start("a")
        b = cluster.start("b", join=a)
        b.wait_err(r"nodeup a")

Programs are ordinary class files given to `vm node`; tests read what they print.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from faultproxy import FaultProxy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LISTENING = re.compile(r"^node (\S+) listening on (\S+):(\d+)$")
START_TIMEOUT = 60.0
COOKIE = "test-cookie-8f2d1c"


class Lines:
    """Lines read from one stream, with the time each arrived (time.monotonic())."""

    def __init__(self) -> None:
        self.lines: list[tuple[float, str]] = []
        self.cond = threading.Condition()
        self.closed = False

    def feed(self, stream) -> None:
        """Read ``stream`` to its end, then close it. The reader owns the stream: nobody
        closes it under the read (that made the read fail with "I/O operation on closed
        file" at teardown)."""
        try:
            for raw in stream:
                with self.cond:
                    self.lines.append((time.monotonic(), raw.rstrip("\n")))
                    self.cond.notify_all()
        finally:
            stream.close()
            with self.cond:
                self.closed = True
                self.cond.notify_all()

    def text(self) -> str:
        with self.cond:
            return "\n".join(line for _, line in self.lines)

    def matching(self, pattern: str) -> list[tuple[float, str]]:
        regex = re.compile(pattern)
        with self.cond:
            return [(t, line) for t, line in self.lines if regex.search(line)]

    def wait(self, pattern: str, timeout: float, count: int = 1) -> tuple[float, str]:
        """The count-th line matching ``pattern`` (a regex), waiting at most ``timeout``."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [(t, line) for t, line in self.lines if regex.search(line)]
                if len(found) >= count:
                    return found[count - 1]
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    raise TimeoutError(f"no {count} x {pattern!r} within {timeout} s")
                self.cond.wait(left)


class NodeProcess:
    """One `vm node` subprocess."""

    def __init__(self, name: str, argv: list[str], env: dict, cwd: str) -> None:
        self.name = name
        self.argv = argv
        self.started = time.monotonic()
        self.popen = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      stdin=subprocess.DEVNULL, text=True, bufsize=1, env=env,
                                      cwd=cwd, start_new_session=True)
        self.out = Lines()
        self.err = Lines()
        self.readers = [threading.Thread(target=lines.feed, args=(stream,), daemon=True,
                                         name=f"{name} {which}")
                        for lines, stream, which in ((self.out, self.popen.stdout, "stdout"),
                                                     (self.err, self.popen.stderr, "stderr"))]
        for reader in self.readers:
            reader.start()
        self.host = ""
        self.port = 0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        return self.popen.pid

    def wait_listening(self, timeout: float = START_TIMEOUT) -> None:
        try:
            _, line = self.out.wait(r"^node \S+ listening on ", timeout)
        except TimeoutError:
            raise AssertionError(f"node {self.name} did not start:\n{self.report()}") from None
        match = LISTENING.match(line)
        assert match, line
        self.host, self.port = match.group(2), int(match.group(3))

    def wait_out(self, pattern: str, timeout: float = 30.0, count: int = 1) -> str:
        try:
            return self.out.wait(pattern, timeout, count)[1]
        except TimeoutError as error:
            raise AssertionError(f"node {self.name}: {error}\n{self.report()}") from None

    def wait_err(self, pattern: str, timeout: float = 30.0, count: int = 1) -> str:
        try:
            return self.err.wait(pattern, timeout, count)[1]
        except TimeoutError as error:
            raise AssertionError(f"node {self.name}: {error}\n{self.report()}") from None

    def when_err(self, pattern: str, timeout: float = 30.0, count: int = 1) -> float:
        """When the count-th stderr line matching ``pattern`` arrived."""
        try:
            return self.err.wait(pattern, timeout, count)[0]
        except TimeoutError as error:
            raise AssertionError(f"node {self.name}: {error}\n{self.report()}") from None

    def signal(self, number: int) -> None:
        try:
            os.killpg(self.popen.pid, number)
        except ProcessLookupError:
            pass

    def wait_exit(self, timeout: float = 30.0) -> int:
        return self.popen.wait(timeout=timeout)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, and the exit status (SIGKILL if it does not stop in time)."""
        self.signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"node {self.name} did not stop on SIGTERM:\n{self.report()}") from None

    def kill(self) -> None:
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGKILL)
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def join_readers(self, timeout: float = 10.0) -> None:
        """Wait (at most ``timeout``) for the stream readers to reach the end of their
        streams, which they close; once the node's group is dead, that is at once."""
        deadline = time.monotonic() + timeout
        for reader in self.readers:
            reader.join(max(0.0, deadline - time.monotonic()))

    def report(self) -> str:
        return f"--- stdout of {self.name}\n{self.out.text()}\n--- stderr of {self.name}\n{self.err.text()}"


def node_environment(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    if extra:
        env.update(extra)
    return env


def free_port() -> int:
    """A port nobody listens on now (for a node that must be started behind a proxy)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """Starts nodes and always stops them (see the module docstring)."""

    def __init__(self, workdir: Path, tick: int = 1000) -> None:
        self.workdir = workdir
        self.tick = tick
        self.nodes: list[NodeProcess] = []
        self.proxies: list[FaultProxy] = []

    def proxied(self, name: str, *extra: str, **options) -> tuple[NodeProcess, FaultProxy]:
        """A node behind a fault proxy of its own, advertising the proxy's address, so
        that every connection its peers open to it goes through the proxy."""
        port = free_port()
        proxy = FaultProxy("127.0.0.1", port)
        self.proxies.append(proxy)
        node = self.start(name, "--listen", f"127.0.0.1:{port}", "--advertise", proxy.address, *extra,
                          **options)
        return node, proxy

    def argv(self, name: str | None, *extra: str, join: Sequence = (), cookie: str | None = COOKIE,
             tick: int | None = None, classpath: Sequence[str] = (), program: str | None = None,
             args: Sequence[str] = ()) -> list[str]:
        argv = [sys.executable, "-m", "smalltalk_vm.cli.main", "node"]
        if name is not None:
            argv += ["--name", name]
        if cookie is not None:
            argv += ["--cookie", cookie]
        argv += ["--tick", str(tick or self.tick)]
        for member in join:
            argv += ["--join", member.address if isinstance(member, NodeProcess) else str(member)]
        if classpath:
            argv += ["-cp", os.pathsep.join(str(p) for p in classpath)]
        argv += list(extra)
        if program is not None:
            argv += [str(program), *args]
        return argv

    def start(self, name: str | None, *extra: str, join: Sequence = (), cookie: str | None = COOKIE,
              tick: int | None = None, classpath: Sequence[str] = (), program: str | None = None,
              args: Sequence[str] = (), env: dict | None = None, wait: bool = True) -> NodeProcess:
        argv = self.argv(name, *extra, join=join, cookie=cookie, tick=tick, classpath=classpath,
                         program=program, args=args)
        node = NodeProcess(name or "?", argv, node_environment(env), str(self.workdir))
        self.nodes.append(node)
        if wait:
            node.wait_listening()
        return node

    def stop_all(self) -> None:
        for proxy in self.proxies:
            proxy.close()
        for node in self.nodes:
            node.kill()
        for node in self.nodes:
            node.join_readers()


def write_class(folder: Path, source: str) -> Path:
    """Write a class file named after the class it defines."""
    name = source.strip().split("=", 1)[0].strip()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.som"
    path.write_text(source, encoding="utf-8")
    return path


@pytest.fixture
def cluster(tmp_path: Path):
    nodes = Cluster(tmp_path)
    try:
        yield nodes
    finally:
        nodes.stop_all()
