"""Checks that the class library provides the core protocol of LANGUAGE.md §6: every
message the spec's table lists (instance side and class side), and the Smalltalk-80
additions listed under it, is understood by the classes it is listed for.

The table is embedded verbatim below (the spec lives outside this repository), and
parsed here; ``*`` (marks a VM primitive in SOM) is stripped.
"""
from __future__ import annotations

import re

import pytest

from smalltalk_vm.vm.objects import VClass

# LANGUAGE.md §6, copied verbatim.
PROTOCOL_TABLE = r"""
| class (superclass) | instance side | class side |
|---|---|---|
| Object (nil) | `class* objectSize* = <> ==* ~= isNil notNil asString , hashcode* value ifNil: ifNotNil: ifNil:ifNotNil: ifNotNil:ifNil: print println inspect* halt* error: subclassResponsibility doesNotUnderstand:arguments: escapedBlock: unknownGlobal: respondsTo: perform:* perform:withArguments:* perform:inSuperclass:* perform:withArguments:inSuperclass:* instVarAt:* instVarAt:put:* instVarNamed:*` | |
| Class | `name* asString new* superclass* fields* methods* selectors hasMethod:` | |
| Metaclass (Class) | | |
| Nil | `asString isNil notNil ifNil: ifNotNil: ifNil:ifNotNil: ifNotNil:ifNil:` | |
| Boolean, True, False | `ifTrue: ifFalse: ifTrue:ifFalse: ifFalse:ifTrue: not and: or: & \| && \|\| asString` | |
| Integer | `+* -* ** /* //* %* rem:* &* <<* >>>* bitXor:* abs sqrt* negated raisedTo: atRandom* =* == ~= <* > >= <= negative between:and: asString* as32BitSignedValue* as32BitUnsignedValue* asDouble* asInteger hashcode to:do: to:by:do: downTo:do: downTo:by:do: timesRepeat: to: max: min:` | `fromString:*` |
| Double | `+* -* ** //* %* abs sqrt* negated round* asInteger* cos* sin* raisedTo: =* <* > >= <= negative between:and: asString* to:do: downTo:do:` | `PositiveInfinity* fromString:*` |
| String | `concatenate:* + asString asSymbol* hashcode* length* isWhiteSpace* isLetters* isDigits* =* primSubstringFrom:to:* substringFrom:to: beginsWith: endsWith: asInteger charAt: indexOf: indexOf:startingAt: split: print` | |
| Symbol (String) | `concatenate: asString* asSymbol print` | |
| Array | `at:* at:put:* length* putAll: first last do: doIndexes: from:to:do: copyFrom:to: copyFrom: replaceFrom:to:with:startingAt: copy prependedWith: extendedWith: sum average join: contains: indexOf: lastIndexOf: collect: inject:into: reject: select: union:` | `new new:* new:withAll: with: with:with: with:with:with:` |
| Block, Block1–3 | `value* value:* value:with:* whileTrue: whileFalse: restart*` (and `numArgs`) | |
| Method, Primitive | `signature* holder* invokeOn:with:* asString` | |
| System (`system`) | `global:* global:put:* hasGlobal:* load:* resolve: loadFile:* exit:* exit printString:* printNewline* errorPrintln errorPrintln:* errorPrint:* printStackTrace* time* ticks* fullGC* gcStats totalCompilationTime` | |
| Vector | `at: at:put: first last do: doIndexes: , append: appendAll: remove remove: removeFirst contains: indexOf: isEmpty size capacity asArray asSet println` | `new new: with:` |
| Dictionary | `at:put: at: containsKey: keys values do: pairs: pairAt: print println` | `new` |
| Set | `= add: addAll: union: intersection: - contains: remove: first isEmpty do: collect: size asString println` | `new` |
| Pair | `key value key: value: print println` | `withKey:andValue:` |
| Hashtable | `containsKey: containsValue: isEmpty size get: at:put: keys values clear` | `new` |
"""

