"""`catd-hq publish`: one cut from HQ's own count, written whole or not at all, never rewritten,
each naming the one before; the cut read back apart from the writer holds HQ's state."""

from __future__ import annotations

import zipfile
from datetime import datetime
from pathlib import Path

import pytest

from catd_node import actas
from hq import cli
from hq.count import count
from hq.release import cut, evidence, manifest
from tests.hq import countkit as ck
from tests.hq import cutkit
from tests.hq.countkit import each_store  # noqa: F401  (every test on both stores)
from tests.hq.test_release_write import read_results, unwrap


def publish(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(["-d", str(root), "publish", *args])
    got = capsys.readouterr()
    return code, got.out, got.err


def test_publish_prints_the_zip_path_last_and_chains_cuts(capsys, tmp_path):
    hq, a, b = ck.hq_two_catd(tmp_path)
    cutkit.report_everything(hq, a, b)
    code, out, _ = publish(capsys, hq.root, "--at", "2024-06-02T20:00")
    assert code == 0
    first = Path(out.strip().splitlines()[-1])
    assert first == hq.root / "publicacion" / "20240602_2000_PREP_GUB_CDMX.zip" and first.exists()
    with zipfile.ZipFile(first) as archive:
        names = set(archive.namelist())
        first_manifest = archive.read(manifest.NAME)
    assert {"CDMX_GUB_2024.csv", "CDMX_GUB_CANDIDATURAS.csv", "LEEME.txt", "MANIFEST.json",
            "MANIFEST.json.sig", "evidencia.ndjson", "evidencia_actas.txt", "catalogo.json", "hq.pub",
            f"nodos/{ck.NODE_A}.pub", f"nodos/{ck.NODE_B}.pub", "registro/checkpoint",
            "registro/hojas.bin"} == names
    # An offset is converted to the official time: 02:20 UTC is 20:20 in UTC-6.
    code, out, _ = publish(capsys, hq.root, "--at", "2024-06-03T02:20:00Z")
    second = Path(out.strip().splitlines()[-1])
    assert code == 0 and second.name == "20240602_2020_PREP_GUB_CDMX.zip"
    with zipfile.ZipFile(second) as archive:
        m = manifest.parse(archive.read(manifest.NAME))
    assert m.number == 2 and m.previous is not None
    assert (m.previous.name, m.previous.sha256) == (first.name, manifest.sha256(first_manifest))
    assert not list((hq.root / "publicacion").glob(".corte-*")), "no temporary folder left"


def test_a_cut_is_never_rewritten_and_nothing_follows_the_final(capsys, tmp_path):
    hq, a, b = ck.hq_two_catd(tmp_path)
    cutkit.report_everything(hq, a, b)
    assert publish(capsys, hq.root, "--at", "2024-06-02T20:00")[0] == 0
    path = hq.root / "publicacion" / "20240602_2000_PREP_GUB_CDMX.zip"
    before = path.read_bytes()
    code, _, err = publish(capsys, hq.root, "--at", "2024-06-02T20:00")
    assert code == 2 and "never rewritten" in err and path.read_bytes() == before
    code, _, err = publish(capsys, hq.root, "--at", "2024-06-02T19:40")
    assert code == 2 and "not after the last cut" in err
    assert publish(capsys, hq.root, "--final", "--at", "2024-06-02T20:01")[0] == 0
    code, _, err = publish(capsys, hq.root, "--at", "2024-06-02T20:20")
    assert code == 2 and "final cut is already published" in err
    code, _, err = publish(capsys, hq.root, "--at", "mañana")
    assert code == 2 and "--at" in err


def test_a_writer_that_dies_leaves_no_cut(tmp_path, monkeypatch):
    """The zip is built in a temporary folder and renamed: a failure half way publishes nothing."""
    hq, a, b = ck.hq_two_catd(tmp_path)
    cutkit.report_everything(hq, a, b)

    def broken(conn, election):
        raise OSError("disk full")

    with pytest.raises(OSError):
        cut.publish(hq, at=datetime(2024, 6, 2, 20, 0), counter=broken)
    folder = hq.root / "publicacion"
    assert not list(folder.glob("*.zip")) and not list(folder.glob(".corte-*"))
    lines = evidence.Stream.lines

    def failing(self):                      # the store fails half way through the evidence
        for number, line in enumerate(lines(self)):
            if number == 5:
                raise OSError("I/O error")
            yield line

    monkeypatch.setattr(evidence.Stream, "lines", failing)
    with pytest.raises(OSError, match="I/O error"):
        cut.publish(hq, at=datetime(2024, 6, 2, 20, 0))
    assert not list(folder.glob("*.zip")) and not list(folder.glob(".corte-*"))
    monkeypatch.undo()
    assert cut.publish(hq, at=datetime(2024, 6, 2, 20, 0)).path.exists(), "the next try publishes"


def test_the_cut_read_apart_holds_hqs_state(tmp_path):
    """The hand-split reader of test_release_write finds, row by row, what HQ's count holds."""
    p = cutkit.published_hq(tmp_path)
    conn = p.hq.connect()
    try:
        held = count(conn, p.hq.election()).actas
    finally:
        conn.close()
    lines = read_results(p.zip)
    header, rows = lines[4], lines[5:]
    keys = [unwrap(row[1]) for row in rows]
    assert keys == [ck.A1, ck.A2, ck.B1, ck.BS, ck.ANY, ck.OUTSIDE] and set(keys) == set(held)
    for row in rows:
        cells = dict(zip(header, row, strict=True))
        record = held[unwrap(row[1])]
        assert cells["CONTABILIZADAS"] == str(record.classification.contabilizada)
        assert cells["OBSERVACIONES"] == record.classification.published_observations
        assert cells["CODIGO_INTEGRIDAD"] == (record.image_sha256 or "N/A").upper()
        if record.classification.cls == actas.SIN_ACTA:
            assert cells["TOTAL_VOTOS_CALCULADOS"] == "SIN ACTA"
            continue
        assert cells["TOTAL_VOTOS_CALCULADOS"] == str(record.classification.total)
        for field, value in record.values.items():
            name = "NO_REGISTRADOS" if field == "NO_REGISTRADAS" else field
            expected = str(value) if isinstance(value, int) else value.replace("_", " ")
            assert cells[name] == expected, (row[1], field)
    a1 = dict(zip(header, rows[0], strict=True))
    assert (a1["MECANISMOS_TRASLADO"], a1["ORIGEN"], a1["DIGITALIZACION"], a1["TIPO_DOCUMENTO"]) == \
        ("F", "CATD", "ESCANER", "ACTA PREP")
    assert a1["FECHA_HORA_ACOPIO"].endswith(" (UTC-6)")
    summary = dict(zip(lines[2], lines[3], strict=True))
    assert (summary["ACTAS_ESPERADAS"], summary["ACTAS_REGISTRADAS"], summary["ACTAS_FUERA_CATALOGO"],
            summary["ACTAS_CONTABILIZADAS"]) == ("5", "6", "1", "3")
