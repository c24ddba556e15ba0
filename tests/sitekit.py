"""A published cut of the real CDMX 2024 Jefatura file, for the public site's tests.

The first rows of `domain-data/cdmx-2024/bd-gobierno.csv.gz` (voto desde el extranjero in
sección 0000, then district 05's casillas) go through the rehearsal's own plan — the catalog
`catd-hq catalog` writes, with the candidacies file beside the release travelling into it —
and each acta through a real node chain as its procedure writes it (acopio, a real WEBP image,
captured, verified), delivered by HQ's own receive path, and cut by `cut.publish`. No clerk
web app: a few seconds rather than a rehearsal's minute.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from catd_node import actas
from hq import store as hq_store
from hq.release import cut, trust
from hq.store import HQDir
from simulacro import plan as plan_mod
from tests import releasekit
from tests.hq import countkit as ck
from tests.hqkit import make_node

CDMX = releasekit.DOMAIN / "cdmx-2024"
SOURCE = CDMX / "bd-gobierno.csv.gz"
CANDIDATES = ("CLARA MARINA BRUGADA MOLINA", "SANTIAGO TABOADA CORTINA", "SALOMON CHERTORIVSKI WOLDENBERG")
CUT_AT = datetime(2024, 6, 2, 22, 0)


def acta_image(key: str, values: dict[str, str]) -> bytes:
    """A legible image of the acta: its key and what the clerks read on it."""
    img = Image.new("RGB", (850, 1100), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=26)
    draw.text((40, 30), f"ACTA {key}", fill="black", font=font)
    for i, (field, value) in enumerate(values.items()):
        draw.text((60, 100 + i * 40), f"{field}: {value}", fill=(20, 20, 140), font=font)
    out = io.BytesIO()
    img.save(out, "WEBP", quality=50)
    return out.getvalue()


def typed_value(text: str) -> int | str:
    if text.isdigit():
        return int(text)
    return actas.ILEGIBLE if text == plan_mod.ILEGIBLE else actas.SIN_DATO


@dataclass(frozen=True)
class Published:
    hq: HQDir
    zip: Path
    plan: plan_mod.Plan

    @property
    def keys(self) -> Path:
        return trust.folder(self.hq)

    @property
    def site(self) -> Path:
        return self.hq.root / cut.PUBLICACION / "sitio"

    def candidacies_csv(self) -> str:
        with zipfile.ZipFile(self.zip) as archive:
            name = next(n for n in archive.namelist() if n.endswith("_CANDIDATURAS.csv"))
            return archive.read(name).decode("utf-8-sig")


def build(root: Path, limit: int = 40) -> Published:
    """HQ with the first `limit` rows of the CDMX file reported by their CATDs, and its cut."""
    the_plan = plan_mod.build(SOURCE, root / "plan", limit=limit)
    hq = hq_store.init(root / "hq", the_plan.election_path)
    nodes = {n: make_node(root / n, hq, n, the_plan.election_path) for n in the_plan.nodes}
    trust.publish(hq)     # the keys parties hold before the night (catd-hq keys publish)
    for acta in the_plan.actas:
        node = nodes[acta.node]
        if acta.kind == plan_mod.SIN_ACTA_KIND:
            ck.sin_acta(node, acta.key, acta.reason or "paquete_no_entregado")
            continue
        values = {f: typed_value(t) for f, t in acta.typed.items()}
        image = acta_image(acta.key, acta.typed)
        ck.acopio(node, acta.key)
        digitized = ck.digitize(node, acta.key, image=image)
        hq.blobs().put(image)     # the node's sync would upload it
        ck.report(node, acta.key, values, sha=digitized.body["image"]["sha256"])
    for node in nodes.values():
        ck.deliver(hq, node)
    published = cut.publish(hq, at=CUT_AT)
    return Published(hq, published.path, the_plan)