# Smalltalk-80 additions listed under the table, each with the classes it makes sense
# for. (class name, side, selectors); "Object" means every object.
COLLECTIONS = ("Array", "Vector", "Dictionary", "Set", "String")
SEQUENCES = ("Array", "Vector", "String")
ADDITIONS: tuple[tuple[tuple[str, ...], str], ...] = (
    (COLLECTIONS, "size isEmpty notEmpty"),
    (("Array", "Vector", "Set", "String"),
     "includes: detect: detect:ifNone: anySatisfy: allSatisfy: do:separatedBy: asArray"),
    (SEQUENCES, "reverse reversed"),
    (("Array", "Vector", "Set"), "asVector"),
    (("Array", "Vector", "Dictionary"), "keysAndValuesDo:"),
    (("Dictionary",), "removeKey: at:ifAbsent: at:ifAbsentPut:"),
    (("Object",), "printString printOn: displayString -> isKindOf: isMemberOf: respondsTo: yourself"),
    (("Character",), "value isVowel isLetter isDigit asUppercase"),
    (("Integer",), "asCharacter"),
    (("Message",), "selector arguments"),
    (("TestCase",), "assert: assert:equals: deny: should:raise: setUp tearDown"),
)
EXCEPTION_CLASSES = ("Error", "ZeroDivide", "MessageNotUnderstood", "SubscriptOutOfBounds")

# Rows that name several classes: which class each message is checked on. SOM gives a
# Block the `value` of its arity only (Block1 value, Block2 value:, Block3 value:with:).
BLOCK_ARITY = {"value": "Block1", "value:": "Block2", "value:with:": "Block3"}


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def _selectors(cell: str) -> list[str]:
    words = []
    for span in re.findall(r"`([^`]*)`", cell):
        for word in span.replace("\\|", "|").split():
            if len(word) > 1 and word.endswith("*"):
                word = word[:-1]          # the primitive marker (`**` is `*`, marked)
            words.append(word)
    return words


def parse_protocol_table(text: str) -> list[tuple[list[str], str | None, list[str], list[str]]]:
    """Rows as (class names, superclass name or None, instance selectors, class selectors)."""
    rows = []
    for line in text.strip().splitlines()[2:]:
        class_cell, instance_cell, class_side_cell = _cells(line)
        superclass = None
        match = re.match(r"^(.*?)\s*\((\w+)\)$", class_cell)
        if match:
            class_cell, superclass = match.group(1), match.group(2)
        class_cell = re.sub(r"\s*\(`\w+`\)$", "", class_cell)      # System (`system`)
        names = []
        for name in (n.strip() for n in class_cell.split(",")):
            if name == "Block1–3":
                names.extend(["Block1", "Block2", "Block3"])
            else:
                names.append(name)
        rows.append((names, superclass, _selectors(instance_cell), _selectors(class_side_cell)))
    return rows


ROWS = parse_protocol_table(PROTOCOL_TABLE)


def classes_to_check(names: list[str], selector: str) -> list[str]:
    if names == ["Block", "Block1", "Block2", "Block3"]:
        return [BLOCK_ARITY[selector]] if selector in BLOCK_ARITY else names
    if names == ["Boolean", "True", "False"]:
        return ["True", "False"]          # Boolean is abstract, as in SOM
    return names


def load(universe, name: str) -> VClass:
    cls = universe.load_class(name)
    assert isinstance(cls, VClass), f"no class {name}"
    return cls


def missing_messages(universe, wanted: list[tuple[str, str, str]]) -> list[str]:
    missing = []
    for class_name, side, selector in wanted:
        cls = universe.load_class(class_name)
        if not isinstance(cls, VClass):
            missing.append(f"{class_name} (class missing) {selector}")
            continue
        target = cls.cls if side == "class" else cls
        if universe.lookup(target, selector) is None:
            missing.append(f"{class_name}{' class' if side == 'class' else ''}>>{selector}")
    return missing


