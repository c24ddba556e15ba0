"""One file → blobs + packets in one transaction; dedup, multi-page, identification, quarantine."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from catd_node import cli
from catd_node.datadir import DataDir
from scanners import claim as claim_mod
from scanners.claim import Claimed, Source
from scanners.ingest import Ingestor
from tests.scanners.conftest import KEYS, bodies, count, image_bytes, inbox, tiff_pages

SCANNER = Source("scanner", "scanner-1")


def put(d: DataDir, name: str, data: bytes) -> Claimed:
    path = inbox(d) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    claimed = claim_mod.claim(inbox(d), path, SCANNER)
    assert claimed is not None and claimed.path.exists() and not path.exists()
    return claimed


def verify_ok(d: DataDir) -> None:
    assert cli.main(["verify", "-d", str(d.root)]) == 0


def test_digitized_body_and_original_moved(scan_dir: DataDir, ingestor: Ingestor) -> None:
    data = image_bytes("JPEG", seed=1)
    result = ingestor.ingest(put(scan_dir, f"{KEYS[0]}.jpg", data))
    assert result.outcome == "digitized" and result.actas == (KEYS[0],)
    [body] = bodies(scan_dir, "acta.digitized")
    assert body["acta"] == KEYS[0] and body["identified_by"] == "filename" and body["page"] == 1
    assert body["original"] == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                                "name": f"{KEYS[0]}.jpg"}
    assert body["source"] == {"kind": "scanner", "id": "scanner-1"}
    image = body["image"]
    blob = scan_dir.blobs().read(image["sha256"])
    assert hashlib.sha256(blob).hexdigest() == image["sha256"] and len(blob) == image["bytes"]
    assert image["format"] == "webp" and image["dpi"] == 200 and image["width"] > 0
    moved = scan_dir.processed / "scanner-1" / f"{KEYS[0]}.jpg"
    assert moved.read_bytes() == data
    assert not any((inbox(scan_dir) / ".claimed").iterdir())
    verify_ok(scan_dir)


def test_same_bytes_twice_make_one_packet(scan_dir: DataDir, ingestor: Ingestor) -> None:
    data = image_bytes("PNG", seed=2)
    first = ingestor.ingest(put(scan_dir, "scan1.png", data))
    second = ingestor.ingest(put(scan_dir, "scan1-again.png", data))
    assert (first.outcome, second.outcome) == ("digitized", "duplicate")
    assert count(scan_dir, "acta.digitized") == 1
    [dup] = bodies(scan_dir, "scan.duplicate")
    assert dup["first_seq"] == first.seqs[0] and dup["original_sha256"] == hashlib.sha256(data).hexdigest()
    assert (scan_dir.processed / "duplicates" / "scanner-1" / "scan1-again.png").read_bytes() == data
    # The same name again later (a scanner restarting its counter) is not clobbered.
    third = ingestor.ingest(put(scan_dir, "scan1.png", data))
    assert third.outcome == "duplicate"
    assert (scan_dir.processed / "duplicates" / "scanner-1" / "scan1.png").exists()
    assert (scan_dir.processed / "scanner-1" / "scan1.png").read_bytes() == data
    verify_ok(scan_dir)


def test_multipage_tiff_is_one_transaction_of_n_packets(scan_dir: DataDir, ingestor: Ingestor) -> None:
    result = ingestor.ingest(put(scan_dir, "lote.tif", tiff_pages(3)))
    assert result.outcome == "digitized" and len(result.seqs) == 3
    assert list(result.seqs) == list(range(result.seqs[0], result.seqs[0] + 3))
    pages = bodies(scan_dir, "acta.digitized")
    assert [b["page"] for b in pages] == [1, 2, 3]
    assert len({b["image"]["sha256"] for b in pages}) == 3
    assert len({b["original"]["sha256"] for b in pages}) == 1
    verify_ok(scan_dir)


def test_sidecar_identifies_and_travels_with_the_image(scan_dir: DataDir, ingestor: Ingestor) -> None:
    (inbox(scan_dir) / "scan7.jpg.json").write_text(json.dumps({"acta": KEYS[2]}), encoding="utf-8")
    result = ingestor.ingest(put(scan_dir, "scan7.jpg", image_bytes(seed=7)))
    assert result.actas == (KEYS[2],)
    [body] = bodies(scan_dir, "acta.digitized")
    assert body["identified_by"] == "sidecar"
    assert (scan_dir.processed / "scanner-1" / "scan7.jpg.json").exists()
    assert not (inbox(scan_dir) / "scan7.jpg.json").exists()


def test_unknown_name_is_unidentified_and_status_counts_it(scan_dir: DataDir, ingestor: Ingestor,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    ingestor.ingest(put(scan_dir, "IMG_0001.jpg", image_bytes(seed=3)))
    ingestor.ingest(put(scan_dir, f"{KEYS[1]}.png", image_bytes("PNG", seed=4)))
    ingestor.ingest(put(scan_dir, "nota.jpg", b"not an image at all"))
    capsys.readouterr()
    assert cli.main(["status", "--json", "-d", str(scan_dir.root)]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["actas"]["digitized"] == 1
    assert status["actas"]["unidentified"] == 1
    assert status["quarantined"] == 1


@pytest.mark.parametrize(("data", "reason"), [
    (b"hello, not an image", "not_an_image"),
    (image_bytes("JPEG", seed=5)[:3000], "truncated"),
    (b"GIF89a" + b"\x00" * 200, "unsupported_format"),
])
def test_rejected_file_is_quarantined_with_reason(scan_dir: DataDir, ingestor: Ingestor, data: bytes,
                                                  reason: str) -> None:
    result = ingestor.ingest(put(scan_dir, "sub/malo.jpg", data))
    assert (result.outcome, result.reason) == ("quarantined", reason)
    target = scan_dir.quarantine / "scanner-1" / "sub" / "malo.jpg"
    assert target.read_bytes() == data
    why = (target.parent / "malo.jpg.why.txt").read_text(encoding="utf-8")
    assert f"reason: {reason}\n" in why and "motivo: " in why and "at: 20" in why
    assert f"original_sha256: {hashlib.sha256(data).hexdigest()}" in why
    [body] = bodies(scan_dir, "scan.quarantined")
    assert body["reason"] == reason and body["file"] == "sub/malo.jpg" and body["detail"]
    assert count(scan_dir, "acta.digitized") == 0
    verify_ok(scan_dir)


def test_unreadable_file_is_quarantined(scan_dir: DataDir, ingestor: Ingestor,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    claimed = put(scan_dir, "cerrado.jpg", image_bytes(seed=9))
    import scanners.ingest as ingest_mod

    real_open = ingest_mod.os.open

    def deny(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if str(path).endswith("cerrado.jpg"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(ingest_mod.os, "open", deny)
    result = ingestor.ingest(claimed)
    assert (result.outcome, result.reason) == ("quarantined", "unreadable")
    assert (scan_dir.quarantine / "scanner-1" / "cerrado.jpg.why.txt").exists()


def test_crash_after_commit_only_finishes_the_move(scan_dir: DataDir, ingestor: Ingestor,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    claimed = put(scan_dir, "scan2.jpg", image_bytes(seed=11))

    def crash(*_: object, **__: object) -> Path:
        raise OSError("simulated crash before the move")

    with monkeypatch.context() as m:
        m.setattr(Ingestor, "_to_processed", crash)
        with pytest.raises(OSError):
            ingestor.ingest(claimed)
    assert count(scan_dir, "acta.digitized") == 1 and claimed.path.exists()
    [again] = claim_mod.recover(inbox(scan_dir), SCANNER)
    assert again.key == claimed.key
    result = ingestor.ingest(again)
    assert result.outcome == "digitized" and result.seqs == (2,)
    assert count(scan_dir, "acta.digitized") == 1 and count(scan_dir, "scan.duplicate") == 0
    assert (scan_dir.processed / "scanner-1" / "scan2.jpg").exists()


def test_crash_before_commit_ingests_again_once(scan_dir: DataDir, ingestor: Ingestor,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    claimed = put(scan_dir, "scan3.jpg", image_bytes(seed=12))
    import scanners.ingest as ingest_mod

    def crash(*_: object, **__: object) -> None:
        raise OSError("simulated crash inside the transaction")

    with monkeypatch.context() as m:
        m.setattr(ingest_mod, "_record", crash)
        with pytest.raises(OSError):
            ingestor.ingest(claimed)
    assert count(scan_dir, "acta.digitized") == 0  # rolled back with its rows
    [again] = claim_mod.recover(inbox(scan_dir), SCANNER)
    assert ingestor.ingest(again).outcome == "digitized"
    assert count(scan_dir, "acta.digitized") == 1
    verify_ok(scan_dir)


def test_quarantine_crash_before_move_keeps_one_entry(scan_dir: DataDir, ingestor: Ingestor,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    claimed = put(scan_dir, "roto.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 10)
    import scanners.quarantine as q

    with monkeypatch.context() as m:
        m.setattr(q.claim_mod, "release", lambda *_: (_ for _ in ()).throw(OSError("crash")))
        with pytest.raises(OSError):
            ingestor.ingest(claimed)
    [again] = claim_mod.recover(inbox(scan_dir), SCANNER)
    result = ingestor.ingest(again)
    assert result.outcome == "quarantined"
    assert count(scan_dir, "scan.quarantined") == 1
    files = sorted(p.name for p in (scan_dir.quarantine / "scanner-1").iterdir())
    assert files == ["roto.png", "roto.png.why.txt"]
