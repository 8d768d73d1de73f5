"""Class versions and the definition text a class travels as.

Rules:
- A class's **version** is a hash of its definition: its name, its superclass's
  version (so the whole chain counts), its instance and class-side variable names, and
  the source of every method on both sides (sorted by selector, so the order methods
  were installed in does not matter). Two VMs holding the same definition agree on it;
  any difference in code or shape gives another version.
- The **definition text** of a class is rebuilt from what is installed (not from the
  file it came from, which a do-it may since have changed), so that compiling it
  elsewhere gives a class of the same version.
- Versions are cached per class and recomputed when the class's lookup token (or its
  metaclass's) changes, which happens whenever a method of it or of a superclass is
  installed or the class is redefined.

Pure functions of VM data, on the VM thread; nothing here compiles or sends.
"""
from __future__ import annotations

import hashlib
from typing import Any

from smalltalk_vm.vm.objects import VClass

VERSION_DIGITS = 16


def _method_sources(side: VClass) -> list[tuple[str, str]]:
    return sorted((selector, method.source or "") for selector, method in side.methods.items())


def class_version(vm: Any, cls: VClass) -> str:
    """The version of ``cls`` (a class, not a metaclass): hex digits."""
    cache = vm.class_versions
    chain = []
    walker: VClass | None = cls
    while walker is not None:
        chain.append(walker)
        walker = walker.superclass
    version = "nil"
    for c in reversed(chain):          # from the root down: each includes its parent's
        key = (c.token, c.cls.token, version)
        cached = cache.get(c.name)
        if cached is not None and cached[0] is c and cached[1] == key:
            version = cached[2]
            continue
        digest = hashlib.sha256()
        for part in (c.name, version, " ".join(c.instance_fields), " ".join(c.cls.instance_fields)):
            digest.update(part.encode("utf-8") + b"\0")
        for side_mark, side in (("i", c), ("c", c.cls)):
            for selector, source in _method_sources(side):
                digest.update(f"{side_mark}\0{selector}\0{source}\0".encode())
        parent_version = version
        version = digest.hexdigest()[:VERSION_DIGITS]
        cache[c.name] = (c, (c.token, c.cls.token, parent_version), version)
    return version


def definition_text(cls: VClass) -> str:
    """A class definition (as in a class file) that compiles to ``cls`` as installed."""
    superclass = cls.superclass.name if cls.superclass is not None else "nil"
    lines = [f"{cls.name} = {superclass} ("]
    if cls.instance_fields:
        lines.append("    | " + " ".join(cls.instance_fields) + " |")
    lines.extend("    " + method.source for method in cls.methods.values())
    lines.append("    ----")
    if cls.cls.instance_fields:
        lines.append("    | " + " ".join(cls.cls.instance_fields) + " |")
    lines.extend("    " + method.source for method in cls.cls.methods.values())
    lines.append(")")
    return "\n".join(lines) + "\n"
