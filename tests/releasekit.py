"""Synthetic release files in the real layouts, for the catalog reader's tests.

The acta headers are taken from the LEEME files themselves (domain-data): INE 2018 and 2021
diputaciones, and the 2024 OPLE template (LEEME_G.txt); `render` writes the same rows with
any delimiter, encoding, line end, key wrapping and Excel `sep=` hint.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

# The project's shared/ folder lies beside the checkout (CI: beside the fresh clone); a git
# worktree elsewhere falls back to the workplace's copy.
DOMAIN = next((p for p in (Path(__file__).resolve().parents[2] / "shared" / "domain-data",
                           Path("/work/shared/domain-data")) if p.is_dir()),
              Path(__file__).resolve().parents[2] / "shared" / "domain-data")
CDMX = DOMAIN / "cdmx-2024" / "bd-gobierno.csv.gz"
CDMX_CANDIDATURAS = DOMAIN / "cdmx-2024" / "CDMX_GUB_CANDIDATURAS.csv"
SUMMARY = ("ACTAS_ESPERADAS|ACTAS_REGISTRADAS|ACTAS_FUERA_CATALOGO|ACTAS_CAPTURADAS|"
           "PORCENTAJE_ACTAS_CAPTURADAS|ACTAS_CONTABILIZADAS|PORCENTAJE_ACTAS_CONTABILIZADAS|"
           "PORCENTAJE_ACTAS_CON_INCONSISTENCIAS|ACTAS_NO_CONTABILIZADAS|LISTA_NOMINAL_ACTAS_CONTABILIZADAS|"
           "TOTAL_VOTOS_C_CS|TOTAL_VOTOS_S_CS|PORCENTAJE_PARTICIPACION_CIUDADANA").split("|")


def _leeme_header(name: str, encoding: str, first: str, last: str) -> list[str]:
    """The acta header a LEEME prints, joined across the lines it is wrapped over."""
    text = (DOMAIN / name).read_bytes().decode(encoding).replace("\r", "")
    start = text.index(first)
    end = text.index(last, start) + len(last)
    parts = [p.strip().strip("|") for p in text[start:end].split("\n") if p.strip()]
    return "|".join(parts).split("|")


def header_2018() -> list[str]:
    return _leeme_header("LEEME_PREP2018_diputaciones.txt", "utf-8", "CLAVE_CASILLA|CLAVE_ACTA|ID_ESTADO",
                         "TIPO_DOCUMENTO|COTEJADA")


def header_2021() -> list[str]:
    return _leeme_header("LEEME_PREP2021_diputaciones.txt", "cp1252", "CLAVE_CASILLA|CLAVE_ACTA|ID_ESTADO",
                         "TIPO_DOCUMENTO|COTEJADA")


def header_2024() -> list[str]:
    return _leeme_header("LEEME_G.txt", "utf-8", "CLAVE_CASILLA|CLAVE_ACTA|ID_ENTIDAD", "TIPO_DOCUMENTO")


@dataclass
class Acta:
    """One acta row by meaning; `cells` renders it under any of the headers."""
    entidad: int
    seccion: int
    tipo: str
    id_casilla: int
    ext: int
    tipo_acta: str
    distrito: int
    lista_nominal: str = "500"
    votes: dict[str, str] = field(default_factory=dict)   # published name → cell; default "1"
    observaciones: str = ""
    contabilizada: str = "1"
    representantes: str = "4"
    clave_casilla: str | None = None                       # printed instead of the computed one

    @property
    def casilla(self) -> str:
        return f"{self.entidad:02d}{self.seccion:04d}{self.tipo}{self.id_casilla:02d}{self.ext:02d}"

    def cells(self, header: list[str]) -> dict[str, str]:
        clave = self.casilla if self.clave_casilla is None else self.clave_casilla
        known = {
            "CLAVE_CASILLA": clave, "CLAVE_ACTA": clave + self.tipo_acta if clave != "-" else "-",
            "ID_ESTADO": str(self.entidad), "ID_ENTIDAD": f"{self.entidad:02d}",
            "ESTADO": "QUINTANA ROO", "ENTIDAD": "QUINTANA ROO",
            "ID_DISTRITO_FEDERAL": str(self.distrito), "ID_DISTRITO_LOCAL": f"{self.distrito:03d}",
            "DISTRITO_FEDERAL": "CANCÚN", "SECCION": str(self.seccion), "ID_CASILLA": str(self.id_casilla),
            "TIPO_CASILLA": self.tipo, "EXT_CONTIGUA": str(self.ext), "UBICACION_CASILLA": "1",
            "TIPO_ACTA": self.tipo_acta, "LISTA_NOMINAL": self.lista_nominal,
            "REPRESENTANTES_PP_CI": self.representantes, "REPRESENTANTES": self.representantes,
            "OBSERVACIONES": self.observaciones, "CONTABILIZADA": self.contabilizada,
            "CONTABILIZADAS": self.contabilizada, "MECANISMOS_TRASLADO": "",
            "SHA": "ab" * 32, "CODIGO_INTEGRIDAD": "CD" * 32, "FECHA_HORA_ACOPIO": "06/06/2021 20:01:02",
            "FECHA_HORA_CAPTURA": "06/06/2021 20:03:04", "FECHA_HORA_VERIFICACION": "06/06/2021 20:05:06",
            "ORIGEN": "CATD", "DIGITALIZACION": "ESCANER", "TIPO_DOCUMENTO": "ACTA PREP", "COTEJADA": "1",
            "TOTAL_VOTOS_ASENTADO": "9", "TOTAL_VOTOS_CALCULADO": "9", "TOTAL_VOTOS_CALCULADOS": "9",
        }
        for control in ("TOTAL_BOLETAS_SOBRANTES", "TOTAL_PERSONAS_VOTARON", "TOTAL_REP_PARTIDO_CI_VOTARON",
                        "TOTAL_VOTOS_SACADOS", "CODIGOS_ENTREGADOS_PMDC", "CODIGOS_SOBRANTES",
                        "CODIGOS_UTILIZADOS"):
            known[control] = "7"
        return {name: self.votes.get(name, known.get(name, "1")) for name in header}


@dataclass(frozen=True)
class Layout:
    delimiter: str = "|"
    encoding: str = "utf-8"          # "latin-1", "utf-8" or "utf-8-sig" (with BOM)
    newline: str = "\n"
    wrap: str = ""                   # "", "=" for ="…", "'" for '…'
    sep_hint: bool = False
    upper_markers: bool = False      # Ilegible/Sin dato printed ILEGIBLE/SIN DATO


KEYS = ("CLAVE_CASILLA", "CLAVE_ACTA")


def _cell(value: str, name: str, layout: Layout) -> str:
    if name in KEYS and layout.wrap and value != "-":
        return f'="{value}"' if layout.wrap == "=" else f"'{value}'"
    if layout.upper_markers and value.lower() in ("ilegible", "sin dato"):
        value = value.upper()
    if layout.delimiter in value or '"' in value:
        return '"' + value.replace('"', '""') + '"'
    return value


def render(header: list[str], actas: list[Acta], layout: Layout, *, election: str | None = None,
           cut: str = "06/06/2021 20:00 (UTC-5)", summary: bool = True) -> bytes:
    """A results file: [sep hint], [election], cut, [summary names + values], header, rows."""
    lines: list[str] = []
    if layout.sep_hint:
        lines.append(f"sep={layout.delimiter}")
    if election:
        lines.append(election)
    lines.append(cut)
    if summary:
        lines.append(layout.delimiter.join(SUMMARY))
        lines.append(layout.delimiter.join(["3", "4", "1", "3", "100.0000", "2", "66.6666", "33.3333", "1",
                                            "1000", "9", "9", "0.9000"]))
    lines.append(layout.delimiter.join(header))
    for acta in actas:
        cells = acta.cells(header)
        lines.append(layout.delimiter.join(_cell(cells[name], name, layout) for name in header))
    text = layout.newline.join(lines) + layout.newline
    return text.encode(layout.encoding)


def write_csv(path: Path, rows: list[list[str]], delimiter: str = ",") -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path
