"""How the system words what people read: vote fields as the acta prints them, coalitions,
casillas, acta classes and official times. One module, so the public site and the clerk's
capture screens say the same thing about the same acta.

Pure functions of the catalog's data; no I/O. Labels taken from the election file (a vote
field's `label`, docs/election-file.md) win over the defaults here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from catd_node import actas

if TYPE_CHECKING:
    from catd_node.catalog import ActaSpec, Contest, Election

# Coalitions as INE's and the OPLEs' sites spell them: parties joined by an en dash.
COALITION_SEP = " – "
# Vote and control fields as the 2024 actas print them (upper case, as on the paper).
FIELD_LABELS = {
    "NO_REGISTRADAS": "CANDIDATURAS NO REGISTRADAS", "NO_REGISTRADOS": "CANDIDATURAS NO REGISTRADAS",
    "CNR": "CANDIDATURAS NO REGISTRADAS", "NULOS": "VOTOS NULOS",
    "TOTAL_VOTOS_CALCULADO": "TOTAL DE VOTOS CALCULADO", "TOTAL_VOTOS_CALCULADOS": "TOTAL DE VOTOS CALCULADO",
}
# The controls, under each name the election files of 2018–2024 give them.
_ASENTADO = "TOTAL DE VOTOS ASENTADO EN EL ACTA"
_PERSONAS = "TOTAL DE PERSONAS QUE VOTARON"
_REPRESENTANTES = "REPRESENTANTES DE PARTIDOS Y CANDIDATURAS INDEPENDIENTES QUE VOTARON"
_SOBRANTES = "BOLETAS SOBRANTES"
_SACADOS = "TOTAL DE VOTOS SACADOS DE LA URNA"
CONTROL_LABELS = {
    "TOTAL_VOTOS_ASENTADO": _ASENTADO, "TOTAL_ASENTADO": _ASENTADO, "VOTOS_ASENTADOS": _ASENTADO,
    "TOTAL_PERSONAS_VOTARON": _PERSONAS, "PERSONAS_VOTARON": _PERSONAS,
    "TOTAL_REP_PARTIDO_CI_VOTARON": _REPRESENTANTES, "REPRESENTANTES_VOTARON": _REPRESENTANTES,
    "REPRESENTANTES_PP_CI": _REPRESENTANTES, "REPRESENTANTES": _REPRESENTANTES,
    "TOTAL_BOLETAS_SOBRANTES": _SOBRANTES, "BOLETAS_SOBRANTES": _SOBRANTES,
    "TOTAL_VOTOS_SACADOS": _SACADOS, "VOTOS_SACADOS": _SACADOS,
}
FIELD_LABELS.update(CONTROL_LABELS)
# The same, for a reader rather than a transcriber (public site sentences and tables).
_CNR = "Candidaturas no registradas"
READER_LABELS = {"NO_REGISTRADAS": _CNR, "NO_REGISTRADOS": _CNR, "CNR": _CNR, "NULOS": "Votos nulos"}
# TIPO_CASILLA (LEEME 2024, CLAVE_CASILLA).
CASILLA_TYPES = {
    "B": "Básica", "C": "Contigua", "E": "Extraordinaria", "S": "Especial",
    "M": "Voto desde el extranjero", "A": "Voto anticipado", "P": "Prisión preventiva",
    "V": "Voto electrónico",
}
# Sección 0000 holds the mesas that belong to no sección: named for what they are.
SECCION_CERO = {"M": "Voto desde el extranjero", "A": "Voto anticipado", "P": "Prisión preventiva"}
# The acta classes as a reader is told them (the short CLASS_LABELS stay for tables).
CLASS_NAMES = {
    actas.COUNTED: "Contabilizada",
    actas.ALL_UNREADABLE: "No contabilizada: todos los campos ilegibles o sin dato",
    actas.EXCEEDS_NOMINAL: "No contabilizada: los votos exceden la lista nominal",
    actas.OUT_OF_CATALOG: "Fuera de catálogo: no corresponde a una casilla aprobada",
    actas.SIN_ACTA: "Sin acta",
}


def coalition(field: str) -> str:
    """`PVEM_PT_MORENA` → `PVEM – PT – MORENA`; `C_PAN_PRD` → `PAN – PRD`; `PAN` → `PAN`."""
    name = field[2:] if field.startswith("C_") else field
    return COALITION_SEP.join(part for part in name.split("_") if part)


def independent(field: str) -> str:
    """`CAND_IND_1` → `CANDIDATURA INDEPENDIENTE 1`."""
    number = field.rsplit("_", 1)[-1]
    return f"CANDIDATURA INDEPENDIENTE {number}" if number.isdigit() else "CANDIDATURA INDEPENDIENTE"


def field_label(name: str, kind: str | None = None, contest: Contest | None = None) -> str:
    """A vote or control field as the acta prints it: the election file's `label` when it
    gives one, else `PAN – PRI – PRD`, `VOTOS NULOS`, `TOTAL DE VOTOS ASENTADO EN EL ACTA`."""
    if contest is not None:
        for f in contest.vote_fields:
            if f.name == name:
                if f.label:
                    return f.label
                kind = kind or f.kind
        if name in contest.controls:   # a control is never a coalition of its words
            return CONTROL_LABELS.get(name, name.replace("_", " "))
    if name in FIELD_LABELS:
        return FIELD_LABELS[name]
    if kind == "no_registrados":
        return "CANDIDATURAS NO REGISTRADAS"
    if kind == "nulos":
        return "VOTOS NULOS"
    if kind == "independiente" or name.startswith(("CAND_IND", "CI_", "IND_")):
        return independent(name)
    if kind in (None, "partido", "coalicion"):
        return coalition(name) if kind != "partido" else name
    return name.replace("_", " ")


def reader_label(name: str, kind: str | None = None, contest: Contest | None = None) -> str:
    """A field for a sentence or a table of the public site: `Votos nulos`, `PAN – PRI – PRD`."""
    if name in READER_LABELS:
        return READER_LABELS[name]
    label = field_label(name, kind, contest)
    return label.capitalize() if label.startswith("CANDIDATURA INDEPENDIENTE") else label


def casilla_type(tipo: str) -> str:
    return CASILLA_TYPES.get(tipo, f"Casilla {tipo}")


def seccion(spec: ActaSpec) -> str:
    """`Sección 0056`; sección 0000 by what it holds (`Voto anticipado`)."""
    if spec.seccion == 0 and spec.tipo_casilla in SECCION_CERO:
        return SECCION_CERO[spec.tipo_casilla]
    return f"Sección {spec.seccion:04d}"


def casilla(spec: ActaSpec) -> str:
    """`Básica 01`, `Contigua 02`, `Extraordinaria 01 · Contigua 03`; the mesas of sección 0000
    (voto desde el extranjero, anticipado) `Mesa 06`: their sección already says what they are."""
    if not spec.id_casilla and len(spec.casilla) >= 3 and spec.casilla[1:3].isdigit():
        number = int(spec.casilla[1:3])   # the first form: "B01"
    else:
        number = spec.id_casilla
    mesa = spec.seccion == 0 and spec.tipo_casilla in SECCION_CERO
    kind = "Mesa" if mesa else casilla_type(spec.tipo_casilla)
    words = f"{kind} {number:02d}"
    if spec.ext_contigua:
        words += f" · Contigua {spec.ext_contigua:02d}"
    return words


def area(spec: ActaSpec, election: Election | None = None) -> str:
    """`Distrito 03` (its name from the election file when it has one), `Municipio 012`."""
    if spec.distrito is not None and spec.distrito != 0:
        names = election.distritos if election is not None else {}
        return names.get(spec.distrito) or f"Distrito {spec.distrito:02d}"
    if spec.municipio is not None:
        return f"Municipio {spec.municipio:03d}"
    return ""


def casilla_words(spec: ActaSpec, election: Election | None = None) -> str:
    """`Sección 0056 · Básica 01 · Distrito 03` — the casilla as a voter says it."""
    parts = [seccion(spec), casilla(spec), area(spec, election)]
    return " · ".join(p for p in parts if p)


def class_name(cls: str) -> str:
    return CLASS_NAMES.get(cls, actas.CLASS_LABELS.get(cls, cls))


def official_time(moment: datetime, election: Election) -> str:
    """`07/06/2026 19:05 (UTC-6)`: a time in the election's official zone and the
    publication's format. A naive `moment` is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(UTC).replace(tzinfo=None) + election.local_offset()
    return f"{local:%d/%m/%Y %H:%M} ({election.timezone})"


def official_time_text(text: str, election: Election) -> str:
    """`2026-06-07T01:05:00Z` (ISO, as the node stores times) → `06/06/2026 19:05 (UTC-6)`;
    text that is not such a time is returned as it is."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return text
    return official_time(moment, election)


def inconsistency(asentado: int | None, calculado: int) -> str:
    """`asentado 300, calculado 227` — the two totals of an acta that do not agree, in words."""
    if asentado is None or asentado == calculado:
        return ""
    return (f"total asentado en el acta {asentado:,}, calculado {calculado:,}"
            f" (diferencia {asentado - calculado:+,})")
