"""What an acta key looks like, for keys that are not in the catalog (issue 12).

One place for the pattern, used wherever a key enters: acopio, assignment, capture (web forms)
and QR / sidecar / file-name identification (scanners). A key in the catalog is always accepted;
any other key must look like one, so text such as `=HYPERLINK(…)`, a space or a line break
never becomes an acta key that later reaches a report or a spreadsheet.
"""

from __future__ import annotations

import re
from collections.abc import Container

# CLAVE_ACTA of the releases (090001C0100A02) and the older DIP-14-01-0123-B01 form.
ACTA_KEY = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,63}")


def looks_like_acta_key(text: str) -> bool:
    """True when `text` has the form of an acta key: ASCII letter or digit, then letters, digits,
    '_' or '-', 64 characters at most."""
    return ACTA_KEY.fullmatch(text) is not None


def acceptable(key: str, catalog: Container[str]) -> bool:
    """A key may enter the ledger: it is in the catalog, or it looks like an acta key."""
    return key in catalog or looks_like_acta_key(key)
