"""A capture is bound to the acta's image (issue 12): capture, verification and resolution need an
image that an acta.digitized or acta.assigned packet links to that acta; a second image for an
acta is an explicit, recorded replacement; the verifier sees the image the capture used."""

from __future__ import annotations

from typing import Any

from catd_node.datadir import DataDir
from tests.web.conftest import GOOD, digitize, hidden, packets_of, values_form

A = "DIP-14-01-0123-B01"
B = "DIP-14-01-0123-C01"
NEVER_SCANNED = "DIP-14-01-0124-B01"
VALUES = {k: int(v) for k, v in GOOD.items()}


def _append(datadir: DataDir, kind: str, body: dict[str, Any]) -> int:
    """A packet as a node without the web check would have recorded it."""
    ledger = datadir.ledger()
    try:
        return ledger.append(kind, body).seq
    finally:
        ledger.close()


def _nothing_recorded_after(datadir: DataDir, seq: int) -> None:
    kinds = ("acta.captured", "acta.verified", "acta.mismatch", "acta.assigned")
    late = [(k, p["seq"]) for k in kinds for p in packets_of(datadir, k) if p["seq"] > seq]
    assert not late, f"recorded after a refusal: {late}"


def _head(datadir: DataDir) -> int:
    ledger = datadir.ledger()
    try:
        return ledger.head().seq
    finally:
        ledger.close()


async def test_a_capture_with_another_actas_image_is_refused(clerks, signed_in):
    digitize(clerks, A, seed=1)
    sha_b = digitize(clerks, B, seed=2)
    ana = await signed_in("ana")
    _, page = await ana.get("/captura")
    before = _head(clerks)
    status, page = await ana.post("/captura", {"csrf": hidden(page, "csrf"), "acta": A, "imagen": sha_b,
                                               **values_form(GOOD)})
    assert status == 409
    assert A in page and sha_b in page and "no está vinculada" in page
    _nothing_recorded_after(clerks, before)


async def test_an_acta_never_scanned_cannot_be_captured(clerks, signed_in):
    sha_a = digitize(clerks, A, seed=3)
    ana = await signed_in("ana")
    await ana.post("/acopio", {"clave": NEVER_SCANNED})
    before = _head(clerks)
    for image in (sha_a, "ab" * 32, ""):
        status, page = await ana.post("/captura", {"acta": NEVER_SCANNED, "imagen": image,
                                                   **values_form(GOOD)})
        assert status == 409, image
        assert NEVER_SCANNED in page and (image or "sin imagen") in page
    _nothing_recorded_after(clerks, before)


async def test_verification_and_resolution_refuse_a_capture_on_an_unbound_image(clerks, signed_in):
    """A capture recorded on another acta's image (as the unchecked web app allowed) is never
    verified nor resolved: its values could come from the wrong sheet."""
    digitize(clerks, A, seed=4)
    sha_b = digitize(clerks, B, seed=5)
    first = _append(clerks, "acta.captured", {"acta": A, "image_sha256": sha_b, "values": VALUES,
                                              "by": "ana", "round": 1})
    beto = await signed_in("beto")
    status, page = await beto.post("/verificacion", {"acta": A, "imagen": sha_b, **values_form(GOOD)})
    assert status == 409 and A in page and sha_b in page
    _nothing_recorded_after(clerks, first)

    _append(clerks, "acta.captured", {"acta": A, "image_sha256": sha_b, "values": {**VALUES, "PAN": 1},
                                      "by": "beto", "round": 2})
    mismatch = _append(clerks, "acta.mismatch", {"acta": A, "captured_seq": first, "fields": ["PAN"],
                                                 "by": "beto"})
    coco = await signed_in("coco")
    status, page = await coco.post("/coordinacion/resolver", {"acta": A, **values_form(GOOD)})
    assert status == 409 and A in page and sha_b in page
    _nothing_recorded_after(clerks, mismatch)


async def test_the_verifier_sees_and_records_the_captures_image_whatever_the_form_says(clerks, signed_in):
    sha_a = digitize(clerks, A, seed=6)
    sha_b = digitize(clerks, B, seed=7)
    ana, beto = await signed_in("ana"), await signed_in("beto")
    _, page = await ana.get("/captura")
    assert hidden(page, "acta") == A
    await ana.post("/captura", {"acta": A, "imagen": sha_a, **values_form(GOOD)})
    status, page = await beto.get("/verificacion")
    assert status == 200 and hidden(page, "acta") == A and hidden(page, "imagen") == sha_a
    assert f"/imagenes/{sha_a}" in page and sha_b not in page
    before = _head(clerks)
    for tampered in (sha_b, "cd" * 32):
        status, page = await beto.post("/verificacion", {"acta": A, "imagen": tampered, **values_form(GOOD)})
        assert status == 409 and A in page and tampered in page
    _nothing_recorded_after(clerks, before)
    status, _ = await beto.post("/verificacion", {"acta": A, "imagen": sha_a, **values_form(GOOD)})
    assert status == 200
    [verified] = packets_of(clerks, "acta.verified")
    assert verified["image_sha256"] == sha_a
    assert [c["image_sha256"] for c in packets_of(clerks, "acta.captured")] == [sha_a, sha_a]


async def test_a_second_image_for_an_acta_is_an_explicit_recorded_replacement(clerks, signed_in):
    old = digitize(clerks, A, seed=8)
    ana, beto = await signed_in("ana"), await signed_in("beto")
    _, page = await ana.get("/captura")
    await ana.post("/captura", {"acta": A, "imagen": old, **values_form(GOOD)})
    new = digitize(clerks, None, seed=9)
    _, page = await ana.get("/captura")
    assert "Imagen sin identificar" in page and hidden(page, "imagen") == new

    before = _head(clerks)
    status, page = await ana.post("/captura/asignar", {"imagen": new, "clave": A})
    assert status == 409 and A in page and old in page and 'name="reemplazar"' in page
    _nothing_recorded_after(clerks, before)

    status, page = await ana.post("/captura/asignar", {"imagen": new, "clave": A, "reemplazar": "1"})
    assert status == 200
    [assigned] = packets_of(clerks, "acta.assigned")
    assert (assigned["acta"], assigned["image_sha256"], assigned["replaces"], assigned["by"]) == (
        A, new, old, "ana")
    # The capture typed from the old image is void: A goes back to capture, with the new image.
    assert hidden(page, "acta") == A and hidden(page, "imagen") == new
    status, page = await beto.get("/verificacion")
    assert "No hay actas pendientes" in page
    status, page = await beto.post("/verificacion", {"acta": A, "imagen": old, **values_form(GOOD)})
    assert status == 409 and old in page
    status, page = await ana.post("/captura", {"acta": A, "imagen": old, **values_form(GOOD)})
    assert status == 409 and old in page
    status, page = await ana.post("/captura", {"acta": A, "imagen": new, **values_form(GOOD)})
    assert status == 200 and f"Acta {A} capturada" in page
    status, page = await beto.get("/verificacion")
    assert hidden(page, "acta") == A and hidden(page, "imagen") == new
    status, page = await beto.post("/verificacion", {"acta": A, "imagen": new, **values_form(GOOD)})
    assert status == 200 and f"Acta {A} verificada" in page
    [verified] = packets_of(clerks, "acta.verified")
    assert verified["image_sha256"] == new

    # A verified acta keeps its image: a later replacement is refused.
    late = digitize(clerks, None, seed=10)
    before = _head(clerks)
    status, page = await ana.post("/captura/asignar", {"imagen": late, "clave": A, "reemplazar": "1"})
    assert status == 409 and "verificada" in page
    _nothing_recorded_after(clerks, before)
