"""The clerks' web app on a full disk (issue 21): a submit that cannot be saved is a Spanish
"Disco lleno" page (507), never a stack trace; the app keeps serving, and the same submit
succeeds once space returns. The data dir is a real tmpfs filled on purpose."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from catd_node import datadir
from catd_node.datadir import DataDir
from tests.conftest import ELECTION
from tests.diskkit import fill, small_disk

KEY = "DIP-14-01-0123-B01"


@pytest.fixture
def node_dir(tmp_path: Path) -> Iterator[DataDir]:
    with small_disk(tmp_path / "disk", "16m") as disk:
        yield datadir.init(disk / "catd", "CATD-14-01", ELECTION)


async def test_a_submit_on_a_full_disk_is_a_clear_page_and_works_after(clerks, signed_in):
    ana = await signed_in("ana")
    filler = fill(clerks.root.parent)
    try:
        status, page = await ana.post("/acopio", {"clave": KEY})
        assert status == 507, page[:500]
        assert "Disco lleno" in page and "no se guardó" in page and "Traceback" not in page
        status, _ = await ana.get("/acopio")  # reading still works
        assert status == 200
    finally:
        filler.unlink()
    status, page = await ana.post("/acopio", {"clave": KEY})
    assert status == 200 and "Disco lleno" not in page
    conn = clerks.reader()
    try:
        assert conn.execute("SELECT COUNT(*) FROM packets WHERE kind='acta.acopio'").fetchone()[0] == 1
    finally:
        conn.close()
