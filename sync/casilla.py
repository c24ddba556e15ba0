"""The node's side of PREP Casilla: after each drain, pull from HQ the casilla photos of this
CATD's actas — and, for a node the catalog names capture centre (`ccv`) of a district, those
of that district's actas — (a node-signed request) and record each as `acta.digitized` — origen CASILLA,
digitalizacion MOVIL, identified_by casilla, the phone's signed statement included — so the
clerks capture and verify it blind like any other image (docs/casilla.md).

The phone's signature is checked again here against the device key this node's own chain
enrolled (a CCV: the key HQ gives, from the chain of the acta's CATD, which the release
verifiers check against that chain); a photo whose statement does not verify, whose device
was revoked, or whose acta this node does not capture is skipped with a log line (HQ never
offers such a one)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import logging
import sqlite3
from typing import Any

from catd_node import canonical, packets
from catd_node.datadir import DataDir
from sync import casilla_protocol as cp
from sync import protocol
from sync.policy import Retryable
from sync.transport import HQ, LaneStopped

log = logging.getLogger("catd.sync.casilla")


def _headers(hq: HQ, after: int) -> dict[str, str]:
    date = str(int(hq.wall_clock() + hq.clock_offset))
    sig = hq.node_key.sign(cp.pull_message(hq.node, date, str(after)))
    return {protocol.NODE_HEADER: hq.node, protocol.DATE_HEADER: date,
            protocol.SIGNATURE_HEADER: base64.b64encode(sig).decode("ascii")}


def _cursor(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(hq_id), 0) FROM sync_casilla").fetchone()[0])


def device_keys(conn: sqlite3.Connection) -> dict[str, str | None]:
    """This node's enrolled casilla devices → pubkey (None once revoked)."""
    found: dict[str, str | None] = {}
    for kind, raw in conn.execute("SELECT kind, canonical FROM packets WHERE kind IN"
                                  " ('device.added', 'device.revoked') ORDER BY seq"):
        body = canonical.decode(bytes(raw))["body"]
        found[body["device"]] = body.get("pubkey") if kind == "device.added" else None
    return found


def image_part(data: bytes) -> dict[str, Any]:
    """format, width, height, dpi of the phone's photo as sent (its bytes are kept as they are)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        dpi = img.info.get("dpi", (0, 0))[0]
        return {"format": (img.format or "unknown").lower(), "width": int(img.width),
                "height": int(img.height), "dpi": round(float(dpi or 0))}


def digitized_body(st: dict[str, Any], statement: bytes, sig: str, data: bytes) -> dict[str, Any]:
    return {
        "image": {"sha256": st["sha256"], "bytes": len(data), **image_part(data)},
        "original": {"sha256": st["sha256"], "bytes": len(data), "name": f"casilla-{st['acta']}.img"},
        "source": {"kind": "upload", "id": st["device"]},
        "acta": st["acta"],
        "identified_by": "casilla",
        "origen": "CASILLA",
        "digitalizacion": "MOVIL",
        "casilla": {"statement": base64.b64encode(statement).decode("ascii"), "sig": sig},
    }


def record(datadir: DataDir, photos: list[dict[str, Any]]) -> int:
    """Record the pulled photos not seen before; how many became acta.digitized."""
    blobs = datadir.blobs()
    election = datadir.election
    node = datadir.config.node_id
    ledger = datadir.ledger()
    added = 0
    try:
        keys = device_keys(ledger.conn)
        for item in photos:
            try:
                statement = base64.b64decode(item["statement"], validate=True)
                data = base64.b64decode(item["image"], validate=True)
                st = cp.parse_statement(statement)
            except (KeyError, binascii.Error, ValueError) as exc:
                log.warning("casilla photo skipped id=%s reason=bad_form detail=%s", item.get("id"), exc)
                continue
            why = None
            if st["node"] == node:
                pubkey = keys.get(st["device"])
                if st["acta"] not in election.actas_of(node):
                    why = cp.FUERA_DE_CATD
                elif pubkey is None:
                    why = cp.DEVICE_REVOKED if st["device"] in keys else cp.UNKNOWN_DEVICE
            else:  # as its district's capture centre: the phone is its CATD's
                pubkey = item.get("device_key") if isinstance(item.get("device_key"), str) else None
                acta = st["acta"]
                if election.ccv_of(acta) != node or election.owner(acta) not in (st["node"], None):
                    why = cp.FUERA_DE_CATD
                elif pubkey is None:
                    why = cp.UNKNOWN_DEVICE
            if why is None and not cp.check_statement_signature(pubkey or "", statement, str(item["sig"])):
                why = cp.BAD_STATEMENT_SIGNATURE
            elif why is None and (len(data) != st["bytes"]
                                  or hashlib.sha256(data).hexdigest() != st["sha256"]):
                why = cp.HASH_MISMATCH
            if why is not None:
                log.warning("casilla photo skipped id=%s acta=%s reason=%s", item["id"], st["acta"], why)
                continue
            blobs.put(data)
            with ledger.transaction() as tx:
                if tx.conn.execute("SELECT 1 FROM sync_casilla WHERE hq_id = ?", (item["id"],)).fetchone():
                    continue
                packet = tx.append("acta.digitized", digitized_body(st, statement, str(item["sig"]), data))
                tx.conn.execute("INSERT INTO sync_casilla (hq_id, sha256, acta, seq, pulled_at)"
                                " VALUES (?, ?, ?, ?, ?)",
                                (item["id"], st["sha256"], st["acta"], packet.seq, packets.now()))
            added += 1
            log.info("casilla photo recorded acta=%s sha=%s device=%s seq=%d", st["acta"], st["sha256"][:16],
                     st["device"], packet.seq)
    finally:
        ledger.close()
    return added


def cursor(datadir: DataDir) -> int:
    ledger = datadir.ledger()
    try:
        return _cursor(ledger.conn)
    finally:
        ledger.close()


async def pull(datadir: DataDir, hq: HQ) -> int:
    """Pull every casilla photo HQ holds for this node after the last one recorded."""
    import asyncio

    after = await asyncio.to_thread(cursor, datadir)
    total = 0
    while True:
        answer = await hq._request("GET", f"{cp.PULL_PATH}?after={after}", headers=_headers(hq, after))
        if answer.status == 404:  # an HQ without the casilla path
            return total
        if answer.status != 200:
            raise hq._refusal(answer, "casilla")
        doc = answer.json()
        photos = doc.get("photos") if isinstance(doc, dict) else None
        if not isinstance(photos, list):
            raise LaneStopped("casilla lane", "HQ's pull answer has no photos list")
        if not photos:
            return total
        total += await asyncio.to_thread(record, datadir, photos)
        after = max(int(p["id"]) for p in photos)


async def pull_quietly(datadir: DataDir, hq: HQ) -> int:
    """`pull`, logging instead of raising: the casilla lane never stops the packet lane."""
    try:
        return await pull(datadir, hq)
    except (Retryable, LaneStopped) as exc:
        log.warning("casilla pull failed reason=%s", getattr(exc, "reason", None) or exc)
        return 0
