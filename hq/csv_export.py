"""`catd-hq export --csv`: one row per registered acta as HQ counts it (`hq.count`), with its
integrity code, its timeline and the node packets behind it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

from catd_node import csvsafe
from catd_node.actas import NOT_ON_BALLOT
from catd_node.catalog import Election
from catd_node.errors import EXIT_OK, BadInput
from hq import store as hq_store
from hq.count import SIN_ACTA, VERIFIED, ActaRecord, count
from hq.store import HQDir
from hq.store.base import Conn, snapshot

FIXED = ["node", "acta", "in_catalog", "seccion", "casilla", "contest", "class", "class_label",
         "contabilizada"]
TAIL = ["total", "observations", "image_sha256", "origen", "digitalizacion", "tipo_documento",
        "mecanismo_traslado", "acopio_at", "digitized_at", "captured_at", "verified_at", "received_at",
        "evidence"]
_TIMED = ("acta.digitized", VERIFIED, SIN_ACTA)


def fields(election: Election) -> list[str]:
    """Every contest's fields, in catalog order, once."""
    names: list[str] = []
    for contest in election.contests.values():
        names.extend(f for f in contest.fields if f not in names)
    return names


def row(election: Election, record: ActaRecord, names: list[str],
        times: dict[tuple[str, int], tuple[str, str, str]]) -> dict[str, Any]:
    spec = election.actas.get(record.key)
    contest = election.contest_of(record.key) or election.contest_for_unknown(record.key)
    cls = record.classification
    out: dict[str, Any] = {
        "node": record.node, "acta": record.key, "in_catalog": int(record.in_catalog),
        "seccion": spec.seccion if spec else "", "casilla": spec.casilla if spec else "",
        "contest": contest.id if contest else "", "class": cls.cls, "class_label": cls.label,
        "contabilizada": cls.contabilizada,
    }
    ballot = election.ballot(record.key)
    for name in names:
        value = record.values.get(name, "")
        if name not in record.values and record.values and contest is not None \
                and name in contest.kinds and name not in ballot:
            value = NOT_ON_BALLOT
        out[name] = value if isinstance(value, int | str) else json.dumps(value)
    digitized_at = received_at = ""
    for seq in record.evidence:
        kind, at, received = times.get((record.node, seq), ("", "", ""))
        if kind == "acta.digitized":
            digitized_at = at
        elif kind in (VERIFIED, SIN_ACTA):
            received_at = received  # the last report in the evidence is the one in force
    out.update({
        "total": cls.total, "observations": cls.published_observations,
        "image_sha256": record.image_sha256 or "", "origen": record.origen or "",
        "digitalizacion": record.digitalizacion or "", "tipo_documento": record.tipo_documento or "",
        "mecanismo_traslado": record.mecanismo_traslado or "", "acopio_at": record.acopio_at or "",
        "digitized_at": digitized_at, "captured_at": record.captured_at or "",
        "verified_at": record.verified_at or "", "received_at": received_at,
        "evidence": " ".join(str(seq) for seq in record.evidence),
    })
    return out


def write(conn: Conn, election: Election, out: TextIO) -> int:
    names = fields(election)
    writer = csvsafe.dict_writer(out, FIXED + names + TAIL)  # formula-looking text neutralised
    writer.writeheader()
    with snapshot(conn):  # the count and the packet times from one snapshot
        counted = count(conn, election)
        times = hq_store.packet_times(conn, _TIMED)
    for record in counted.actas.values():
        writer.writerow(row(election, record, names, times))
    return len(counted.actas)


def main(hq: HQDir, target: Path) -> int:
    election = hq.election()
    if election is None:
        raise BadInput(str(hq.election_path), "HQ has no election catalog (catd-hq init --election FILE)")
    conn = hq.connect()
    try:
        if str(target) == "-":
            exported = write(conn, election, sys.stdout)
        else:
            with target.open("w", encoding="utf-8", newline="") as out:
                exported = write(conn, election, out)
    except OSError as exc:
        raise BadInput(str(target), f"cannot write ({exc.strerror})") from exc
    finally:
        conn.close()
    if str(target) != "-":
        print(f"exported {exported} actas to {target}", file=sys.stderr)
    return EXIT_OK
