"""A release that `catd-hq publish` wrote, for the rehearsal's end-to-end tests.

Three CATDs of a made-up Jefatura de Gobierno (ballots differ by district: some coalitions are
`-`), a few hundred actas of every class — counted, with an unreadable field, above the
lista nominal, all unreadable, sin acta (each reason), fuera de catálogo — arriving by scanner
and by phone (at the CATD and at the casilla), with mecanismos and document types. Each
node's chain is written as its procedure would (acopio, digitized, captured, verified; the
coordinator's sin acta; an unidentified image assigned), delivered by real `catd-node sync
--once` to a real `catd-hq serve`, and the cut made by `catd-hq publish --final`.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

from catd_node import actas
from catd_node.catalog import infer_kind
from catd_node.datadir import DataDir
from hq import store as hq_store
from simulacro import sheet
from tests.hqkit import HQProcess, make_node, with_hq_urls

VOTES = ("PAN", "PRI", "PRD", "PVEM", "PT", "MC", "MORENA", "PAN_PRI_PRD", "PAN_PRI", "PAN_PRD", "PRI_PRD",
         "PVEM_PT_MORENA", "PVEM_PT", "PVEM_MORENA", "PT_MORENA", "NO_REGISTRADAS", "NULOS")
CONTROLS = ("TOTAL_BOLETAS_SOBRANTES", "TOTAL_PERSONAS_VOTARON", "TOTAL_REP_PARTIDO_CI_VOTARON",
            "TOTAL_VOTOS_SACADOS", "TOTAL_VOTOS_ASENTADO")
OFF_BALLOT = {1: (), 2: ("PAN_PRI", "PAN_PRD", "PRI_PRD"), 3: ("PVEM_PT", "PVEM_MORENA", "PT_MORENA")}
FUERA = ("090777B0100A02", "090778C0100A02")
REASONS = tuple(actas.SIN_ACTA_REASONS)
PHONE, SCANNER = {"kind": "upload", "id": "telefono-1"}, {"kind": "scanner", "id": "scanner-1"}


def election(per_district: int) -> dict[str, Any]:
    """The second-form election: `per_district` actas in each of 3 districts, one CATD each."""
    rng = random.Random(11)
    rows = []
    seccion = 100
    for district in (1, 2, 3):
        for n in range(per_district):
            seccion += 1 if n % 3 == 0 else 0
            tipo = "S" if n % 37 == 5 else ("E" if n % 23 == 7 else ("B" if n % 3 == 0 else "C"))
            ident = 1 + n % 3
            acta: dict[str, Any] = {
                "clave_acta": f"09{seccion:04d}{tipo}{ident:02d}00{'A02E' if tipo == 'S' else 'A02'}",
                "contest": "GUB", "seccion": seccion, "tipo_casilla": tipo, "id_casilla": ident,
                "ext_contigua": 0, "tipo_acta": "A02E" if tipo == "S" else "A02", "distrito": district,
                "municipio": None, "ubicacion": 1 + (n % 5 == 0),
                "lista_nominal": 0 if tipo == "S" else rng.randint(250, 700),
                "representantes": rng.randint(0, 14), "catd": f"CATD-09-{district:02d}"}
            if OFF_BALLOT[district]:
                acta["ballot"] = [v for v in VOTES if v not in OFF_BALLOT[district]]
            rows.append(acta)
    return {"form": 2, "election": "JEFATURA DE GOBIERNO", "entidad": {"id": 9, "nombre": "CIUDAD DE MÉXICO"},
            "release": "GUB_CDMX", "timezone": "UTC-6", "max_boletas_especial": 750,
            "contests": [{"id": "GUB", "name": "Jefatura de Gobierno", "tipo_acta": ["A02", "A02E"],
                          "votes": [{"field": v, "kind": infer_kind(v)} for v in VOTES],
                          "controls": list(CONTROLS)}],
            "actas": rows}


def _values(rng: random.Random, ballot: tuple[str, ...], ceiling: int, kind: str) -> dict[str, Any]:
    if kind == "todos":
        return {**{f: rng.choice([actas.ILEGIBLE, actas.SIN_DATO]) for f in ballot},
                **{c: rng.randint(0, 300) for c in CONTROLS}}
    budget = ceiling + rng.randint(5, 60) if kind == "excede" else rng.randint(0, max(0, ceiling - 20))
    weights = [rng.random() ** 3 for _ in ballot]
    scale = budget / (sum(weights) or 1)
    values: dict[str, Any] = {f: int(w * scale) for f, w in zip(ballot, weights, strict=True)}
    if kind == "excede":
        values[ballot[0]] += budget - sum(values.values())
    if kind == "algun":
        values[rng.choice(ballot)] = rng.choice([actas.ILEGIBLE, actas.SIN_DATO])
    total = sum(v for v in values.values() if isinstance(v, int))
    controls = {"TOTAL_BOLETAS_SOBRANTES": rng.randint(0, 400), "TOTAL_PERSONAS_VOTARON": total,
                "TOTAL_REP_PARTIDO_CI_VOTARON": rng.randint(0, 6), "TOTAL_VOTOS_SACADOS": total,
                "TOTAL_VOTOS_ASENTADO": total + rng.choice([0, 0, 0, 1, -1])}
    if rng.random() < 0.1:
        controls[rng.choice(CONTROLS)] = rng.choice([actas.ILEGIBLE, actas.SIN_DATO])
    return {**values, **controls}


class Reporter:
    """Writes one node's chain as its procedure would."""

    def __init__(self, node: DataDir, rng: random.Random) -> None:
        self.node, self.rng, self.ledger = node, rng, node.ledger()
        self.blobs = node.blobs()

    def acta(self, key: str, values: dict[str, Any], in_catalog: bool = True) -> None:
        rng = self.rng
        tipo = rng.choice(["ACTA PREP"] * 8 + ["RPP", "CC"])
        self.ledger.append("acta.acopio", {"acta": key, "by": "caro", "in_catalog": in_catalog,
                                           "mecanismo_traslado": rng.choice(["D", "F", "I", None]),
                                           "tipo_documento": tipo})
        phone = rng.random() < 0.3
        origen = "CASILLA" if phone and rng.random() < 0.6 else "CATD"
        image = sheet.render(sheet.Sheet(key, "JEFATURA DE GOBIERNO", ()))
        sha = self.blobs.put(image)
        self.ledger.append("acta.digitized", {
            "image": {"sha256": sha, "bytes": len(image), "format": "png", "width": 360, "height": 104,
                      "dpi": 100},
            "original": {"sha256": sha, "bytes": len(image), "name": f"{key}.png"},
            "source": PHONE if phone else SCANNER,
            "acta": key if in_catalog else None, "identified_by": "qr" if in_catalog else None, "page": 1,
            "origen": origen, "digitalizacion": "MOVIL" if phone else "ESCANER"})
        if not in_catalog:
            self.ledger.append("acta.assigned", {"acta": key, "image_sha256": sha, "by": "ana"})
        captured = self.ledger.append("acta.captured", {"acta": key, "image_sha256": sha, "values": values,
                                                        "by": "ana", "round": 1})
        self.ledger.append("acta.captured", {"acta": key, "image_sha256": sha, "values": values,
                                             "by": "beto", "round": 2})
        result = actas.classify(self.node.election, key, values)
        self.ledger.append("acta.verified", {
            "acta": key, "image_sha256": sha, "values": values, "class": result.cls,
            "observations": list(result.observations), "total": result.total,
            "captured_seq": captured.seq, "by": "beto"})

    def sin_acta(self, key: str, reason: str) -> None:
        self.ledger.append("acta.sin_acta", {"acta": key, "reason": reason, "by": "coordinador"})

    def close(self) -> None:
        self.ledger.close()


