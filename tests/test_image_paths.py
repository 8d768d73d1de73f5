"""Where an image may be written, and what a save and a header must survive: a save
through a symbolic link writes the link's target (the link stays a link); a FIFO, a
socket, a device or a folder at the path is refused with a one-line reason and left
as it was; a header whose creation time is not a date (NaN, infinity, 1e300) is refused
in one line, by `vm image info` and `vm run --image` alike; text holding lone
surrogates is saved and read back unchanged.
"""
from __future__ import annotations

import hashlib
import os
import socket
import stat
import struct
from pathlib import Path

import pytest
from conftest import VMSession, run_vm

from smalltalk_vm.image import format as image_format
from smalltalk_vm.image import store
from smalltalk_vm.image.boot import LIB_DIR


def save_from_vm(vm: VMSession, path: Path | str) -> tuple[str, str]:
    """``system saveImage: path`` in the VM: (status, what it answered or the error)."""
    outcome = vm.run(f"system saveImage: '{path}'")
    if outcome.status == "value":
        return "value", vm.machine.print_string(outcome.value)
    return outcome.status, outcome.error_text


def test_saving_through_a_symlink_writes_the_target(vm: VMSession, tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "work.image"
    target.write_bytes(b"old contents")
    target.chmod(0o640)
    link = tmp_path / "work.image"
    link.symlink_to(target)
    assert save_from_vm(vm, link) == ("value", "#saved")
    assert link.is_symlink() and os.readlink(link) == str(target)     # still the same link
    image_format.decode(target.read_bytes())                          # the target holds the image
    assert stat.S_IMODE(target.stat().st_mode) == 0o640               # and kept its permissions
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["work.image"]   # no stray temp


def test_saving_through_a_chain_of_links_and_a_dangling_link(vm: VMSession, tmp_path: Path) -> None:
    final = tmp_path / "final.image"
    middle = tmp_path / "middle.image"
    first = tmp_path / "first.image"
    middle.symlink_to(final)                 # dangling until the save creates final.image
    first.symlink_to(middle)
    assert save_from_vm(vm, first) == ("value", "#saved")
    assert first.is_symlink() and middle.is_symlink()
    image_format.decode(final.read_bytes())


def test_a_link_loop_is_refused_in_one_line(vm: VMSession, tmp_path: Path) -> None:
    a, b = tmp_path / "a.image", tmp_path / "b.image"
    a.symlink_to(b)
    b.symlink_to(a)
    status, text = save_from_vm(vm, a)
    assert status == "error" and text.startswith(f"cannot save image {a}: "), text
    assert "Errno" not in text and "\n" not in text
    assert a.is_symlink() and b.is_symlink()


def make_fifo(path: Path) -> None:
    os.mkfifo(path)


def make_socket(path: Path) -> None:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.close()                           # the socket file stays behind


def make_device(path: Path) -> None:
    """A character device like /dev/null, made in the test folder (never the real one:
    replacing /dev/null would break the machine)."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("making a device node needs privileges this run does not have")


def make_folder(path: Path) -> None:
    path.mkdir()


@pytest.mark.parametrize("make, kind, test", [
    (make_fifo, "a FIFO", stat.S_ISFIFO), (make_socket, "a socket", stat.S_ISSOCK),
    (make_device, "a character device", stat.S_ISCHR), (make_folder, "a folder", stat.S_ISDIR)])
def test_a_special_file_is_refused_and_left_alone(vm: VMSession, tmp_path: Path, make, kind: str,
                                                   test) -> None:
    special = tmp_path / "special.image"
    make(special)
    status, text = save_from_vm(vm, special)
    assert (status, text) == ("error", f"cannot save image {special}: {kind}, not a regular file")
    assert test(os.lstat(special).st_mode), "the special file was replaced"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["special.image"]     # no stray temp
    # Also through a link to it.
    link = tmp_path / "link.image"
    link.symlink_to(special)
    assert save_from_vm(vm, link)[1] == f"cannot save image {link}: {kind}, not a regular file"
    assert test(os.lstat(special).st_mode)


def test_a_missing_folder_is_one_clean_line(vm: VMSession, tmp_path: Path) -> None:
    path = tmp_path / "absent" / "x.image"
    assert save_from_vm(vm, path) == ("error", f"cannot save image {path}: No such file or directory")


# ====================================================================== headers

@pytest.fixture(scope="module")
def image_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("header") / "small.image"
    machine = VMSession().machine
    store.save(machine, str(path))
    return path.read_bytes()


def with_created(data: bytes, created: float) -> bytes:
    """``data`` with another creation time in its header, checksum recomputed."""
    patched = bytearray(data)
    struct.pack_into("<d", patched, 16, created)
    header = image_format.parse_header(data)
    end = header.header_size + header.body_size
    patched[end:] = hashlib.sha256(bytes(patched[:end])).digest()
    return bytes(patched)


@pytest.mark.parametrize("created", [1e300, -1e300, float("inf"), float("-inf"), float("nan"), 2.6e11, -6.3e10])
def test_a_creation_time_that_is_no_date_is_refused_in_one_line(image_bytes: bytes, tmp_path: Path,
                                                                 created: float) -> None:
    path = tmp_path / "dated.image"
    path.write_bytes(with_created(image_bytes, created))
    reason = f"corrupt image header: creation time {created!r} is not a date"
    for command, line in ((["image", "info"], f"vm: {path}: {reason}"),
                          (["run", "--image"], f"vm: cannot load image {path}: {reason}")):
        result = run_vm([*command, str(path)], timeout=60)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert (result.stdout, result.stderr) == ("", line + "\n")


@pytest.mark.parametrize("created", [0.0, 1.0e9, 4.0e9, 2.5e11])
def test_any_calendar_date_is_shown(image_bytes: bytes, tmp_path: Path, created: float) -> None:
    path = tmp_path / "dated.image"
    path.write_bytes(with_created(image_bytes, created))
    result = run_vm(["image", "info", str(path)], timeout=60)
    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stdout.splitlines() if line.startswith("created:")]
    assert line.split(":", 1)[1].strip()


# ====================================================================== text that is not UTF-8

def test_lone_surrogates_survive_a_save(vm: VMSession, tmp_path: Path) -> None:
    """The VM refuses to make a Character or String of a lone surrogate, but text that
    got in anyway (a String, a Symbol, a global's name, as a bug could put them there),
    which CBOR text cannot carry, is saved and comes back as the same text."""
    universe = vm.universe
    universe.globals["SurrogateString"] = universe.new_string("\ud800\ud800")
    universe.globals["SurrogateSymbol"] = universe.symbol("\udc00")
    universe.globals["\ud801"] = universe.make_int(7)
    path = tmp_path / "surrogates.image"
    outcome = vm.run(f"system saveImage: '{path}'")
    assert outcome.status == "value", outcome.error_text
    machine, _ = store.load(str(path), LIB_DIR, [], None)
    globals_ = machine.universe.globals
    assert globals_["SurrogateString"].chars == "\ud800\ud800"
    assert machine.universe.symbol_name(globals_["SurrogateSymbol"]) == "\udc00"
    assert globals_["\ud801"] == machine.universe.make_int(7)
