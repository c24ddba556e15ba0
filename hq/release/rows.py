"""One acta row of a results file → an `ActaRow`, checking its key against its parts.

PREP layouts print `CLAVE_CASILLA` (and `CLAVE_ACTA`); the columns `ID_ENTIDAD`, `SECCION`,
`TIPO_CASILLA`, `ID_CASILLA`, `EXT_CONTIGUA` must agree with it unless printed `N/A` (LEEME
2024 for VMRE, VA and PPP actas). The cómputo layout prints only the parts, and two repairs
make its real 2024 file a catalog (each documented in docs/election-file.md):
- `ID_CASILLA` `1C` is a casilla contigua to extraordinaria 1 whose `EXT_CONTIGUA` the export
  lost (`00`): the n-th such row of a sección is `EXT_CONTIGUA` n (E1C1, E1C2, …).
- `SECCION` and `ID_CASILLA` `N/A` (actas of voto anticipado, one per district and sitting):
  sección 0000 and the n-th such row of that casilla type is `ID_CASILLA` n.
"""

from __future__ import annotations

import re
from dataclasses import replace

from catd_node.catalog import CASILLA_TYPES
from catd_node.errors import BadInput
from hq.release import dialects
from hq.release.columns import Columns
from hq.release.model import (
    COMPUTO,
    NO_APLICA,
    NOT_ON_BALLOT,
    ActaRow,
    Cell,
    Identity,
    fold,
    parse_cell,
    unwrap,
)
from hq.release.text import where

_CLAVE_CASILLA = re.compile(r"(\d{2})(\d{4})([A-Z])(\d{2})(\d{2})")
_TIPO_ACTA = re.compile(r"[0-9A-Z]{1,8}")
_CONTIGUA_OF_E = re.compile(r"(\d{1,2})C")
_TYPES = "".join(sorted(CASILLA_TYPES))
_ABSENT = ("", NO_APLICA, "NA", NOT_ON_BALLOT)
_TEXT_FIELDS = {"FECHA_HORA_ACOPIO": "fecha_hora_acopio", "FECHA_HORA_CAPTURA": "fecha_hora_captura",
                "FECHA_HORA_VERIFICACION": "fecha_hora_verificacion", "ORIGEN": "origen",
                "DIGITALIZACION": "digitalizacion", "TIPO_DOCUMENTO": "tipo_documento",
                "MECANISMOS_TRASLADO": "mecanismos_traslado", "CODIGO_INTEGRIDAD": "sha", "CATD": "catd"}


