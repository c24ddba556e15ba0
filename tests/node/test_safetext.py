"""Outside text on one line (issue 14): logs and `.why.txt` cannot be forged by a file name."""

from __future__ import annotations

import io
import logging
import os
import unicodedata
from pathlib import PurePosixPath

from hypothesis import given
from hypothesis import strategies as st

from catd_node.safetext import OneLineFormatter, one_line
from scanners import names


def test_controls_are_escaped_and_ordinary_text_is_kept() -> None:
    assert one_line("acción Ñ 7.jpg") == "acción Ñ 7.jpg"
    assert one_line("a\nb\rc\td") == "a\\nb\\rc\\td"
    assert one_line("x\x1b[31m\x7f\u202e\u2028") == "x\\x1b[31m\\x7f\\u202e\\u2028"
    assert one_line("C:\\n") == "C:\\\\n"  # a real backslash stays distinguishable from \n


@given(st.text())
def test_one_line_is_always_one_printable_line(text: str) -> None:
    shown = one_line(text)
    assert len(shown.splitlines()) <= 1
    assert not [ch for ch in shown if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs")]


def test_the_log_formatter_keeps_each_record_on_one_line() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(OneLineFormatter("%(levelname)s %(message)s"))
    log = logging.getLogger("test.safetext")
    log.addHandler(handler)
    try:
        log.warning("quarantined file=%s", "a\nINFO ingested file=b")
    finally:
        log.removeHandler(handler)
    assert out.getvalue() == "WARNING quarantined file=a\\nINFO ingested file=b\n"


def test_names_fit_and_name_problems() -> None:
    long = "ñ" * 150 + ".jpg"  # 304 bytes
    short = names.fit(long)
    assert len(os.fsencode(short)) <= names.MAX_NAME_BYTES and short.endswith(".jpg")
    assert names.fit("ñ" * 149 + ".jpg") != short  # distinct long names stay distinct
    assert names.fit("acta.jpg") == "acta.jpg"
    assert names.name_problem(PurePosixPath("lote/acta.jpg")) is None
    assert names.name_problem(PurePosixPath(long))[0] == "name_too_long"
    assert names.name_problem(PurePosixPath("lo\nte/acta.jpg"))[0] == "name_control_chars"
    assert names.printable("a\nb") == "a\\nb"
