"""Outside text shown on one line: file names, error details and log messages cannot forge lines.

A file name may hold a newline, a carriage return or a bidi override; written raw into a log
or a `.why.txt` it starts a line of its own choosing (issue 14). Control and format characters,
line and paragraph separators, and the backslash itself are escaped, so the shown text is
unambiguous and always one line.
"""

from __future__ import annotations

import logging
import unicodedata

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def one_line(text: str) -> str:
    """`text` with every control/format character escaped (`\\n`, `\\x1b`, `\\u202e`, `\\\\`)."""
    if text.isprintable() and "\\" not in text:
        return text  # the common case, without a per-character walk
    out = []
    for ch in text:
        if ch in _NAMED:
            out.append(_NAMED[ch])
        elif unicodedata.category(ch) in _ESCAPED_CATEGORIES:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000
                       else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)


def has_controls(text: str) -> bool:
    """True when `text` holds a character `one_line` would escape (the backslash aside)."""
    return not text.isprintable() and any(
        unicodedata.category(ch) in _ESCAPED_CATEGORIES for ch in text)


class OneLineFormatter(logging.Formatter):
    """Each record's message on one line; a traceback (exc_info) still follows on its own lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = one_line(record.message)
        return super().formatMessage(record)
