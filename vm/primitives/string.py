"""Primitives of String and Symbol (a Symbol is an interned String: every primitive
here accepts either as receiver) and of Character."""
from __future__ import annotations

from smalltalk_vm.vm import value as V
from smalltalk_vm.vm.errors import PrimitiveFailed
from smalltalk_vm.vm.limits import check_elements
from smalltalk_vm.vm.objects import VString
from smalltalk_vm.vm.primitives.array import check_index
from smalltalk_vm.vm.primitives.object import string_hash
from smalltalk_vm.vm.primitives.registry import primitive


def _text(vm, value) -> str:
    return vm.str_of(value)


@primitive("String", "concatenate:")
def string_concatenate(vm, rcv, arg):
    left, right = _text(vm, rcv), _text(vm, arg)
    check_elements(len(left) + len(right), "concatenate:")
    return vm.new_string(left + right)


@primitive("String", "asSymbol")
def string_as_symbol(vm, rcv):
    return vm.symbol(_text(vm, rcv))


@primitive("String", "asString")
def string_as_string(vm, rcv):
    if type(rcv) is VString:
        return rcv
    return vm.new_string(_text(vm, rcv))


@primitive("String", "hashcode")
def string_hashcode(vm, rcv):
    if type(rcv) is VString:
        if not rcv.h:
            rcv.h = string_hash(rcv.chars) or 1
        return vm.make_int(rcv.h)
    return vm.make_int(string_hash(_text(vm, rcv)))


@primitive("String", "length")
def string_length(vm, rcv):
    return vm.make_int(len(_text(vm, rcv)))


@primitive("String", "size")
def string_size(vm, rcv):
    return vm.make_int(len(_text(vm, rcv)))


@primitive("String", "=")
def string_equals(vm, rcv, arg):
    if type(arg) is not VString and not V.is_symbol(arg):
        return V.FALSE
    return V.TRUE if _text(vm, rcv) == _text(vm, arg) else V.FALSE


@primitive("String", "isWhiteSpace")
def string_is_white_space(vm, rcv):
    text = _text(vm, rcv)
    return V.TRUE if text and text.isspace() else V.FALSE


@primitive("String", "isLetters")
def string_is_letters(vm, rcv):
    text = _text(vm, rcv)
    return V.TRUE if text and text.isalpha() else V.FALSE


@primitive("String", "isDigits")
def string_is_digits(vm, rcv):
    text = _text(vm, rcv)
    return V.TRUE if text and all("0" <= c <= "9" for c in text) else V.FALSE


@primitive("String", "primSubstringFrom:to:")
def string_substring(vm, rcv, start, stop):
    text = _text(vm, rcv)
    first = vm.int_of(start)
    last = vm.int_of(stop)
    if last < first:
        return vm.new_string("")
    check_index(vm, start, len(text))
    check_index(vm, stop, len(text))
    return vm.new_string(text[first - 1:last])


@primitive("String", "at:")
def string_at(vm, rcv, index):
    text = _text(vm, rcv)
    return V.char_word(ord(text[check_index(vm, index, len(text))]))


@primitive("String", "charAt:")
def string_char_at(vm, rcv, index):
    text = _text(vm, rcv)
    return vm.new_string(text[check_index(vm, index, len(text))])


@primitive("String", "primIndexOf:startingAt:")
def string_index_of_starting_at(vm, rcv, pattern, start):
    """1-based position of a substring (or Character) at or after ``start``; 0 if absent."""
    text = _text(vm, rcv)
    needle = chr(V.char_code(pattern)) if V.is_char(pattern) else _text(vm, pattern)
    begin = vm.int_of(start)
    if begin < 1:
        begin = 1
    return vm.make_int(text.find(needle, begin - 1) + 1)


@primitive("String", "asUppercase")
def string_as_uppercase(vm, rcv):
    return vm.new_string(_text(vm, rcv).upper())


@primitive("String", "asLowercase")
def string_as_lowercase(vm, rcv):
    return vm.new_string(_text(vm, rcv).lower())


@primitive("String", "reversed")
def string_reversed(vm, rcv):
    return vm.new_string(_text(vm, rcv)[::-1])


@primitive("String", "trim")
def string_trim(vm, rcv):
    return vm.new_string(_text(vm, rcv).strip())


