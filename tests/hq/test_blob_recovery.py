"""Images HQ acknowledged and then lost come back from the nodes (issue 21).

A real `catd-hq serve` (checking its images every 0.3 s: `[blobs] check_every_s` in hq.toml)
and two real `catd-node sync` services drain two chains with their images. Then, under the
running HQ, some image files are deleted, some overwritten in place (the site's hard links to
them change too), one with its size kept (only the hash finds it):

- `catd-hq verify` names every one; HQ's check marks them lost (`status`: `blobs_missing`
  with the actas, `blobs_lost`), moves the damaged files aside and never serves them: a cut
  published meanwhile holds those actas' image links out and no file of theirs is in the site;
- the nodes, started again, learn what HQ lacks (`GET /v1/nodes/{node}/blobs/missing`) and
  send it again: every image is sound at HQ, `verify` exits 0, the next cut shows them all;
- then the whole `blobs/` directory is removed while HQ and the nodes run, and it is rebuilt
  from the nodes alone.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from catd_node.datadir import DataDir
from hq import store as hq_store
from hq.release import cut
from hq.store import HQDir
from tests.hqkit import ELECTION, ROOT, VALUES_A, HQProcess, append_actas, make_node
from tests.sync.replay_helpers import configure

ACTAS = [a["key"] for a in __import__("json").loads(ELECTION.read_text())["actas"]]
NODES = {"CATD-14-01": ACTAS[:8], "CATD-14-02": ACTAS[8:16]}
SYNC = {"poll_s": 0.2, "retry_base_s": 0.05, "retry_cap_s": 0.5, "connect_timeout_s": 2.0,
        "read_timeout_s": 10.0, "recheck_s": 0.3}
IMG = re.compile(r'<img src="((?:\.\./)*)(imagenes/[0-9a-f]{64}\.\w+)"')


def _wait(condition, what: str, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)  # polling HQ's store and the files, with a deadline


def _status(hq: HQDir) -> dict:  # type: ignore[type-arg]
    conn = hq.connect()
    try:
        return hq_store.status(conn)
    finally:
        conn.close()


def _verify(hq: HQDir) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hq.cli", "-d", str(hq.root), "verify"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


def _start_syncs(nodes: list[DataDir], tmp_path: Path) -> list[subprocess.Popen[bytes]]:
    procs = []
    for node in nodes:
        log = (tmp_path / f"{node.config.node_id}-sync.log").open("ab")
        procs.append(subprocess.Popen([sys.executable, "-m", "catd_node.cli", "sync", "-d", str(node.root)],
                                      stdout=log, stderr=log, cwd=ROOT, env={**os.environ}))
        log.close()
    return procs


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        proc.wait(20)


def _all_sound(hq: HQDir, shas: dict[str, str]) -> bool:
    status = _status(hq)
    if status["blobs_lost"]["count"] or any(n["blobs_missing"] for n in status["nodes"].values()):
        return False
    return all(hq.blobs().problem(sha) is None for sha in shas)


def _site_images(hq: HQDir) -> dict[str, str]:
    """acta → the image its published page links (every linked file exists and is the image)."""
    site = hq.root / "publicacion" / "sitio"
    shown: dict[str, str] = {}
    for page in site.rglob("*.html"):
        for _up, ref in IMG.findall(page.read_text(encoding="utf-8")):
            target = site / ref
            assert target.is_file(), f"{page.name} links {ref}, which the site does not hold"
            sha = Path(ref).stem
            assert hashlib.sha256(target.read_bytes()).hexdigest() == sha, f"{ref} is not the image it names"
            shown[page.stem] = sha
    for image in (site / "imagenes").glob("*"):   # no other bytes under an image's name either
        assert hashlib.sha256(image.read_bytes()).hexdigest() == image.stem, f"site holds a bad {image.name}"
    return shown


def test_lost_and_damaged_images_come_back_from_the_nodes(tmp_path: Path, hq_dir: HQDir) -> None:
    (hq_dir.root / "hq.toml").write_text("[blobs]\ncheck_every_s = 0.3\n", encoding="utf-8")
    nodes, image_of = [], {}   # image_of: sha → acta
    for node_id, keys in NODES.items():
        node = make_node(tmp_path / node_id, hq_dir, node_id)
        for p in append_actas(node, {k: VALUES_A for k in keys}):
            if p.kind == "acta.digitized":
                image_of[p.body["image"]["sha256"]] = p.body["acta"]
        nodes.append(node)
    server = HQProcess(hq_dir, tmp_path / "hq.log")
    url = server.start(0)
    nodes = [configure(node, [url], SYNC) for node in nodes]
    syncs = _start_syncs(nodes, tmp_path)
    try:
        _wait(lambda: _all_sound(hq_dir, image_of) and len(_stored(hq_dir)) == len(image_of),
              "the first drain")
        cut.publish(hq_dir, at=datetime(2024, 6, 2, 20, 0))
        assert set(_site_images(hq_dir).values()) == set(image_of)
        _stop(syncs)

        # under the running HQ: 3 files deleted, 2 overwritten, 1 with one byte flipped
        shas = sorted(image_of)
        deleted, overwritten, flipped = shas[0:3], shas[3:5], shas[5]
        for sha in deleted:
            hq_dir.blobs().path(sha).unlink()
        for sha in overwritten:
            with hq_dir.blobs().path(sha).open("r+b") as f:   # in place: the site's hard link too
                f.write(b"ransomware was here")
                f.truncate()
        with hq_dir.blobs().path(flipped).open("r+b") as f:
            first = f.read(1)
            f.seek(0)
            f.write(bytes([first[0] ^ 0x01]))
        damaged = [*deleted, *overwritten, flipped]
        found = _verify(hq_dir)
        assert found.returncode == 1 and all(sha in found.stderr for sha in damaged), found.stderr

        # HQ's check finds each, per node with the actas; damaged files are put aside
        def marked() -> bool:
            return _status(hq_dir)["blobs_lost"]["count"] == len(damaged)

        _wait(marked, "HQ's check to mark the damaged images lost")
        status = _status(hq_dir)
        for node_id, keys in NODES.items():
            gone = sorted(image_of[s] for s in damaged if image_of[s] in keys)
            assert status["nodes"][node_id]["blobs_missing"] == len(gone)
            assert status["nodes"][node_id]["missing_actas"] == gone
        listed = {item["sha256"]: item for item in status["blobs_lost"]["list"]}
        assert set(listed) == set(damaged)
        assert all(listed[s]["moved_to"] is None and listed[s]["why"] == "missing" for s in deleted)
        for sha in [*overwritten, flipped]:
            aside = hq_dir.root / listed[sha]["moved_to"]
            assert aside.parent.name == "blobs-damaged"
            assert hashlib.sha256(aside.read_bytes()).hexdigest() != sha
            assert not hq_dir.blobs().path(sha).exists()
        assert all(listed[s]["actas"] == [image_of[s]] for s in damaged)
        still = _verify(hq_dir)
        assert still.returncode == 1 and all(f"blob {sha}: lost at HQ" in still.stderr for sha in damaged)

        # a cut published now shows none of them, and says so on their pages
        cut.publish(hq_dir, at=datetime(2024, 6, 2, 20, 20))
        shown = _site_images(hq_dir)
        assert set(shown.values()) == set(image_of) - set(damaged)
        site = hq_dir.root / "publicacion" / "sitio"
        for sha in damaged:
            assert not list((site / "imagenes").glob(f"{sha}.*"))
            page = next(site.rglob(f"{image_of[sha]}.html")).read_text(encoding="utf-8")
            assert "La imagen aún no llega a la sede" in page and sha.upper() in page

        # the nodes come back and send exactly what HQ lacks
        syncs = _start_syncs(nodes, tmp_path)
        _wait(lambda: _all_sound(hq_dir, image_of), "the nodes to restore every image")
        done = _verify(hq_dir)
        assert done.returncode == 0, done.stderr
        restored = _losses(hq_dir)
        assert set(restored) == set(damaged) and all(r is not None for r in restored.values())
        resent = sum(len(re.findall(r"HQ lost (\d+) image", (tmp_path / f"{n}-sync.log").read_text()))
                     for n in NODES)
        assert resent >= 1
        cut.publish(hq_dir, at=datetime(2024, 6, 2, 20, 40))
        assert set(_site_images(hq_dir).values()) == set(image_of)

        # the whole image directory lost under running HQ and nodes: rebuilt from the nodes
        before = _losses(hq_dir, "found_at")
        hq_dir.blobs_dir.rename(tmp_path / "gone")   # at once, as a lost disk would
        shutil.rmtree(tmp_path / "gone")

        def rebuilt() -> bool:
            found, back = _losses(hq_dir, "found_at"), _losses(hq_dir)
            return (all(found.get(sha) != before.get(sha) and back.get(sha) for sha in image_of)
                    and _all_sound(hq_dir, image_of))

        _wait(rebuilt, "every image found lost and sent again")
        done = _verify(hq_dir)
        assert done.returncode == 0, done.stderr
        for node in nodes:   # the nodes kept every image throughout
            assert all(node.blobs().problem(sha) is None for sha, acta in image_of.items()
                       if acta in NODES[node.config.node_id])
    finally:
        _stop(syncs)
        server.stop()


def _stored(hq: HQDir) -> set[str]:
    conn = hq.connect()
    try:
        return {row[0] for row in conn.execute("SELECT sha256 FROM blobs")}
    finally:
        conn.close()


def _losses(hq: HQDir, column: str = "restored_at") -> dict[str, str | None]:
    conn = hq.connect()
    try:
        return dict(conn.execute(f"SELECT sha256, {column} FROM blob_losses").fetchall())
    finally:
        conn.close()
