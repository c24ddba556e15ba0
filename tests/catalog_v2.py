"""A second-form election catalog for tests (docs/election-file.md): one contest of 31 vote
fields in ballot order — 12 parties, 13 coalition combinations, 4 independents, NO_REGISTRADAS,
NULOS — five controls, and eleven actas split between two CATDs, whose ballots omit some
combinations (a field not on an acta's ballot publishes as `-`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ENTIDAD = 9
OWN = "CATD-09-01"
OTHER = "CATD-09-02"
PARTIES = ("PAN", "PRI", "PRD", "PVEM", "PT", "MC", "MORENA", "PES", "RSP", "FXM", "PANAL", "PMP")
COALITIONS = ("PAN_PRI_PRD", "PAN_PRI", "PAN_PRD", "PRI_PRD",
              "PVEM_PT_MORENA", "PVEM_PT", "PVEM_MORENA", "PT_MORENA",
              "PES_RSP_FXM", "PES_RSP", "PES_FXM", "RSP_FXM", "MC_PANAL")
INDEPENDENTS = ("CAND_IND_1", "CAND_IND_2", "CAND_IND_3", "CAND_IND_4")
OTHERS = (("NO_REGISTRADAS", "no_registrados"), ("NULOS", "nulos"))
CONTROLS = ("TOTAL_BOLETAS_SOBRANTES", "TOTAL_PERSONAS_VOTARON", "TOTAL_REP_PARTIDO_CI_VOTARON",
            "TOTAL_VOTOS_SACADOS", "TOTAL_VOTOS_ASENTADO")
VOTES = PARTIES + COALITIONS + INDEPENDENTS + tuple(name for name, _ in OTHERS)

# The acta of the 30-field ballot: every vote field but MC_PANAL (not registered in district 1).
THIRTY = "090001B0100A02"
NOT_ON_THIRTY = "MC_PANAL"
# An acta whose ballot also lacks the PES_RSP_FXM combinations and two independents.
SHORT = "090002B0100A02"
SHORT_MISSING = ("PES_RSP_FXM", "PES_RSP", "PES_FXM", "RSP_FXM", "MC_PANAL", "CAND_IND_3", "CAND_IND_4")
FOREIGN = "090101B0100A02"   # collected by CATD-09-02


ANTICIPADO = "090000A0100A01VA"   # voto anticipado: sección 0, its own TIPO_ACTA


def _acta(seccion: int, tipo: str, distrito: int, catd: str, ballot: tuple[str, ...],
          lista_nominal: int = 600, tipo_acta: str = "A02") -> dict[str, Any]:
    return {"clave_acta": f"{ENTIDAD:02d}{seccion:04d}{tipo}0100{tipo_acta}", "contest": "GUB",
            "seccion": seccion, "tipo_casilla": tipo, "id_casilla": 1, "ext_contigua": 0,
            "tipo_acta": tipo_acta, "distrito": distrito, "municipio": None, "ubicacion": 1,
            "lista_nominal": 0 if tipo == "S" else lista_nominal, "representantes": 0,
            "ballot": list(ballot), "catd": catd}


def build() -> dict[str, Any]:
    thirty = tuple(f for f in VOTES if f != NOT_ON_THIRTY)
    short = tuple(f for f in VOTES if f not in SHORT_MISSING)
    actas = [
        _acta(1, "B", 1, OWN, thirty), _acta(1, "C", 1, OWN, thirty, 601),
        _acta(2, "B", 1, OWN, short), _acta(2, "C", 1, OWN, short, 598),
        _acta(3, "B", 1, OWN, thirty, 700), _acta(3, "S", 1, OWN, thirty),
        _acta(0, "A", 1, OWN, thirty, 40, "A01VA"),
        _acta(101, "B", 2, OTHER, VOTES), _acta(101, "C", 2, OTHER, VOTES, 599),
        _acta(102, "B", 2, OTHER, short), _acta(102, "C", 2, OTHER, short, 597),
    ]
    kinds = ([(p, "partido") for p in PARTIES] + [(c, "coalicion") for c in COALITIONS]
             + [(i, "independiente") for i in INDEPENDENTS] + list(OTHERS))
    return {
        "form": 2, "election": "JEFATURA DE GOBIERNO (PRUEBA)",
        "entidad": {"id": ENTIDAD, "nombre": "CIUDAD DE MÉXICO"}, "release": "GUB_CDMX",
        "timezone": "UTC-6", "max_boletas_especial": 750,
        "contests": [{"id": "GUB", "name": "Jefatura de Gobierno", "tipo_acta": ["A02", "A01VA"],
                      "votes": [{"field": f, "kind": k} for f, k in kinds],
                      "controls": list(CONTROLS)}],
        "actas": actas,
    }


def write(path: Path) -> Path:
    path.write_text(json.dumps(build(), ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def values(ballot: tuple[str, ...] | list[str], seed: int = 1) -> dict[str, str]:
    """Typed values for every field of a ballot and the controls (as a clerk types them)."""
    out = {f: str((seed * 7 + i * 3) % 20) for i, f in enumerate(ballot)}
    total = sum(int(v) for v in out.values())
    out.update({"TOTAL_BOLETAS_SOBRANTES": str(600 - total), "TOTAL_PERSONAS_VOTARON": str(total),
                "TOTAL_REP_PARTIDO_CI_VOTARON": "0", "TOTAL_VOTOS_SACADOS": str(total),
                "TOTAL_VOTOS_ASENTADO": str(total)})
    return out
