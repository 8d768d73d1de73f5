"""The image file: header, body, checksum; atomic writes; refusing bad files.

Layout (little-endian):

    magic        8 bytes   b"SOMVMIMG"
    version      u16       FORMAT_VERSION of the writer
    flags        u16       reserved, 0
    header_size  u32       bytes from the start of the file to the body
    created      f64       Unix time of the save
    body_size    u64
    objects      u32       counts, for `vm image info` without loading the heap
    classes      u32
    processes    u32
    creator      u16 + UTF-8   the VM version that wrote it
    body         CBOR (see image.snapshot)
    checksum     32 bytes  SHA-256 of everything before it

A file is written to a temporary file in the same folder, fsynced and renamed over the
target, so a crash never leaves a half-written image where the previous one was.
This module knows nothing of the VM's objects.
"""
from __future__ import annotations

import hashlib
import math
import os
import stat
import struct
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import cbor2

MAGIC = b"SOMVMIMG"
FORMAT_VERSION = 2        # 2: kernel source paths saved relative to lib/; selective-receive counts as integers
_FIXED = struct.Struct("<8sHHIdQIII")
_CREATOR_LEN = struct.Struct("<H")
CHECKSUM_SIZE = 32
MAX_BODY = 1 << 40
# Creation times a header may carry: 0001-01-01 to 9999-12-31 (what a calendar date can
# show); anything else (NaN, infinity, 1e300) is a damaged header.
EARLIEST_CREATED = -62135596800.0
LATEST_CREATED = 253402300799.0


class ImageFileError(Exception):
    """A file that is not a loadable image; ``str()`` is a one-line reason."""


@dataclass
class Header:
    version: int
    flags: int
    created: float
    body_size: int
    objects: int
    classes: int
    processes: int
    creator: str
    header_size: int
    file_size: int


# Text holding lone surrogates (a String made of `55296 asCharacter`) is not UTF-8, so a
# CBOR text string cannot carry it: such text travels as this private tag around its
# bytes encoded with "surrogatepass", and reads back as the same text.
TAG_SURROGATE_TEXT = 51200


def encode(body: object, counts: dict, creator: str, now: float | None = None) -> bytes:
    try:
        payload = cbor2.dumps(body)
    except UnicodeEncodeError:
        payload = cbor2.dumps(_escape_surrogates(body))     # rare: only then walk the whole body
    creator_bytes = creator.encode("utf-8")[:65535]
    header_size = _FIXED.size + _CREATOR_LEN.size + len(creator_bytes)
    header = _FIXED.pack(MAGIC, FORMAT_VERSION, 0, header_size, time.time() if now is None else now,
                         len(payload), counts.get("objects", 0), counts.get("classes", 0),
                         counts.get("processes", 0))
    header += _CREATOR_LEN.pack(len(creator_bytes)) + creator_bytes
    digest = hashlib.sha256(header + payload).digest()
    return header + payload + digest


def parse_header(data: bytes, file_size: int | None = None) -> Header:
    """The header of an image file's bytes, checked for magic, version and size (not
    the checksum). ``data`` may be just the start of the file when ``file_size`` is
    given."""
    if not data:
        raise ImageFileError("empty file, not an image")
    if len(data) < len(MAGIC) or data[:len(MAGIC)] != MAGIC:
        raise ImageFileError("not an image file (bad magic number)")
    if len(data) < _FIXED.size + _CREATOR_LEN.size:
        raise ImageFileError(f"truncated image: only {len(data)} bytes")
    (_, version, flags, header_size, created, body_size, objects, classes,
     processes) = _FIXED.unpack_from(data)
    if version > FORMAT_VERSION:
        raise ImageFileError(f"image format version {version} is newer than this VM's ({FORMAT_VERSION})")
    if version < 1:
        raise ImageFileError(f"image format version {version} is not supported")
    (creator_len,) = _CREATOR_LEN.unpack_from(data, _FIXED.size)
    if header_size != _FIXED.size + _CREATOR_LEN.size + creator_len or body_size > MAX_BODY:
        raise ImageFileError("corrupt image header")
    if not (math.isfinite(created) and EARLIEST_CREATED <= created <= LATEST_CREATED):
        raise ImageFileError(f"corrupt image header: creation time {created!r} is not a date")
    if len(data) < header_size:
        raise ImageFileError(f"truncated image: only {len(data)} bytes")
    creator = data[_FIXED.size + _CREATOR_LEN.size:header_size].decode("utf-8", "replace")
    size = len(data) if file_size is None else file_size
    expected = header_size + body_size + CHECKSUM_SIZE
    if size < expected:
        raise ImageFileError(f"truncated image: {size} of {expected} bytes")
    if size > expected:
        raise ImageFileError(f"corrupt image: {size - expected} unexpected bytes after the end")
    return Header(version, flags, created, body_size, objects, classes, processes, creator,
                  header_size, size)