class RowReader:
    """Reads the acta rows of one file in order (the cómputo repairs count rows as they come)."""

    def __init__(self, source: str, layout: str, header: list[str], columns: Columns,
                 entidad: int | None) -> None:
        self.source, self.layout, self.header, self.columns = source, layout, header, columns
        self.entidad = entidad
        self.seen: dict[str, int] = {}          # CLAVE_ACTA → line
        self.ordinals: dict[tuple[object, ...], int] = {}
        self.key_forms: dict[str, int] = {}     # a tolerated key spelling → its first line
        district = "ID_DISTRITO" if columns.has("ID_DISTRITO") else "DISTRITO"
        self.district_column = columns.meta.get(district)
        # Beside ID_DISTRITO, DISTRITO is the district's name (`JESUS MARIA`, its cabecera).
        self.district_name_column = columns.meta.get("DISTRITO") if district == "ID_DISTRITO" else None

    # -- cells -------------------------------------------------------------------------------

    def fail(self, line: int, index: int | None, why: str) -> BadInput:
        name = self.header[index] if index is not None and index < len(self.header) else None
        return BadInput(where(self.source, line, None if index is None else index + 1, name), why)

    def text(self, cells: list[str], name: str) -> str | None:
        index = self.columns.meta.get(name)
        return unwrap(cells[index]) if index is not None else None

    def number(self, cells: list[str], line: int, name: str, absent_ok: bool = True,
               absent: tuple[str, ...] = _ABSENT) -> int | None:
        """A whole number in ASCII digits; None for a column the layout lacks or a cell printed
        as one of `absent` (blank/`N/A`/`-`). Anything else (`abc`, `-5`, `34.7`, `０３４`,
        `../../x`) is exit 2 naming line and column."""
        index = self.columns.meta.get(name)
        if index is None:
            return None
        value = unwrap(cells[index])
        if value.isdecimal() and value.isascii():
            return int(value)
        if absent_ok and value.upper() in absent:
            return None
        raise self.fail(line, index, f"expected a number, got {value[:40]!r}")

    def cell(self, cells: list[str], line: int, index: int) -> Cell:
        try:
            return parse_cell(cells[index])
        except ValueError as exc:
            raise self.fail(line, index, str(exc)) from exc

    # -- rows --------------------------------------------------------------------------------

    def row(self, line: int, cells: list[str]) -> ActaRow:
        width = self.columns.width
        if len(cells) < width:
            raise self.fail(line, len(cells), f"short row: {len(cells)} columns, the header has {width}")
        if any(c.strip() for c in cells[width:]):
            raise self.fail(line, width, f"long row: {len(cells)} columns, the header has {width}")
        contabilizada = self.number(cells, line, "CONTABILIZADA")
        observaciones = self.text(cells, "OBSERVACIONES") or ""
        identity = (self.computo_identity(cells, line) if self.layout == COMPUTO
                    else self.prep_identity(cells, line, contabilizada, observaciones))
        clave = identity.clave_acta if identity else (self.text(cells, "CLAVE_ACTA") or "")
        if identity is not None:
            first = self.seen.setdefault(clave, line)
            if first != line:
                key_column = self.columns.meta.get("CLAVE_ACTA", self.columns.meta.get("ID_CASILLA"))
                raise self.fail(line, key_column, f"acta {clave} repeats (first at line {first})")
        lista = self.number(cells, line, "LISTA_NOMINAL", absent_ok=identity is None)
        if identity is not None and lista is None:
            raise self.fail(line, self.columns.meta["LISTA_NOMINAL"],
                            "a catalog acta needs its lista nominal")
        texts = {attr: (None if (v := self.text(cells, name)) in ("", NO_APLICA) else v)
                 for name, attr in _TEXT_FIELDS.items()}
        total = self.columns.meta.get("TOTAL_VOTOS_CALCULADO")
        return ActaRow(
            line=line, clave_acta=clave, identity=identity,
            distrito=self.district(cells, line), municipio=self.number(cells, line, "ID_MUNICIPIO"),
            ubicacion=self.number(cells, line, "UBICACION_CASILLA"), lista_nominal=lista,
            representantes=self.number(cells, line, "REPRESENTANTES"),
            votes={name: self.cell(cells, line, i) for name, i in self.columns.votes},
            controls={name: self.cell(cells, line, i) for name, i in self.columns.controls},
            total_votos_calculado=self.cell(cells, line, total) if total is not None else None,
            observaciones=observaciones, contabilizada=contabilizada, **texts,
            distrito_nombre=self.district_name(cells),
        )

    def district_name(self, cells: list[str]) -> str | None:
        """The district's printed name; None when absent, N/A, `-` or only digits (a number
        is not a name). Already text: the file's bytes were decoded by the encoding rules."""
        if self.district_name_column is None:
            return None
        value = " ".join(unwrap(cells[self.district_name_column]).split())
        if value.upper() in _ABSENT or value.isdecimal():
            return None
        return value

    def district(self, cells: list[str], line: int) -> int | None:
        if self.district_column is None:
            return None
        value = unwrap(cells[self.district_column])
        if value.isdecimal() and value.isascii():
            return int(value)
        if self.layout == COMPUTO:
            # The cómputo layout's DISTRITO_LOCAL is the district's number (`034`): strict.
            raise self.fail(line, self.district_column,
                            f"expected a district number (digits 0–9), got {value[:40]!r}")
        if value.upper() in _ABSENT or self.header[self.district_column].startswith("DISTRITO"):
            return None  # N/A (LEEME 2024: VMRE/VA/PPP), or a district *name* column
        raise self.fail(line, self.district_column, f"expected a district number, got {value[:40]!r}")

    def prep_identity(self, cells: list[str], line: int, contabilizada: int | None,
                      observaciones: str) -> Identity | None:
        clave_acta = (self.text(cells, "CLAVE_ACTA") or "").upper()
        clave_casilla = self.text(cells, "CLAVE_CASILLA")
        clave_casilla = (clave_casilla if clave_casilla is not None else clave_acta[:11]).upper()
        tipo_acta = self.text(cells, "TIPO_ACTA")
        tipo_acta = (tipo_acta if tipo_acta is not None else clave_acta[11:]).upper()
        if contabilizada == 2 or tipo_acta in ("", "0", "-") or "FUERA DE CATALOGO" in fold(observaciones):
            return None
        index = self.columns.meta.get("CLAVE_CASILLA", self.columns.meta.get("CLAVE_ACTA"))
        match = _CLAVE_CASILLA.fullmatch(clave_casilla)
        if not match:
            raise self.fail(line, index, f"{clave_casilla!r} is not a CLAVE_CASILLA: entidad (2 digits), "
                                         "sección (4), tipo (1 letter), id (2), ext contigua (2)")
        ent, sec, tipo, ident, ext = match.groups()
        if tipo not in CASILLA_TYPES:
            raise self.fail(line, index, f"casilla type {tipo!r} is not one of {_TYPES}")
        if not _TIPO_ACTA.fullmatch(tipo_acta):
            raise self.fail(line, self.columns.meta.get("TIPO_ACTA"), f"{tipo_acta!r} is not a TIPO_ACTA")
        identity = Identity(int(ent), int(sec), tipo, int(ident), int(ext), tipo_acta)
        if "CLAVE_ACTA" in self.columns.meta and clave_acta != identity.clave_acta:
            forms = dialects.clave_acta_forms(identity.clave_casilla, tipo_acta)
            if clave_acta not in forms:
                raise self.fail(line, self.columns.meta["CLAVE_ACTA"],
                                f"{clave_acta!r} is not CLAVE_CASILLA + TIPO_ACTA "
                                f"({' or '.join(forms)})")
            # The published key is the key: TIPO_ACTA as CLAVE_ACTA spells it (`02`).
            identity = replace(identity, tipo_acta=clave_acta[11:])
            self.key_forms.setdefault(f"TIPO_ACTA padded to {len(clave_acta) - 11} in CLAVE_ACTA", line)
        for name, part in (("ID_ENTIDAD", identity.entidad), ("SECCION", identity.seccion),
                           ("ID_CASILLA", identity.id_casilla), ("EXT_CONTIGUA", identity.ext_contigua)):
            value = self.number(cells, line, name)
            if value is not None and value != part:
                raise self.fail(line, self.columns.meta[name],
                                f"{value} disagrees with CLAVE_CASILLA {clave_casilla} ({part})")
        printed = (self.text(cells, "TIPO_CASILLA") or "").upper()
        if printed not in ("", NO_APLICA, tipo):
            raise self.fail(line, self.columns.meta["TIPO_CASILLA"],
                            f"{printed!r} disagrees with CLAVE_CASILLA {clave_casilla} ({tipo})")
        return identity

    def ordinal(self, *key: object) -> int:
        self.ordinals[key] = self.ordinals.get(key, 0) + 1
        return self.ordinals[key]

    def computo_identity(self, cells: list[str], line: int) -> Identity:
        meta = self.columns.meta
        entidad = self.number(cells, line, "ID_ENTIDAD")
        if entidad is None:
            entidad = self.entidad
        if entidad is None:
            raise self.fail(line, meta.get("ID_ENTIDAD"),
                            "no entity: pass --entidad N or --candidaturas FILE")
        tipo = (self.text(cells, "TIPO_CASILLA") or "").upper()
        if len(tipo) != 1 or tipo not in CASILLA_TYPES:
            raise self.fail(line, meta["TIPO_CASILLA"],
                            f"casilla type {tipo!r} is not one of {_TYPES}")
        tipo_acta = (self.text(cells, "TIPO_ACTA") or "").upper()
        if not _TIPO_ACTA.fullmatch(tipo_acta):
            raise self.fail(line, meta["TIPO_ACTA"], f"{tipo_acta!r} is not a TIPO_ACTA")
        ext = self.number(cells, line, "EXT_CONTIGUA", absent_ok=False) or 0
        seccion = self.number(cells, line, "SECCION", absent=(NO_APLICA,))
        raw_id = (self.text(cells, "ID_CASILLA") or "").upper()
        contigua = _CONTIGUA_OF_E.fullmatch(raw_id)
        if raw_id.isdecimal() and raw_id.isascii():
            id_casilla = int(raw_id)
        elif contigua and seccion is not None:
            id_casilla = int(contigua.group(1))
            ext = ext or self.ordinal("contigua", seccion, tipo, id_casilla)
        elif raw_id == NO_APLICA and seccion is None:
            id_casilla = self.ordinal("sin sección", tipo)
        else:
            raise self.fail(line, meta["ID_CASILLA"], f"{raw_id!r} is not a casilla number")
        seccion = seccion or 0
        if not (seccion <= 9999 and id_casilla <= 99 and ext <= 99):
            raise self.fail(line, meta["SECCION"],
                            "sección (0–9999), id and ext contigua (0–99) out of range")
        return Identity(entidad, seccion, tipo, id_casilla, ext, tipo_acta)
