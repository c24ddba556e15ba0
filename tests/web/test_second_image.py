"""The coordinator's dashboard counts and lists actas that received a second, different image
nobody has decided on (issue 22), and the decision — keep the acta's image or replace it —
is a signed packet that takes the acta off the list."""

from __future__ import annotations

import re

from tests.web.conftest import GOOD, digitize, packets_of, values_form

KEPT = "DIP-14-01-0123-B01"
REPLACED = "DIP-14-01-0124-B01"
VERIFIED = "DIP-14-01-0125-B01"


def listed(page: str) -> list[str]:
    """The keys in the dashboard's «otra imagen» section, one per undecided image."""
    section = re.search(r'<section class="card" id="otra-imagen">(.*?)</section>', page, re.S)
    return re.findall(r"<tr><td>([^<]+)</td>", section.group(1)) if section else []


async def second_image_count(coco) -> int:
    async with coco.session.get(f"{coco.base}/status") as r:
        return int((await r.json())["actas"]["second_image"])


async def test_second_images_are_counted_listed_and_decided(clerks, signed_in):
    first = {key: digitize(clerks, key, seed=n) for n, key in enumerate((KEPT, REPLACED, VERIFIED), 10)}
    digitize(clerks, KEPT, seed=10)                 # the same bytes again: not a second image
    ana, beto, coco = await signed_in("ana"), await signed_in("beto"), await signed_in("coco")
    assert await second_image_count(coco) == 0
    status, page = await coco.get("/tablero")
    assert status == 200 and listed(page) == [] and "Con otra imagen sin resolver" in page

    # VERIFIED is captured and verified on its first image; then every acta gets another image.
    await ana.post("/captura", {"acta": VERIFIED, "imagen": first[VERIFIED], **values_form(GOOD)})
    await beto.post("/verificacion", {"acta": VERIFIED, "imagen": first[VERIFIED], **values_form(GOOD)})
    second = {key: digitize(clerks, key, seed=n) for n, key in enumerate((KEPT, REPLACED, VERIFIED), 20)}
    assert await second_image_count(coco) == 3
    status, page = await coco.get("/tablero")
    assert listed(page) == [KEPT, REPLACED, VERIFIED]
    assert all(f"/imagenes/{second[k]}" in page and f"/imagenes/{first[k]}" in page for k in second)
    assert page.count('value="reemplazar"') == 2     # a verified acta's image is not replaced
    status, metrics = await coco.get("/metrics")
    assert 'catd_actas{stage="second_image"} 3' in metrics

    # Keep: the acta's image stands, recorded with both images and who decided.
    status, page = await coco.post("/coordinacion/otra-imagen",
                                   {"acta": KEPT, "imagen": second[KEPT], "decision": "conservar"})
    assert status == 200 and "Se conservó la imagen del acta" in page and KEPT not in listed(page)
    [kept] = packets_of(clerks, "acta.image_kept")
    assert {k: kept[k] for k in ("acta", "image_sha256", "other_sha256", "by")} == {
        "acta": KEPT, "image_sha256": first[KEPT], "other_sha256": second[KEPT], "by": "coco"}

    # Replace: the other image becomes the acta's, and the capture is offered on it.
    status, page = await coco.post("/coordinacion/otra-imagen",
                                   {"acta": REPLACED, "imagen": second[REPLACED], "decision": "reemplazar"})
    assert status == 200 and listed(page) == [VERIFIED]
    [assigned] = packets_of(clerks, "acta.assigned")
    assert (assigned["acta"], assigned["image_sha256"], assigned["replaces"]) == (
        REPLACED, second[REPLACED], first[REPLACED])

    # A verified acta: replacing is refused, keeping is the decision left.
    status, page = await coco.post("/coordinacion/otra-imagen",
                                   {"acta": VERIFIED, "imagen": second[VERIFIED], "decision": "reemplazar"})
    assert status == 409 and "ya está verificada" in page and listed(page) == [VERIFIED]
    status, page = await coco.post("/coordinacion/otra-imagen",
                                   {"acta": VERIFIED, "imagen": second[VERIFIED], "decision": "conservar"})
    assert status == 200 and listed(page) == []
    assert await second_image_count(coco) == 0

    # Deciding twice, or on an image that is no other image of the acta, is refused and lost nothing.
    status, page = await coco.post("/coordinacion/otra-imagen",
                                   {"acta": KEPT, "imagen": second[KEPT], "decision": "conservar"})
    assert status == 409 and "no es otra imagen pendiente" in page
    status, page = await coco.post("/coordinacion/otra-imagen",
                                   {"acta": KEPT, "imagen": second[KEPT], "decision": "borrar"})
    assert status == 422 and "decision" in page
    assert len(packets_of(clerks, "acta.image_kept")) == 2

    # Only the coordinator decides.
    status, _ = await ana.post("/coordinacion/otra-imagen",
                               {"acta": KEPT, "imagen": second[KEPT], "decision": "conservar"})
    assert status == 403


async def test_the_capture_page_warns_only_of_undecided_images(clerks, signed_in):
    first = digitize(clerks, KEPT, seed=1)
    other = digitize(clerks, KEPT, seed=2)
    ana, coco = await signed_in("ana"), await signed_in("coco")
    status, page = await ana.get("/captura")
    assert status == 200 and f'name="imagen" value="{other}"' in page and "Llegó otra imagen" in page
    await coco.post("/coordinacion/otra-imagen", {"acta": KEPT, "imagen": other, "decision": "conservar"})
    status, page = await ana.get("/captura")
    assert status == 200 and f"/imagenes/{first}" in page and "Llegó otra imagen" not in page
