"""Colours of the interactive REPL, terminal side: the palettes, which one is in use,
and how a palette colours the input (a prompt-toolkit style over the Pygments tokens of
``repl.lexer``) and the output (SGR escape sequences around ``repl.render``'s
fragments).

Palettes:
- ``default``: readable on dark and light backgrounds alike. It uses only the terminal's
  own ANSI colours (which every terminal theme tunes to its background), and among them
  only those that keep their contrast on both: green, magenta, red, and bold; no blue,
  cyan, yellow or white, which vanish on one background or the other.
- ``dark``: the bright ANSI colours, for dark backgrounds.
- ``light``: deep 256-colour shades, for light backgrounds.
- ``none``: no colour at all (also what the NO_COLOR convention asks for).

The palette is chosen by ``:theme NAME``, else by the environment variable
SMALLTALK_VM_THEME, else ``none`` when NO_COLOR is set, else ``default``. Errors are red
in every palette but ``none``.
"""
from __future__ import annotations

import os
from collections.abc import Iterable

THEME_VARIABLE = "SMALLTALK_VM_THEME"
THEMES = ("default", "dark", "light", "none")

# Style names (what ``repl.render`` marks text with, and the Pygments token groups of
# the input) -> (prompt-toolkit style, SGR parameters) per palette.
_PALETTES: dict[str, dict[str, tuple[str, str]]] = {
    "default": {
        "comment": ("italic", "3"),
        "string": ("ansigreen", "32"),
        "symbol": ("ansimagenta", "35"),
        "number": ("ansimagenta", "35"),
        "class": ("bold", "1"),
        "pseudo": ("bold", "1"),
        "selector": ("", ""),
        "error": ("ansired", "31"),
        "heading": ("bold", "1"),
        "dim": ("", "2"),
        "selected": ("bold", "1"),
    },
    "dark": {
        "comment": ("ansibrightblack italic", "90;3"),
        "string": ("ansibrightgreen", "92"),
        "symbol": ("ansibrightmagenta", "95"),
        "number": ("ansibrightmagenta", "95"),
        "class": ("ansibrightcyan bold", "96;1"),
        "pseudo": ("ansibrightyellow", "93"),
        "selector": ("ansibrightblue", "94"),
        "error": ("ansibrightred", "91"),
        "heading": ("ansibrightcyan bold", "96;1"),
        "dim": ("ansibrightblack", "90"),
        "selected": ("ansibrightyellow bold", "93;1"),
    },
    "light": {
        "comment": ("#6c6c6c italic", "38;5;242;3"),
        "string": ("#005f00", "38;5;22"),
        "symbol": ("#870087", "38;5;90"),
        "number": ("#870087", "38;5;90"),
        "class": ("#00005f bold", "38;5;17;1"),
        "pseudo": ("#875f00", "38;5;94"),
        "selector": ("#005f87", "38;5;24"),
        "error": ("#af0000", "38;5;124"),
        "heading": ("#00005f bold", "38;5;17;1"),
        "dim": ("#6c6c6c", "38;5;242"),
        "selected": ("#875f00 bold", "38;5;94;1"),
    },
    "none": {},
}

# Pygments tokens (repl.lexer.SomLexer) -> style names.
_TOKEN_STYLES = {
    "pygments.comment": "comment",
    "pygments.literal.string": "string",
    "pygments.literal.string.char": "symbol",
    "pygments.literal.string.symbol": "symbol",
    "pygments.literal.number": "number",
    "pygments.name.class": "class",
    "pygments.keyword": "pseudo",
    "pygments.name.function": "selector",
}

# prompt-toolkit's own parts (completion menu, bracket marks) in the chosen palette.
_UI = {
    "default": [("completion-menu", "reverse"), ("completion-menu.completion.current", "bold noreverse"),
                ("matching-bracket.cursor", "bold underline"), ("matching-bracket.other", "bold underline")],
    "dark": [("completion-menu", "bg:ansibrightblack ansiwhite"),
             ("completion-menu.completion.current", "bg:ansiblue ansiwhite bold"),
             ("matching-bracket.cursor", "ansibrightyellow bold underline"),
             ("matching-bracket.other", "ansibrightyellow bold underline")],
    "light": [("completion-menu", "bg:#e4e4e4 #000000"), ("completion-menu.completion.current", "bg:#005f87 #ffffff"),
              ("matching-bracket.cursor", "#af0000 bold underline"),
              ("matching-bracket.other", "#af0000 bold underline")],
    "none": [("completion-menu", "reverse"), ("completion-menu.completion.current", "noreverse bold"),
             ("matching-bracket.cursor", "underline"), ("matching-bracket.other", "underline")],
}


def initial_theme(environment: dict[str, str] | None = None) -> str:
    """The palette a session starts with (see the module's docstring)."""
    env = os.environ if environment is None else environment
    chosen = env.get(THEME_VARIABLE, "").strip().lower()
    if chosen in THEMES:
        return chosen
    if env.get("NO_COLOR"):
        return "none"
    return "default"


def paint(fragments: Iterable[tuple[str, str]], theme: str) -> str:
    """``fragments`` (style name, text) as text with SGR colours for ``theme``. A
    coloured run never spans a line break, so a line ends in the terminal's colours."""
    palette = _PALETTES.get(theme, {})
    out = []
    for style, text in fragments:
        sgr = palette.get(style, ("", ""))[1]
        if not sgr or not text:
            out.append(text)
            continue
        out.append("\n".join(f"\x1b[{sgr}m{line}\x1b[0m" if line else "" for line in text.split("\n")))
    return "".join(out)


def input_style(theme: str) -> object:
    """The prompt-toolkit style for the input line in ``theme``."""
    from prompt_toolkit.styles import Style
    palette = _PALETTES.get(theme, {})
    rules = [(token, palette[name][0]) for token, name in _TOKEN_STYLES.items()
             if name in palette and palette[name][0]]
    return Style(rules + _UI.get(theme, []))


def color_depth(theme: str) -> object | None:
    """``none`` draws the input with no colour at all; the others leave the depth to
    prompt-toolkit (which reads the terminal's capabilities)."""
    if theme != "none":
        return None
    from prompt_toolkit.output import ColorDepth
    return ColorDepth.DEPTH_1_BIT
