"""Which phones may upload: learnt from each node's chain as HQ holds it (`device.added`
with `pubkey`, `device.revoked`), never from a side channel."""

from __future__ import annotations

from dataclasses import dataclass

from catd_node import canonical
from hq.store.base import Conn

KINDS = ("device.added", "device.revoked")


@dataclass(frozen=True)
class Device:
    node: str
    device: str
    pubkey: str | None   # base64 raw Ed25519 key; None: a LAN token device (cannot sign)
    added_seq: int
    revoked_seq: int | None
    by: str


def devices_of(conn: Conn, node: str) -> dict[str, Device]:
    """Every device `node`'s chain enrolled, with its latest state."""
    rows = conn.execute(
        "SELECT seq, kind, canonical FROM packets WHERE kind IN (?, ?) AND node = ? ORDER BY seq",
        (*KINDS, node)).fetchall()
    found: dict[str, Device] = {}
    for seq, kind, raw in rows:
        body = canonical.decode(bytes(raw))["body"]
        name = str(body["device"])
        if kind == "device.added":
            found[name] = Device(node, name, body.get("pubkey"), int(seq), None, str(body["by"]))
        elif name in found:
            old = found[name]
            found[name] = Device(node, name, old.pubkey, old.added_seq, int(seq), old.by)
    return found


def device(conn: Conn, node: str, name: str) -> Device | None:
    return devices_of(conn, node).get(name)
