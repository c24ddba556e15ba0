"""Symlinks a LAN user puts in a drop folder are never followed (issue 12).

Whoever can write to a drop folder can swap a sub-folder — or `.claimed/` — for a symlink at
any moment. The service must never read, rename or write a file outside its folders through
one; before the fix it renamed the node's own `node.key` away, after which nothing that signs
(the web app, the scanner, sync) could start.
"""

from __future__ import annotations

import json
import os
import queue
from pathlib import Path

import pytest

from catd_node.datadir import DataDir
from scanners import claim as claim_mod
from scanners.claim import Claimed, Source
from scanners.ingest import Ingestor
from tests.polling import wait_for
from tests.scanners.conftest import KEYS, bodies, cli, configure, count, drop, image_bytes, inbox

SCANNER = Source("scanner", "scanner-1")


def _files(base: Path) -> list[Path]:
    return sorted(p for p in base.rglob("*") if not p.is_dir() or p.is_symlink())


def test_subfolder_swapped_for_link_to_datadir_never_takes_node_key(scan_dir: DataDir,
                                                                    scan_process) -> None:
    d = configure(scan_dir, empty_s=120)  # the 0-byte decoy waits, it is not quarantined
    folder = inbox(d)
    key = d.key_path.read_bytes()
    # The decoy `lote.tmp/node.key` is pending (0 bytes) once the marker, found by the same
    # start-up sweep, is ingested. A `.tmp` sub-folder name keeps the symlink that replaces it
    # from being quarantined itself: only the stale path `lote.tmp/node.key` stays pending.
    (folder / "lote.tmp").mkdir()
    (folder / "lote.tmp" / "node.key").write_bytes(b"")
    drop(folder / "marca.jpg", image_bytes(seed=40))
    proc = scan_process()
    wait_for(lambda: "ingested file=marca.jpg" in proc.text(), what="the marker ingested")

    (folder / "lote.tmp").rename(folder / ".lote")
    os.symlink(d.root, folder / "lote.tmp")  # now `lote.tmp/node.key` is the node's key
    wait_for(lambda: "why=link_in_path" in proc.text() or not d.key_path.exists(),
             what="the stale path refused (or the key taken)")

    assert d.key_path.exists(), "node.key was renamed out of the data dir through the symlink"
    assert d.key_path.read_bytes() == key
    assert (folder / ".lote" / "node.key").exists()  # the decoy, where the attacker moved it
    assert not [b for b in bodies(d, "scan.quarantined") if "node.key" in b["file"]]
    d.ledger().close()  # what the web app does first: load node.key to sign
    drop(folder / "despues.jpg", image_bytes(seed=43))
    wait_for(lambda: count(d, "acta.digitized") == 2, what="a good file after the attack")
    assert proc.terminate() == 0
    assert cli("verify", "-d", str(d.root)).returncode == 0


def test_claimed_folder_swapped_for_link_reads_nothing_outside(scan_dir: DataDir, tmp_path: Path) -> None:
    outside = tmp_path / "fuera"
    (outside / "tok").mkdir(parents=True)
    secret = outside / "tok" / "secreto.jpg"
    secret.write_bytes(image_bytes(seed=41))
    os.symlink(outside, inbox(scan_dir) / ".claimed")  # recover would walk `fuera/` as claims
    drop(inbox(scan_dir) / "buena.jpg", image_bytes(seed=42))

    result = cli("scan", "--once", "-d", str(scan_dir.root))

    assert result.returncode == 0, result.stderr[-3000:]
    assert secret.read_bytes() == image_bytes(seed=41)
    assert sorted(p.relative_to(outside).as_posix() for p in _files(outside)) == ["tok/secreto.jpg"]
    assert [b["original"]["name"] for b in bodies(scan_dir, "acta.digitized")] == ["buena.jpg"]
    assert count(scan_dir, "scan.quarantined") == 0
    assert (scan_dir.processed / "scanner-1" / "buena.jpg").exists()


def test_claim_refuses_a_subfolder_that_is_now_a_link(scan_dir: DataDir, tmp_path: Path) -> None:
    folder = inbox(scan_dir)
    victim = tmp_path / "victima"
    victim.mkdir()
    (victim / "x.jpg").write_bytes(b"sentinel")
    os.symlink(victim, folder / "sub")  # the service saw `sub/x.jpg` while `sub` was a folder

    assert claim_mod.claim(folder, folder / "sub" / "x.jpg", SCANNER) is None

    assert (victim / "x.jpg").read_bytes() == b"sentinel"
    assert _files(folder / ".claimed") == []


