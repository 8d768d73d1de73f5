"""`vm node` (a VM that is a cluster member, optionally running a program) and the node
half of `vm repl --name N`: their flags, the cookie, starting and stopping the node.

A node prints ``node NAME listening on HOST:PORT`` on stdout once it accepts
connections, writes program output line by line (each line flushed), logs its own
events on stderr, stays up when its program returns or crashes, and stops on
``system exit: n`` (status n) or SIGTERM/SIGINT (status 0), saying goodbye to its
peers. Part of the composition root: it wires the VM, the image builder and the node
layer together and reports every failure in one line.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from smalltalk_vm.image.boot import make_machine
from smalltalk_vm.image.store import vm_version
from smalltalk_vm.node.config import ConfigError, NodeConfig
from smalltalk_vm.node.cookie import CookieError
from smalltalk_vm.node.nodelog import NodeLog
from smalltalk_vm.vm.errors import LoadError
from smalltalk_vm.vm.host import VMHost

if TYPE_CHECKING:
    from smalltalk_vm.node.service import NodeService

EXIT_USAGE = 2
DRAIN = "drain"             # `vm node drain HOST:PORT` (no class is named in lower case)
EXIT_INTERNAL = 70          # EX_SOFTWARE: the VM itself failed (as the REPL reports it)


def add_node_options(parser: argparse.ArgumentParser) -> None:
    """The flags a node takes (DISTRIBUTION §1), for `vm node` and `vm repl`."""
    parser.add_argument("--name", help="the node's name (default: a random one)")
    parser.add_argument("--listen", default="127.0.0.1:0", metavar="HOST:PORT",
                        help="where to accept connections (default 127.0.0.1:0)")
    parser.add_argument("--advertise", metavar="HOST:PORT",
                        help="the address peers are told to use (default: the listening address)")
    parser.add_argument("--join", action="append", default=[], metavar="HOST:PORT",
                        help="a member to join through (repeatable; one is enough)")
    parser.add_argument("--cookie", help="the cluster's shared secret")
    parser.add_argument("--cookie-file", metavar="F", help="a file holding the cookie (mode 0600)")
    parser.add_argument("--tls-cert", metavar="F", help="this node's certificate (PEM), for mutual TLS")
    parser.add_argument("--tls-key", metavar="F", help="its private key (PEM)")
    parser.add_argument("--tls-ca", metavar="F", help="the CA peers' certificates are signed by (PEM)")
    parser.add_argument("--tick", type=int, default=60_000, metavar="MS",
                        help="failure detection: a peer silent this long is down (default 60000)")
    parser.add_argument("--lease", type=int, default=30_000, metavar="MS",
                        help="remote reference lease (default 30000)")
    parser.add_argument("--max-frame", type=int, default=16 * 1024 * 1024, metavar="BYTES",
                        help="the largest frame accepted or sent (default 16 MiB)")
    parser.add_argument("--no-shell", action="store_true", help="serve no remote shell")


def register(commands: Any) -> None:
    node = commands.add_parser("node", help="start a node of a cluster (optionally running a program); "
                                            "`vm node drain HOST:PORT` moves a node's processes away and stops it")
    add_node_options(node)
    node.add_argument("-cp", "--classpath", help="folders searched for classes, ':'-separated")
    node.add_argument("--image", metavar="FILE", help="start from a saved image")
    node.add_argument("program", nargs="?", help="a class name or a .som file to run on the node")
    node.add_argument("arguments", nargs=argparse.REMAINDER, help="passed to the program")
    node.set_defaults(handler=command_node)


def wants_node(options: argparse.Namespace) -> bool:
    """Whether `vm repl` was asked to be a node too."""
    return bool(getattr(options, "name", None) or getattr(options, "join", None))


def build_config(options: argparse.Namespace) -> NodeConfig:
    """Raises ConfigError or CookieError."""
    from smalltalk_vm.cli.cluster_command import connection_settings  # its module loads gRPC's client
    cookie, tls = connection_settings(options)
    return NodeConfig(name=options.name or "", listen=options.listen, advertise=options.advertise,
                      joins=list(options.join), cookie=cookie, tls=tls, tick_ms=options.tick,
                      lease_ms=options.lease, max_frame=options.max_frame, shell=not options.no_shell)


def _fail(message: str, status: int = EXIT_USAGE) -> int:
    sys.stdout.flush()
    sys.stderr.write(message.rstrip("\n") + "\n")
    return status


def start_service(machine: Any, config: NodeConfig, console: Any) -> NodeService | None:
    """Listen and print the listening line; None (reported) if it cannot. The node's
    log goes to stderr through ``console``."""
    from smalltalk_vm.node.service import NodeService  # gRPC: imported by nodes only
    service = NodeService(machine, config, vm_version(), NodeLog(config.name, console.write_error))
    try:
        address = service.start()
    except (OSError, RuntimeError) as error:
        _fail(f"vm node: cannot listen on {config.listen}: {error}", 1)
        return None
    console.write(f"node {config.name} listening on {address}\n")
    console.flush()
    return service


def command_node(options: argparse.Namespace) -> int:
    from smalltalk_vm.cli.main import console_for, image_argument, resolve_program, split_classpath
    if options.program == DRAIN:
        from smalltalk_vm.cli.drain_command import command_drain
        return command_drain(options.arguments, options)
    try:
        config = build_config(options)
    except (ConfigError, CookieError) as error:
        return _fail(f"vm node: {error}")
    classpath = split_classpath(options.classpath)
    name = None
    if options.program is not None:
        name, classpath = resolve_program(options.program, classpath)
    machine = make_machine(classpath, image_argument(options.image))
    universe = machine.universe
    if name is not None and universe.load_class(name) is None:
        raise LoadError(f"class {name} not found on the classpath")
    console = console_for(machine)
    console.flush_each_write = True        # scripts follow a node's output as it comes
    stop = threading.Event()

    def on_signal(number: int, frame: Any) -> None:
        stop.set()
    # Before the listening line: whoever reads it may stop the node at once.
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        service = start_service(machine, config, console)
        if service is None:
            return 1
        host = VMHost(machine)
        host.start()
        service.serve_shells(host, shell_sessions(machine, options.image))
        try:
            if name is not None:
                program = [name, *options.arguments]
                host.call(lambda: _start_program(machine, program))
            service.join(config.joins)
            while not stop.wait(0.1) and host.alive:
                pass
        finally:
            service.shutdown()
            host.stop()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if host.failure is not None:
        console.write_error(f"vm: internal error: the VM stopped: {host.failure} "
                            "(a defect of the VM, not of your program; please report it)\n")
        return EXIT_INTERNAL
    return universe.exit_status or 0


def shell_sessions(machine: Any, image: str | None) -> Any:
    """How the node makes the REPL session of a remote shell: a session on the node's
    machine, run by the node's VM host, writing to the shell."""
    from smalltalk_vm.repl.session import ReplSession

    def make(host: Any, console: Any) -> Any:
        return ReplSession(machine, image, host=host, console=console)
    return make


def _start_program(machine: Any, program: list[str]) -> None:
    """The program runs as `vm run` runs it, in a process of its own; its crash is
    reported like any process's, and the node stays up."""
    universe = machine.universe
    args = universe.new_array([universe.new_string(word) for word in program])
    machine.main = machine.spawn_send(universe.system_object, "initialize:", [args])


def command_repl_node(options: argparse.Namespace, session: Any, run_repl: Any) -> int:
    """`vm repl --name N [--join ...]`: the REPL's VM is a node too."""
    try:
        config = build_config(options)
    except (ConfigError, CookieError) as error:
        return _fail(f"vm repl: {error}")
    service = start_service(session.machine, config, session.console)
    if service is None:
        return 1
    service.serve_shells(session.host, shell_sessions(session.machine, options.image))
    try:
        service.join(config.joins)
        return run_repl()
    finally:
        service.shutdown()
