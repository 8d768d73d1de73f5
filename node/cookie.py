"""Where a node's cookie comes from, and the rule that a cookie file must be private.

Order: ``--cookie``, else ``--cookie-file``, else ``$VM_COOKIE``, else
``~/.config/smalltalk-vm/cookie``, created on first use with random content and mode
0600. A cookie file that group or others may read is refused, as Erlang refuses one:
a cookie anyone can read lets anyone in. Raises ``CookieError`` (a one-line reason);
does nothing else.
"""
from __future__ import annotations

import os
import secrets
import stat

DEFAULT_PATH = os.path.join("~", ".config", "smalltalk-vm", "cookie")


class CookieError(Exception):
    """No usable cookie: the reason is one line."""


def _read_private(path: str) -> bytes:
    try:
        info = os.stat(path)
    except OSError as error:
        raise CookieError(f"cannot read the cookie file {path}: {error.strerror}") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CookieError(f"the cookie file {path} is accessible by group or others "
                          f"(mode {stat.S_IMODE(info.st_mode):04o}); make it 0600")
    try:
        with open(path, "rb") as handle:
            cookie = handle.read().strip()
    except OSError as error:
        raise CookieError(f"cannot read the cookie file {path}: {error.strerror}") from None
    if not cookie:
        raise CookieError(f"the cookie file {path} is empty")
    return cookie


def _create_default(path: str) -> None:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return                        # another node made it just now: use theirs
    except OSError as error:
        raise CookieError(f"cannot create the cookie file {path}: {error.strerror}") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(30) + "\n")


def resolve_cookie(cookie: str | None = None, cookie_file: str | None = None,
                   environ: dict | None = None) -> bytes:
    """The cookie, by the order above."""
    env = os.environ if environ is None else environ
    if cookie is not None:
        if not cookie:
            raise CookieError("--cookie is empty")
        return cookie.encode()
    if cookie_file is not None:
        return _read_private(cookie_file)
    if env.get("VM_COOKIE"):
        return env["VM_COOKIE"].encode()
    home = env.get("HOME") or os.path.expanduser("~")
    path = os.path.join(home, DEFAULT_PATH[2:])
    if not os.path.exists(path):
        _create_default(path)
    return _read_private(path)
