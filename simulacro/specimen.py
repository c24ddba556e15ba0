"""Realistic acta scans for tests, the demo and benchmarks (not used in production ingest).

A letter page at 300 dpi: tinted header, printed grid with Spanish labels, digits written with
jittered pen strokes, the amounts in words, signatures, a QR code with the acta key, a slight
skew, paper tint and sensor noise, saved as an office scanner would. Deterministic per seed.
For a second-form catalog the form prints the acta's own ballot (its vote fields, in ballot
order; a combination not on it is not printed), then the controls.

    python -m simulacro.specimen --out DIR --count N [--election FILE] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Sequence
from functools import cache
from io import BytesIO
from pathlib import Path
from statistics import NormalDist

import segno
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from catd_node.catalog import COALICION, PARTIDO, Contest, Election, VoteField, infer_kind, split_clave_acta
from catd_node.catalog import load as load_election
from simulacro.handwriting import Pen, glyphs, in_words, load_font

DPI = 300
SIZE = (2550, 3300)           # US letter at 300 dpi
MARGIN = 140
Value = int | str

DEFAULT_CONTEST = Contest(
    id="DIP", name="Diputaciones",
    vote_fields=tuple(VoteField(n, infer_kind(n))
                      for n in ("PAN", "PRI", "PRD", "PVEM", "PT", "MC", "MORENA", "CNR", "NULOS")),
    controls=("TOTAL_ASENTADO", "PERSONAS_VOTARON", "REPRESENTANTES_VOTARON", "BOLETAS_SOBRANTES"),
)
LABELS = {
    "CNR": "CANDIDATURAS NO REGISTRADAS", "NO_REGISTRADOS": "CANDIDATURAS NO REGISTRADAS",
    "NO_REGISTRADAS": "CANDIDATURAS NO REGISTRADAS", "NULOS": "VOTOS NULOS",
    "TOTAL_VOTOS_ASENTADO": "TOTAL DE VOTOS ASENTADO EN EL ACTA",
    "TOTAL_PERSONAS_VOTARON": "TOTAL DE PERSONAS QUE VOTARON",
    "TOTAL_REP_PARTIDO_CI_VOTARON": "REPRESENTANTES DE PARTIDOS Y CANDIDATURAS QUE VOTARON",
    "TOTAL_VOTOS_SACADOS": "TOTAL DE VOTOS SACADOS DE LA URNA",
    "TOTAL_BOLETAS_SOBRANTES": "BOLETAS SOBRANTES",
    "TOTAL_ASENTADO": "TOTAL DE VOTOS ASENTADO EN EL ACTA",
    "PERSONAS_VOTARON": "PERSONAS QUE VOTARON (incluye las de la lista nominal)",
    "REPRESENTANTES_VOTARON": "REPRESENTANTES DE PARTIDOS QUE VOTARON SIN ESTAR EN LA LISTA NOMINAL",
    "BOLETAS_SOBRANTES": "BOLETAS SOBRANTES DE LA ELECCIÓN (inutilizadas)",
}
PARTY_COLORS = {
    "PAN": (0, 83, 160), "PRI": (0, 146, 63), "PRD": (255, 205, 0), "PVEM": (80, 170, 50),
    "PT": (218, 41, 28), "MC": (255, 130, 0), "MORENA": (150, 30, 45), "CNR": (110, 110, 110),
    "NULOS": (60, 60, 60),
}
@cache
def _noise_lut(sigma: float) -> tuple[int, ...]:
    dist = NormalDist(0.0, sigma)
    return tuple(max(0, min(255, round(128 + dist.inv_cdf((u + 0.5) / 256)))) for u in range(256))


def _text(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, size: int, *, bold: bool = False,
          fill: tuple[int, int, int] = (20, 20, 20), anchor: str = "la", max_width: int = 0) -> None:
    font = load_font(size, "bold" if bold else "regular")
    text = glyphs(text, font)
    while max_width and size > 12 and font.getlength(text) > max_width:
        size -= 2
        font = load_font(size, "bold" if bold else "regular")
    draw.text(xy, text, font=font, fill=fill, anchor=anchor)


def key_fields(key: str, distrito: int | None = None) -> list[tuple[str, str]]:
    """The identity boxes printed under the header: what a reader of the image sees of the
    casilla (the demo's test holds the published rows to them). `distrito`: the acta's district
    in the catalog, printed beside the parts of a CLAVE_ACTA (which carries none)."""
    clave = split_clave_acta(key)
    if clave is not None:  # CLAVE_ACTA of a real catalog: 090001C0100A02
        entidad, seccion, tipo, ident, ext, tipo_acta = clave
        casilla = f"{tipo}{ident:02d}" + (f" EXT {ext}" if ext else "")
        district = [] if distrito is None else [("DISTRITO", f"{distrito:02d}")]
        return [("ENTIDAD", f"{entidad:02d}"), *district, ("SECCIÓN", f"{seccion:04d}"),
                ("CASILLA", casilla), ("TIPO DE ACTA", tipo_acta)]
    parts = key.split("-")
    if len(parts) == 5:
        return [("ENTIDAD", parts[1]), ("DISTRITO", parts[2]), ("SECCIÓN", parts[3]), ("CASILLA", parts[4])]
    return [("CASILLA", key)]


def _qr(key: str, module: int) -> Image.Image:
    qr = segno.make(key, error="h", micro=False)
    size = len(qr.matrix)
    pixels = bytes(0 if bit else 255 for row in qr.matrix for bit in row)
    image = Image.frombytes("L", (size, size), pixels)
    image = image.resize((size * module, size * module), Image.Resampling.NEAREST)
    framed = Image.new("L", (image.width + 8 * module, image.height + 8 * module), 255)
    framed.paste(image, (4 * module, 4 * module))
    return framed


Cell = tuple[int, int, int, int]


def _emblem(draw: ImageDraw.ImageDraw, field: str, kind: str, box: tuple[int, int, int, int]) -> None:
    """A party's colour; a coalition combination's as stripes of its parties' colours."""
    x0, y0, x1, y1 = box
    parts = field.removeprefix("C_").split("_") if kind == COALICION else [field]
    width = (x1 - x0) / len(parts)
    for i, part in enumerate(parts):
        draw.rectangle((round(x0 + i * width), y0, round(x0 + (i + 1) * width), y1),
                       fill=PARTY_COLORS.get(part, (120, 120, 160)))


def _print_form(page: Image.Image, key: str, contest: Contest, election_name: str,
                ballot: Sequence[str] | None = None, distrito: int | None = None) -> list[tuple[str, Cell]]:
    """The pre-printed form; returns the handwriting cell of each field (number box, words box)."""
    draw = ImageDraw.Draw(page)
    width = SIZE[0] - 2 * MARGIN
    line = (40, 40, 40)
    tint = (236, 206, 220) if contest.id.startswith("DIP") else (206, 226, 214)
    draw.rectangle((MARGIN, MARGIN, SIZE[0] - MARGIN, MARGIN + 400), fill=tint, outline=line, width=4)
    _text(draw, (MARGIN + 40, MARGIN + 40), election_name.upper(), 40, fill=(70, 30, 50))
    _text(draw, (MARGIN + 40, MARGIN + 110), "ACTA DE ESCRUTINIO Y CÓMPUTO DE CASILLA", 62, bold=True)
    _text(draw, (MARGIN + 40, MARGIN + 195), f"DE LA ELECCIÓN DE {contest.name.upper()}", 52, bold=True)
    _text(draw, (MARGIN + 40, MARGIN + 290), f"CLAVE DEL ACTA: {key}", 44, fill=(40, 40, 40))
    qr = _qr(key, 9)
    page.paste(qr.convert("RGB"), (SIZE[0] - MARGIN - qr.width - 30, MARGIN + (400 - qr.height) // 2))
    top = MARGIN + 440
    fields = key_fields(key, distrito)
    cell = width // len(fields)
    for i, (label, value) in enumerate(fields):
        x = MARGIN + i * cell
        draw.rectangle((x, top, x + cell, top + 160), outline=line, width=3)
        _text(draw, (x + 20, top + 16), label, 34, fill=(90, 90, 90))
        _text(draw, (x + 20, top + 70), value, 60, bold=True)
    top += 200
    _text(draw, (MARGIN, top), "RESULTADOS DE LA VOTACIÓN EN ESTA CASILLA", 44, bold=True)
    top += 70
    col1, col2 = MARGIN + int(width * 0.42), MARGIN + int(width * 0.64)
    draw.rectangle((MARGIN, top, SIZE[0] - MARGIN, top + 70), fill=(225, 225, 225), outline=line, width=3)
    for x, label in ((MARGIN + 20, "PARTIDO POLÍTICO, COALICIÓN O CANDIDATURA"), (col1 + 20, "CON NÚMERO"),
                     (col2 + 20, "CON LETRA")):
        _text(draw, (x, top + 18), label, 32, bold=True)
    top += 70
    bottom_reserved = 420
    votes = list(ballot) if ballot is not None else list(contest.votes)
    rows = [*votes, *contest.controls]
    row_h = min(150, (SIZE[1] - MARGIN - bottom_reserved - top - 60) // max(1, len(rows)))
    label_size = min(40, row_h * 3 // 5)  # a real ballot of 30 fields: thinner rows, smaller print
    cells: list[tuple[str, Cell]] = []
    for i, field in enumerate(rows):
        y = top + i * row_h + (60 if i >= len(votes) else 0)
        if i == len(votes):
            _text(draw, (MARGIN, y - 50), "CONTROLES DE LA CASILLA", 36, bold=True)
        draw.rectangle((MARGIN, y, SIZE[0] - MARGIN, y + row_h), outline=line, width=3)
        draw.line((col1, y, col1, y + row_h), fill=line, width=3)
        draw.line((col2, y, col2, y + row_h), fill=line, width=3)
        label = LABELS.get(field, field.replace("_", " "))
        kind = contest.kinds.get(field, "")
        if i < len(votes) and kind in (PARTIDO, COALICION):
            pad = min(14, row_h // 8)
            _emblem(draw, field, kind, (MARGIN + 18, y + pad, MARGIN + 18 + row_h - 2 * pad, y + row_h - pad))
            color = PARTY_COLORS.get(field.removeprefix("C_").split("_")[0], (120, 120, 160))
            text_fill = (20, 20, 20) if sum(color) > 500 else (255, 255, 255)
            if row_h >= 90:
                _text(draw, (MARGIN + 4 + row_h // 2, y + row_h // 2), field, 30, bold=True,
                      fill=text_fill, anchor="mm", max_width=row_h - 40)
            _text(draw, (MARGIN + row_h + 10, y + row_h // 2), label, label_size, anchor="lm",
                  max_width=col1 - MARGIN - row_h - 30)
        else:
            _text(draw, (MARGIN + 20, y + row_h // 2), label, label_size, anchor="lm",
                  max_width=col1 - MARGIN - 40)
        for k in range(1, 5):  # printed digit boxes guide the clerk
            bx = col1 + 20 + (k - 1) * ((col2 - col1 - 40) // 4)
            draw.line((bx, y + row_h - 18, bx + (col2 - col1 - 40) // 4 - 16, y + row_h - 18),
                      fill=(150, 150, 150), width=2)
        cells.append((field, (col1, y, col2, y + row_h)))
    sig_top = SIZE[1] - MARGIN - 330
    _text(draw, (MARGIN, sig_top), "FUNCIONARIOS DE LA MESA DIRECTIVA DE CASILLA", 36, bold=True)
    for i, role in enumerate(("PRESIDENTE/A", "SECRETARIO/A", "1er. ESCRUTADOR/A")):
        x = MARGIN + i * (width // 3) + 30
        draw.line((x, sig_top + 250, x + width // 3 - 80, sig_top + 250), fill=line, width=3)
        _text(draw, (x, sig_top + 265), f"NOMBRE Y FIRMA — {role}", 26, fill=(80, 80, 80))
    return cells


def render(key: str, values: dict[str, Value], *, seed: int, contest: Contest | None = None,
           election_name: str = "Proceso Electoral Local",
           ballot: Sequence[str] | None = None, distrito: int | None = None) -> Image.Image:
    """A 300-dpi RGB scan of the acta `key` with `values` handwritten (blank: SIN_DATO or missing).

    `ballot`: the vote fields printed on this acta (election.ballot(key)); default all the contest's.
    `distrito`: printed in the identity boxes (see `key_fields`)."""
    rng = random.Random(f"catd-specimen:{seed}:{key}")
    contest = contest or DEFAULT_CONTEST
    paper = (rng.randint(244, 252), rng.randint(241, 249), rng.randint(228, 242))
    page = Image.new("RGB", SIZE, paper)
    cells = _print_form(page, key, contest, election_name, ballot, distrito)
    pen = Pen(ImageDraw.Draw(page), rng)
    words_col = cells[0][1][2] + 20 if cells else 0
    for field, (x0, y0, x1, y1) in cells:
        value = values.get(field, "SIN_DATO")
        h = y1 - y0
        if value == "ILEGIBLE":
            pen.digits(str(rng.randint(10, 999)), x0 + 40, y1 - h * 0.22, h * 0.62)
            pen.scribble((x0 + 30, y0 + h * 0.2, x0 + (x1 - x0) * 0.7, y1 - h * 0.15), 14)
        elif isinstance(value, int):
            pen.digits(str(value), x0 + 40 + rng.uniform(0, 60), y1 - h * 0.22, h * 0.62)
            pen.words(page, in_words(value), words_col + rng.randint(0, 30), int(y1 - h * 0.25), int(h * 0.3))
    sig_y = SIZE[1] - MARGIN - 130
    for i in range(3):
        x = MARGIN + i * ((SIZE[0] - 2 * MARGIN) // 3) + 60
        pen.scribble((x, sig_y - 120, x + 520, sig_y), rng.randint(9, 14))
    # A scanner's optics and sensor: a little blur, a skewed feed, grain.
    page = page.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 0.9)))
    angle = rng.uniform(0.3, 1.5) * rng.choice((-1, 1))
    bed = (rng.randint(225, 240),) * 3
    page = page.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=bed)
    sigma = rng.uniform(1.5, 4.0)  # flatbed sensor grain: measured 1.5 (typical) and 4 (noisy)
    grain = Image.frombytes("L", SIZE, rng.randbytes(SIZE[0] * SIZE[1])).point(_noise_lut(sigma))
    return ImageChops.add(page, Image.merge("RGB", (grain, grain, grain)), 1.0, -128)


def encode(image: Image.Image, *, seed: int, format: str = "JPEG") -> bytes:
    """The bytes a scanner would write: JPEG q85–92, PNG or LZW TIFF, all tagged 300 dpi."""
    buffer = BytesIO()
    fmt = format.upper()
    if fmt in ("JPEG", "JPG"):
        quality = random.Random(f"catd-specimen-q:{seed}").randint(85, 92)
        image.save(buffer, "JPEG", quality=quality, dpi=(DPI, DPI))
    elif fmt == "PNG":
        image.save(buffer, "PNG", dpi=(DPI, DPI), compress_level=1)
    elif fmt in ("TIFF", "TIF"):
        image.save(buffer, "TIFF", dpi=(DPI, DPI), compression="tiff_lzw")
    else:
        raise ValueError(f"unknown specimen format {format!r}")
    return buffer.getvalue()


EXAMPLE_ELECTION = Path(__file__).resolve().parent.parent / "catd_node" / "data" / "election.json"
SUFFIXES = {"JPEG": ".jpg", "JPG": ".jpg", "PNG": ".png", "TIFF": ".tif", "TIF": ".tif"}


def write(path: Path, key: str, values: dict[str, Value], *, seed: int, format: str = "JPEG",
          contest: Contest | None = None, ballot: Sequence[str] | None = None,
          election_name: str = "Proceso Electoral Local", distrito: int | None = None) -> Path:
    """Render and save one scan at `path` (written whole, then renamed, like a careful scanner)."""
    image = render(key, values, seed=seed, contest=contest, ballot=ballot, election_name=election_name,
                   distrito=distrito)
    data = encode(image, seed=seed, format=format)
    temp = path.with_name(f".{path.name}.part")
    temp.write_bytes(data)
    temp.replace(path)
    return path


def control_values(total: int, lista_nominal: int, representatives: int) -> dict[str, int]:
    """The controls of an acta whose votes sum to `total`, under first- and second-form names."""
    representatives = min(total, representatives)
    left = max(0, lista_nominal - total)
    return {"TOTAL_ASENTADO": total, "PERSONAS_VOTARON": total - representatives,
            "REPRESENTANTES_VOTARON": representatives, "BOLETAS_SOBRANTES": left,
            "TOTAL_VOTOS_ASENTADO": total, "TOTAL_PERSONAS_VOTARON": total - representatives,
            "TOTAL_REP_PARTIDO_CI_VOTARON": representatives, "TOTAL_VOTOS_SACADOS": total,
            "TOTAL_BOLETAS_SOBRANTES": left}


def random_values(contest: Contest, lista_nominal: int, rng: random.Random,
                  illegible: float = 0.0, ballot: Sequence[str] | None = None) -> dict[str, Value]:
    """Plausible results for the fields on the ballot (default: all of the contest's): votes
    within the nominal list, controls consistent with them."""
    fields = list(ballot) if ballot is not None else list(contest.votes)
    turnout = rng.uniform(0.45, 0.75)
    voters = int(lista_nominal * turnout)
    weights = [rng.random() ** 2 for _ in fields]
    total_w = sum(weights) or 1.0
    votes = {field: int(voters * w / total_w) for field, w in zip(fields, weights, strict=True)}
    total = sum(votes.values())
    controls = control_values(total, lista_nominal, rng.randint(0, 6))
    values: dict[str, Value] = {**votes}
    for field in contest.controls:
        values[field] = controls.get(field, rng.randint(0, 50))
    for field in values:
        if rng.random() < illegible:
            values[field] = "ILEGIBLE"
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulacro.specimen", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--count", type=int, default=5)
    parser.add_argument("--election", type=Path, default=EXAMPLE_ELECTION)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--format", default="JPEG", choices=("JPEG", "PNG", "TIFF"))
    parser.add_argument("--names", default="key", choices=("key", "scan", "mixed"),
                        help="file names: the acta key, a scanner's counter (scan_0001), or alternating")
    parser.add_argument("--illegible", type=float, default=0.02, help="chance a field is written illegibly")
    parser.add_argument("--manifest", type=Path, help="also write file → acta and values as JSON here "
                        "(kept out of --out: a drop folder would take it for a stray file)")
    args = parser.parse_args(argv)
    election: Election = load_election(args.election)
    args.out.mkdir(parents=True, exist_ok=True)
    specs = list(election.actas.values())
    rng = random.Random(args.seed)
    manifest = []
    for i in range(args.count):
        spec = specs[i % len(specs)]
        contest = election.contests[spec.contest]
        ballot = election.ballot(spec.key)
        values = random_values(contest, spec.lista_nominal, rng, args.illegible, ballot)
        by_key = args.names == "key" or (args.names == "mixed" and i % 2 == 0)
        stem = spec.key if by_key and i < len(specs) else f"scan_{i + 1:04d}"
        path = args.out / f"{stem}{SUFFIXES[args.format]}"
        write(path, spec.key, values, seed=args.seed * 100_003 + i, format=args.format, contest=contest,
              ballot=ballot, election_name=election.name, distrito=spec.distrito)
        manifest.append({"file": path.name, "acta": spec.key, "values": values})
        print(path)
    if args.manifest:
        args.manifest.write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
