"""`catd-hq export --csv`: one row per verified acta, with its integrity code and timeline."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from catd_node.catalog import Election
from catd_node.errors import EXIT_OK, BadInput
from hq.results import VerifiedActa, verified_actas
from hq.store import HQDir
from hq.store.base import Conn

FIXED = ["node", "acta", "seccion", "casilla", "contest", "class", "class_label"]
TAIL = ["total", "observations", "image_sha256", "digitized_at", "captured_at", "verified_at",
        "received_at"]


def fields(election: Election) -> list[str]:
    """Every contest's fields, in catalog order, once."""
    names: list[str] = []
    for contest in election.contests.values():
        names.extend(f for f in contest.fields if f not in names)
    return names


def _at(conn: Conn, sql: str, *args: Any) -> str:
    row = conn.execute(sql, args).fetchone()
    return str(row[0]) if row else ""


def row(conn: Conn, election: Election, item: VerifiedActa, names: list[str]) -> dict[str, Any]:
    spec = election.actas.get(item.acta)
    body = item.body
    image = body.get("image_sha256") if isinstance(body.get("image_sha256"), str) else ""
    digitized = _at(
        # blob_refs holds exactly each acta.digitized's body.image.sha256 (packets.blob_refs)
        conn, "SELECT p.at FROM blob_refs r JOIN packets p ON p.node = r.node AND p.seq = r.seq"
        " WHERE r.node = ? AND r.sha256 = ? AND p.kind = 'acta.digitized' ORDER BY p.seq LIMIT 1",
        item.node, image) if image else ""
    captured_seq = body.get("captured_seq")
    captured = _at(conn, "SELECT at FROM packets WHERE node = ? AND seq = ? AND kind = 'acta.captured'",
                   item.node, captured_seq) if isinstance(captured_seq, int) else ""
    if not captured:
        captured = _at(conn, "SELECT at FROM packets WHERE node = ? AND acta = ? AND kind = 'acta.captured'"
                       " AND seq < ? ORDER BY seq DESC LIMIT 1", item.node, item.acta, item.seq)
    raw_values = body.get("values")
    values: dict[str, Any] = raw_values if isinstance(raw_values, dict) else {}
    cls = item.classification
    out: dict[str, Any] = {
        "node": item.node, "acta": item.acta,
        "seccion": spec.seccion if spec else "", "casilla": spec.casilla if spec else "",
        "contest": spec.contest if spec else "", "class": cls.cls, "class_label": cls.label,
    }
    for name in names:
        value = values.get(name, "")
        out[name] = value if isinstance(value, int | str) else json.dumps(value)
    out.update({
        "total": cls.total, "observations": cls.published_observations, "image_sha256": image,
        "digitized_at": digitized, "captured_at": captured, "verified_at": item.verified_at,
        "received_at": item.received_at,
    })
    return out


def write(conn: Conn, election: Election, out: TextIO) -> int:
    names = fields(election)
    writer = csv.DictWriter(out, fieldnames=FIXED + names + TAIL, lineterminator="\n")
    writer.writeheader()
    count = 0
    for item in verified_actas(conn, election):
        writer.writerow(row(conn, election, item, names))
        count += 1
    return count


def main(hq: HQDir, target: Path) -> int:
    election = hq.election()
    if election is None:
        raise BadInput(str(hq.election_path), "HQ has no election catalog (catd-hq init --election FILE)")
    conn = hq.connect()
    try:
        if str(target) == "-":
            count = write(conn, election, sys.stdout)
        else:
            with target.open("w", encoding="utf-8", newline="") as out:
                count = write(conn, election, out)
    except OSError as exc:
        raise BadInput(str(target), f"cannot write ({exc.strerror})") from exc
    finally:
        conn.close()
    if str(target) != "-":
        print(f"exported {count} actas to {target}", file=sys.stderr)
    return EXIT_OK
