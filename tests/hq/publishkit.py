"""A small second-form election shaped like CDMX 2024 (the vote fields of LEEME_G) and
hand-built ActaRecords carrying real classifications, for the release writer's tests.

The catalog: nine actas in two districts — básicas, contiguas, a casilla especial (S, lista
nominal 0), an acta of voto desde el extranjero (M), one whose ballot lacks the PAN–PRI–PRD
combinations — and one acta that never arrives. Registered: every class of Anexo 13 and one
acta outside the catalog.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from catd_node import actas, catalog
from catd_node.actas import ILEGIBLE, SIN_DATO, Value
from catd_node.catalog import Election
from hq.count import ActaRecord

PARTIES = ["PAN", "PRI", "PRD", "PVEM", "PT", "MC", "MORENA"]
COALITIONS = ["PAN_PRI_PRD", "PAN_PRI", "PAN_PRD", "PRI_PRD", "PVEM_PT_MORENA", "PVEM_PT", "PVEM_MORENA",
              "PT_MORENA"]
CONTROLS = ["TOTAL_BOLETAS_SOBRANTES", "TOTAL_PERSONAS_VOTARON", "TOTAL_REP_PARTIDO_CI_VOTARON",
            "TOTAL_VOTOS_SACADOS", "TOTAL_VOTOS_ASENTADO"]
VOTES = PARTIES + COALITIONS + ["NO_REGISTRADAS", "NULOS"]
NODE_1, NODE_2 = "CATD-09-01", "CATD-09-02"
FUERA = "090099B0100A02"
SHORT_BALLOT = [v for v in VOTES if v not in ("PAN_PRI_PRD", "PAN_PRI", "PAN_PRD", "PRI_PRD")]


def _acta(seccion: int, tipo: str, ident: int, distrito: int, lista: int, *, tipo_acta: str = "A02",
          ballot: list[str] | None = None) -> dict[str, Any]:
    key = f"09{seccion:04d}{tipo}{ident:02d}00{tipo_acta}"
    out: dict[str, Any] = {
        "clave_acta": key, "contest": "GUB", "seccion": seccion, "tipo_casilla": tipo, "id_casilla": ident,
        "ext_contigua": 0, "tipo_acta": tipo_acta, "distrito": distrito, "ubicacion": 1,
        "lista_nominal": lista, "representantes": 6, "catd": NODE_1 if distrito == 1 else NODE_2}
    if ballot is not None:
        out["ballot"] = ballot
    return out


def election_data() -> dict[str, Any]:
    kinds = {"NO_REGISTRADAS": "no_registrados", "NULOS": "nulos"}
    return {
        "form": 2, "election": "JEFATURA DE GOBIERNO", "entidad": {"id": 9, "nombre": "CIUDAD DE MÉXICO"},
        "release": "GUB_CDMX", "timezone": "UTC-6", "max_boletas_especial": 750,
        "contests": [{"id": "GUB", "name": "Jefatura de Gobierno",
                      "tipo_acta": ["A02", "A02E", "A01"],
                      "votes": [{"field": v, "kind": kinds.get(v, "coalicion" if "_" in v else "partido")}
                                for v in VOTES],
                      "controls": CONTROLS}],
        "actas": [
            _acta(10, "B", 1, 2, 612), _acta(10, "C", 1, 2, 611),
            _acta(1, "B", 1, 1, 500), _acta(1, "C", 1, 1, 499),
            _acta(2, "B", 1, 1, 700, ballot=SHORT_BALLOT),
            _acta(3, "S", 1, 1, 0, tipo_acta="A02E"),
            _acta(0, "M", 1, 1, 123, tipo_acta="A01"),
            _acta(11, "B", 1, 2, 450), _acta(11, "C", 1, 2, 450),
        ],
    }


def write_election(path: Path) -> Path:
    path.write_text(json.dumps(election_data(), ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def election() -> Election:
    return catalog.parse(election_data(), "test-election")


def key(seccion: int, tipo: str, tipo_acta: str = "A02") -> str:
    return f"09{seccion:04d}{tipo}0100{tipo_acta}"


def values(elect: Election, acta: str, **given: Value) -> dict[str, Value]:
    """Every field of the acta's ballot and the controls: 10 votes each unless given."""
    out: dict[str, Value] = {f: 10 for f in elect.ballot(acta)}
    out.update({c: 150 for c in CONTROLS})
    out.update(given)
    return out


def at(hhmmss: str) -> str:
    """A packet time on election night, 3 June 2024 UTC (= 2 June in UTC-6)."""
    return f"2024-06-03T{hhmmss}.250Z"


def record(elect: Election, acta: str, vals: dict[str, Value] | None, *, node: str = NODE_1,
           reason: str | None = None, origen: str = "CATD", digitalizacion: str = "ESCANER",
           mecanismo: str | None = None, tipo_documento: str = "ACTA PREP") -> ActaRecord:
    """A record as the count builds it, classified by the real rules."""
    if reason is not None:
        return ActaRecord(acta, node, True, actas.sin_acta(elect, acta, reason), {}, None,
                          at("02:10:00"), None, at("02:11:00"), None, None, None, mecanismo, (7,))
    assert vals is not None
    sha = f"{abs(hash(acta)) % 10**8:08d}".ljust(64, "a")
    return ActaRecord(acta, node, acta in elect.actas, actas.classify(elect, acta, vals), vals, sha,
                      at("02:01:02"), at("02:03:04"), at("02:05:06"), origen, digitalizacion,
                      tipo_documento, mecanismo, (3, 4, 5, 6))


def records(elect: Election) -> dict[str, ActaRecord]:
    """Every class of Anexo 13, one acta outside the catalog; one acta not yet arrived."""
    found = [
        record(elect, key(1, "B"), values(elect, key(1, "B"), PAN=ILEGIBLE, PRI=SIN_DATO)),   # counted, algún
        record(elect, key(1, "C"), values(elect, key(1, "C"), MORENA=900)),                   # excede
        record(elect, key(2, "B"), values(elect, key(2, "B"), MORENA=123), origen="CASILLA",
               digitalizacion="MOVIL", mecanismo="F"),                                       # short ballot
        record(elect, key(3, "S", "A02E"), values(elect, key(3, "S", "A02E"), MC=77)),       # especial
        record(elect, key(0, "M", "A01"), values(elect, key(0, "M", "A01"), **dict.fromkeys(VOTES, 5)),
               tipo_documento="ACTA VRME"),
        record(elect, key(10, "B"), None, node=NODE_2, reason="paquete_no_entregado"),        # sin acta
        record(elect, key(10, "C"), {**{f: ILEGIBLE for f in elect.ballot(key(10, "C"))},
                                     **{c: SIN_DATO for c in CONTROLS}}, node=NODE_2),      # todos
        record(elect, key(11, "B"), values(elect, key(11, "B")), node=NODE_2),
        record(elect, FUERA, values(elect, FUERA), node=NODE_2),                             # fuera
    ]
    return {r.key: r for r in found}