def build(root: Path, per_district: int = 80, seed: int = 5) -> Path:
    """Write the election, report every acta, sync, publish; return the cut's zip."""
    rng = random.Random(seed)
    root.mkdir(parents=True)
    election_path = root / "election.json"
    election_path.write_text(json.dumps(election(per_district), ensure_ascii=False), encoding="utf-8")
    hq = hq_store.init(root / "hq", election_path)
    nodes = {f"CATD-09-{d:02d}": make_node(root / f"node-{d}", hq, f"CATD-09-{d:02d}", election_path)
             for d in (1, 2, 3)}
    reporters = {n: Reporter(node, rng) for n, node in nodes.items()}
    try:
        the_election = next(iter(nodes.values())).election
        for i, (key, spec) in enumerate(the_election.actas.items()):
            reporter = reporters[spec.catd or ""]
            if i % 29 == 3:
                reporter.sin_acta(key, REASONS[(i // 29) % len(REASONS)])
                continue
            kind = ("excede" if i % 31 == 8 else "todos" if i % 41 == 9 else "algun" if i % 9 == 4
                    else "contada")
            ceiling = actas.ceiling(the_election, key) or 0
            reporter.acta(key, _values(rng, the_election.ballot(key), ceiling, kind))
        for n, key in enumerate(FUERA):
            reporters[f"CATD-09-{n + 1:02d}"].acta(
                key, _values(rng, the_election.contests["GUB"].votes, 400, "contada"), in_catalog=False)
    finally:
        for reporter in reporters.values():
            reporter.close()
    server = HQProcess(hq, root / "hq-serve.log")
    server.start(0)
    try:
        for node in nodes.values():
            node = with_hq_urls(node, [server.url])
            done = subprocess.run([sys.executable, "-m", "catd_node.cli", "sync", "--once", "-d",
                                   str(node.root)], capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stderr[-2000:]
    finally:
        server.stop()
    done = subprocess.run([sys.executable, "-m", "hq.cli", "-d", str(hq.root), "publish", "--final"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return Path(done.stdout.strip().splitlines()[-1])
