"""The collection primitives keep what they checked about a receiver's class per
class until any definition anywhere (vm/primitives/library.py, library_set.py): a
method defined after a Dictionary, Vector or Set subclass has been used is asked from
then on, in both tiers; and they answer what their Smalltalk bodies answer."""
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



def test_a_set_whose_table_class_gets_its_own_contains_key_is_asked(session):
    session.define("Counting = Dictionary ( | asked | asked = ( ^ asked ifNil: [ 0 ] ) )")
    session.define("CountingSet = Set ( table = ( ^ table ) useCounting = ( table := Counting new ) )")
    script = ("| s | s := CountingSet new useCounting; yourself. 1 to: 50 do: [ :i | s add: i \\\\ 7 ]. "
              "{ s size. s contains: 3. s includes: 9. s table asked }")
    assert session.eval(script) == "#(7 true false 0)"
    session.define("Counting >> containsKey: key = ( asked := self asked + 1. ^ super containsKey: key )")
    assert session.eval(script) == "#(7 true false 52)"
    # a plain Set still answers through the primitives, and the same
    assert session.eval("| s | s := Set new. 1 to: 50 do: [ :i | s add: i \\\\ 7 ]. "
                        "{ s size. s contains: 3. s includes: 9 }") == "#(7 true false)"


def test_add_keeps_the_element_first_added(session):
    # the body adds only an absent element: an equal one added later is stored nowhere,
    # neither as the key nor as its value
    session.define("Tabled = Set ( table = ( ^ table ) )")
    assert session.eval("| s a | s := Tabled new. a := 'ab' , 'c'. s add: a; add: 'abc'. "
                        "{ s size. (s detect: [ :e | true ]) == a. (s table at: 'abc') == a }") == "#(1 true true)"


def test_at_if_absent_answers_what_its_block_answers(session):
    session.define("Lookups = Object ( ----"
                   " count: n = ( | d hits | d := Dictionary new. 1 to: n do: [ :i | d at: i put: i * 2 ]."
                   " hits := 0. 1 to: n * 2 do: [ :i | hits := hits + (d at: i ifAbsent: [ 0 ]) ]. ^ hits )"
                   " kinds = ( | d | d := Dictionary new. d at: #a put: 1."
                   " ^ { d at: #a ifAbsent: [ 9 ]. d at: #b ifAbsent: [ nil ]. d at: #b ifAbsent: [ ]."
                   " d at: #b ifAbsent: [ 1.5 ]. d at: #b ifAbsent: [ false ]. d at: #b ifAbsent: [ 'x' ]."
                   " d at: #b ifAbsent: [ d size + 40 ]. d at: 3 ifAbsent: [ #none ] } )"
                   " effect = ( | d n | d := Dictionary new. n := 0."
                   " 1 to: 5 do: [ :i | d at: i ifAbsent: [ n := n + 1 ] ]. ^ n ) )")
    assert session.eval("Lookups count: 300") == str(2 * 300 * 301 // 2)
    assert session.eval("Lookups kinds") == "#(1 nil nil 1.5 false 'x' 41 #none)"
    assert session.eval("Lookups effect") == "5"
    # a Dictionary subclass with its own positionOf: is asked, absent keys included
    session.define("Logged = Dictionary ( | log | log = ( ^ log ifNil: [ 0 ] ) "
                   "positionOf: key = ( log := self log + 1. ^ super positionOf: key ) )")
    assert session.eval("| d | d := Logged new. d at: 1 put: 2. "
                        "{ d at: 1 ifAbsent: [ 0 ]. d at: 5 ifAbsent: [ 0 ]. d log }") == "#(2 0 2)"
