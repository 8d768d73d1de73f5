"""Native twin of Json.som and JsonParser.som: a recursive-descent JSON parser run
on a fixed document, tallying what it holds. The independent check parses the same
document with the standard library's json module."""
from __future__ import annotations

import json
import math


class JsonParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0
        self.limit = len(text)

    def fail(self, message: str) -> None:
        raise ValueError(f"JSON: {message} at {self.position + 1}")

    def parse(self) -> object:
        value = self.parse_value()
        self.skip_whitespace()
        if self.position < self.limit:
            self.fail("trailing text")
        return value

    def skip_whitespace(self) -> None:
        text, limit = self.text, self.limit
        while self.position < limit and text[self.position] in " \n\r\t":
            self.position += 1

    def peek_is(self, char: str) -> bool:
        return self.position < self.limit and self.text[self.position] == char

    def peek_digit(self) -> bool:
        return self.position < self.limit and "0" <= self.text[self.position] <= "9"

    def consume(self, char: str) -> None:
        if not self.peek_is(char):
            self.fail("expected " + char)
        self.position += 1

    def expect(self, word: str) -> None:
        if self.text[self.position:self.position + len(word)] != word:
            self.fail("expected " + word)
        self.position += len(word)

    def parse_value(self) -> object:
        self.skip_whitespace()
        if self.position >= self.limit:
            self.fail("unexpected end")
        c = self.text[self.position]
        if c == "{":
            return self.parse_object()
        if c == "[":
            return self.parse_array()
        if c == '"':
            return self.parse_string()
        if c == "t":
            self.expect("true")
            return True
        if c == "f":
            self.expect("false")
            return False
        if c == "n":
            self.expect("null")
            return None
        return self.parse_number()

    def parse_object(self) -> dict:
        self.position += 1
        result: dict = {}
        self.skip_whitespace()
        if self.peek_is("}"):
            self.position += 1
            return result
        while True:
            self.skip_whitespace()
            key = self.parse_string()
            self.skip_whitespace()
            self.consume(":")
            result[key] = self.parse_value()
            self.skip_whitespace()
            if not self.peek_is(","):
                break
            self.position += 1
        self.consume("}")
        return result

    def parse_array(self) -> list:
        self.position += 1
        result: list = []
        self.skip_whitespace()
        if self.peek_is("]"):
            self.position += 1
            return result
        while True:
            result.append(self.parse_value())
            self.skip_whitespace()
            if not self.peek_is(","):
                break
            self.position += 1
        self.consume("]")
        return result

    def parse_string(self) -> str:
        """Characters between quotes are copied in runs; escapes split the runs."""
        self.consume('"')
        text = self.text
        start = self.position
        done = ""
        while True:
            if self.position >= self.limit:
                self.fail("unterminated string")
            c = text[self.position]
            if c == '"':
                break
            if c == "\\":
                done = done + text[start:self.position] + self.parse_escape()
                start = self.position
            else:
                self.position += 1
        self.position += 1
        return done + text[start:self.position - 1]

    def parse_escape(self) -> str:
        """At a backslash: answer the escaped character and step past it."""
        if self.position + 1 >= self.limit:
            self.fail("unterminated escape")
        c = self.text[self.position + 1]
        self.position += 2
        if c == "n":
            return chr(10)
        if c == "t":
            return chr(9)
        if c == "r":
            return chr(13)
        if c == "b":
            return chr(8)
        if c == "f":
            return chr(12)
        if c == "u":
            return chr(self.parse_hex())
        if c == '"' or c == "\\" or c == "/":
            return c
        self.fail("bad escape")
        return ""

    def parse_hex(self) -> int:
        if self.position + 3 >= self.limit:
            self.fail("short unicode escape")
        code = 0
        for _ in range(4):
            digit = ord(self.text[self.position])
            if 48 <= digit <= 57:
                digit -= 48
            elif 97 <= digit <= 102:
                digit -= 87
            elif 65 <= digit <= 70:
                digit -= 55
            else:
                self.fail("bad hex digit")
            code = code * 16 + digit
            self.position += 1
        return code

    def parse_number(self) -> int | float:
        text = self.text
        start = self.position
        negative = self.peek_is("-")
        if negative:
            self.position += 1
        if not self.peek_digit():
            self.fail("unexpected character")
        value = 0
        while self.peek_digit():
            value = value * 10 + (ord(text[self.position]) - 48)
            self.position += 1
        is_double = False
        if self.peek_is("."):
            is_double = True
            self.position += 1
            while self.peek_digit():
                self.position += 1
        if self.peek_is("e") or self.peek_is("E"):
            is_double = True
            self.position += 1
            if self.peek_is("+") or self.peek_is("-"):
                self.position += 1
            while self.peek_digit():
                self.position += 1
        if is_double:
            return float(text[start:self.position])
        return 0 - value if negative else value


