"""Column names of the acta header across years and institutes, mapped to one spelling.

Names drift (docs/election-file.md): `SHA`/`CODIGO_INTEGRIDAD`, `ID_ESTADO`/`ID_ENTIDAD`,
`ID_DISTRITO_LOCAL`/`_FEDERAL`, `CONTABILIZADA(S)`, `REPRESENTANTES(_PP_CI)`, coalitions with or
without `C_`… A reader maps them so that every layout of the same rows reads the same; vote
and control fields take the 2024 template's names (`NO_REGISTRADAS`, `CAND_IND_1`,
`PAN_PRD`, `TOTAL_PERSONAS_VOTARON`), the ones the catalog and the publication use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Published name → our name, for every column that is not a vote field.
META = {
    "CLAVE_CASILLA": "CLAVE_CASILLA", "CLAVE_ACTA": "CLAVE_ACTA",
    "ID_ESTADO": "ID_ENTIDAD", "ID_ENTIDAD": "ID_ENTIDAD", "ESTADO": "ENTIDAD", "ENTIDAD": "ENTIDAD",
    "ID_DISTRITO": "ID_DISTRITO", "ID_DISTRITO_LOCAL": "ID_DISTRITO", "ID_DISTRITO_FEDERAL": "ID_DISTRITO",
    # A district's name in INE files (DISTRITO_FEDERAL = "JESUS MARIA"), its number in the
    # cómputo layout (DISTRITO_LOCAL = 034): read as a number only when no ID_DISTRITO exists.
    "DISTRITO": "DISTRITO", "DISTRITO_LOCAL": "DISTRITO", "DISTRITO_FEDERAL": "DISTRITO",
    "ID_MUNICIPIO": "ID_MUNICIPIO", "MUNICIPIO": "MUNICIPIO",
    "SECCION": "SECCION", "ID_CASILLA": "ID_CASILLA", "TIPO_CASILLA": "TIPO_CASILLA",
    "EXT_CONTIGUA": "EXT_CONTIGUA", "UBICACION_CASILLA": "UBICACION_CASILLA", "TIPO_ACTA": "TIPO_ACTA",
    "TOTAL_VOTOS_CALCULADO": "TOTAL_VOTOS_CALCULADO", "TOTAL_VOTOS_CALCULADOS": "TOTAL_VOTOS_CALCULADO",
    "LISTA_NOMINAL": "LISTA_NOMINAL",
    "REPRESENTANTES_PP_CI": "REPRESENTANTES", "REPRESENTANTES": "REPRESENTANTES",
    "OBSERVACIONES": "OBSERVACIONES",
    "CONTABILIZADA": "CONTABILIZADA", "CONTABILIZADAS": "CONTABILIZADA",
    "MECANISMOS_TRASLADO": "MECANISMOS_TRASLADO", "MECANISMO_TRASLADO": "MECANISMOS_TRASLADO",
    "SHA": "CODIGO_INTEGRIDAD", "CODIGO_INTEGRIDAD": "CODIGO_INTEGRIDAD",
    "FECHA_HORA_ACOPIO": "FECHA_HORA_ACOPIO", "FECHA_HORA_CAPTURA": "FECHA_HORA_CAPTURA",
    "FECHA_HORA_VERIFICACION": "FECHA_HORA_VERIFICACION", "ORIGEN": "ORIGEN",
    "DIGITALIZACION": "DIGITALIZACION", "TIPO_DOCUMENTO": "TIPO_DOCUMENTO", "COTEJADA": "COTEJADA",
    "CATD": "CATD",
}
# Control fields (captured and published, never used to classify) under the 2024 names.
CONTROLS = {
    "TOTAL_BOLETAS_SOBRANTES": "TOTAL_BOLETAS_SOBRANTES",
    "TOTAL_PERSONAS_VOTARON": "TOTAL_PERSONAS_VOTARON", "PERSONAS_VOTARON": "TOTAL_PERSONAS_VOTARON",
    "TOTAL_REP_PARTIDO_CI_VOTARON": "TOTAL_REP_PARTIDO_CI_VOTARON",
    "TOTAL_VOTOS_SACADOS": "TOTAL_VOTOS_SACADOS",
    "CODIGOS_ENTREGADOS_PMDC": "CODIGOS_ENTREGADOS_PMDC", "CODIGOS_SOBRANTES": "CODIGOS_SOBRANTES",
    "CODIGOS_UTILIZADOS": "CODIGOS_UTILIZADOS",
    "TOTAL_VOTOS_ASENTADO": "TOTAL_VOTOS_ASENTADO",
}
_CAND_IND = re.compile(r"CAND_IND_0*(\d+)")


def vote_name(published: str) -> str:
    """A vote column's 2024 name: `C_PAN_PRD` → `PAN_PRD`, `CAND_IND_01` → `CAND_IND_1`,
    `NO_REGISTRADOS` → `NO_REGISTRADAS`."""
    if published == "NO_REGISTRADOS":
        return "NO_REGISTRADAS"
    match = _CAND_IND.fullmatch(published)
    if match:
        return f"CAND_IND_{int(match.group(1))}"
    if published.startswith("C_") and "_" in published[2:]:
        return published[2:]
    return published


@dataclass(frozen=True)
class Columns:
    """Where each field sits in a row: meta and control names → index, vote fields in order."""
    meta: dict[str, int]
    controls: tuple[tuple[str, int], ...]
    votes: tuple[tuple[str, int], ...]     # ballot order, 2024 names
    width: int

    def has(self, name: str) -> bool:
        return name in self.meta


class LayoutError(Exception):
    """The header cannot be read; `column` is 1-based (None: the header as a whole)."""

    def __init__(self, column: int | None, name: str | None, why: str) -> None:
        super().__init__(why)
        self.column, self.name, self.why = column, name, why


def classify(header: list[str]) -> Columns:
    """Map a header row (names already upper-cased and unwrapped) to the fields it carries.

    The vote fields are the run of columns that are neither meta nor control ending at
    `NULOS`: every layout prints parties, coalitions, independents, no registrados, nulos
    together (LEEME 2018, 2021, 2024 and the cómputo layout)."""
    names = list(header)
    while names and names[-1] == "":
        names.pop()  # a trailing delimiter after the last name
    seen: dict[str, int] = {}
    meta: dict[str, int] = {}
    controls: list[tuple[str, int]] = []
    for i, name in enumerate(names):
        if name == "":
            raise LayoutError(i + 1, None, "a column without a name")
        ours = META.get(name) or CONTROLS.get(name) or vote_name(name)
        if ours in seen:
            raise LayoutError(i + 1, name, f"the column repeats (as {ours}, first at column "
                                           f"{seen[ours] + 1})")
        seen[ours] = i
        if name in META:
            meta[ours] = i
        elif name in CONTROLS:
            controls.append((ours, i))
    if "NULOS" not in seen:
        raise LayoutError(None, None, "no NULOS column: the vote fields cannot be told apart")
    end = seen["NULOS"]
    start = end
    while start > 0 and names[start - 1] not in META and names[start - 1] not in CONTROLS:
        start -= 1
    votes = tuple((vote_name(names[i]), i) for i in range(start, end + 1))
    if "LISTA_NOMINAL" not in meta:
        raise LayoutError(None, None, "no LISTA_NOMINAL column")
    return Columns(meta=meta, controls=tuple(controls), votes=votes, width=len(names))
