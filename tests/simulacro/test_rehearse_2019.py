"""A 2019-layout release replayed (issue 19): the published cut rewritten as a 2019 OPLE wrote
its own — year-first cut line, 2019 column names and observation texts, `C_` coalitions,
numeric TIPO_ACTA padded inside CLAVE_ACTA, `0` in a sin acta row's cells, Latin-1 — agrees
with the rehearsal's cut on every acta: 0 differences. A real difference is still named."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest

from hq.release import read
from hq.release.model import unwrap
from tests.simulacro import published as published_mod
from tests.simulacro.test_rehearse import rehearse, told

pytestmark = pytest.mark.slow
RENAMES = {"CODIGO_INTEGRIDAD": "SHA", "ID_ENTIDAD": "ID_ESTADO", "REPRESENTANTES": "REPRESENTANTES_PP_CI",
           "TOTAL_PERSONAS_VOTARON": "PERSONAS_VOTARON"}
TEXTS = {"ALGÚN CAMPO ILEGIBLE O SIN DATO": "ALGUN DATO ILEGIBLE O SIN DATO",
         "SIN ACTA POR PAQUETE ENTREGADO SIN BOLSA": "SIN ACTA POR PAQUETE ENTREGADO SIN SOBRE",
         "TODOS ILEGIBLES O SIN DATO": "TODOS LOS CAMPOS ILEGIBLES"}


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return published_mod.build(tmp_path_factory.mktemp("published") / "release", per_district=30)


def as_2019(source: Path, out: Path, change: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(source) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".csv") and "CANDIDATURA" not in n.upper())
        lines = archive.read(name).decode("utf-8-sig").split("\r\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("CLAVE_CASILLA"))
    header = lines[at].split("|")
    for i in range(at):
        m = re.fullmatch(r"(\d{2})/(\d{2})/(\d{4}) (\d{2}:\d{2}) \((UTC-\d)\)", lines[i])
        if m:
            lines[i] = f"{m[3]}/{m[2]}/{m[1]} {m[4]} ({m[5]})"   # year first
    col = {h: i for i, h in enumerate(header)}
    coalitions = {h for h in published_mod.VOTES if "_" in h and h != "NO_REGISTRADAS"}
    lines[at] = "|".join("C_" + h if h in coalitions else RENAMES.get(h, h) for h in header)
    for i in range(at + 1, len(lines)):
        cells = lines[i].split("|")
        if len(cells) != len(header):
            continue
        key, tipo = unwrap(cells[col["CLAVE_ACTA"]]), unwrap(cells[col["TIPO_ACTA"]])
        if tipo.startswith("A") and tipo[1:].isdigit():     # A02 → TIPO_ACTA 2, key …02 (padded)
            cells[col["TIPO_ACTA"]] = str(int(tipo[1:]))
            cells[col["CLAVE_ACTA"]] = f"'{key[:11]}{tipo[1:]}'"
        elif key:
            cells[col["CLAVE_ACTA"]] = f"'{key}'"
        obs = cells[col["OBSERVACIONES"]]
        for new, old in TEXTS.items():
            obs = obs.replace(new, old)
        cells[col["OBSERVACIONES"]] = obs
        if "SIN ACTA" in obs:
            cells = ["0" if c == "SIN ACTA" else c for c in cells]
        for column, value in (change or {}).items():
            if unwrap(cells[col["CLAVE_ACTA"]]) == value.split("=")[0]:
                cells[col[column]] = value.split("=")[1]
        lines[i] = "|".join(cells)
    out.write_bytes("\r\n".join(lines).encode("latin-1", errors="replace"))
    return out


def test_a_2019_layout_release_replays_with_no_difference(published, tmp_path):
    src = as_2019(published, tmp_path / "diputaciones_2019.csv")
    release = read.read(src)
    assert release.date_order == "YYYY/MM/DD" and "padded" in release.key_form
    done = rehearse("--from", src, "--out", tmp_path / "run", "--limit", "30")
    assert done.returncode == 0, told(done)
    assert "difference:" not in done.stdout, told(done)


def test_a_real_difference_is_still_named_by_acta_and_column(published, tmp_path):
    first = next(r for r in read.read(published).rows if r.identity is not None and isinstance(
        r.votes.get("PAN"), int) and not r.observaciones)
    key = first.clave_acta[:11] + first.identity.tipo_acta[1:]
    src = as_2019(published, tmp_path / "diputaciones_2019.csv",
                  change={"PAN": f"{key}={first.votes['PAN'] + 1}"})
    done = rehearse("--from", src, "--out", tmp_path / "run", "--limit", "30")
    assert done.returncode == 1, told(done)
    # The clerks type what the acta says (PAN + 1); the release's own total disagrees.
    assert f"difference: acta {key}, column TOTAL_VOTOS_CALCULADO: source" in done.stdout, told(done)