def decode(data: bytes) -> tuple[Header, object]:
    """Header and body of a whole image file's bytes, or ImageFileError."""
    header = parse_header(data)
    end = header.header_size + header.body_size
    if hashlib.sha256(data[:end]).digest() != data[end:end + CHECKSUM_SIZE]:
        raise ImageFileError("corrupt image: checksum mismatch")
    try:
        body = cbor2.loads(data[header.header_size:end], tag_hook=_surrogate_text)
    except Exception as error:
        raise ImageFileError(f"corrupt image body: {type(error).__name__}") from None
    return header, body


def _escape_surrogates(body: object) -> object:
    """A copy of ``body`` with every text that is not valid UTF-8 wrapped in
    TAG_SURROGATE_TEXT (iterative: bodies are deep)."""
    def convert(item: object) -> object:
        if type(item) is str:
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return cbor2.CBORTag(TAG_SURROGATE_TEXT, item.encode("utf-8", "surrogatepass"))
            return item
        if type(item) is list:
            copy: list = list(item)
            pending.append(copy)
            return copy
        if type(item) is dict:
            table = {convert(key): value for key, value in item.items()}
            pending.append(table)
            return table
        return item

    pending: list = []
    root = convert(body)
    while pending:
        container = pending.pop()
        if type(container) is list:
            for i, item in enumerate(container):
                container[i] = convert(item)
        else:
            for key, item in container.items():
                container[key] = convert(item)
    return root


def _surrogate_text(*args: object) -> object:
    """cbor2's tag hook (its arguments differ between cbor2 versions: the tag is the one
    that is a CBORTag): TAG_SURROGATE_TEXT back to text; other tags are left for the
    reader, which refuses them where it expects text or values."""
    tag = next(arg for arg in args if isinstance(arg, cbor2.CBORTag))
    if tag.tag == TAG_SURROGATE_TEXT and type(tag.value) is bytes:
        try:
            return tag.value.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            pass
    return tag


def read_file(path: str) -> bytes:
    """The bytes of the file at ``path``; ImageFileError with the OS's reason (without
    the path: like every ImageFileError, the caller names the file)."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise ImageFileError(error.strerror or str(error)) from None


def read_header(path: str) -> Header:
    """The header of an image file, reading only its start."""
    try:
        with open(path, "rb") as handle:
            start = handle.read(_FIXED.size + _CREATOR_LEN.size + 65536)
            size = os.fstat(handle.fileno()).st_size
    except OSError as error:
        raise ImageFileError(error.strerror or str(error)) from None
    return parse_header(start, size)


def resolve_target(path: str) -> str:
    """The file a save to ``path`` must replace: symbolic links are followed (a save
    through a link writes the link's target and leaves the link a link), and anything
    that exists there must be a regular file — a FIFO, device, socket or folder is
    refused (ImageFileError), never replaced."""
    target = os.path.realpath(path)
    try:
        info = os.stat(target)
    except FileNotFoundError:
        return target                              # a new file (or a dangling link's target)
    except OSError as error:
        raise ImageFileError(error.strerror or str(error)) from None
    if not stat.S_ISREG(info.st_mode):
        raise ImageFileError(f"{_file_kind(info.st_mode)}, not a regular file")
    return target


_FILE_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _file_kind(mode: int) -> str:
    return next((name for test, name in _FILE_KINDS if test(mode)), "a special file")


def write_atomically(path: str, data: bytes, progress: Callable[[str], None] | None = None) -> None:
    """Write ``data`` to ``path`` so that a crash at any moment leaves either the old
    file or the new one, never a mixture. ``path`` is resolved first (``resolve_target``);
    an existing file keeps its permissions. Raises ImageFileError with a one-line
    reason (the caller names the path)."""
    target = resolve_target(path)
    try:
        _write_replacing(target, data, progress)
    except OSError as error:
        raise ImageFileError(error.strerror or str(error)) from None


def _write_replacing(target: str, data: bytes, progress: Callable[[str], None] | None) -> None:
    folder = os.path.dirname(target)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mask = os.umask(0)
        os.umask(mask)
        mode = 0o666 & ~mask                       # mkstemp makes it private; images are ordinary files
    fd, temporary = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(target) + ".",
                                     suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            view = memoryview(data)
            chunk = 1 << 22
            for start in range(0, len(data), chunk):
                handle.write(view[start:start + chunk])
                if progress is not None:
                    progress(f"writing {min(start + chunk, len(data)) * 100 // max(len(data), 1)}%")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
