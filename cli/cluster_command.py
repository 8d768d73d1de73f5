"""`vm cluster status HOST:PORT` and `vm cluster processes HOST:PORT [--node N]`: the
cluster view for operators (observer_cli's), as a table for a terminal or ``--json``
for scripts. Not a member: it asks the node at HOST:PORT (the cookie handshake, on its
Shell service) for its status and its peers, then asks each peer the same way.

Rules:
- A refusal (wrong cookie, another build) prints one line and exits with status 2;
  a node that cannot be reached at HOST:PORT, one line and status 1. A peer that cannot
  be asked shows in its row as unreachable, with the reason; the others are shown.
- "last tick" of a node is the time since the node asked first last heard from it (a
  tick or any frame); for that node itself, as another node saw it.
- Every wait is bounded (``ANSWER_TIMEOUT``).
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from smalltalk_vm.node.config import ConfigError, TLSFiles
from smalltalk_vm.node.cookie import CookieError, resolve_cookie
from smalltalk_vm.node.shell_client import ConnectionLost, ShellClient, ShellRefused, ShellUnavailable

EXIT_UNREACHABLE = 1
EXIT_REFUSED = 2
ANSWER_TIMEOUT = 10.0


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """How a tool that is not a member reaches a node: the cookie and TLS files."""
    parser.add_argument("--cookie", help="the cluster's shared secret")
    parser.add_argument("--cookie-file", metavar="F", help="a file holding the cookie (mode 0600)")
    parser.add_argument("--tls-cert", metavar="F", help="this tool's certificate (PEM), for mutual TLS")
    parser.add_argument("--tls-key", metavar="F", help="its private key (PEM)")
    parser.add_argument("--tls-ca", metavar="F", help="the CA the nodes' certificates are signed by (PEM)")


def connection_settings(options: argparse.Namespace) -> tuple[bytes, TLSFiles | None]:
    """(cookie, TLS files) from the options; raises CookieError or ConfigError."""
    tls_files = (options.tls_cert, options.tls_key, options.tls_ca)
    tls = None
    if any(tls_files):
        if not all(tls_files):
            raise ConfigError("TLS needs all three of --tls-cert, --tls-key and --tls-ca")
        tls = TLSFiles.read(*tls_files)
    return resolve_cookie(options.cookie, options.cookie_file), tls


def register(commands: Any) -> None:
    cluster = commands.add_parser("cluster", help="look at a running cluster (status, processes)")
    actions = cluster.add_subparsers(dest="action", required=True, metavar="ACTION", help="what to show:")
    status = actions.add_parser("status", help="one line per node: address, up since, processes, run queue, "
                                               "mailboxes, last tick")
    processes = actions.add_parser("processes", help="the processes of every node (or of one, --node N)")
    processes.add_argument("--node", metavar="N", help="only the processes of node N")
    for parser, handler in ((status, command_status), (processes, command_processes)):
        parser.add_argument("address", metavar="HOST:PORT", help="any node of the cluster")
        add_connection_options(parser)
        parser.add_argument("--json", action="store_true", help="JSON for scripts instead of a table")
        parser.set_defaults(handler=handler)


def _fail(message: str, status: int) -> int:
    sys.stdout.flush()
    sys.stderr.write(message + "\n")
    return status


class Survey:
    """The nodes of one cluster as the tool reached them: a client per node (None for
    one that could not be reached) and its status line."""

    def __init__(self, options: argparse.Namespace, cookie: bytes, tls: TLSFiles | None) -> None:
        self.options = options
        self.cookie = cookie
        self.tls = tls
        self.clients: dict[str, ShellClient | None] = {}
        self.lines: dict[str, dict] = {}
        self.views: dict[str, list[dict]] = {}          # each node's view of its peers

    def client(self, address: str) -> ShellClient:
        client = ShellClient(address, self.cookie, self.tls)
        client.connect("view", timeout=ANSWER_TIMEOUT)
        return client

    def ask(self, client: ShellClient, method: str) -> Any:
        answer = client.call(method).result(timeout=ANSWER_TIMEOUT)
        if isinstance(answer, dict) and set(answer) == {"error"}:
            raise ConnectionLost(answer["error"])
        return answer

    def take(self, address: str) -> None:
        """Reach the first node and every peer it knows."""
        first = self.client(address)              # its failures end the command
        line = self.ask(first, "status")
        peers = line["peers"]
        self._keep(line, first)
        for peer in peers:
            if peer["name"] in self.lines:
                continue
            try:
                client = self.client(peer["address"])
                self._keep(self.ask(client, "status"), client)
            except (ShellRefused, ShellUnavailable, ConnectionLost, TimeoutError) as error:
                self.lines[peer["name"]] = {"name": peer["name"], "address": peer["address"],
                                            "error": str(error) or type(error).__name__}
                self.clients[peer["name"]] = None
        self.first = line["name"]

    def _keep(self, line: dict, client: ShellClient) -> None:
        self.views[line["name"]] = line.pop("peers")
        self.lines[line["name"]] = line
        self.clients[line["name"]] = client

    def last_tick(self, name: str) -> int | None:
        seen_by = [self.first, *(n for n in self.views if n != self.first)]
        for observer in seen_by:
            for peer in self.views.get(observer, []):
                if peer["name"] == name:
                    return peer["last_tick_ms"]
        return None

    def close(self) -> None:
        for client in self.clients.values():
            if client is not None:
                client.close()


def _survey(options: argparse.Namespace) -> tuple[Survey | None, int]:
    try:
        cookie, tls = connection_settings(options)
    except (CookieError, ConfigError) as error:
        return None, _fail(f"vm cluster: {error}", EXIT_REFUSED)
    survey = Survey(options, cookie, tls)
    try:
        survey.take(options.address)
    except ShellRefused as error:
        survey.close()
        return None, _fail(f"vm cluster: {error}", EXIT_REFUSED)
    except (ShellUnavailable, ConnectionLost, TimeoutError) as error:
        survey.close()
        return None, _fail(f"vm cluster: {error or 'no answer in time'}", EXIT_UNREACHABLE)
    return survey, 0


def command_status(options: argparse.Namespace) -> int:
    survey, status = _survey(options)
    if survey is None:
        return status
    try:
        rows = []
        for name in sorted(survey.lines):
            row = dict(survey.lines[name])
            if "error" not in row:
                row["last_tick_ms"] = survey.last_tick(name)
            rows.append(row)
    finally:
        survey.close()
    if options.json:
        print(json.dumps({"nodes": [_json_status(row) for row in rows]}, indent=2))
    else:
        print(_table(["NAME", "ADDRESS", "UP SINCE", "PROCESSES", "RUN QUEUE", "MAILBOXES", "LAST TICK"],
                     [_status_cells(row) for row in rows]))
    return 0


def command_processes(options: argparse.Namespace) -> int:
    survey, status = _survey(options)
    if survey is None:
        return status
    try:
        names = sorted(survey.lines)
        if options.node is not None:
            if options.node not in survey.lines:
                return _fail(f"vm cluster: no node {options.node} in the cluster of {options.address} "
                             f"(nodes: {', '.join(names)})", EXIT_UNREACHABLE)
            names = [options.node]
        rows, problems = [], []
        for name in names:
            client = survey.clients[name]
            try:
                if client is None:
                    raise ConnectionLost(survey.lines[name]["error"])
                listed = survey.ask(client, "processes")
            except (ConnectionLost, TimeoutError) as error:
                problems.append({"node": name, "error": str(error) or "no answer in time"})
                continue
            rows.extend({"node": name, **row} for row in listed)
    finally:
        survey.close()
    if options.json:
        print(json.dumps({"processes": rows, "unreachable": problems}, indent=2))
    else:
        print(_table(["NODE", "PID", "NAME", "STATUS", "METHOD", "MAILBOX", "REDUCTIONS"],
                     [[r["node"], str(r["pid"]), r["name"] or "-", r["status"], r["method"] or "-",
                       str(r["mailbox"]), str(r["reductions"])] for r in rows]))
        for problem in problems:
            print(f"{problem['node']}: unreachable: {problem['error']}")
    return 0


# ---------------------------------------------------------------------- presentation

def _since(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _json_status(row: dict) -> dict:
    if "error" in row:
        return {"name": row["name"], "address": row["address"], "reachable": False, "error": row["error"]}
    return {"name": row["name"], "address": row["address"], "reachable": True,
            "up_since": datetime.fromtimestamp(row["up_since"], UTC).isoformat(timespec="seconds"),
            "processes": row["processes"], "run_queue": row["run_queue"],
            "mailbox_total": row["mailbox_total"], "last_tick_ms": row["last_tick_ms"]}


def _status_cells(row: dict) -> list[str]:
    if "error" in row:
        return [row["name"], row["address"], f"unreachable: {row['error']}", "", "", "", ""]
    tick = row["last_tick_ms"]
    return [row["name"], row["address"], _since(row["up_since"]), str(row["processes"]),
            str(row["run_queue"]), str(row["mailbox_total"]), "-" if tick is None else f"{tick} ms ago"]


def _table(headings: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headings)]
    numeric = {i for i, h in enumerate(headings) if h in ("PID", "PROCESSES", "RUN QUEUE", "MAILBOXES",
                                                          "MAILBOX", "REDUCTIONS")}

    def line(cells: list[str]) -> str:
        parts = [cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i]) for i, cell in enumerate(cells)]
        return "  ".join(parts).rstrip()
    return "\n".join([line(headings), *(line(r) for r in rows)])