class Tally:
    """Objects, arrays, strings, integers, doubles, trues, falses, nulls, members, sum
    of the numbers (doubles as floor(x * 100)), characters in keys and strings."""

    def __init__(self) -> None:
        self.objects = self.arrays = self.strings = self.integers = self.doubles = 0
        self.trues = self.falses = self.nulls = self.members = self.sum = self.characters = 0

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
            self.integers += 1
            self.sum += value
        elif isinstance(value, float):
            self.doubles += 1
            self.sum += math.floor(value * 100)
        elif isinstance(value, dict):
            self.objects += 1
            self.members += len(value)
            for key, each in value.items():
                self.characters += len(key)
                self.tally(each)
        else:
            self.arrays += 1
            for each in value:
                self.tally(each)

    def counts(self) -> list[int]:
        return [self.objects, self.arrays, self.strings, self.integers, self.doubles, self.trues,
                self.falses, self.nulls, self.members, self.sum, self.characters]


def benchmark(repetitions: int) -> list[int]:
    tally = Tally()
    for _ in range(repetitions):
        tally.tally(JsonParser(TEXT).parse())
    return tally.counts()


def verify(repetitions: int, result: object) -> bool:
    """Independent check: the standard library's parser, tallied the same way."""
    tally = Tally()
    document = json.loads(TEXT)
    for _ in range(repetitions):
        tally.tally(document)
    return result == tally.counts()


TEXT = r'''{
  "catalog": "Hardware and garden supplies",
  "version": 7,
  "updated": "2024-05-17T10:22:31Z",
  "open": true,
  "archived": false,
  "manager": null,
  "ratio": 0.625,
  "scale": -1.5e3,
  "tiny": 2.5E-4,
  "huge": 6.02e23,
  "tags": ["tools", "garden", "kitchen", "caf\u00e9", "line\nbreak", "quote \" inside", "back\\slash", "tab\there", "slash\/ok", "\u0041\u0042C"],
  "items": [
    {"id": 1001, "name": "Claw hammer", "price": 12.99, "stock": 40, "size": {"w": 30, "h": 12, "d": 3.5}, "tags": ["steel", "hand tool"], "discontinued": false},
    {"id": 1002, "name": "Wood saw", "price": 18.5, "stock": 12, "size": {"w": 55, "h": 14, "d": 1.25}, "tags": ["steel", "cutting"], "discontinued": false},
    {"id": 1003, "name": "Garden hose 25m", "price": 29.0, "stock": 0, "size": {"w": 40, "h": 40, "d": 12}, "tags": [], "discontinued": true},
    {"id": 1004, "name": "Pruning shears", "price": 15.75, "stock": 33, "size": {"w": 21, "h": 6, "d": 2}, "tags": ["garden", "cutting", "spring"], "discontinued": false},
    {"id": 1005, "name": "Watering can", "price": 9.95, "stock": 57, "size": {"w": 45, "h": 30, "d": 18}, "tags": ["garden"], "discontinued": false},
    {"id": 1006, "name": "Cast iron pan", "price": 34.2, "stock": 8, "size": {"w": 28, "h": 5, "d": 28}, "tags": ["kitchen", "iron"], "discontinued": false},
    {"id": 1007, "name": "Chef knife", "price": 49.99, "stock": 15, "size": {"w": 33, "h": 4, "d": 2}, "tags": ["kitchen", "cutting", "steel"], "discontinued": false},
    {"id": 1008, "name": "Ladder 3 steps", "price": 59.0, "stock": -2, "size": {"w": 48, "h": 110, "d": 9}, "tags": ["aluminium"], "discontinued": null},
    {"id": 1009, "name": "Screwdriver set", "price": 22.49, "stock": 61, "size": {"w": 25, "h": 18, "d": 4}, "tags": ["hand tool", "set"], "discontinued": false},
    {"id": 1010, "name": "Work gloves", "price": 6.5, "stock": 120, "size": {"w": 12, "h": 26, "d": 1}, "tags": ["garden", "safety"], "discontinued": false},
    {"id": 1011, "name": "Measuring tape", "price": 7.25, "stock": 75, "size": {"w": 7, "h": 7, "d": 3}, "tags": ["measure"], "discontinued": false},
    {"id": 1012, "name": "Bucket 10l", "price": 4.99, "stock": 200, "size": {"w": 30, "h": 28, "d": 30}, "tags": ["garden", "kitchen"], "discontinued": false}
  ],
  "warehouses": [
    {"code": "N1", "city": "Aberdeen", "location": [57.1497, -2.0943], "open": [8, 18], "bays": [[1, 2, 3], [4, 5], [6]]},
    {"code": "S2", "city": "Brighton", "location": [50.8225, -0.1372], "open": [7, 19], "bays": [[10, 11], [12, 13, 14, 15]]},
    {"code": "W3", "city": "Cardiff", "location": [51.4816, -3.1791], "open": [9, 17], "bays": []}
  ],
  "matrix": [[1, 2, 3], [4, 5, 6], [7, 8, 9], [], [[]], [{}], [-0, 0.0, -7, 1e2]],
  "empty": {},
  "nested": {"a": {"b": {"c": {"d": {"e": {"f": [true, false, null, "deep", 42]}}}}}},
  "notes": "Prices include tax. Stock below zero means back-ordered items; null marks unknown status.",
  "checksum": 987654321012
}'''