def test_subfolder_moved_out_between_open_and_rename_is_refused(scan_dir: DataDir, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from scanners import nofollow  # the re-check this test drives

    folder = inbox(scan_dir)
    (folder / "sub").mkdir()
    (folder / "sub" / "x.jpg").write_bytes(b"the attacker's own file")
    victim = tmp_path / "victima"
    victim.mkdir()
    (victim / "x.jpg").write_bytes(b"sentinel")
    moved = tmp_path / "fuera"
    real_still_at = nofollow.still_at
    swaps: list[str] = []

    def swap_then_check(*args: object) -> bool:
        # The race window: `sub` is open already; the attacker moves the real folder out of the
        # drop folder and puts a symlink in its place, just before the rename.
        if not swaps:
            (folder / "sub").rename(moved)
            os.symlink(victim, folder / "sub")
            swaps.append("swapped")
        return real_still_at(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(nofollow, "still_at", swap_then_check)
    assert claim_mod.claim(folder, folder / "sub" / "x.jpg", SCANNER) is None

    assert swaps == ["swapped"]
    assert (victim / "x.jpg").read_bytes() == b"sentinel"
    assert (moved / "x.jpg").read_bytes() == b"the attacker's own file"  # left outside, untouched
    assert _files(folder / ".claimed") == []


def test_linked_files_in_a_claim_are_never_read(scan_dir: DataDir, tmp_path: Path,
                                               ingestor: Ingestor) -> None:
    outside = tmp_path / "fuera"
    outside.mkdir()
    (outside / "acta.json").write_text(json.dumps({"acta": KEYS[2]}), encoding="utf-8")
    (outside / "secreto.jpg").write_bytes(image_bytes(seed=44))
    claims = inbox(scan_dir) / ".claimed"  # a LAN user can write here too
    (claims / "0-feedbeef").mkdir(parents=True)
    (claims / "1-feedbeef").mkdir()
    (claims / "0-feedbeef" / "scan.jpg").write_bytes(image_bytes(seed=45))
    os.symlink(outside / "acta.json", claims / "0-feedbeef" / "scan.jpg.json")
    os.symlink(outside / "secreto.jpg", claims / "1-feedbeef" / "enlace.jpg")

    results = {r.file: r for r in map(ingestor.ingest, claim_mod.recover(inbox(scan_dir), SCANNER))}

    assert results["scan.jpg"].outcome == "digitized"
    [body] = bodies(scan_dir, "acta.digitized")
    assert body["acta"] is None and body["identified_by"] is None  # the linked sidecar was not read
    assert (results["enlace.jpg"].outcome, results["enlace.jpg"].reason) == ("quarantined",
                                                                             "path_outside_folder")
    assert (scan_dir.quarantine / "scanner-1" / "enlace.jpg").is_symlink()
    assert (outside / "secreto.jpg").read_bytes() == image_bytes(seed=44)
    assert json.loads((outside / "acta.json").read_text(encoding="utf-8")) == {"acta": KEYS[2]}


def _put(d: DataDir, relative: str, data: bytes) -> Claimed:
    path = inbox(d) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    claimed = claim_mod.claim(inbox(d), path, SCANNER)
    assert claimed is not None
    return claimed


def test_quarantined_link_never_redirects_a_later_quarantine(scan_dir: DataDir, tmp_path: Path,
                                                             ingestor: Ingestor) -> None:
    folder = inbox(scan_dir)
    outside = tmp_path / "fuera"
    outside.mkdir()
    os.symlink(outside, folder / "sub")  # quarantined as itself: quarantine/scanner-1/sub -> fuera
    claimed = claim_mod.claim(folder, folder / "sub", SCANNER)
    assert claimed is not None
    assert ingestor.ingest(claimed).reason == "path_outside_folder"
    assert (scan_dir.quarantine / "scanner-1" / "sub").is_symlink()

    result = ingestor.ingest(_put(scan_dir, "sub/roto.jpg", b"not an image"))  # a real folder now

    assert result.reason == "not_an_image"
    assert list(outside.iterdir()) == []
    assert result.destination is not None and not result.destination.parent.is_symlink()
    assert result.destination.read_bytes() == b"not an image"
    assert (result.destination.parent / "roto.jpg.why.txt").exists()


def test_file_given_back_never_follows_a_swapped_subfolder(scan_dir: DataDir, tmp_path: Path) -> None:
    folder = inbox(scan_dir)
    claimed = _put(scan_dir, "sub/x.jpg", b"still being written")
    outside = tmp_path / "fuera"
    outside.mkdir()
    (folder / "sub").rmdir()
    os.symlink(outside, folder / "sub")

    back = claim_mod.unclaim(claimed)

    assert list(outside.iterdir()) == []
    assert back.read_bytes() == b"still being written"
    assert not back.parent.is_symlink() and back.parent.parent == folder


def test_scanner_folder_configured_as_a_link_is_refused_by_name(scan_dir: DataDir, tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    from scanners import watch

    real = tmp_path / "real"
    real.mkdir()
    os.symlink(real, tmp_path / "enlace")
    os.symlink(tmp_path / "nowhere", tmp_path / "roto")
    lines = scan_dir.config_path.read_text(encoding="utf-8").replace(
        '"scanner-1" = "inbox/scanner-1"',
        f'"scanner-1" = "inbox/scanner-1"\n"scanner-2" = "{tmp_path / "enlace"}"\n'
        f'"scanner-3" = "{tmp_path / "roto"}"')
    scan_dir.config_path.write_text(lines, encoding="utf-8")

    found = watch.folders(DataDir(scan_dir.root))

    assert [f.source.id for f in found] == ["scanner-1"]
    refused = [r.getMessage() for r in caplog.records if "folder_refused" in r.getMessage()]
    assert len(refused) == 2 and "scanner=scanner-2" in refused[0] and "why=symlink" in refused[0]
    assert "scanner=scanner-3" in refused[1]


def test_polling_watcher_never_walks_into_a_linked_folder(tmp_path: Path) -> None:
    from scanners import watch

    root = tmp_path / "scanner"
    root.mkdir()
    outside = tmp_path / "fuera"
    outside.mkdir()
    (outside / "b.jpg").write_bytes(b"outside")
    hints: queue.SimpleQueue[tuple[str, bool]] = queue.SimpleQueue()
    watcher = watch.Watcher([root], True, hints)
    watcher.start()
    try:
        os.symlink(outside, root / "enlace")  # before the real file: seen by the same poll or earlier
        drop(root / "sub" / "a.jpg", b"inside")
        seen: list[str] = []

        def hinted_a() -> bool:
            while not hints.empty():
                seen.append(hints.get_nowait()[0])
            return str(root / "sub" / "a.jpg") in seen

        wait_for(hinted_a, timeout=30, what="the polling observer's hint for sub/a.jpg")
    finally:
        watcher.stop()
    assert not [p for p in seen if p.startswith(str(root / "enlace") + os.sep)]
