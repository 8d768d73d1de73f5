"""Images: saving a live VM and resuming it in a new OS process (processes parked,
sleeping and computing; cyclic globals; classes defined at run time), crash safety of
the atomic write, refusing truncated / corrupted / foreign / newer files cleanly,
`vm image info`, and the cached default image.

The helper programs live in tests/images/. Each subprocess run has a timeout and every
wait inside the programs has one too, so a regression fails instead of hanging.
"""
from __future__ import annotations

import hashlib
import os
import re
import select
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, run_vm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smalltalk_vm.compiler.front import load_class_source
from smalltalk_vm.image import format as image_format
from smalltalk_vm.image import store
from smalltalk_vm.image.boot import LIB_DIR
from smalltalk_vm.image.format import ImageFileError
from smalltalk_vm.image.records import R_CLASS, R_METHOD, ImageError
from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.objects import KIND_BYTECODE

PROGRAMS = Path(__file__).parent / "images"
LIVE = str(PROGRAMS / "LiveSnapshot.som")
BIG_HEAP = str(PROGRAMS / "BigHeap.som")
FUZZ = settings(deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
REFUSED = (ImageFileError, ImageError)


def lines_by_key(stdout: str) -> dict[str, str]:
    """``key: value`` lines of a helper program's output, as a dict."""
    found = {}
    for line in stdout.splitlines():
        key, _, rest = line.partition(": ")
        found[key] = rest
    return found


def assert_one_line_reason(error: Exception) -> str:
    text = str(error)
    assert text and "\n" not in text and "Traceback" not in text, repr(text)
    return text


def assert_cli_refuses(path: str, *, command: tuple[str, ...] = ("run", "--image")) -> str:
    """`vm <command> path` refuses the file: status 2, one line on stderr, no traceback.
    Answer the reason (the text after the file name)."""
    result = run_vm([*command, path], timeout=60)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("vm: ") and path in lines[0], lines[0]
    return lines[0].split(path + ": ", 1)[1]


# ====================================================================== the live image

@pytest.fixture(scope="module")
def live_image(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The scenario image, saved once by a `vm run` of LiveSnapshot.som."""
    path = str(tmp_path_factory.mktemp("live") / "live.image")
    before = time.time()
    result = run_vm(["run", LIVE, path], timeout=60)
    after = time.time()
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return {"path": path, "stdout": result.stdout, "saved_between": (before, after),
            "saved_at": time.monotonic(), "bytes": Path(path).read_bytes()}


def test_saving_run_reports_processes_mid_flight_and_saved(live_image: dict) -> None:
    before = lines_by_key(live_image["stdout"])
    assert before["parked status"] == "#waiting"
    assert before["sleeper status"] == "#sleeping"
    assert before["computer status"] == "#runnable"
    assert before["computer mid-way"] == "true"
    assert 0 < int(before["sleeper remaining"]) <= 1500
    assert before["saveImage"] == "#saved"
    assert live_image["stdout"].splitlines()[-1] == "saveImage: #saved"   # main ended there


def test_resumed_image_carries_on_in_a_new_os_process(live_image: dict) -> None:
    # If sleep deadlines were saved as absolute clock readings instead of remaining
    # time, a second of wall time between the save and the resume would make the
    # sleeper wake at once; make sure at least that much has passed.
    time.sleep(max(0.0, 1.0 - (time.monotonic() - live_image["saved_at"])))
    result = run_vm(["run", "--image", live_image["path"]], timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    before = lines_by_key(live_image["stdout"])
    after = lines_by_key(result.stdout)
    assert result.stdout.splitlines()[0] == "saveImage: #resumed"
    assert after["pids"] == before["pids"]                      # the same processes
    assert after["statuses"] == "#waiting #sleeping"
    assert after["parked got"] == "#sentAfterResume"            # sent after the resume
    assert after["computed"] == str(sum(range(1, 200001)))      # finished the computation
    slept = int(after["slept"])
    assert 1500 <= slept < 1500 + 2000                          # VM time: the gap is not counted
    remaining = int(before["sleeper remaining"])
    woke = int(after["woke after resume"])
    assert remaining - 250 <= woke <= remaining + 2000, (remaining, woke)
    assert after["sleeper mailbox"] == "#queuedBeforeSave"      # its mailbox was saved
    assert [line for line in result.stdout.splitlines() if line.startswith("down:")] == \
        ["down: #normal"] * 3                                   # monitors survived
    assert after["self cycle"] == "true"
    assert after["ring cycle"] == "true"
    assert after["ring alias"] == "true"
    assert after["ring distinct"] == "true"
    assert after["ring label"] == "ring"
    assert after["tally instance"] == "11"                      # state of a pre-save instance
    assert after["tally new"] == "5"
    assert after["tally class"] == "SnapTally"
    assert after["tally pair"] == "true"
    assert after["run-time method"] == "21"
    assert after["class-side variable"] == "3"                  # class-side state saved
    assert after["label before redefinition"] == "#old"
    assert after["label after redefinition"] == "#new"          # no stale inline cache
    assert after["defined after resume"] == "42"


def test_an_image_can_be_resumed_twice(live_image: dict, tmp_path: Path) -> None:
    copy = tmp_path / "copy.image"
    copy.write_bytes(live_image["bytes"])
    first = run_vm(["run", "--image", str(copy)], timeout=60)
    second = run_vm(["run", "--image", str(copy)], timeout=60)
    assert first.returncode == second.returncode == 0, (first.stderr, second.stderr)
    assert lines_by_key(first.stdout)["computed"] == lines_by_key(second.stdout)["computed"]
    assert copy.read_bytes() == live_image["bytes"]             # resuming never writes


# ====================================================================== vm image info

def test_image_info_prints_the_header(live_image: dict) -> None:
    result = run_vm(["image", "info", live_image["path"]], timeout=60)
    assert result.returncode == 0, result.stderr
    info = {key.strip(): value.strip() for key, _, value in
            (line.partition(":") for line in result.stdout.splitlines())}
    assert info["format version"] == str(image_format.FORMAT_VERSION)
    assert info["creator"] == f"smalltalk-vm {store.vm_version()}"
    created = time.mktime(time.strptime(info["created"], "%Y-%m-%d %H:%M:%S"))
    low, high = live_image["saved_between"]
    assert int(low) - 1 <= created <= high + 1
    assert info["size"] == f"{len(live_image['bytes'])} bytes"
    _header, body = image_format.decode(live_image["bytes"])
    records = body["records"]
    assert info["objects"] == str(len(records))
    assert info["classes"] == str(sum(1 for r in records if r[0] == R_CLASS))
    assert info["processes"] == "4"                  # main, parked, sleeper, computer
    assert len(body["roots"]["processes"]) == 4


def test_image_info_does_not_read_the_heap(live_image: dict, tmp_path: Path) -> None:
    """A body whose checksum no longer matches: info still prints the header (it never
    looks at the heap), while resuming refuses the file."""
    data = bytearray(live_image["bytes"])
    header = image_format.parse_header(bytes(data))
    data[header.header_size + header.body_size // 2] ^= 0xFF
    damaged = tmp_path / "damaged.image"
    damaged.write_bytes(bytes(data))
    good = run_vm(["image", "info", live_image["path"]], timeout=60)
    info = run_vm(["image", "info", str(damaged)], timeout=60)
    assert info.returncode == 0 and info.stdout == good.stdout
    assert "checksum" in assert_cli_refuses(str(damaged))


# ====================================================================== refusing bad files

@pytest.fixture(scope="module")
def small_image(live_image: dict) -> bytes:
    return live_image["bytes"]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("scratch")


def load_bytes(folder: Path, data: bytes) -> None:
    """store.load on a file holding ``data`` (raises what load raises)."""
    path = folder / "candidate.image"
    path.write_bytes(data)
    store.load(str(path), LIB_DIR, [], load_class_source)


def test_every_truncation_point_is_refused(small_image: bytes) -> None:
    reasons = set()
    for length in range(1, len(small_image)):
        with pytest.raises(ImageFileError) as caught:
            image_format.decode(small_image[:length])
        reasons.add(assert_one_line_reason(caught.value).split(":")[0])
    assert reasons <= {"not an image file (bad magic number)", "truncated image"}, reasons
    assert "truncated image" in reasons


@FUZZ
@given(cut=st.data())
def test_sampled_truncations_are_refused_by_load(small_image: bytes, scratch: Path, cut) -> None:
    length = cut.draw(st.integers(0, len(small_image) - 1))
    with pytest.raises(REFUSED) as caught:
        load_bytes(scratch, small_image[:length])
    assert_one_line_reason(caught.value)


@settings(FUZZ, max_examples=400)
@given(choice=st.data(), xor=st.integers(1, 255))
def test_single_byte_flips_are_refused(small_image: bytes, choice, xor: int) -> None:
    position = choice.draw(st.integers(0, len(small_image) - 1))
    data = bytearray(small_image)
    data[position] ^= xor
    with pytest.raises(ImageFileError) as caught:
        image_format.decode(bytes(data))
    assert_one_line_reason(caught.value)


@settings(FUZZ, max_examples=60)
@given(choice=st.data(), xor=st.integers(1, 255))
def test_single_byte_flips_are_refused_by_load(small_image: bytes, scratch: Path, choice,
                                               xor: int) -> None:
    position = choice.draw(st.integers(0, len(small_image) - 1))
    data = bytearray(small_image)
    data[position] ^= xor
    with pytest.raises(REFUSED) as caught:
        load_bytes(scratch, bytes(data))
    assert_one_line_reason(caught.value)


@settings(FUZZ, max_examples=150)
@given(choice=st.data(), xor=st.integers(1, 255))
def test_damaged_body_with_a_valid_checksum_loads_or_is_refused_cleanly(
        small_image: bytes, scratch: Path, choice, xor: int) -> None:
    """A flip in the body whose checksum is then recomputed (as a buggy writer would
    produce) gets past the checksum: the snapshot reader must still answer only
    ImageError / ImageFileError, never another exception."""
    header = image_format.parse_header(small_image)
    end = header.header_size + header.body_size
    position = choice.draw(st.integers(header.header_size, end - 1))
    data = bytearray(small_image)
    data[position] ^= xor
    data[end:] = hashlib.sha256(bytes(data[:end])).digest()
    try:
        load_bytes(scratch, bytes(data))
    except REFUSED as error:
        assert_one_line_reason(error)


def test_a_reason_quoting_a_damaged_name_stays_one_line(small_image: bytes, scratch: Path) -> None:
    """A selector damaged into holding a newline (checksum recomputed) is refused, and
    the reason quoting it shows the newline escaped: a fuzzed flip found the reason
    broken in two."""
    header = image_format.parse_header(small_image)
    end = header.header_size + header.body_size
    data = bytearray(small_image)
    at = data.index(b"asSortedArray", header.header_size, end)
    data[at + 6] = ord("\n")
    data[end:] = hashlib.sha256(bytes(data[:end])).digest()
    with pytest.raises(REFUSED) as caught:
        load_bytes(scratch, bytes(data))
    assert "asSort\\ndArray" in assert_one_line_reason(caught.value)


@pytest.mark.parametrize("where", ["magic", "header end", "body", "checksum"])
def test_cli_refuses_truncated_images(small_image: bytes, tmp_path: Path, where: str) -> None:
    header = image_format.parse_header(small_image)
    length = {"magic": 5, "header end": header.header_size - 1,
              "body": header.header_size + header.body_size // 2,
              "checksum": len(small_image) - 1}[where]
    path = tmp_path / "cut.image"
    path.write_bytes(small_image[:length])
    reason = assert_cli_refuses(str(path))
    assert ("bad magic" in reason) if where == "magic" else ("truncated" in reason), reason


@pytest.mark.parametrize("where", ["magic", "header size", "creator", "body", "checksum"])
def test_cli_refuses_flipped_images(small_image: bytes, tmp_path: Path, where: str) -> None:
    header = image_format.parse_header(small_image)
    position = {"magic": 2, "header size": 12, "creator": header.header_size - 1,
                "body": header.header_size + header.body_size // 3,
                "checksum": len(small_image) - 7}[where]
    data = bytearray(small_image)
    data[position] ^= 0x5A
    path = tmp_path / "flipped.image"
    path.write_bytes(bytes(data))
    assert_cli_refuses(str(path))


def with_version(data: bytes, version: int) -> bytes:
    """``data`` with the header's format version patched (checksum left stale)."""
    return data[:8] + struct.pack("<H", version) + data[10:]


def refusal_reason(folder: Path, name: str, data: bytes) -> str:
    """The one-line reason store.load gives for a file holding ``data``; the CLI gives
    the same one (status 2) for both `vm run --image` and `vm image info`."""
    path = folder / f"{name}.image"
    path.write_bytes(data)
    with pytest.raises(REFUSED) as caught:
        store.load(str(path), LIB_DIR, [], load_class_source)
    reason = assert_one_line_reason(caught.value)
    assert assert_cli_refuses(str(path)) == reason
    assert assert_cli_refuses(str(path), command=("image", "info")) == reason
    return reason


def test_foreign_and_newer_files_are_refused_with_distinct_reasons(
        small_image: bytes, tmp_path: Path) -> None:
    png = refusal_reason(tmp_path, "png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200))
    text = refusal_reason(tmp_path, "text", b"Hello = ( run = ( 'hi' println ) )\n" * 20)
    newer = refusal_reason(tmp_path, "newer",
                           with_version(small_image, image_format.FORMAT_VERSION + 1))
    assert png == text and "not an image" in png          # both simply not images
    assert "version" in newer and "newer" in newer
    assert "checksum" not in newer                        # refused before the checksum
    assert newer != png


def test_an_empty_file_is_refused_as_empty_not_as_foreign(tmp_path: Path) -> None:
    empty = refusal_reason(tmp_path, "empty", b"")
    foreign = refusal_reason(tmp_path, "text", b"just some text, not an image\n")
    assert empty != foreign and "empty" in empty, (empty, foreign)


def test_a_missing_file_and_a_folder_are_refused(tmp_path: Path) -> None:
    absent = str(tmp_path / "absent.image")
    for command in (("run", "--image"), ("image", "info")):
        assert assert_cli_refuses(absent, command=command) == "No such file or directory"
        assert assert_cli_refuses(str(tmp_path), command=command) == "Is a directory"


def test_primitives_are_rebound_by_class_and_selector(small_image: bytes, tmp_path: Path) -> None:
    """Primitive methods are saved as class + selector and looked up again on load: an
    image naming a primitive this VM does not have (here: one renamed in the body,
    checksum recomputed) is refused with that reason."""
    header, body = image_format.decode(small_image)
    records = body["records"]
    renamed = None
    for record in records:
        holder = records[record[3] - V.REF_BASE] if record[0] == R_METHOD else None
        if holder is not None and record[14] != KIND_BYTECODE and holder[2] == "Integer":
            record[2], renamed = "snapNoSuchPrimitive", f"Integer>>{record[2]}"
            break
    assert renamed is not None
    path = tmp_path / "renamed.image"
    path.write_bytes(image_format.encode(body, body["counts"], header.creator))
    reason = assert_cli_refuses(str(path))
    assert reason == "this VM has no primitive Integer>>snapNoSuchPrimitive", (renamed, reason)


# ====================================================================== crash during a save

KILLED_WRITER = r"""
import sys
from smalltalk_vm.image.boot import make_machine
from smalltalk_vm.compiler.front import compile_input
from smalltalk_vm.image.format import encode, write_atomically
from smalltalk_vm.image.snapshot import Writer
from smalltalk_vm.image.store import vm_version

machine = make_machine([])
build = ("| heap | heap := Array new: 40000. 1 to: heap size do: [ :i | "
         "heap at: i put: (Array new: 24 withAll: i) ]. system global: #Heap put: heap. nil")
assert machine.evaluate(compile_input(machine.universe, build, "<big>").method).status == "value"
snapshot = Writer(machine).snapshot(None)
data = encode(snapshot, snapshot["counts"], "smalltalk-vm " + vm_version())

def hold_mid_write(phase):
    # Called after the first chunk reached the temporary file, before the rest, the
    # fsync and the rename: tell the parent and wait here to be killed.
    print(len(data), flush=True)
    sys.stdin.readline()

write_atomically(sys.argv[1], data, hold_mid_write)
"""


def save_good_image(folder: Path) -> tuple[Path, bytes]:
    target = folder / "work.image"
    result = run_vm(["run", BIG_HEAP, str(target), "10"], timeout=60)
    assert result.returncode == 0, result.stderr
    return target, target.read_bytes()


def assert_previous_image_survives(folder: Path, target: Path, good: bytes) -> list[Path]:
    """The target is still the good image, loadable; answer the stray temporary files."""
    assert target.read_bytes() == good
    info = run_vm(["image", "info", str(target)], timeout=60)
    assert info.returncode == 0, info.stderr
    resumed = run_vm(["run", "--image", str(target)], timeout=60)
    assert resumed.returncode == 0, resumed.stderr
    assert lines_by_key(resumed.stdout)["heap"] == "10"
    strays = [p for p in folder.iterdir() if p != target]
    for stray in strays:
        # Hidden and not named *.image: nothing that looks for images picks it up.
        assert stray.name.startswith(".") and not stray.name.endswith(".image"), stray.name
    return strays


def test_save_killed_mid_write_leaves_the_previous_image(tmp_path: Path) -> None:
    target, good = save_good_image(tmp_path)
    env = dict(os.environ, PYTHONPATH=ROOT)
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(target)], cwd=ROOT, env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ready, _, _ = select.select([child.stdout], [], [], 120)
        assert ready, "the writer never reached the middle of its write"
        total = int(child.stdout.readline())
        strays = [p for p in tmp_path.iterdir() if p != target]
        assert len(strays) == 1 and 0 < strays[0].stat().st_size < total
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close(), child.stdin.close(), child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    strays = assert_previous_image_survives(tmp_path, target, good)
    assert len(strays) == 1
    assert "truncated" in assert_cli_refuses(str(strays[0]), command=("image", "info"))


def test_vm_save_killed_while_writing_leaves_the_previous_image(tmp_path: Path) -> None:
    """The same through `system saveImage:` of a real `vm run`: SIGKILL as soon as the
    save starts writing (a temporary file appears, or the target itself changes). The
    window (write, fsync, rename) is a few tens of milliseconds, so the rare attempt
    where the rename wins the race is retried."""
    target, good = save_good_image(tmp_path)

    def writing_started() -> bool:
        return any(p.name.endswith(".tmp") for p in tmp_path.iterdir()) or \
            (target.stat().st_size, target.stat().st_mtime_ns) != stamp

    for _attempt in range(3):
        stamp = (target.stat().st_size, target.stat().st_mtime_ns)
        child = subprocess.Popen([sys.executable, "-m", "smalltalk_vm.cli.main", "run", BIG_HEAP, str(target),
                                  "200000"], cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        try:
            while child.poll() is None and time.monotonic() < deadline:
                if writing_started():
                    break
                time.sleep(0.0005)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL, "the save finished before it could be killed"
        if target.read_bytes() == good:
            break
        # The rename won: the new image must then be whole; restore the old one and retry.
        assert run_vm(["image", "info", str(target)], timeout=60).returncode == 0
        for stray in tmp_path.iterdir():
            stray.unlink()
        target.write_bytes(good)
    else:
        pytest.fail("three SIGKILLs all came after the rename")
    assert_previous_image_survives(tmp_path, target, good)


# ====================================================================== the default image

def cache_env(cache: Path) -> dict:
    return {"XDG_CACHE_HOME": str(cache), "VM_IMAGE_CACHE": "1"}


def cached_images(cache: Path) -> list[Path]:
    folder = cache / "smalltalk-vm"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def test_default_image_is_built_once_then_loaded(tmp_path: Path, monkeypatch) -> None:
    env = cache_env(tmp_path)
    first = run_vm(["eval", "3 + 4"], env=env, timeout=60)
    assert (first.returncode, first.stdout, first.stderr) == (0, "7\n", "")
    files = cached_images(tmp_path)
    assert len(files) == 1 and re.fullmatch(r"default-[0-9a-f]+\.image", files[0].name)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert str(files[0]) == store.default_image_path(LIB_DIR)
    image_format.decode(files[0].read_bytes())              # a whole, valid image
    stamp = (files[0].stat().st_ino, files[0].stat().st_mtime_ns)
    second = run_vm(["eval", "3 + 4"], env=env, timeout=60)
    assert (second.returncode, second.stdout, second.stderr) == (0, "7\n", "")
    assert cached_images(tmp_path) == files
    assert (files[0].stat().st_ino, files[0].stat().st_mtime_ns) == stamp   # not rewritten


def test_second_use_loads_the_cached_image_and_is_faster(tmp_path: Path, monkeypatch) -> None:
    builds, loads = [], []
    for attempt in range(3):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / str(attempt)))
        start = time.perf_counter()
        store.default_machine(LIB_DIR, [], load_class_source)
        builds.append(time.perf_counter() - start)
        start = time.perf_counter()
        store.default_machine(LIB_DIR, [], load_class_source)
        loads.append(time.perf_counter() - start)
    assert min(loads) < min(builds), (builds, loads)
    # And what is loaded really is the cached file: plant a global in it.
    path = store.default_image_path(LIB_DIR)
    machine, _ = store.load(path, LIB_DIR, [], load_class_source)
    machine.universe.globals["SnapPlanted"] = machine.universe.symbol("planted")
    store.save(machine, path)
    result = run_vm(["eval", "system global: #SnapPlanted"], env=cache_env(tmp_path / "2"))
    assert (result.returncode, result.stdout) == (0, "#planted\n"), result.stderr


def test_a_cached_image_under_another_key_is_never_used(tmp_path: Path) -> None:
    folder = tmp_path / "smalltalk-vm"
    folder.mkdir()
    stale = folder / "default-0123456789abcdef0123.image"
    saved = run_vm(["run", BIG_HEAP, str(stale), "3"], timeout=60)   # a valid image with #Heap
    assert saved.returncode == 0, saved.stderr
    result = run_vm(["eval", "system hasGlobal: #Heap"], env=cache_env(tmp_path), timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (0, "false\n", "")
    names = [p.name for p in cached_images(tmp_path)]
    assert stale.name not in names and len(names) == 1      # rebuilt; the stale one removed


@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "text", "empty", "newer version"])
def test_a_corrupt_cached_image_is_rebuilt(tmp_path: Path, damage: str) -> None:
    env = cache_env(tmp_path)
    assert run_vm(["eval", "nil"], env=env, timeout=60).returncode == 0
    [path] = cached_images(tmp_path)
    good = path.read_bytes()
    damaged = {"flipped byte": good[:1000] + bytes([good[1000] ^ 1]) + good[1001:],
               "truncated": good[:len(good) // 2], "text": b"not an image\n", "empty": b"",
               "newer version": with_version(good, image_format.FORMAT_VERSION + 1)}[damage]
    path.write_bytes(damaged)
    result = run_vm(["eval", "3 + 4"], env=env, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (0, "7\n", "")
    assert cached_images(tmp_path) == [path]
    rebuilt = path.read_bytes()
    assert rebuilt != damaged
    image_format.decode(rebuilt)                            # valid again
