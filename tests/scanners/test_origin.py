"""ORIGEN and DIGITALIZACION of every image (LEEME_G fields 44, 45), and actas of another CATD."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from catd_node.datadir import DataDir
from scanners import claim as claim_mod
from scanners.claim import Source
from scanners.ingest import Ingestor
from tests import catalog_v2
from tests.scanners.conftest import KEYS, bodies, configure, image_bytes, inbox

PHONE = Source("upload", "telefono-1")


@pytest.fixture
def ingestor(scan_dir: DataDir) -> Ingestor:
    ledger = scan_dir.ledger()
    yield Ingestor(ledger, scan_dir.blobs(), scan_dir.processed, scan_dir.quarantine,
                   scan_dir.config.image, frozenset(scan_dir.election.actas))
    ledger.close()


def ingest(ingestor: Ingestor, root: Path, name: str, source: Source, seed: int,
           sidecar: dict[str, str] | None = None) -> None:
    root.mkdir(parents=True, exist_ok=True)
    if sidecar is not None:
        (root / f"{name}.json").write_text(json.dumps(sidecar), encoding="utf-8")
    (root / name).write_bytes(image_bytes(seed=seed))
    claimed = claim_mod.claim(root, root / name, source)
    assert claimed is not None
    assert ingestor.ingest(claimed).outcome == "digitized"


def test_a_scanner_image_is_digitized_at_the_catd_by_scanner(scan_dir: DataDir, ingestor: Ingestor) -> None:
    ingest(ingestor, inbox(scan_dir), f"{KEYS[0]}.jpg", Source("scanner", "scanner-1"), 1)
    [body] = bodies(scan_dir, "acta.digitized")
    assert (body["origen"], body["digitalizacion"]) == ("CATD", "ESCANER")


def test_a_phone_upload_is_movil_and_its_sidecar_can_say_casilla(scan_dir: DataDir,
                                                                 ingestor: Ingestor) -> None:
    uploads = scan_dir.inbox / "uploads" / "telefono-1"
    ingest(ingestor, uploads, f"{KEYS[1]}.jpg", PHONE, 2)
    ingest(ingestor, uploads, "foto-3.jpg", PHONE, 3, {"acta": KEYS[2], "origen": "casilla"})
    ingest(ingestor, uploads, "foto-4.jpg", PHONE, 4, {"acta": KEYS[3], "origen": "LA LUNA"})
    got = [(b["acta"], b["origen"], b["digitalizacion"]) for b in bodies(scan_dir, "acta.digitized")]
    assert got == [(KEYS[1], "CATD", "MOVIL"), (KEYS[2], "CASILLA", "MOVIL"), (KEYS[3], "CATD", "MOVIL")]


def test_an_acta_of_another_catd_is_identified_and_recorded_not_dropped(node_v2_dir: DataDir) -> None:
    d = configure(node_v2_dir, settle_ms=200)
    ledger = d.ledger()
    try:
        ingestor = Ingestor(ledger, d.blobs(), d.processed, d.quarantine, d.config.image,
                            frozenset(d.election.actas))
        ingest(ingestor, inbox(d), f"{catalog_v2.FOREIGN}.jpg", Source("scanner", "scanner-1"), 5)
    finally:
        ledger.close()
    [body] = bodies(d, "acta.digitized")
    assert body["acta"] == catalog_v2.FOREIGN and d.election.owner(body["acta"]) == catalog_v2.OTHER
    assert (d.processed / "scanner-1" / f"{catalog_v2.FOREIGN}.jpg").exists()
