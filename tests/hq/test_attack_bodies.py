"""Odd batch bodies get a clear 4xx naming the line, never a 500 (issue 14)."""

from __future__ import annotations

import json

import aiohttp
import pytest

from sync import protocol
from tests.hqkit import append_actas

HUGE = "9" * 5000  # past Python's 4,300-digit limit for int()


def odd_lines(good: dict) -> dict[str, bytes]:
    canonical = good["canonical"]
    return {
        "huge wire seq": json.dumps({**good, "seq": 1}).replace('"seq": 1', f'"seq": {HUGE}').encode(),
        "huge integer in the canonical bytes": json.dumps(
            {**good, "canonical": canonical.replace('"seq":1', f'"seq":{HUGE}')}).encode(),
        "deep nesting": b"[" * 100_000 + b"]" * 100_000,
        "deep nesting in the canonical bytes": json.dumps(
            {**good, "canonical": "[" * 100_000 + "]" * 100_000}).encode(),
    }


@pytest.mark.parametrize("case", ["huge wire seq", "huge integer in the canonical bytes", "deep nesting",
                                  "deep nesting in the canonical bytes"])
async def test_an_odd_line_gets_422_naming_the_line(case, hq_node, hq_server):
    append_actas(hq_node, {})
    genesis = hq_node.ledger().packets()[0]
    good = json.loads(protocol.frame([genesis]))
    body = protocol.frame([genesis]) + odd_lines(good)[case] + b"\n"
    async with aiohttp.ClientSession() as session, session.post(
            hq_server.url + protocol.PACKETS_PATH, data=body, headers={"Content-Type": protocol.NDJSON}) as r:
        answer = await r.json()
        assert r.status == 422, answer
        assert answer["error"] == protocol.BAD_FORM and answer["line"] == 2, answer
