"""`catd-hq rehearse` end to end: real HQ and node processes, clerks over HTTP, the final cut
compared with the release it replayed."""

from __future__ import annotations

import io
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hq.release import read
from hq.store import HQDir
from simulacro import compare
from tests import releasekit as rk
from tests.simulacro import published as published_mod

pytestmark = pytest.mark.slow
CDMX = rk.DOMAIN / "cdmx-2024" / "bd-gobierno.csv.gz"
SCRAMBLED = ("TOTAL_VOTOS_CALCULADO", "OBSERVACIONES", "CONTABILIZADA")


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cut of a few hundred actas of every class, written by `catd-hq publish --final`."""
    return published_mod.build(tmp_path_factory.mktemp("published") / "release", per_district=70)


def rehearse(*args: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hq.cli", "rehearse", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def told(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\n--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}"


def final_zip(done: subprocess.CompletedProcess[str]) -> Path:
    last = Path(done.stdout.strip().splitlines()[-1])
    assert last.suffix == ".zip" and last.is_file(), told(done)
    return last


def test_the_published_release_has_every_class(published):
    release = read.read(published)
    observations = " ".join(r.observaciones for r in release.rows)
    for text in ("EXCEDE LISTA NOMINAL", "TODOS ILEGIBLES", "ILEGIBLE O SIN DATO", "SIN ACTA POR PAQUETE NO",
                 "SIN ACTA POR CASILLA NO INSTALADA", "SIN BOLSA", "FUERA DE CAT"):
        assert text in observations, text
    assert {r.origen for r in release.rows} >= {"CATD", "CASILLA"}
    assert {"-"} <= {v for r in release.rows for v in r.votes.values()}
    assert 200 <= len(release.rows) <= 300


def test_replaying_a_published_release_gives_it_back(published, tmp_path):
    done = rehearse("--from", published, "--out", tmp_path / "run")
    assert done.returncode == 0, told(done)
    assert "difference:" not in done.stdout
    assert "agree" in done.stdout and "bytes sent per acta" in done.stdout
    ours = read.read(final_zip(done))
    assert len(ours.rows) == len(read.read(published).rows)
    # Both verifiers, given the keys published before the night, accept the rehearsal's cut.
    keys = tmp_path / "run" / "hq" / "publicacion" / "llaves"
    tool = Path(__file__).resolve().parents[2] / "tools" / "verify_release.py"
    for verifier in (["-m", "hq.cli", "verify-release"], [str(tool)]):
        checked = subprocess.run([sys.executable, *verifier, str(final_zip(done)), "--keys", str(keys)],
                                 capture_output=True, text=True, timeout=300)
        assert checked.returncode == 0, told(checked)
        assert "key: " in checked.stdout and "from " + str(keys) in checked.stdout, told(checked)


def scrambled_copy(source: Path, out: Path, seed: int = 3) -> Path:
    """The same cut with its computed columns and summary scrambled (what the PREP computes,
    not what is on the actas)."""
    rng = random.Random(seed)
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    name = next(n for n in members if n.endswith(".csv") and "CANDIDATURA" not in n.upper())
    text = members[name].decode("utf-8-sig")
    lines = text.split("\r\n")
    header_at = next(i for i, line in enumerate(lines) if line.startswith("CLAVE_CASILLA"))
    header = lines[header_at].split("|")
    lines[header_at - 1] = "|".join(str(rng.randint(0, 999)) for _ in lines[header_at - 1].split("|"))
    columns = {c: header.index(c) for c in ("TOTAL_VOTOS_CALCULADOS", "OBSERVACIONES", "CONTABILIZADAS")}
    for i in range(header_at + 1, len(lines)):
        cells = lines[i].split("|")
        if len(cells) != len(header) or "SIN ACTA" in cells[columns["OBSERVACIONES"]]:
            continue
        cells[columns["TOTAL_VOTOS_CALCULADOS"]] = str(rng.randint(0, 900))
        cells[columns["OBSERVACIONES"]] = rng.choice(["", "EXCEDE LISTA NOMINAL", "TODOS ILEGIBLES"])
        cells[columns["CONTABILIZADAS"]] = rng.choice(["0", "1"])
        lines[i] = "|".join(cells)
    members[name] = ("\ufeff" + "\r\n".join(lines)).encode("utf-8")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    out.write_bytes(buffer.getvalue())
    return out


def test_scrambled_computed_columns_still_give_the_official_release(published, tmp_path):
    copy = scrambled_copy(published, tmp_path / published.name)
    done = rehearse("--from", copy, "--out", tmp_path / "run")
    assert done.returncode == 1, told(done)          # the copy's computed columns are wrong …
    reported = [line for line in done.stdout.splitlines() if line.startswith("difference:")]
    assert reported and all(any(f"column {c}:" in line for c in SCRAMBLED) or "acta RESUMEN" in line
                            for line in reported), told(done)
    ours = read.read(final_zip(done))                # … and ours is the official cut
    hq = HQDir(tmp_path / "run" / "hq")
    outcome = compare.compare(read.read(published), ours, blob=compare.blob_check(hq.blobs().path))
    assert outcome.differences == (), [d.line() for d in outcome.differences]


def test_chaos_kills_and_cuts_and_the_release_still_agrees(published, tmp_path):
    done = rehearse("--from", published, "--out", tmp_path / "run", "--chaos", "--seed", "7", timeout=900)
    assert done.returncode == 0, told(done)
    chaos = next(line for line in done.stdout.splitlines() if "chaos:" in line)
    assert "HQ 0 times" not in chaos and "(0 web" not in chaos and "link cut 0" not in chaos, chaos
    final_zip(done)


@pytest.mark.skipif(not CDMX.is_file(), reason=f"{CDMX} (shared domain data) is absent")
def test_the_first_actas_of_cdmx_2024(tmp_path):
    """A cómputo: the first 300 rows (3 CATDs) hold 090085C0100A02, above its ceiling — the
    PREP leaves it out, and the summary differences say so."""
    done = rehearse("--from", CDMX, "--out", tmp_path / "run", "--limit", "300")
    assert done.returncode == 0, told(done)
    assert "difference:" not in done.stdout
    explained = [line for line in done.stdout.splitlines() if line.startswith("explained:")]
    assert explained and all("090085C0100A02" in line for line in explained), told(done)
    # the candidacies file beside the release travelled into the election file, the cut and the site
    with zipfile.ZipFile(final_zip(done)) as archive:
        names = archive.read("CDMX_GUB_CANDIDATURAS.csv").decode("utf-8-sig")
    assert "09|PVEM_PT_MORENA|CLARA MARINA BRUGADA MOLINA|" in names, names
    front = (tmp_path / "run" / "hq" / "publicacion" / "sitio" / "index.html").read_text(encoding="utf-8")
    assert "SANTIAGO TABOADA CORTINA" in front and "PAN – PRI – PRD" in front
