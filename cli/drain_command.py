"""`vm node drain HOST:PORT`: ask the node at HOST:PORT to move every process it can to
the other nodes of its cluster and then stop (``node.migration_drain``). Not a member:
it reaches the node as `vm cluster` does (the cookie handshake on its Shell service).

Rules:
- It prints one line: how many processes moved and, for each one that could not,
  why; it exits 0 once the node has drained (and is stopping), 1 if the node cannot
  be reached or could not drain, 2 if it refused the tool (cookie, TLS, build).
- Every wait is bounded (``DRAIN_TIMEOUT``).
"""
from __future__ import annotations

import argparse
import sys

from smalltalk_vm.cli.cluster_command import add_connection_options, connection_settings
from smalltalk_vm.node.config import ConfigError
from smalltalk_vm.node.cookie import CookieError
from smalltalk_vm.node.shell_client import ConnectionLost, ShellClient, ShellRefused, ShellUnavailable

EXIT_FAILED = 1
EXIT_REFUSED = 2
CONNECT_TIMEOUT = 10.0
DRAIN_TIMEOUT = 100.0


def drain_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vm node drain",
                                     description="move every process of a node to the other nodes, then stop it")
    parser.add_argument("address", metavar="HOST:PORT", help="the node to drain")
    add_connection_options(parser)
    return parser


def _fail(message: str, status: int) -> int:
    sys.stdout.flush()
    sys.stderr.write(message + "\n")
    return status


def command_drain(arguments: list[str], inherited: argparse.Namespace) -> int:
    """``arguments``: what followed ``drain``; ``inherited``: the `vm node` options given
    before it (``--cookie`` and the TLS files may come on either side)."""
    options = drain_parser().parse_args(arguments)
    for name in ("cookie", "cookie_file", "tls_cert", "tls_key", "tls_ca"):
        if getattr(options, name) is None:
            setattr(options, name, getattr(inherited, name, None))
    try:
        cookie, tls = connection_settings(options)
    except (CookieError, ConfigError) as error:
        return _fail(f"vm node drain: {error}", EXIT_REFUSED)
    client = ShellClient(options.address, cookie, tls)
    try:
        client.connect("view", timeout=CONNECT_TIMEOUT)
        answer = client.call("drain").result(timeout=DRAIN_TIMEOUT)
    except ShellRefused as error:
        return _fail(f"vm node drain: {error}", EXIT_REFUSED)
    except (ShellUnavailable, ConnectionLost, TimeoutError) as error:
        return _fail(f"vm node drain: {error or 'no answer in time'}", EXIT_FAILED)
    finally:
        client.close()
    if not isinstance(answer, dict) or "error" in answer:
        problem = answer.get("error") if isinstance(answer, dict) else "a malformed answer"
        return _fail(f"vm node drain: {options.address}: {problem}", EXIT_FAILED)
    stayed = answer.get("stayed", [])
    print(f"drained {options.address}: {answer.get('moved', 0)} processes moved, {len(stayed)} stayed"
          + ("" if answer.get("complete", True) else " (not every node acknowledged in time)"))
    for reason in stayed:
        print(f"  stayed: {reason}")
    sys.stdout.flush()
    return 0
