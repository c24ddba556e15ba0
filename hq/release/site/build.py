"""The public results site, static files written with each cut under `publicacion/sitio/`.

Static on purpose: any web server or CDN can serve it when the site is attacked, and
`catd-hq serve` serves it read-only at `/`. Links are relative, so it works from any prefix
and from a copy on disk. Each file is replaced whole (written beside, then renamed). Acta
pages are written only when their row changed since the last cut (`.actas.json` keeps each
row's digest): at national size most of 170,648 rows do not change between cuts.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
import markupsafe

from catd_node import actas, tlog, wording
from catd_node.catalog import split_clave_acta
from hq import tlog as hq_tlog
from hq.count import ActaRecord
from hq.release import candidaturas, manifest, trust, write
from hq.release.cut import CutInput
from hq.release.manifest import Manifest
from hq.release.site import charts, errors, pages
from hq.store import HQDir

log = logging.getLogger("catd.hq.site")
SITE = "sitio"
STATE = ".actas.json"
SECCIONES_STATE = ".secciones.json"
# Part of every page digest: a new layout of the acta and sección pages rewrites them once.
PAGES_VERSION = "2"
HERE = Path(__file__).parent
TOOL = HERE.parents[2] / "tools" / "verify_release.py"
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                          undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_BREAK = markupsafe.Markup("_<wbr>")
_IMAGE_TYPES = ((b"RIFF", "webp"), (b"\xff\xd8\xff", "jpg"), (b"\x89PNG", "png"))


def put(path: Path, data: bytes, made: set[Path] | None = None) -> None:
    """Replace `path` whole: a reader (or a CDN fetching it) never sees half a page. `made`
    remembers the folders already made (one mkdir per folder, not per page)."""
    if made is None or path.parent not in made:
        path.parent.mkdir(parents=True, exist_ok=True)
        if made is not None:
            made.add(path.parent)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk leaves no half-written page (issue 21)
        raise


def link(source: Path, target: Path) -> None:
    """`target` as a hard link to `source` (a copy across file systems), unless present."""
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class Site:
    def __init__(self, hq: HQDir, folder: Path, data: CutInput, built: Manifest) -> None:
        self.hq, self.folder, self.data, self.built = hq, folder, data, built
        self.root = folder / SITE
        self.election = data.election
        self.records = data.records
        self.cut_line = write.cut_line(_local(built), self.election)
        self.writer = write.RowWriter(self.election)
        self.made: set[Path] = set()
        self.candidacies = candidaturas.candidacies(self.election, data.names_file)
        self.plans: dict[tuple[str, tuple[str, ...]], pages.Plan] = {}
        self.row_digests: dict[str, str] = {}
        # the row's column names, breakable after "_" on a phone (once, not per acta page)
        self.header = [markupsafe.escape(name).replace("_", _BREAK) for name in self.writer.layout.header]

    def render(self, template: str, path: str, **context: Any) -> None:
        depth = path.count("/")
        html = _ENV.get_template(template).render(
            election=self.election, cut_line=self.cut_line, final=self.built.final, root="../" * depth,
            page=template.removesuffix(".html"), **context)
        put(self.root / path, html.encode("utf-8"), self.made)

    def front(self) -> None:
        summary = write.summary(self.election, self.records.values(), self.built.final)
        fields = summary.fields()
        candidacy_bars = pages.candidacy_bars(self.candidacies, summary, self.election)
        field_bars = pages.field_bars(self.election, summary)
        other_bars = pages.other_bars(self.election, summary)
        self.render(
            "index.html", "index.html", summary=summary, fields=fields, headline=pages.Headline.of(summary),
            candidacy_bars=candidacy_bars,
            candidacy_table=pages.table(candidacy_bars, other_bars, summary),
            field_table=pages.table(field_bars, other_bars, summary),
            chart_candidaturas=charts.bars("g-candidaturas", "Votos por candidatura", candidacy_bars),
            chart_partidos=charts.bars("g-partidos", "Votos por partido y coalición", field_bars),
            progress_capturadas=charts.progress("p-capturadas", "Actas capturadas", summary.capturadas,
                                                summary.esperadas, fields["PORCENTAJE_ACTAS_CAPTURADAS"]),
            progress_contabilizadas=charts.progress(
                "p-contabilizadas", "Actas contabilizadas", summary.contabilizadas, summary.esperadas,
                fields["PORCENTAJE_ACTAS_CONTABILIZADAS"]))

    def listed(self, keys: list[str], depth: str) -> list[dict[str, Any]]:
        """The rows of a table of actas (official order): casilla in words, state, votes, link."""
        out = []
        for key in sorted(keys, key=lambda k: write.order_key(self.election, k)):
            spec = self.election.actas[key]
            record = self.records.get(key)
            out.append({
                "key": key, "casilla": pages.casilla_in_list(spec), "seccion": pages.seccion_title([spec]),
                "seccion_href": depth + pages.seccion_path(spec),
                "estado": "Aún sin acta en la sede" if record is None else _estado(record),
                "votos": "—" if record is None or record.classification.cls == actas.SIN_ACTA
                         else f"{record.classification.total:,}",
                "href": None if record is None else depth + pages.acta_path(self.election, key)})
        return out

    def area_votes(self, keys: list[str]) -> tuple[pages.Headline, pages.Table]:
        summary = pages.area_summary(self.election, self.records, keys, self.built.final)
        bars = pages.candidacy_bars(self.candidacies, summary, self.election)
        others = pages.other_bars(self.election, summary)
        return pages.Headline.of(summary), pages.table(bars, others, summary)

    def areas(self) -> None:
        districts = pages.districts(self.election, self.records)
        whole = pages.Area("total", f"Total {self.election.entidad or 'de la elección'}")
        for area in districts:
            for name in ("esperadas", "capturadas", "contabilizadas", "lista_nominal", "votos"):
                setattr(whole, name, getattr(whole, name) + getattr(area, name))
        self.render("areas.html", "distritos.html", heading="Avance por distrito", areas=districts,
                    caption="Actas y votos por distrito", link=True, total=whole)
        self.render("areas.html", "catd.html", heading="Avance por CATD",
                    areas=pages.catds(self.election, self.records),
                    caption="Actas y votos por Centro de Acopio y Transmisión de Datos", link=False,
                    total=whole)
        for area in districts:
            headline, table = self.area_votes(area.keys)
            self.render("distrito.html", f"distrito/{area.id}.html", area=area, headline=headline,
                        table=table, actas=self.listed(area.keys, "../"))
        self.secciones()

    def secciones(self) -> None:
        """`secciones.html` (consulta tu casilla), a page per hundred of secciones, a page per
        sección: a voter finds their acta from the sección on their credencial, no script. A
        sección's page is rewritten only when what it shows changed (`.secciones.json`)."""
        state_path = self.root / SECCIONES_STATE
        try:
            state: dict[str, str] = json.loads(state_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            state = {}
        by: dict[int, list[str]] = {}
        for key, spec in self.election.actas.items():
            by.setdefault(spec.seccion, []).append(key)
        ranges: dict[str, list[dict[str, Any]]] = {}
        cero: dict[str, Any] | None = None
        names = [(c.label, sorted(c.parties), c.fields, c.propietaria, c.suplente) for c in self.candidacies]
        context = hashlib.sha256(repr(names).encode() + self.data.election_bytes).hexdigest()
        for number in sorted(by):
            specs = [self.election.actas[k] for k in by[number]]
            areas = ", ".join(sorted({wording.area(s, self.election) for s in specs} - {""}))
            title = pages.seccion_title(specs)
            entry = {"number": f"{number:04d}", "title": title, "areas": areas, "actas": len(specs),
                     "href": f"../seccion/{number:04d}.html"}
            if number == 0:   # the mesas of no sección: named on the index itself
                cero = {**entry, "href": "seccion/0000.html"}
            else:
                ranges.setdefault(pages.range_of(number), []).append(entry)
            path = f"seccion/{number:04d}.html"
            # what the page shows follows from its actas' rows (their digests, acta_pages), the
            # names of the candidates and the catalog: checked before anything is computed
            digest = hashlib.sha256("|".join([
                PAGES_VERSION, str(self.built.final), context, areas, title,
                *(self.row_digests.get(k, "-") for k in by[number])]).encode()).hexdigest()
            if state.get(path) == digest and (self.root / path).exists():
                continue
            headline, table = self.area_votes(by[number])
            self.render("seccion.html", path, title=title, areas=areas, actas=self.listed(by[number], "../"),
                        headline=headline, table=table, range=pages.range_of(number))
            state[path] = digest
        for name, items in ranges.items():
            self.render("rango.html", f"secciones/{name}.html", name=name.replace("-", " a "),
                        secciones=items)
        index = [{"name": name.replace("-", " a "), "href": f"secciones/{name}.html", "count": len(items),
                  "first": items[0]["number"], "last": items[-1]["number"]} for name, items in ranges.items()]
        # a key whose digits tell its sección (CLAVE_ACTA; a first-form key need not)
        example = next((s for s in self.election.actas.values()
                        if s.seccion and split_clave_acta(s.key) is not None), None)
        self.render("secciones.html", "secciones.html", ranges=index, cero=cero,
                    example=None if example is None else {"key": example.key,
                                                          "seccion": f"{example.seccion:04d}"})
        put(state_path, json.dumps(state, sort_keys=True).encode())

    def acta_pages(self) -> int:
        """Write the page of every row that changed since the last cut; returns how many."""
        state_path = self.root / STATE
        try:
            state: dict[str, list[str]] = json.loads(state_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            state = {}
        written = 0
        proofs = _Proofs(self.hq, self.data)
        for key, record in self.records.items():
            cells = self.writer.row(record)
            image = self.image(record.image_sha256)
            digest = hashlib.sha256("|".join([PAGES_VERSION, *cells, image or "", record.node]).encode()
                                    ).hexdigest()
            self.row_digests[key] = digest
            page = self.root / pages.acta_path(self.election, key)
            if state.get(key, [""])[0] == digest and page.exists():
                continue
            state[key] = [digest, self.built.name]
            shown = [(name, value[2:-1] if value.startswith('="') else value)
                     for name, value in zip(self.header, cells, strict=True)]
            prueba = proofs.write(self.root / pages.acta_path(self.election, key), record)
            self.render("acta.html", pages.acta_path(self.election, key), key=key, registered=True,
                        estado=_estado(record), observaciones=record.classification.published_observations,
                        image=image, codigo=write.integrity_code(record.image_sha256), cells=shown,
                        since=self.built.name, node=record.node, prueba=prueba, **self.acta_words(record))
            written += 1
        for key in [k for k in state if k not in self.records]:
            spec = self.election.actas.get(key)
            self.render("acta.html", pages.acta_path(self.election, key), key=key, registered=False,
                        words=wording.casilla_words(spec, self.election) if spec else f"Acta {key}",
                        migas=self.migas(key))
            del state[key]
        put(state_path, json.dumps(state, sort_keys=True).encode())
        proofs.close()
        return written

    def migas(self, key: str) -> list[tuple[str, str | None]]:
        """The acta's place, entidad → distrito → sección → casilla, each with its page."""
        spec = self.election.actas.get(key)
        out: list[tuple[str, str | None]] = [(self.election.entidad or "Entidad", "index.html")]
        if spec is None:
            return [*out, ("Fuera de catálogo", None)]
        number = spec.distrito if spec.distrito is not None else spec.municipio
        area = wording.area(spec, self.election)
        if area and number is not None:
            out.append((area, f"distrito/{number:03d}.html"))
        out.append((pages.seccion_title([spec]), pages.seccion_path(spec)))
        return [*out, (wording.casilla(spec), None)]

    def acta_words(self, record: ActaRecord) -> dict[str, Any]:
        """What the acta page says in words: the casilla, its votes party by party, the class
        and, when the totals disagree, by how much."""
        spec = self.election.actas.get(record.key)
        result = record.classification
        field = self.writer.layout.controls.get(write.ASENTADO)
        asentado = record.values.get(field) if field else None
        counted_total = result.total if result.cls != actas.SIN_ACTA else None
        ballot = self.election.ballot(record.key)
        return {
            "words": wording.casilla_words(spec, self.election) if spec else f"Acta {record.key}",
            "clase": wording.class_name(result.cls), "counted": result.cls == actas.COUNTED,
            "votes": pages.acta_votes(self.election, record, self.plans), "total": counted_total,
            "asentado": asentado if isinstance(asentado, int) else None,
            "diferencia": wording.inconsistency(asentado if isinstance(asentado, int) else None,
                                                result.total) if counted_total is not None else "",
            "ilegibles": actas.unreadable_detail(record.values, ballot) if result.unreadable else "",
            "lista_nominal": spec.lista_nominal if spec else None, "migas": self.migas(record.key),
        }

    def image(self, sha: str | None) -> str | None:
        """`imagenes/<sha>.<ext>` when HQ holds the image (linked into the site once)."""
        if not write.integrity_code(sha):
            return None   # not an image's SHA-256 (a hostile node's text): no file to show
        assert sha is not None
        blobs = self.hq.blobs()
        if not blobs.has(sha):
            # HQ cannot show it (not received yet, or lost: hq/blobcheck.py moves a damaged file
            # aside): the page says the image has not reached HQ, and no copy stays under its name
            for ext in ("webp", "jpg", "png", "bin"):
                (self.root / "imagenes" / f"{sha}.{ext}").unlink(missing_ok=True)
            return None
        source = blobs.path(sha)
        try:
            with source.open("rb") as f:
                magic = f.read(12)
        except FileNotFoundError:
            return None
        ext = next((e for m, e in _IMAGE_TYPES if magic.startswith(m)), "bin")
        path = f"imagenes/{sha}.{ext}"
        if not (self.root / path).exists():
            if blobs.problem(sha) is not None:   # hashed once, when first published
                return None
            link(source, self.root / path)
        return path

    def downloads(self) -> None:
        cuts = []
        for path in sorted(self.folder.glob("*_PREP_*.zip"), reverse=True):
            link(path, self.root / "descargas" / path.name)
            with zipfile.ZipFile(path) as archive:
                data = archive.read(manifest.NAME)
            m = manifest.parse(data, path.name)
            cuts.append({"number": m.number, "final": m.final, "name": path.name,
                         "sha256": manifest.sha256(data), "size": f"{path.stat().st_size / 1e6:,.1f} MB"})
        put(self.root / "hq.pub", self.data.hq_pub)
        if TOOL.exists():
            put(self.root / "herramientas" / "verify_release.py", TOOL.read_bytes())
        self.render("descargas.html", "descargas.html", cuts=cuts, hq_key=self.built.hq_key,
                    llaves=self.keys_file(),
                    election_sha256=hashlib.sha256(self.data.election_bytes).hexdigest())

    def keys_file(self) -> dict[str, Any] | None:
        """The keys file published before the night (hq/release/trust.py), offered whole under
        `llaves/` — the folder a party passes as `--keys`; None when HQ has not published it."""
        source = trust.folder(self.hq)
        doc = trust.read(self.hq)
        if doc is None:
            return None
        bundle = io.BytesIO()
        with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(source.rglob("*")):
                if path.is_file() and not path.name.startswith("."):
                    data, name = path.read_bytes(), path.relative_to(source)
                    put(self.root / "llaves" / name, data)
                    # fixed times: the same keys make the same zip
                    member = zipfile.ZipInfo(f"llaves/{name.as_posix()}", (2000, 1, 1, 0, 0, 0))
                    archive.writestr(member, data, zipfile.ZIP_DEFLATED)
        put(self.root / "llaves.zip", bundle.getvalue())
        added = doc.get("added_after_publication", {})
        keys = [{"node": node, "href": f"llaves/nodos/{node}.pub", "sha256": digest, "added": added.get(node)}
                for node, digest in sorted(doc["nodes"].items())
                if (source / "nodos" / f"{node}.pub").is_file()]
        published = wording.official_time_text(doc["published_at"], self.election)
        return {"version": doc["version"], "published_at": published, "nodes": len(doc["nodes"]),
                "added": sorted(added), "catd": keys}

    def write(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        for name in ("estilo.css", "icono.svg"):
            put(self.root / name, (HERE / "static" / name).read_bytes())
        put(self.root / "404.html", errors.error_html(404).encode("utf-8"))
        written = self.acta_pages()
        self.areas()
        self.downloads()
        self.front()    # last: the front page names the cut every other page already reflects
        log.info("site written cut=%s acta_pages=%d", self.built.name, written)


class _Proofs:
    """`<acta>.prueba.json` beside each acta page written: the inclusion proof of every packet
    behind its row in the cut's log checkpoint (docs/tlog.md), checkable with the checkpoint
    it carries and hq.pub alone."""

    def __init__(self, hq: HQDir, data: CutInput) -> None:
        self.hq, self.log = hq, data.log
        self.tree: tlog.Levels | None = None
        self.conn: Any = None

    def write(self, page: Path, record: ActaRecord) -> str | None:
        if self.log is None:
            return None
        if self.tree is None:
            self.tree, self.conn = tlog.Levels(self.log[2]), self.hq.connect()
        size = self.tree.size
        found = []
        for seq in record.evidence:
            index = hq_tlog.packet_index(self.conn, record.node, seq)
            if index is None or index >= size:
                continue
            found.append({"node": record.node, "seq": seq,
                          **tlog.proof_json(index, size, tlog.inclusion_proof(self.tree.node, index, size))})
        doc = {"format": "catd/prueba/v1", "acta": record.key, "checkpoint": self.log[1].decode(),
               "packets": found}
        target = page.with_name(page.stem + ".prueba.json")
        put(target, json.dumps(doc, indent=1, ensure_ascii=False).encode())
        return target.name

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def _estado(record: ActaRecord) -> str:
    return record.classification.label


def _local(built: Manifest) -> datetime:
    return datetime.strptime(built.cut, "%Y-%m-%dT%H:%M")


def write_site(hq: HQDir, folder: Path, data: CutInput, built: Manifest) -> None:
    """Write (or bring up to date) `folder/sitio/` for the cut just published."""
    Site(hq, folder, data, built).write()


def placeholder(folder: Path) -> Path:
    """The site folder, with a page saying nothing is published yet when it is empty."""
    root = folder / SITE
    if not (root / "index.html").exists():
        put(root / "index.html", _PLACEHOLDER.encode("utf-8"))
    return root


_PLACEHOLDER = """<!doctype html>
<html lang="es"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>PREP · sin publicación aún</title></head>
<body><main><h1>Programa de Resultados Electorales Preliminares</h1>
<p>Aún no se ha publicado ningún corte.</p></main></body></html>
"""

