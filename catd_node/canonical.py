"""Canonical JSON: the exact bytes that are hashed and signed.

Sorted keys, no spaces, UTF-8, and only strings (NFC), integers (|n| < 2**53), booleans,
null, arrays and objects. Floats, duplicate keys and non-canonical input are refused, so
that one value has exactly one encoding and two parsers can never disagree on it.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

from catd_node.errors import BadInput

MAX_SAFE_INT = 2**53 - 1
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class CanonicalError(BadInput):
    """A value that has no canonical encoding, or bytes that are not canonical."""


def check_value(value: Any, path: str = "$") -> None:
    """Raise CanonicalError naming the first place in `value` that cannot be encoded."""
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INT:
            raise CanonicalError(path, f"integer {value} is outside ±(2**53-1)")
        return
    if isinstance(value, float):
        raise CanonicalError(path, f"floats are not allowed ({value!r}); use an integer or a string")
    if isinstance(value, str):
        _check_text(value, path)
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            check_value(item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalError(path, f"object key {key!r} is not a string")
            _check_text(key, f"{path}.{key}")
            check_value(item, f"{path}.{key}")
        return
    raise CanonicalError(path, f"type {type(value).__name__} is not allowed")


def _check_text(text: str, path: str) -> None:
    if text.isascii():  # ASCII is NFC and holds no surrogates: the common case, kept cheap
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalError(path, "text holds a lone surrogate") from exc
    if not unicodedata.is_normalized("NFC", text):
        raise CanonicalError(path, "text is not in Unicode NFC form")


def _plainly_valid(value: Any) -> bool:
    """True when `value` holds only ASCII text, safe integers, booleans, null, arrays and
    objects: the common case, checked without recursion. False means "ask check_value"."""
    stack = [value]
    pop, push = stack.pop, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is str:
            if not item.isascii():
                return False
        elif kind is int:
            if not -MAX_SAFE_INT <= item <= MAX_SAFE_INT:
                return False
        elif kind is dict:
            for key in item:
                if type(key) is not str or not key.isascii():
                    return False
            push(item.values())
        elif kind is list or kind is tuple:
            push(item)
        elif item is not None and kind is not bool:
            return False
    return True


def encode(value: Any) -> bytes:
    """The canonical bytes of `value`; raises CanonicalError for anything not allowed."""
    if not _plainly_valid(value):
        check_value(value)
    return _ENCODER.encode(value).encode("utf-8")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise CanonicalError("json", f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_float(text: str) -> Any:
    raise CanonicalError("json", f"float {text} is not allowed")


def _no_constant(text: str) -> Any:
    raise CanonicalError("json", f"{text} is not allowed")


# Built once: json.loads(**hooks) would build a decoder per call, and verify decodes every
# stored packet. Only the float/constant hooks are installed, so the C scanner stays in use.
_FAST_DECODER = json.JSONDecoder(parse_float=_no_float, parse_constant=_no_constant)
_STRICT_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_float=_no_float,
                                   parse_constant=_no_constant)
# |n| ≤ 2**53-1 has at most 16 digits, and in canonical text a number starts right after
# `:`, `,` or `[` (or at the start): text without such a 16-digit run holds no bigger integer.
# (A match inside a string only costs the exact walk.)
_LONG_INT = re.compile(r"[:,\[]-?\d{16}")


def decode(data: bytes) -> Any:
    """Parse canonical bytes strictly: duplicates, floats and non-canonical forms are refused.

    Accepts exactly what `encode(value) == data` accepts, but cheaply, as verify runs it on
    every stored packet. A duplicate key, a space, an escape or unsorted keys make the
    re-encoded text differ (then a strict parse names the fault). Integers are walked only
    when a number of 16 digits may be present, and strings only when the whole text is neither
    ASCII nor NFC (in canonical text a string appears raw apart from escapes of `"`, `\\`
    and control characters, none of which compose, so a non-NFC string makes the text non-NFC).
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CanonicalError("json", f"not UTF-8 at byte {exc.start}") from exc
    try:
        value = _FAST_DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise CanonicalError("json", f"{exc.msg} at char {exc.pos}") from exc
    except ValueError as exc:  # e.g. an integer longer than Python will parse
        raise CanonicalError("json", str(exc)[:80]) from exc
    except RecursionError as exc:  # arrays or objects nested deeper than the parser's stack
        raise CanonicalError("json", "nested too deeply") from exc
    # A `\\ud800` escape decodes to a lone surrogate, which re-encodes raw: the texts differ.
    if _ENCODER.encode(value) != text:
        _STRICT_DECODER.decode(text)  # raises "duplicate key" when that is the fault
        raise CanonicalError("json", "bytes are not in canonical form")
    long_int = _LONG_INT.search(text) or _LONG_INT.match("[" + text[:17])
    if long_int or not (text.isascii() or unicodedata.is_normalized("NFC", text)):
        check_value(value)  # names the integer out of range or the string not in NFC
    return value
