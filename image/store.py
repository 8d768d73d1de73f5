"""Saving and resuming whole machines, and the cached default image.

``save`` snapshots a machine (``image.snapshot``) into an image file (``image.format``);
``load`` builds a new machine from one. The default image is the kernel built from
lib/, cached per user under the XDG cache folder and keyed by a hash of lib/ and of the
VM's own sources, so a stale one is never used: it is rebuilt.
"""
from __future__ import annotations

import gc
import glob
import hashlib
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from smalltalk_vm.image.format import ImageFileError, decode, encode, parse_header, read_file, write_atomically
from smalltalk_vm.image.reader import install
from smalltalk_vm.image.records import ImageError
from smalltalk_vm.image.snapshot import Writer
from smalltalk_vm.vm.machine import Machine
from smalltalk_vm.vm.process import Process

PACKAGE_VERSION = "0.1.0"
_SOURCE_PACKAGES = ("vm", "vm/primitives", "compiler", "image")
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _digest_files(paths: list[str]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(os.path.relpath(path, _ROOT).encode())
        with open(path, "rb") as handle:
            digest.update(handle.read())
    return digest.hexdigest()


def vm_version() -> str:
    """The package version plus a hash of the VM's sources: two VMs that could read
    an image differently never share a version string."""
    files: list[str] = []
    for package in _SOURCE_PACKAGES:
        files.extend(glob.glob(os.path.join(_ROOT, package, "*.py")))
    files.append(os.path.join(_ROOT, "compiler", "grammar.lark"))
    return f"{PACKAGE_VERSION}+{_digest_files(files)[:16]}"


class Progress:
    """Reports phases of a long save or load on stderr, when it is a terminal and the
    operation has taken more than a second."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.start = time.monotonic()
        self.shown = False
        self.enabled = sys.stderr.isatty()

    def __call__(self, phase: str) -> None:
        if self.enabled and time.monotonic() - self.start > 1.0:
            sys.stderr.write(f"\r{self.what}: {phase}\x1b[K")
            sys.stderr.flush()
            self.shown = True

    def done(self) -> None:
        if self.shown:
            sys.stderr.write(f"\r{self.what}: done in {time.monotonic() - self.start:.1f}s\x1b[K\n")
            sys.stderr.flush()


class _NoCollection:
    """Python's cyclic garbage collector paused: building or walking a million objects
    otherwise triggers collections that scan them all, again and again."""

    def __enter__(self) -> None:
        self.was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self.was_enabled:
            gc.enable()


def save(machine: Machine, path: str, main: Process | None = None) -> dict:
    """Write ``machine`` to ``path``; answer the counts written."""
    progress = Progress(f"saving {path}")
    with _NoCollection():
        writer = Writer(machine)
        snapshot = writer.snapshot(main)
        progress("encoding")
        data = encode(snapshot, snapshot["counts"], f"smalltalk-vm {vm_version()}")
    del writer, snapshot
    progress("writing")
    write_atomically(path, data, progress)
    progress.done()
    return counts_of(data)


def load(path: str, lib_dir: str, classpath: list[str],
         class_loader: Callable | None) -> tuple[Machine, Process | None]:
    """A machine resumed from the image at ``path`` (and its main process, if any).
    Raises ImageFileError or ImageError with a one-line reason."""
    progress = Progress(f"loading {path}")
    data = read_file(path)
    with _NoCollection():
        _header, body = decode(data)
        progress("rebuilding objects")
        if not isinstance(body, dict) or "roots" not in body or "records" not in body:
            raise ImageError("corrupt image body")
        machine = Machine(lib_dir, classpath, class_loader)
        main = install(machine, body)
        machine.after_load()
    progress.done()
    return machine, main


def counts_of(data: bytes) -> dict:
    header = parse_header(data)
    return {"objects": header.objects, "classes": header.classes, "processes": header.processes}


# ---------------------------------------------------------------------- default image

def cache_folder() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "smalltalk-vm")


def default_image_path(lib_dir: str) -> str:
    lib_files = glob.glob(os.path.join(lib_dir, "*.som"))
    key = hashlib.sha256(f"{vm_version()}:{_digest_files(lib_files)}".encode()).hexdigest()[:20]
    return os.path.join(cache_folder(), f"default-{key}.image")


def default_machine(lib_dir: str, classpath: list[str], class_loader: Callable) -> Machine:
    """A machine resumed from the cached default image, building (and caching) the
    image first when there is none for this lib/ and VM version."""
    path = default_image_path(lib_dir)
    if os.path.isfile(path):
        try:
            machine, _ = load(path, lib_dir, classpath, class_loader)
            return machine
        except (ImageFileError, ImageError):
            pass                       # unreadable cache: rebuild it below
    machine = Machine(lib_dir, classpath, class_loader)
    machine.bootstrap()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        save(machine, path)
        _remove_stale(path)
    except (OSError, ImageFileError):
        pass                           # no cache folder: start from source every time
    return machine


def _remove_stale(current: str) -> None:
    for old in glob.glob(os.path.join(os.path.dirname(current), "default-*.image")):
        if old != current:
            try:
                os.unlink(old)
            except OSError:
                pass


def describe(header: Any) -> list[str]:
    try:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(header.created))
    except (OverflowError, OSError, ValueError):
        # A date the header allows but this platform's clock functions cannot show.
        created = f"{header.created:.0f} seconds after 1970-01-01 UTC"
    return [
        f"format version: {header.version}",
        f"creator:        {header.creator}",
        f"created:        {created}",
        f"size:           {header.file_size} bytes",
        f"objects:        {header.objects}",
        f"classes:        {header.classes}",
        f"processes:      {header.processes}",
    ]
