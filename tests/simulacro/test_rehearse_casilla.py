"""`catd-hq rehearse --casilla 100`: every acta the source says was photographed at the casilla
goes phone → HQ → its CATD's node → clerks, and the final cut still agrees with the source."""

from __future__ import annotations

from pathlib import Path

import pytest

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
