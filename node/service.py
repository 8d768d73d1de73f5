"""A whole node, put together: the VM-side runtime (``node.runtime``) made the
machine's distribution, and the member table with its gRPC transport
(``node.membership``). The command line and the REPL start nodes through this.

``start`` listens and answers the real address; ``join`` dials members (in the
background, retried); ``shutdown`` says goodbye to every peer and stops. Call them
from the thread that owns the node's life (the command line's main thread); none of
them touches VM objects.
"""
from __future__ import annotations

from typing import Any

from smalltalk_vm.node.config import NodeConfig
from smalltalk_vm.node.handshake import Identity
from smalltalk_vm.node.membership import Membership
from smalltalk_vm.node.nodelog import NodeLog
from smalltalk_vm.node.runtime import NodeRuntime


class NodeService:
    """One node around one machine (which must not be running yet, or be run by a
    VMHost on its own thread)."""

    def __init__(self, machine: Any, config: NodeConfig, vm_version: str, log: NodeLog | None = None) -> None:
        self.config = config
        self.log = log or NodeLog(config.name)
        self.runtime = NodeRuntime(machine, config, self.log)
        machine.universe.distribution = self.runtime
        self.vm_version = vm_version
        self.membership: Membership | None = None
        self.address = ""

    def start(self) -> str:
        """Listen; answer the listening address (HOST:PORT)."""
        config = self.config

        def identity(listening: str) -> Identity:
            return Identity(config.name, config.creation, config.advertise or listening,
                            vm_version=self.vm_version)
        self.membership = Membership(config, identity, self.runtime, self.log)
        self.address = self.membership.start()
        return self.address

    def join(self, addresses: list[str]) -> None:
        if self.membership is not None and addresses:
            self.membership.join(addresses)

    def shutdown(self, reason: str = "shutdown") -> None:
        if self.membership is not None:
            self.membership.shutdown(reason)
