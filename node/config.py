"""A node's settings, as the command line (or a test) gives them: identity, addresses,
cookie, TLS files, tick, lease and frame limit. Plain data, checked on creation;
``ConfigError`` says what is wrong in one line."""
from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field

from smalltalk_vm.node.handshake import valid_name

DEFAULT_TICK_MS = 60_000           # Erlang's net_ticktime
DEFAULT_LEASE_MS = 30_000
DEFAULT_MAX_FRAME = 16 * 1024 * 1024
MIN_MAX_FRAME = 4096


class ConfigError(Exception):
    """A setting a node cannot start with."""


@dataclass(frozen=True)
class TLSFiles:
    """PEM bytes: this node's certificate and key, and the CA its peers' certificates
    must be signed by."""
    cert: bytes
    key: bytes
    ca: bytes

    @staticmethod
    def read(cert: str, key: str, ca: str) -> TLSFiles:
        parts = []
        for what, path in (("--tls-cert", cert), ("--tls-key", key), ("--tls-ca", ca)):
            try:
                with open(path, "rb") as handle:
                    parts.append(handle.read())
            except OSError as error:
                raise ConfigError(f"{what} {path}: {error.strerror}") from None
        return TLSFiles(*parts)


def split_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"{text!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


@dataclass
class NodeConfig:
    name: str = ""
    listen: str = "127.0.0.1:0"
    advertise: str | None = None
    joins: list[str] = field(default_factory=list)
    cookie: bytes = b""
    tls: TLSFiles | None = None
    tick_ms: int = DEFAULT_TICK_MS
    lease_ms: int = DEFAULT_LEASE_MS
    max_frame: int = DEFAULT_MAX_FRAME
    shell: bool = True
    creation: int = 0

    def __post_init__(self) -> None:
        if not self.name:
            self.name = "node" + secrets.token_hex(3)
        if not valid_name(self.name):
            raise ConfigError(f"{self.name!r} is not a node name (letters, digits, _ . @ -)")
        if not self.cookie:
            raise ConfigError("a node needs a cookie")
        split_address(self.listen)
        if self.advertise is not None:
            split_address(self.advertise)
        for address in self.joins:
            split_address(address)
        if self.tick_ms < 100:
            raise ConfigError("--tick must be at least 100 ms")
        if self.lease_ms < 100:
            raise ConfigError("--lease must be at least 100 ms")
        if self.max_frame < MIN_MAX_FRAME:
            raise ConfigError(f"--max-frame must be at least {MIN_MAX_FRAME} bytes")
        if not self.creation:
            self.creation = random.SystemRandom().randrange(1, 1 << 32)

    @property
    def tick(self) -> float:
        """The tick in seconds."""
        return self.tick_ms / 1000.0
