"""LEEME.txt of a cut, written for its election: its files, columns and vocabulary, and how
to check it (templates/LEEME.txt.j2)."""

from __future__ import annotations

from pathlib import Path

import jinja2

from catd_node.catalog import Election

SUMMARY_HELP = {
    "ACTAS_ESPERADAS": "actas del catálogo de actas esperadas",
    "ACTAS_REGISTRADAS": "actas asentadas en el sistema, contabilizadas o no, fuera de catálogo incluidas",
    "ACTAS_FUERA_CATALOGO": "actas registradas que no corresponden a una casilla aprobada",
    "ACTAS_CAPTURADAS": "actas registradas que están en el catálogo, contabilizadas o no",
    "PORCENTAJE_ACTAS_CAPTURADAS": "ACTAS_CAPTURADAS / ACTAS_ESPERADAS × 100",
    "ACTAS_CONTABILIZADAS": "actas capturadas cuyos votos se suman (Anexo 13)",
    "PORCENTAJE_ACTAS_CONTABILIZADAS": "ACTAS_CONTABILIZADAS / ACTAS_ESPERADAS × 100",
    "PORCENTAJE_ACTAS_CON_INCONSISTENCIAS": "actas con EXCEDE LISTA NOMINAL, TODOS ILEGIBLES O SIN DATO "
                                            "o ALGÚN CAMPO ILEGIBLE O SIN DATO / ACTAS_ESPERADAS × 100",
    "ACTAS_NO_CONTABILIZADAS": "actas que exceden la lista nominal, sin dato legible alguno o sin acta",
    "LISTA_NOMINAL_ACTAS_CONTABILZADAS": "suma de la lista nominal de las actas contabilizadas "
                                         "(el nombre se escribe como en la plantilla 2024)",
    "TOTAL_VOTOS_C_CS": "votos de las actas contabilizadas, con casillas especiales",
    "TOTAL_VOTOS_S_CS": "votos de las actas contabilizadas, sin casillas especiales",
    "PORCENTAJE_PARTICIPACION_CIUDADANA": "votos / LISTA_NOMINAL_ACTAS_CONTABILZADAS × 100",
}
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                          autoescape=False,  # noqa: S701 — plain text, never HTML
                          keep_trailing_newline=True, undefined=jinja2.StrictUndefined)


def render(election: Election, *, zip_name: str, results_name: str, candidaturas_name: str,
           cut_line: str, final: bool, header: tuple[str, ...]) -> str:
    """The LEEME text, lines ending CRLF as the CSVs beside it."""
    text = _ENV.get_template("LEEME.txt.j2").render(
        election=election, entidad=election.entidad or "", zip_name=zip_name, results_name=results_name,
        candidaturas_name=candidaturas_name, cut_line=cut_line, final=final, timezone=election.timezone,
        summary_help=list(SUMMARY_HELP.items()), header=header)
    return text.replace("\r\n", "\n").replace("\n", "\r\n")
