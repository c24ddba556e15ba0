"""Canonical JSON: the exact bytes that are hashed and signed.

Sorted keys, no spaces, UTF-8, and only strings (NFC), integers (|n| < 2**53), booleans,
null, arrays and objects. Floats, duplicate keys and non-canonical input are refused, so
that one value has exactly one encoding and two parsers can never disagree on it.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from catd_node.errors import BadInput

MAX_SAFE_INT = 2**53 - 1


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
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalError(path, "text holds a lone surrogate") from exc
    if not unicodedata.is_normalized("NFC", text):
        raise CanonicalError(path, "text is not in Unicode NFC form")


def encode(value: Any) -> bytes:
    """The canonical bytes of `value`; raises CanonicalError for anything not allowed."""
    check_value(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


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


def decode(data: bytes) -> Any:
    """Parse canonical bytes strictly: duplicates, floats and non-canonical forms are refused."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CanonicalError("json", f"not UTF-8 at byte {exc.start}") from exc
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_float=_no_float,
            parse_constant=_no_constant,
        )
    except json.JSONDecodeError as exc:
        raise CanonicalError("json", f"{exc.msg} at char {exc.pos}") from exc
    if encode(value) != data:
        raise CanonicalError("json", "bytes are not in canonical form")
    return value

