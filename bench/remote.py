"""Distribution benchmarks (issues 13 and 14), each against a reference measured in
the same run: round trip of a process-to-process ping-pong between two nodes against a
raw grpcio unary ping-pong of the same bytes between two plain Python processes;
one-way streamed message throughput against a raw grpcio stream of the same bytes;
remote spawn rate; a remote object's call round trip (a synchronous send through a
proxy) against a raw grpcio unary call of the same bytes, and calls per second through
one proxy from one caller, from 10 concurrent callers, and as ~> sends; and how long a
stopped node takes to be declared down, against the tick.

Run: ``python -m bench.remote [--pings N] [--messages N] [--spawns N] [--calls N]
[--tick MS] [--json FILE]`` (or ``vm bench --remote ...``). Goals: round trip and call
round trip at most 2 times raw grpcio, throughput at least 0.5 times raw grpcio
streaming.

The nodes are real `vm node` processes on 127.0.0.1; the hosted program on node b
measures with `system ticks` and prints its figures; the raw references are a grpcio
server process and client process with generic handlers, nothing else.
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

import cbor2

from smalltalk_vm.bench.results import save_json
from smalltalk_vm.node import frames as F
from smalltalk_vm.node.wire_tags import TAG_PROCESS

BENCH_CLASS = """RemoteBench = (
    say: text = ( text println )
    run: args = (
        | a pings messages spawns calls me echo sink t0 t1 p target promises |
        pings := (args at: 2) asInteger. messages := (args at: 3) asInteger. spawns := (args at: 4) asInteger.
        calls := (args at: 5) asInteger.
        me := Process current.
        [ (a := Node named: #a) isNil ] whileTrue: [ Process sleep: 10 ].
        echo := a spawn: BenchPeer selector: #echo arguments: #().
        1 to: 200 do: [ :i | echo send: { me. i }. Process receive ].
        t0 := system ticks.
        1 to: pings do: [ :i | echo send: { me. i }. Process receive ].
        t1 := system ticks.
        self say: 'roundtrip_us ' + ((t1 - t0) / pings) printString.
        sink := a spawn: BenchPeer selector: #sink:replyTo: arguments: { 1000. me }.
        1 to: 1000 do: [ :i | sink send: { me. i } ].
        Process receive.
        sink := a spawn: BenchPeer selector: #sink:replyTo: arguments: { messages. me }.
        t0 := system ticks.
        1 to: messages do: [ :i | sink send: { me. i } ].
        Process receive.
        t1 := system ticks.
        self say: 'throughput_per_s ' + (messages * 1000000 / (t1 - t0)) printString.
        t0 := system ticks.
        1 to: spawns do: [ :i | a spawn: BenchPeer selector: #nothing arguments: #() ].
        t1 := system ticks.
        self say: 'spawns_per_s ' + (spawns * 1000000 / (t1 - t0)) printString.
        a spawn: BenchPeer selector: #give:of: arguments: { me. BenchTarget }.
        target := Process receive.
        1 to: 200 do: [ :i | target ping ].
        t0 := system ticks.
        1 to: calls do: [ :i | target ping ].
        t1 := system ticks.
        self say: 'call_roundtrip_us ' + ((t1 - t0) / calls) printString.
        self say: 'calls_per_s ' + (calls * 1000000 / (t1 - t0)) printString.
        t0 := system ticks.
        1 to: 10 do: [ :k | [ 1 to: (calls / 10) do: [ :i | target ping ]. me send: #caller ] spawn ].
        10 timesRepeat: [ Process receive: [ :m | m == #caller ] ].
        t1 := system ticks.
        self say: 'concurrent_calls_per_s ' + ((calls / 10) * 10 * 1000000 / (t1 - t0)) printString.
        t0 := system ticks.
        promises := (1 to: calls) collect: [ :i | target ~> ping ].
        promises do: [ :each | each wait ].
        t1 := system ticks.
        self say: 'eventual_calls_per_s ' + (calls * 1000000 / (t1 - t0)) printString.
        self say: 'done'.
        Process receive )
)"""

PEER_CLASS = """BenchPeer = (
    echo = ( | m | [ true ] whileTrue: [ m := Process receive. (m at: 1) send: m ] )
    sink: n replyTo: p = ( n timesRepeat: [ Process receive ]. p send: #done )
    nothing = ( ^ nil )
    give: p of: aClass = ( p send: aClass new asRemote )
)"""

TARGET_CLASS = """BenchTarget = (
    ping = ( ^ 1000 )
)"""

RAW_SERVER = r"""
import sys, grpc
from concurrent import futures
def ident(x): return x
def unary(request, context): return request
def sink(requests, context):
    n = 0
    for _ in requests: n += 1
    return str(n).encode()
handler = grpc.method_handlers_generic_handler("bench.Raw", {
    "Ping": grpc.unary_unary_rpc_method_handler(unary, ident, ident),
    "Sink": grpc.stream_unary_rpc_method_handler(sink, ident, ident)})
server = grpc.server(futures.ThreadPoolExecutor(8))
server.add_generic_rpc_handlers((handler,))
port = server.add_insecure_port("127.0.0.1:0")
server.start()
print(port, flush=True)
sys.stdin.read()
server.stop(0)
"""

RAW_CLIENT = r"""
import sys, time, grpc
port, pings, messages = (int(x) for x in sys.argv[1:4])
payload = bytes.fromhex(sys.argv[4])
channel = grpc.insecure_channel(f"127.0.0.1:{port}")
ping = channel.unary_unary("/bench.Raw/Ping", lambda x: x, lambda x: x)
sink = channel.stream_unary("/bench.Raw/Sink", lambda x: x, lambda x: x)
for _ in range(200): ping(payload)
t0 = time.perf_counter()
for _ in range(pings): ping(payload)
t1 = time.perf_counter()
print("roundtrip_us", int((t1 - t0) / pings * 1e6))
sink(iter([payload] * 1000))
t0 = time.perf_counter()
sink(iter([payload] * messages))
t1 = time.perf_counter()
print("throughput_per_s", int(messages / (t1 - t0)))
"""

LISTENING = re.compile(r"node (\S+) listening on (\S+)")


def _python(code: str, *args: str, stdin: bool = False) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True,
                            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL)


def _figures(text: str) -> dict[str, int]:
    return {key: int(value) for key, value in re.findall(r"^(\w+) (\d+)$", text, re.M)}


def ping_frame() -> bytes:
    """The bytes node b sends for one ping ``{ me. i }`` to a process of node a: a send
    frame around the wire value (a process reference and an integer)."""
    value = cbor2.dumps([cbor2.CBORTag(TAG_PROCESS, ["b", 3_000_000_000, 7]), 1000])
    return F.frame("send", 12, value)


def call_frame() -> bytes:
    """The bytes node b sends for one ``target ping`` through a proxy: a call frame
    naming the export's 16-byte handle, the selector and no arguments."""
    return F.frame("call", 1200, bytes(range(16)), "ping", cbor2.dumps([]), False)


def raw_grpcio(payload: bytes, pings: int, messages: int) -> dict[str, int]:
    """The reference: a plain grpcio server process and client process, sending
    ``payload`` as every message."""
    server = _python(RAW_SERVER, stdin=True)
    try:
        port = server.stdout.readline().strip()
        client = _python(RAW_CLIENT, port, str(pings), str(messages), payload.hex())
        out, _ = client.communicate(timeout=600)
        return _figures(out)
    finally:
        server.stdin.close()
        server.wait(timeout=30)


class _Node:
    """A `vm node` subprocess in its own process group, its output read on threads."""

    def __init__(self, argv: list[str], cwd: str) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.popen = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                      cwd=cwd, env=env, start_new_session=True)
        self.out: list[str] = []
        self.err: list[tuple[float, str]] = []
        self.changed = threading.Condition()
        threading.Thread(target=self._read, args=(self.popen.stdout, False), daemon=True).start()
        threading.Thread(target=self._read, args=(self.popen.stderr, True), daemon=True).start()

    def _read(self, stream, is_err: bool) -> None:
        for line in stream:
            with self.changed:
                if is_err:
                    self.err.append((time.monotonic(), line.rstrip()))
                else:
                    self.out.append(line.rstrip())
                self.changed.notify_all()

    def wait_for(self, pattern: str, timeout: float, stderr: bool = False) -> tuple[float, str]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                lines = self.err if stderr else [(0.0, line) for line in self.out]
                for stamp, line in lines:
                    if regex.search(line):
                        return stamp, line
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"no {pattern!r} within {timeout} s:\n" + "\n".join(self.out) + "\n"
                                       + "\n".join(line for _, line in self.err))
                self.changed.wait(left)

    def signal(self, number: int) -> None:
        try:
            os.killpg(self.popen.pid, number)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGKILL)
        self.popen.wait(timeout=30)


def node_figures(pings: int, messages: int, spawns: int, calls: int, tick: int) -> dict[str, float]:
    """The figures measured by the hosted program, and the failure-detection time."""
    vm = [sys.executable, "-m", "smalltalk_vm.cli.main", "node", "--cookie", "bench-cookie", "--tick", str(tick)]
    with tempfile.TemporaryDirectory() as folder:
        for source in (BENCH_CLASS, PEER_CLASS, TARGET_CLASS):
            name = source.split(" ", 1)[0]
            with open(os.path.join(folder, f"{name}.som"), "w", encoding="utf-8") as handle:
                handle.write(source)
        nodes: list[_Node] = []
        try:
            a = _Node([*vm, "--name", "a"], folder)
            nodes.append(a)
            address = LISTENING.search(a.wait_for("listening on", 60)[1]).group(2)
            b = _Node([*vm, "--name", "b", "--join", address, "-cp", folder, "RemoteBench",
                       str(pings), str(messages), str(spawns), str(calls)], folder)
            nodes.append(b)
            b.wait_for("^done$", 600)
            figures: dict[str, float] = dict(_figures("\n".join(b.out)))
            time.sleep(tick / 1000 / 2)
            stopped = time.monotonic()
            a.signal(signal.SIGSTOP)
            down, _ = b.wait_for(r"nodedown a: timeout", 10 * tick / 1000, stderr=True)
            figures["detection_ms"] = (down - stopped) * 1000
            return figures
        finally:
            for node in nodes:
                node.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pings", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--spawns", type=int, default=500)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--tick", type=int, default=1000, metavar="MS")
    parser.add_argument("--json", help="write the results to this file")
    options = parser.parse_args(argv)
    node = node_figures(options.pings, options.messages, options.spawns, options.calls, options.tick)
    payload = ping_frame()
    frame_size = len(payload)
    raw = raw_grpcio(payload, options.pings, options.messages)
    call_payload = call_frame()
    raw_call = raw_grpcio(call_payload, options.calls, 1000)
    results = {
        "round_trip": {"node_us": node["roundtrip_us"], "raw_grpcio_unary_us": raw["roundtrip_us"],
                       "ratio": node["roundtrip_us"] / raw["roundtrip_us"], "goal": "<= 2"},
        "throughput": {"node_per_s": node["throughput_per_s"], "raw_grpcio_stream_per_s": raw["throughput_per_s"],
                       "ratio": node["throughput_per_s"] / raw["throughput_per_s"], "goal": ">= 0.5"},
        "spawns_per_s": node["spawns_per_s"],
        "call_round_trip": {"node_us": node["call_roundtrip_us"], "raw_grpcio_unary_us": raw_call["roundtrip_us"],
                            "ratio": node["call_roundtrip_us"] / raw_call["roundtrip_us"], "goal": "<= 2",
                            "frame_bytes": len(call_payload)},
        "calls_per_s": {"one_caller": node["calls_per_s"], "ten_callers": node["concurrent_calls_per_s"],
                        "eventual": node["eventual_calls_per_s"]},
        "failure_detection": {"ms": node["detection_ms"], "tick_ms": options.tick,
                              "ticks": node["detection_ms"] / options.tick, "bound": "0.75 .. 1.25"},
        "frame_bytes": frame_size,
        "counts": {"pings": options.pings, "messages": options.messages, "spawns": options.spawns,
                   "calls": options.calls},
    }
    rt, tp, fd = results["round_trip"], results["throughput"], results["failure_detection"]
    print(f"round trip ({options.pings} pings, {frame_size}-byte frames): node {rt['node_us']:.0f} us, "
          f"raw grpcio unary {rt['raw_grpcio_unary_us']:.0f} us: {rt['ratio']:.2f}x (goal <= 2)")
    print(f"one-way throughput ({options.messages} messages): node {tp['node_per_s']:,.0f} msg/s, "
          f"raw grpcio stream {tp['raw_grpcio_stream_per_s']:,.0f} msg/s: {tp['ratio']:.2f}x (goal >= 0.5)")
    print(f"remote spawn: {results['spawns_per_s']:,.0f} spawns/s ({options.spawns} sequential spawns)")
    cr, cps = results["call_round_trip"], results["calls_per_s"]
    print(f"remote call round trip ({options.calls} calls, {cr['frame_bytes']}-byte frames): node "
          f"{cr['node_us']:.0f} us, raw grpcio unary {cr['raw_grpcio_unary_us']:.0f} us: "
          f"{cr['ratio']:.2f}x (goal <= 2)")
    print(f"calls through one proxy: {cps['one_caller']:,.0f}/s from one caller, {cps['ten_callers']:,.0f}/s "
          f"from 10 concurrent callers, {cps['eventual']:,.0f}/s as ~> sends")
    print(f"failure detection: a stopped node declared down after {fd['ms']:.0f} ms = {fd['ticks']:.2f} ticks "
          f"(tick {options.tick} ms; bound 0.75..1.25)")
    save_json(options.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
