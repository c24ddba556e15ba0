"""Quarantine: a rejected file goes to `quarantine/<source>/NAME` beside `NAME.why.txt`.

Bad input is named, never fatal (DESIGN invariant 5): the reason code is for scripts, the
Spanish line for the person at the CATD who opens the folder.
"""

from __future__ import annotations

from pathlib import Path

from scanners import claim as claim_mod
from scanners import nofollow
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
}


def explain(reason: str) -> str:
    return REASONS.get(reason, reason)


def why_text(claimed: Claimed, reason: str, detail: str, at: str, original_sha256: str | None) -> str:
    """The contents of `NAME.why.txt`."""
    return (
        f"motivo: {explain(reason)}\n"
        f"reason: {reason}\n"
        f"detail: {detail}\n"
        f"file: {claimed.name}\n"
        f"source: {claimed.source.kind} {claimed.source.id}\n"
        f"original_sha256: {original_sha256 or '-'}\n"
        f"at: {at}\n"
    )


def place(quarantine_dir: Path, claimed: Claimed, text: str) -> Path:
    """Write the reason, then move the claimed file beside it; returns the file's new path."""
    parts = (*claimed.source.folder().parts, *claimed.relative.parent.parts)
    with claim_mod.destination(quarantine_dir, parts) as dest:
        # A `.why.txt` without its file is left by a crash before the move: reuse the name.
        name = nofollow.free_name(dest, claimed.relative.name)
        nofollow.write_text(dest, name + WHY_SUFFIX, text)
        return claim_mod.release(claimed, dest, name)
