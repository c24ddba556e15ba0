"""Quarantine: a rejected file goes to `quarantine/<source>/NAME` beside `NAME.why.txt`.

Bad input is named, never fatal (DESIGN invariant 5): the reason code is for scripts, the
Spanish line for the person at the CATD who opens the folder.
"""

from __future__ import annotations

from pathlib import Path

from catd_node.safetext import one_line
from scanners import claim as claim_mod
from scanners import names, nofollow
from scanners.claim import Claimed

WHY_SUFFIX = ".why.txt"

REASONS: dict[str, str] = {
    "empty": "archivo vacío (0 bytes) durante demasiado tiempo",
    "truncated": "imagen incompleta (truncada)",
    "not_an_image": "no es una imagen",
    "unsupported_format": "formato no aceptado (se aceptan JPEG, PNG, TIFF y WebP)",
    "decompression_bomb": "imagen demasiado grande (posible bomba de descompresión)",
    "corrupt": "imagen dañada",
    "too_many_pages": "demasiadas páginas en un solo archivo",
    "unreadable": "no se puede leer el archivo (permisos)",
    "path_outside_folder": "enlace simbólico o ruta fuera de la carpeta del escáner",
    "not_a_regular_file": "no es un archivo regular",
    "never_settled": "el archivo siguió cambiando y nunca terminó de escribirse",
    "decoder_crashed": "el proceso que decodifica la imagen terminó de forma anormal",
    "name_too_long": "nombre de archivo demasiado largo (se guarda con un nombre acortado)",
    "name_control_chars": "el nombre del archivo contiene caracteres de control (saltos de línea, "
                          "tabuladores…)",
}


def explain(reason: str) -> str:
    return REASONS.get(reason, reason)


def why_text(claimed: Claimed, reason: str, detail: str, at: str, original_sha256: str | None) -> str:
    """The contents of `NAME.why.txt`: one line per field, each value escaped — a newline in a
    file name or an error detail cannot add a line of its own (issue 14)."""
    fields = (
        ("motivo", explain(reason)),
        ("reason", reason),
        ("detail", detail),
        ("file", claimed.name),
        ("source", f"{claimed.source.kind} {claimed.source.id}"),
        ("original_sha256", original_sha256 or "-"),
        ("at", at),
    )
    return "".join(f"{key}: {one_line(value)}\n" for key, value in fields)


def place(quarantine_dir: Path, claimed: Claimed, text: str) -> Path:
    """Write the reason, then move the claimed file beside it; returns the file's new path."""
    parts = (*claimed.source.folder().parts, *claimed.relative.parent.parts)
    with claim_mod.destination(quarantine_dir, parts) as dest:
        # A `.why.txt` without its file is left by a crash before the move: reuse the name.
        # A name too long for `NAME.why.txt` is shortened (its full name is in the text).
        name = nofollow.free_name(dest, names.fit(claimed.relative.name))
        nofollow.write_text(dest, name + WHY_SUFFIX, text)
        return claim_mod.release(claimed, dest, name)
