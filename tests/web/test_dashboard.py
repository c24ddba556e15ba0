"""The coordinator's dashboard, /status JSON and /metrics."""

from __future__ import annotations

import dataclasses
import shutil

from catd_node import actas, config, diskfull
from tests.web.conftest import GOOD, digitize, values_form

KEY = "DIP-14-01-0123-B01"


async def test_dashboard_status_and_metrics_follow_the_procedure(clerks, signed_in):
    sha = digitize(clerks, KEY, seed=40)
    digitize(clerks, None, seed=41)
    ledger = clerks.ledger()
    try:
        ledger.append("scan.quarantined", {"file": "roto.jpg",
                                           "source": {"kind": "scanner", "id": "scanner-1"},
                                           "reason": "CORRUPT_IMAGE", "detail": "truncated JPEG",
                                           "original_sha256": None})
    finally:
        ledger.close()
    ana, beto, coco = await signed_in("ana"), await signed_in("beto"), await signed_in("coco")
    await ana.post("/acopio", {"clave": KEY})
    await ana.post("/captura", {"acta": KEY, "imagen": sha, **values_form(GOOD)})
    await beto.post("/verificacion", {"acta": KEY, "imagen": "", **values_form(GOOD)})

    async with coco.session.get(f"{coco.base}/status") as r:
        doc = await r.json()
    assert doc["node_id"] == "CATD-14-01"
    assert {k: doc["actas"][k] for k in ("expected", "received", "digitized", "unidentified", "captured",
                                         "verified", "sent_to_hq")} == {
        "expected": 20, "received": 1, "digitized": 1, "unidentified": 1, "captured": 1, "verified": 1,
        "sent_to_hq": 0}
    assert doc["quarantined"] == 1 and doc["hq"]["lag_packets"] == doc["head"]["seq"]
    assert doc["disk"]["free_bytes"] > 0

    status, metrics = await coco.get("/metrics")
    assert status == 200
    assert 'catd_actas{stage="verified"} 1' in metrics and 'catd_actas{stage="expected"} 20' in metrics
    assert "# TYPE catd_hq_lag_packets gauge" in metrics and f"catd_head_seq {doc['head']['seq']}" in metrics

    status, page = await coco.get("/tablero")
    assert status == 200
    assert "CORRUPT_IMAGE" in page and "roto.jpg" in page and "truncated JPEG" in page
    assert actas.CLASS_LABELS[actas.COUNTED] in page and "Enviadas a HQ" in page


async def test_the_dashboard_is_for_the_coordinator(clerks, signed_in):
    ana = await signed_in("ana")
    status, _ = await ana.get("/tablero")
    assert status == 403
    status, _ = await ana.get("/usuarios")
    assert status == 403


async def test_a_node_without_hq_shows_what_is_missing_and_picks_up_the_edit(clerks, signed_in, hq_dir):
    """Normal before HQ exists (issue 14): the link is "sin configurar" with the reason, read
    afresh, so the coordinator sees the fix without restarting the web app."""
    coco = await signed_in("coco")
    async with coco.session.get(f"{coco.base}/status") as r:
        hq = (await r.json())["hq"]
    assert hq["configured"] is False and hq["problem"].startswith("catd.toml: hq.urls")
    assert hq["link"] == "sin configurar"
    status, page = await coco.get("/tablero")
    assert status == 200 and "HQ sin configurar: falta la dirección de HQ" in page

    shutil.copyfile(hq_dir.pub_path, clerks.root / "hq.pub")
    cfg = clerks.config
    clerks.config_path.write_text(config.render(dataclasses.replace(
        cfg, hq=config.HQConfig(urls=("http://127.0.0.1:9",), pubkey="hq.pub"))), encoding="utf-8")
    async with coco.session.get(f"{coco.base}/status") as r:
        hq = (await r.json())["hq"]
    assert hq["configured"] is True and hq["problem"] is None and hq["link"] == "sin conexión"
    status, page = await coco.get("/tablero")
    assert "HQ sin configurar" not in page


async def test_a_full_disk_shows_a_banner_and_the_claimed_files(clerks, signed_in):
    """The scan service's `run/disk.json` says full (issue 21): the coordinator reads it in
    Spanish, /status and /metrics say so, and files left in .claimed/ are counted."""
    state = diskfull.StateFile(clerks.root / "run")
    waiting = clerks.scanner_folders()["scanner-1"] / ".claimed" / "tok" / "acta.jpg"
    waiting.parent.mkdir(parents=True)
    waiting.write_bytes(b"x")
    try:
        state.write({"state": "full", "path": str(clerks.blobs_dir), "needed_bytes": 3_000_000,
                     "since": "2026-06-07T22:00:00Z"})
        coco = await signed_in("coco")
        status, page = await coco.get("/tablero")
        assert status == 200
        assert "Disco lleno" in page and "3.0 MB" in page and "se reanuda solo" in page
        assert "Archivos tomados en espera" in page
        async with coco.session.get(f"{coco.base}/status") as r:
            disk = (await r.json())["disk"]
        assert disk["state"] == "full" and disk["needed_bytes"] == 3_000_000 and disk["claimed_waiting"] == 1
        _, metrics = await coco.get("/metrics")
        assert "catd_disk_full 1" in metrics and "catd_claimed_waiting 1" in metrics

        state.write({"state": "ok"})
        waiting.unlink()
        _, page = await coco.get("/tablero")
        assert "Disco lleno" not in page and "Archivos tomados en espera" not in page
    finally:
        state.close()
