"""Building a ready machine: from an image file, or from the cached default image,
with the callables the VM may not import itself wired in (the class loader and do-it
compiler from ``compiler``, the image saver, the wire codec from ``node``).

This is the one place besides the command line that puts layers together, so that
the command line, the benchmarks and the tests build machines the same way. It does
not run programs and prints nothing; failures are ``BadImage``.
"""
from __future__ import annotations

import os

import smalltalk_vm.lib
from smalltalk_vm.compiler.front import compile_input, load_class_source
from smalltalk_vm.image import store
from smalltalk_vm.image.format import ImageFileError
from smalltalk_vm.image.records import ImageError
from smalltalk_vm.node import wire
from smalltalk_vm.vm.machine import Machine
from smalltalk_vm.vm.process import Process

LIB_DIR = os.path.dirname(os.path.abspath(smalltalk_vm.lib.__file__))


class BadImage(Exception):
    """An image that cannot be loaded (the command line reports it with status 2)."""


def make_machine(classpath: list[str], image_path: str | None = None) -> Machine:
    """A machine with every layer wired in: from an image file, else from the cached
    default image (set VM_IMAGE_CACHE=0 to bootstrap from lib/ instead)."""
    main: Process | None = None
    if image_path is not None:
        try:
            machine, main = store.load(image_path, LIB_DIR, classpath, load_class_source)
        except (ImageFileError, ImageError) as error:
            raise BadImage(f"cannot load image {image_path}: {error}") from None
    elif os.environ.get("VM_IMAGE_CACHE", "1") == "0":
        machine = Machine(LIB_DIR, classpath, load_class_source)
        machine.bootstrap()
    else:
        machine = store.default_machine(LIB_DIR, classpath, load_class_source)
    universe = machine.universe
    universe.image_saver = lambda path: store.save(machine, path, machine.main)
    universe.doit_compiler = lambda text: compile_input(universe, text, "<evaluate>")
    universe.wire_codec = wire
    machine.resumed_main = main
    return machine