@primitive("String", "<")
def string_less(vm, rcv, arg):
    return V.TRUE if _text(vm, rcv) < _text(vm, arg) else V.FALSE


@primitive("String", "printString")
def string_print_string(vm, rcv):
    """Quoted, with embedded quotes doubled; a Symbol prints with '#'."""
    text = _text(vm, rcv)
    if V.is_symbol(rcv):
        if _is_plain_symbol(text):
            return vm.new_string("#" + text)
        return vm.new_string("#'" + text.replace("'", "''") + "'")
    return vm.new_string("'" + text.replace("'", "''") + "'")


def _is_plain_symbol(text: str) -> bool:
    if not text:
        return False
    if text[0].isalpha():
        return all(c.isalnum() or c in "_:" for c in text)
    return all(c in "~&|*/\\+=><,@%-" for c in text)


@primitive("String", "asArray")
def string_characters(vm, rcv):
    return vm.new_array([V.char_word(ord(c)) for c in _text(vm, rcv)])


@primitive("String class", "withCharacters:")
def string_with_characters(vm, rcv, array):
    items = getattr(array, "items", None)
    if items is None:
        raise PrimitiveFailed("withCharacters: needs an Array of Characters")
    chars = []
    for item in items:
        if not V.is_char(item):
            raise PrimitiveFailed("withCharacters: needs an Array of Characters")
        chars.append(chr(V.char_code(item)))
    return vm.new_string("".join(chars))


@primitive("String class", "new:withAll:")
def string_new_with_all(vm, rcv, size, char):
    if not V.is_char(char):
        raise PrimitiveFailed("new:withAll: needs a Character")
    return vm.new_string(chr(V.char_code(char)) * check_elements(max(0, vm.int_of(size)), "new:withAll:"))


# ---------------------------------------------------------------- Character

def _code(rcv) -> int:
    if not V.is_char(rcv):
        raise PrimitiveFailed("receiver is not a Character")
    return V.char_code(rcv)


@primitive("Character", "value")
def char_value(vm, rcv):
    return vm.make_int(_code(rcv))


@primitive("Character", "asString")
def char_as_string(vm, rcv):
    return vm.new_string(chr(_code(rcv)))


@primitive("Character", "asSymbol")
def char_as_symbol(vm, rcv):
    return vm.symbol(chr(_code(rcv)))


@primitive("Character", "isLetter")
def char_is_letter(vm, rcv):
    return V.TRUE if chr(_code(rcv)).isalpha() else V.FALSE


@primitive("Character", "isDigit")
def char_is_digit(vm, rcv):
    return V.TRUE if "0" <= chr(_code(rcv)) <= "9" else V.FALSE


@primitive("Character", "isWhiteSpace")
def char_is_white_space(vm, rcv):
    return V.TRUE if chr(_code(rcv)).isspace() else V.FALSE


@primitive("Character", "isUppercase")
def char_is_uppercase(vm, rcv):
    return V.TRUE if chr(_code(rcv)).isupper() else V.FALSE


@primitive("Character", "isLowercase")
def char_is_lowercase(vm, rcv):
    return V.TRUE if chr(_code(rcv)).islower() else V.FALSE


def _single(text: str, fallback: int) -> int:
    return ord(text) if len(text) == 1 else fallback


@primitive("Character", "asUppercase")
def char_as_uppercase(vm, rcv):
    code = _code(rcv)
    return V.char_word(_single(chr(code).upper(), code))


@primitive("Character", "asLowercase")
def char_as_lowercase(vm, rcv):
    code = _code(rcv)
    return V.char_word(_single(chr(code).lower(), code))


@primitive("Character", "<")
def char_less(vm, rcv, arg):
    return V.TRUE if _code(rcv) < _code(arg) else V.FALSE


@primitive("Character class", "value:")
def char_class_value(vm, rcv, code):
    return vm.char(vm.int_of(code))       # no lone surrogates (vm.text)


@primitive("String class", "concatenateAll:")
def string_concatenate_all(vm, rcv, array):
    """One String from an Array of Strings/Symbols (what WriteStream>>contents uses)."""
    items = getattr(array, "items", None)
    if items is None:
        raise PrimitiveFailed("concatenateAll: needs an Array")
    texts = [vm.str_of(item) for item in items]
    check_elements(sum(len(text) for text in texts), "concatenateAll:")
    return vm.new_string("".join(texts))
