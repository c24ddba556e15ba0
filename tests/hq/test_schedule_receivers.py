"""Two `catd-hq serve` with the same [publish] schedule on one store (issue 13): each slot is
written once, by one of them; the other logs that it skips it. Both stores are run in this
one test, at once (two receivers on hq.db, two on a PostgreSQL schema): the final cut comes
a minute after the first, and the four receivers wait for that minute together."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hq import schedule
from hq import store as hq_store
from hq.store import HQDir
from tests.hq import countkit as ck
from tests.hq import cutkit
from tests.hq.test_cut_writers import chain_verifies, zips
from tests.hqkit import STORES, HQProcess, make_node
from tests.polling import wait_for

pytestmark = pytest.mark.slow

_PUBLISHED = re.compile(r"cut published (\S+\.zip)")
_SKIPPED = re.compile(r"cut at \S+ skipped: (?:.*cut \d+ (?:is being|was) written by \S+"
                      r"|\S+\.zip is already published)")


@pytest.fixture
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, HQDir]]:
    """store kind → an HQ with the two-CATD catalog, both nodes reporting every class."""
    made: dict[str, HQDir] = {}
    urls: list[str] = []
    for kind in STORES:
        url = None
        if kind == "postgres":
            url = request.getfixturevalue("pg_server").create()
            urls.append(url)
        hq = hq_store.init(tmp_path / kind, ck.TWO_CATD, url)
        a = make_node(tmp_path / f"{kind}-a", hq, ck.NODE_A, ck.TWO_CATD)
        b = make_node(tmp_path / f"{kind}-b", hq, ck.NODE_B, ck.TWO_CATD)
        cutkit.report_everything(hq, a, b)
        made[kind] = hq
    try:
        yield made
    finally:
        for url in urls:
            request.getfixturevalue("pg_server").drop(url)


def test_two_receivers_on_one_schedule_publish_each_slot_once(capsys, tmp_path, stores):
    """A regular cut at `start`, the final a minute later (the period is one minute)."""
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    receivers: dict[str, list[HQProcess]] = {}
    for kind, hq in stores.items():
        (hq.root / "hq.toml").write_text(f'[publish]\nstart = "{start.isoformat()}"\nevery_min = 1\n'
                                         f'hours = {1 / 60!r}\n', encoding="utf-8")
        receivers[kind] = [HQProcess(hq, tmp_path / f"{kind}-serve-{i}.log") for i in (1, 2)]

    def logs(kind: str) -> list[str]:
        return [r.log_path.read_text(encoding="utf-8") for r in receivers[kind]]

    def settled(kind: str) -> bool:
        """The final cut is out; its writer has logged it (after the site), and a skip is logged."""
        hq = stores[kind]
        if not (schedule.last_cut(hq) or (None, False))[1]:
            return False
        texts = logs(kind)
        return len([n for t in texts for n in _PUBLISHED.findall(t)]) >= len(zips(hq)) and \
            any(_SKIPPED.search(t) for t in texts)

    everyone = [r for pair in receivers.values() for r in pair]
    try:
        starting = [threading.Thread(target=r.start, args=(0,)) for r in everyone]  # at once
        for thread in starting:
            thread.start()
        for thread in starting:
            thread.join()
        assert all(r.url for r in everyone), "every receiver started"
        for kind in stores:
            wait_for(lambda kind=kind: settled(kind), 180, f"[{kind}] the final cut, each cut logged, a skip")
    finally:
        for receiver in everyone:
            if receiver.proc is not None and receiver.proc.poll() is None:
                receiver.stop()
    for kind, hq in stores.items():
        texts = logs(kind)
        published = [name for t in texts for name in _PUBLISHED.findall(t)]
        assert sorted(published) == zips(hq), f"[{kind}] each cut written by one receiver: {published}"
        assert not any("not published" in t for t in texts), (kind, texts)
        chain_verifies(capsys, hq)
