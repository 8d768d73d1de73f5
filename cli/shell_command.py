"""`vm repl --connect HOST:PORT`: the REPL with its evaluation on a running node (the
remote shell, Erlang's `erl -remsh`). Part of the composition root: it connects
(``node.shell_client``), wraps the remote session in the change log of this machine
(one per node, each entry naming the node), runs the ordinary front end, and, when
the connection is lost, says so and offers to reconnect.

Exit status: 0 when the user quits; 2 when the node refuses the connection (a wrong
cookie, another build, `--no-shell`), 1 when it cannot be reached or the connection is
lost and not reconnected.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from smalltalk_vm.cli.cluster_command import connection_settings
from smalltalk_vm.image.store import vm_version
from smalltalk_vm.node.config import ConfigError
from smalltalk_vm.node.cookie import CookieError
from smalltalk_vm.node.shell_client import ShellClient, ShellRefused, ShellUnavailable

EXIT_LOST = 1
EXIT_REFUSED = 2
LOCAL_ONLY = ("name", "join", "image", "classpath")      # options of a local VM, not of a shell


def _fail(message: str, status: int) -> int:
    sys.stdout.flush()
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
    return status


def _connect(address: str, cookie: bytes, tls: Any) -> ShellClient:
    client = ShellClient(address, cookie, tls, vm_version=vm_version())
    client.connect("repl")
    return client


def command_connect(options: argparse.Namespace, logged: Any) -> int:
    """``logged(session, log)`` wraps a session in its change log (cli.main)."""
    from smalltalk_vm.repl.app import run
    from smalltalk_vm.repl.changelog import ChangeLog, log_path
    from smalltalk_vm.repl.remote_session import RemoteSession

    given = [f"--{name}" for name in LOCAL_ONLY if getattr(options, name, None)]
    if given:
        verb = "does" if len(given) == 1 else "do"
        return _fail(f"vm repl: --connect runs the REPL on the node: {', '.join(given)} {verb} not apply",
                     EXIT_REFUSED)
    try:
        cookie, tls = connection_settings(options)
    except (CookieError, ConfigError) as error:
        return _fail(f"vm repl: {error}", EXIT_REFUSED)
    address = options.connect
    try:
        client = _connect(address, cookie, tls)
    except ShellRefused as error:
        return _fail(f"vm repl: {error}", EXIT_REFUSED)
    except ShellUnavailable as error:
        return _fail(f"vm repl: {error}", EXIT_LOST)
    remote = RemoteSession(client)
    log = ChangeLog(log_path(node=client.node), node=f"{client.node}@{address}")
    session = logged(remote, log)
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if interactive:
        print(f"connected to node {client.node} at {address}", flush=True)
    try:
        while True:
            status = run(session)
            if remote.lost is None or remote.lost == "closed":
                return status
            if not interactive:
                return EXIT_LOST
            replacement = _reconnect(address, cookie, tls)
            if replacement is None:
                return EXIT_LOST
            remote.attach(replacement)
    finally:
        remote.close()


def _reconnect(address: str, cookie: bytes, tls: Any) -> ShellClient | None:
    """Ask until the user declines or a new connection is made."""
    while True:
        try:
            answer = input(f"reconnect to {address}? [y/N] ").strip().lower()
        except (EOFError, KeyboardInterrupt):
            print()
            return None
        if answer not in ("y", "yes"):
            return None
        try:
            client = _connect(address, cookie, tls)
        except (ShellRefused, ShellUnavailable) as error:
            print(f"vm repl: {error}", file=sys.stderr, flush=True)
            continue
        print(f"connected to node {client.node} at {address}", flush=True)
        return client
