"""`catd-hq rehearse --casilla 100`: every acta the source says was photographed at the casilla
goes phone → HQ → its CATD's node → clerks, and the final cut still agrees with the source;
with `--chaos` the photos come ahead of their packets and the later scan does not replace them."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from catd_node import canonical, catalog
from hq.release import read
from tests.simulacro import published as published_mod
from tests.simulacro.test_rehearse import final_zip, rehearse, told

pytestmark = pytest.mark.slow


def test_casilla_share_goes_through_the_phone_path_and_agrees(tmp_path: Path) -> None:
    source = published_mod.build(tmp_path / "release", per_district=12)
    release = read.read(source)
    catalog = {a.clave_acta for a in release.rows if "FUERA" not in (a.observaciones or "")}
    casilla = [r for r in release.rows if r.origen == "CASILLA" and r.digitalizacion == "MOVIL"
               and r.clave_acta in catalog]
    assert casilla, "the source has actas photographed at the casilla"
    done = rehearse("--from", source, "--out", tmp_path / "run", "--casilla", "100", timeout=300)
    assert done.returncode == 0, told(done)
    assert "difference:" not in done.stdout and "agree" in done.stdout
    assert f"PREP Casilla: {len(casilla)} photos through HQ's phone path" in done.stdout, told(done)
    ours = {r.clave_acta: r for r in read.read(final_zip(done)).rows}
    assert all((ours[r.clave_acta].origen, ours[r.clave_acta].digitalizacion) == ("CASILLA", "MOVIL")
               for r in casilla)


def _packets(node_db: Path, acta: str) -> list[tuple[int, str, dict]]:
    conn = sqlite3.connect(f"file:{node_db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT seq, kind, canonical FROM packets WHERE acta = ? ORDER BY seq",
                            (acta,)).fetchall()
    finally:
        conn.close()
    return [(int(seq), kind, canonical.decode(bytes(raw))["body"]) for seq, kind, raw in rows]


def test_under_chaos_the_phone_photos_come_hours_ahead_and_the_paper_does_not_replace_them(
        tmp_path: Path) -> None:
    source = published_mod.build(tmp_path / "release", per_district=8)
    done = rehearse("--from", source, "--out", tmp_path / "run", "--casilla", "100", "--chaos",
                    timeout=420)
    assert done.returncode == 0, told(done)
    assert "difference:" not in done.stdout and "agree" in done.stdout
    ahead = re.search(r"PREP Casilla ahead of the paper: (\d+) photos sent before their packets", done.stdout)
    assert ahead and int(ahead.group(1)) > 0, told(done)
    ours = {r.clave_acta: r for r in read.read(final_zip(done)).rows}
    election = catalog.load(tmp_path / "run" / "election.json")
    checked = 0
    for db in sorted((tmp_path / "run" / "nodes").glob("*/catd.db")):
        digitized: dict[str, list[tuple[int, dict]]] = {}
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            keys = [k for (k,) in conn.execute(
                "SELECT DISTINCT acta FROM packets WHERE kind = 'acta.digitized' AND acta IS NOT NULL")]
        finally:
            conn.close()
        for key in keys:
            packets = _packets(db, key)
            digitized[key] = [(seq, body) for seq, kind, body in packets if kind == "acta.digitized"]
            first = digitized[key][0][1]
            if first.get("origen") != "CASILLA":
                continue
            # the phone photo first, the scanned paper after it: never its replacement
            scans = [b for _, b in digitized[key][1:] if b["source"]["kind"] == "scanner"]
            assert scans, f"{key}: the paper acta was never scanned after its photo"
            assert all(s["image"]["sha256"] != first["image"]["sha256"] for s in scans)
            assert not any(kind == "acta.assigned" and "replaces" in body for _, kind, body in packets)
            acopio = next(seq for seq, kind, _ in packets if kind == "acta.acopio")
            assert digitized[key][0][0] < acopio < digitized[key][1][0]   # photo, then packet, then scan
            [verified] = [body for _, kind, body in packets if kind == "acta.verified"]
            assert verified["image_sha256"] == first["image"]["sha256"]
            row = ours[key]
            assert (row.origen, row.digitalizacion) == ("CASILLA", "MOVIL")
            assert row.sha.lower() == first["image"]["sha256"]
            assert election.owner(key) == db.parent.name
            checked += 1
    assert checked == int(ahead.group(1)), (checked, told(done))
