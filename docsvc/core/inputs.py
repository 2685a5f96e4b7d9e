"""Untrusted values at the edges: bounded integers and control characters, defined once.

The web (URL converters, query strings, JSON bodies), the CLI and the services all check what
they are handed with these functions, so that a malformed value is a 400 or 404 with a message
in both languages — never a database error answered 500, or 503 "retry later" for something no
retry can fix.

- Integers: every id and version number is an INTEGER column, which PostgreSQL keeps in 32 bits
  (and SQLite in 64): a larger number can name nothing, so it is refused before any query.
- Control characters (Unicode category Cc: C0, DEL and C1): PostgreSQL cannot store NUL at all,
  and the others reach terminals and CSV files as escape sequences. Where a value is stored or
  matched against stored values (filters, change reasons, names) they are refused; where they
  are harmless noise (a search query) they are stripped; on the way to a terminal they are
  printed escaped.
"""

from __future__ import annotations

import re
from typing import Any, overload

from docsvc.errors import InvalidInput

MAX_ID = 2**31 - 1  # PostgreSQL's INTEGER, the type of every id and version number column
MAX_OFFSET = 10**9  # paging further than this is a mistake (and BIGINT's limit is not far off)

# Category Cc, written out so that the OpenAPI document can state the same class as a pattern.
_CC = "\\x00-\\x1f\\x7f-\\x9f"
# Characters that reorder what a terminal shows (bidirectional overrides and isolates, "Trojan
# Source"): not Cc, but never printed raw either.
_BIDI = "\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069"
_TERMINAL_UNSAFE_RE = re.compile(f"[{_CC}{_BIDI}]")
_JSON_UNSAFE_RE = re.compile(f"[\\x7f-\\x9f{_BIDI}]")  # json.dumps escapes C0 but not these


def _controls_except(allowed: str) -> str:
    """A character class of the Cc characters other than ``allowed`` (e.g. tab and newline)."""
    codes = [c for c in (*range(0x00, 0x20), *range(0x7F, 0xA0)) if chr(c) not in allowed]
    runs: list[list[int]] = []
    for c in codes:
        if runs and c == runs[-1][1] + 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    return "[" + "".join(f"\\x{a:02x}" if a == b else f"\\x{a:02x}-\\x{b:02x}" for a, b in runs) + "]"


def no_controls_pattern(allowed: str = "") -> str:
    """The JSON-Schema/ECMA pattern of a text with no control characters but ``allowed``."""
    return "^" + _controls_except(allowed).replace("[", "[^", 1) + "*$"


@overload
def parse_int(
    value: Any, name: str, *, low: int = 1, high: int = MAX_ID, default: int, from_text: bool = True
) -> int: ...
@overload
def parse_int(
    value: Any, name: str, *, low: int = 1, high: int = MAX_ID, default: None = None, from_text: bool = True
) -> int | None: ...
def parse_int(
    value: Any, name: str, *, low: int = 1, high: int = MAX_ID, default: int | None = None, from_text: bool = True
) -> int | None:
    """An integer parameter between ``low`` and ``high``. ``value`` None (absent) gives
    ``default``; from a query string or form (``from_text``) it must be decimal digits, from
    JSON a number with no fraction (``true`` and ``"12"`` are not numbers)."""
    if value is None:
        return default
    number: int | None = None
    if from_text:
        text = str(value).strip()
        if re.fullmatch(r"[+-]?[0-9]{1,30}", text):
            number = int(text)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    if number is None or not low <= number <= high:
        raise InvalidInput(
            f"参数 {name} 必须是 {low} 到 {high} 之间的整数。",
            f"{name} must be an integer from {low} to {high}.",
            field=name,
        )
    return number


def refuse_controls(value: str, name: str, zh_name: str, *, allowed: str = "\t") -> str:
    """``value`` unchanged, or InvalidInput naming the first control character in it."""
    bad = re.search(_controls_except(allowed), value)
    if bad:
        raise InvalidInput(
            f"{zh_name}含有控制字符（U+{ord(bad.group()):04X}），请删除后重试。",
            f"{name} contains a control character (U+{ord(bad.group()):04X}); remove it and try again.",
            field=name,
        )
    return value


def strip_controls(value: str, *, allowed: str = "\t\n", replacement: str = "") -> str:
    """``value`` with every control character but ``allowed`` left out (or replaced)."""
    return re.sub(_controls_except(allowed), replacement, value)


def escape_controls(value: str, *, allowed: str = "") -> str:
    """``value`` as a terminal may show it: control and bidi characters (but ``allowed``) as
    visible escapes (``\\x1b``, ``\\n``, ``\\u202e``), so no escape sequence reaches the screen
    and no value can fake a line of its own."""
    names = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

    def shown(m: re.Match[str]) -> str:
        ch = m.group()
        if ch in allowed:
            return ch
        return names.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")

    return _TERMINAL_UNSAFE_RE.sub(shown, value)


def json_escape_controls(text: str) -> str:
    """JSON text with C1 and bidi characters written as ``\\uXXXX`` (``json.dumps`` already
    escapes C0): the same data, safe on a terminal. Those characters only occur inside strings."""
    return _JSON_UNSAFE_RE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