# ---------------------------------------------------------------- the table

def test_table_parses_into_every_row():
    by_name = {names[0]: (names, sup, inst, cls) for names, sup, inst, cls in ROWS}
    assert len(ROWS) == 18
    assert "perform:withArguments:inSuperclass:" in by_name["Object"][2]
    assert "*" in by_name["Integer"][2] and "|" in by_name["Boolean"][2] and "||" in by_name["Boolean"][2]
    assert by_name["Double"][3] == ["PositiveInfinity", "fromString:"]
    assert by_name["Block"][0] == ["Block", "Block1", "Block2", "Block3"]
    assert "numArgs" in by_name["Block"][2]
    assert by_name["System"][0] == ["System"]
    assert all(not word.endswith("*") or word == "*" for row in ROWS for word in row[2] + row[3])


def test_every_listed_message_is_understood(shared_vm):
    universe = shared_vm.universe
    wanted = []
    for names, _superclass, instance_side, class_side in ROWS:
        for selector in instance_side:
            wanted.extend((name, "instance", selector) for name in classes_to_check(names, selector))
        for selector in class_side:
            wanted.extend((name, "class", selector) for name in names)
    assert len(wanted) > 300
    missing = missing_messages(universe, wanted)
    assert not missing, f"{len(missing)} messages of LANGUAGE.md §6 not understood:\n" + "\n".join(missing)


def test_listed_superclasses(shared_vm):
    universe = shared_vm.universe
    for names, superclass, _inst, _cls in ROWS:
        if superclass is None:
            continue
        for name in names:
            actual = load(universe, name).superclass
            if superclass == "nil":
                assert actual is None, f"{name} should be a root class"
            else:
                assert actual is load(universe, superclass), f"{name} should inherit from {superclass}"


def test_system_global_is_the_system_instance(shared_vm):
    universe = shared_vm.universe
    assert universe.class_of(universe.globals["system"]) is load(universe, "System")


# ---------------------------------------------------------------- the additions

def test_smalltalk_80_additions_are_understood(shared_vm):
    universe = shared_vm.universe
    wanted = [(name, "instance", selector)
              for names, selectors in ADDITIONS for name in names for selector in selectors.split()]
    missing = missing_messages(universe, wanted)
    assert not missing, f"{len(missing)} Smalltalk-80 additions not understood:\n" + "\n".join(missing)


def test_exception_classes_exist_and_inherit_from_exception(shared_vm):
    universe = shared_vm.universe
    exception = load(universe, "Exception")
    error = load(universe, "Error")
    for name in EXCEPTION_CLASSES:
        cls = load(universe, name)
        ancestors = []
        c = cls
        while c is not None:
            ancestors.append(c)
            c = c.superclass
        assert exception in ancestors, f"{name} is not an Exception"
        if name != "Error":
            assert error in ancestors, f"{name} is not an Error"


@pytest.mark.parametrize("side, selectors", [
    ("instance", "signal signal: messageText return: retry resume: pass outer"),
    ("class", "signal signal: new"),
])
def test_exception_protocol_of_section_5(shared_vm, side, selectors):
    universe = shared_vm.universe
    wanted = [(name, side, selector) for name in ("Exception", *EXCEPTION_CLASSES)
              for selector in selectors.split()]
    wanted += [("Block", "instance", s) for s in ("on:do:", "ensure:", "ifCurtailed:")]
    missing = missing_messages(universe, wanted)
    assert not missing, "not understood:\n" + "\n".join(missing)


def test_missing_message_detection_is_not_vacuous(shared_vm):
    """The check reports what a class does not understand."""
    assert missing_messages(shared_vm.universe, [("Integer", "instance", "noSuchSelector:"),
                                                 ("Integer", "class", "+")]) == \
        ["Integer>>noSuchSelector:", "Integer class>>+"]
