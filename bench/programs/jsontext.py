"""Native twin of JsonText.som: build a JSON document by concatenation, scan it one
character at a time (each a one-character str), parse it into lists and dicts, and
tally what it holds."""
from __future__ import annotations


class JsonText:
    def __init__(self, text: str) -> None:
        self.input = text
        self.index = 0
        self.current = ""
        self.strings = self.numbers = self.sum = self.characters = 0
        self.trues = self.falses = self.nulls = 0
        self.read()

    def read(self) -> None:
        self.index += 1
        self.current = self.input[self.index - 1] if self.index <= len(self.input) else ""

    def skip_white_space(self) -> None:
        while self.current.isspace():
            self.read()

    def expect(self, text: str) -> None:
        if self.current != text:
            raise ValueError(f"expected {text} at {self.index}")
        self.read()

    def read_value(self) -> object:
        self.skip_white_space()
        current = self.current
        if current == "{":
            return self.read_object()
        if current == "[":
            return self.read_array()
        if current == '"':
            return self.read_string()
        if current == "t":
            self.read_word("true")
            return True
        if current == "f":
            self.read_word("false")
            return False
        if current == "n":
            self.read_word("null")
            return None
        if current == "-" or current.isdigit():
            return self.read_number()
        raise ValueError(f"unexpected {current} at {self.index}")

    def read_word(self, word: str) -> None:
        for character in word:
            self.expect(character)

    def read_string(self) -> str:
        self.expect('"')
        text = ""
        while self.current != '"':
            if self.current == "":
                raise ValueError("unterminated string")
            if self.current == "\\":
                self.read()
                text = text + ("\n" if self.current == "n" else self.current)
            else:
                text = text + self.current
            self.read()
        self.read()
        return text

    def read_digits(self) -> str:
        digits = ""
        while self.current.isdigit():
            digits = digits + self.current
            self.read()
        if not digits:
            raise ValueError(f"digits expected at {self.index}")
        return digits

    def read_number(self) -> int | float:
        negative = self.current == "-"
        if negative:
            self.read()
        digits = self.read_digits()
        if self.current == ".":
            self.read()
            digits = digits + "." + self.read_digits()
            return -float(digits) if negative else float(digits)
        return -int(digits) if negative else int(digits)

    def read_array(self) -> list:
        items: list = []
        self.expect("[")
        self.skip_white_space()
        if self.current == "]":
            self.read()
            return items
        while True:
            items.append(self.read_value())
            self.skip_white_space()
            if self.current != ",":
                break
            self.read()
        self.expect("]")
        return items

    def read_object(self) -> dict:
        members: dict = {}
        self.expect("{")
        self.skip_white_space()
        if self.current == "}":
            self.read()
            return members
        while True:
            self.skip_white_space()
            key = self.read_string()
            self.skip_white_space()
            self.expect(":")
            members[key] = self.read_value()
            self.skip_white_space()
            if self.current != ",":
                break
            self.read()
        self.expect("}")
        return members

    def tally(self, value: object) -> None:
        if value is None:
            self.nulls += 1
        elif value is True:
            self.trues += 1
        elif value is False:
            self.falses += 1
        elif isinstance(value, str):
            self.strings += 1
            self.characters += len(value)
        elif isinstance(value, int):
            self.numbers += 1
            self.sum += value
        elif isinstance(value, float):
            self.numbers += 1
            self.sum += _round(value * 10)
        elif isinstance(value, dict):
            for key, each in value.items():
                self.characters += len(key)
                self.tally(each)
        else:
            for each in value:
                self.tally(each)

    def parse_and_tally(self) -> list:
        value = self.read_value()
        self.skip_white_space()
        if self.current != "":
            raise ValueError(f"trailing text at {self.index}")
        self.tally(value)
        return [self.strings, self.numbers, self.sum, self.characters, self.trues, self.falses, self.nulls]


def _round(x: float) -> int:
    """Half away from zero, as the VM's Double>>round."""
    return int(x + 0.5) if x >= 0 else -int(-x + 0.5)


def record(i: int) -> str:
    text = '{"id": ' + str(i)
    text = text + ', "name": "item ' + str(i) + '"'
    text = text + ', "price": ' + str(i * 37 % 1000) + "." + str(i % 10)
    text = text + ', "delta": -' + str(i * 13 % 97)
    text = text + ', "note": "say \\"hi\\" \\\\ line\\nend"'
    text = text + ', "active": ' + ("true" if i % 3 == 0 else "false")
    text = text + ', "tags": ["t' + str(i % 5) + '", "u' + str(i % 7) + '", null]'
    return text + ', "size": {"w": ' + str(i % 11) + ', "h": ' + str(i % 13) + "}}"


def document(records: int) -> str:
    text = "[\n"
    for i in range(1, records + 1):
        if i > 1:
            text = text + ",\n"
        text = text + "  " + record(i)
    return text + "\n]"


def benchmark(records: int) -> list:
    return JsonText(document(records)).parse_and_tally()


def verify(records: int, result: object) -> bool:
    """Independent check: the tallies computed from the records' contents directly,
    with no text, concatenation or parsing involved."""
    strings = numbers = total = characters = trues = falses = nulls = 0
    note = 'say "hi" \\ line\nend'
    for i in range(1, records + 1):
        name = f"item {i}"
        tags = [f"t{i % 5}", f"u{i % 7}"]
        keys = ["id", "name", "price", "delta", "note", "active", "tags", "size", "w", "h"]
        characters += sum(len(k) for k in keys) + len(name) + len(note) + sum(len(t) for t in tags)
        strings += 2 + len(tags)
        price_tenths = (i * 37 % 1000) * 10 + i % 10
        numbers += 5
        total += i + price_tenths - (i * 13 % 97) + i % 11 + i % 13
        trues += i % 3 == 0
        falses += i % 3 != 0
        nulls += 1
    return result == [strings, numbers, total, characters, trues, falses, nulls]
