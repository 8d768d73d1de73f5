"""The collection primitives keep what they checked about a receiver's class per
class until any definition anywhere (vm/primitives/library.py): a method defined
after a Dictionary or Vector subclass has been used is asked from then on, in both
tiers."""
from __future__ import annotations

import pytest
from conftest import VMSession


@pytest.fixture(params=["interpreted", "native"])
def session(request, monkeypatch) -> VMSession:
    monkeypatch.setenv("VM_NATIVE_HOT", "0" if request.param == "interpreted" else "1")
    return VMSession()


def test_a_slot_for_defined_after_use_is_asked(session):
    session.define("Probed = Dictionary ( | probes | probes = ( ^ probes ifNil: [ 0 ] ) )")
    session.define("Probed class >> fill: d = ( 1 to: 40 do: [ :i | d at: i put: i * i ]. ^ d )")
    # used (and its class checked) before the override exists
    assert session.eval("| d | d := Probed fill: Probed new. (d at: 7) + d probes") == "49"
    session.define("Probed >> slotFor: key = ( probes := self probes + 1. ^ super slotFor: key )")
    assert session.eval("| d | d := Probed fill: Probed new. d probes > 0") == "true"
    assert session.eval("| d | d := Probed fill: Probed new. d containsKey: 40") == "true"


def test_a_vector_subclass_method_defined_after_use_is_asked(session):
    session.define("Counted = Vector ( | reads | reads = ( ^ reads ifNil: [ 0 ] ) )")
    assert session.eval("| v | v := Counted new. v append: 3; append: 4. (v at: 2) + v reads") == "4"
    session.define("Counted >> at: i = ( reads := self reads + 1. ^ super at: i )")
    assert session.eval("| v | v := Counted new. v append: 3; append: 4. (v at: 2) + v reads") == "5"
    # the library's Vector itself still answers through the primitive, and correctly
    assert session.eval("| v | v := Vector new. 1 to: 300 do: [ :i | v append: i ]. "
                        "v at: 300 put: 7. (v at: 299) + (v at: 300)") == "306"

