"""The CATD procedure through the web app: acopio, capture, blind verification, mismatch resolution."""

from __future__ import annotations

import re

from catd_node import actas
from tests.web.conftest import GOOD, digitize, hidden, packets_of, values_form

KEY = "DIP-14-01-0123-B01"


async def capture(clerk, key: str = KEY, values: dict[str, str] = GOOD) -> tuple[int, str]:
    status, page = await clerk.get("/captura")
    assert status == 200 and hidden(page, "acta") == key
    form = {"csrf": hidden(page, "csrf"), "acta": key, "imagen": hidden(page, "imagen"),
            **values_form(values)}
    return await confirmed(clerk, "/captura", form)


async def confirmed(clerk, path: str, form: dict[str, str]) -> tuple[int, str]:
    """Post the form; when the node asks to confirm an implausible value, confirm it (these
    tests mean the values they send; test_plausibility.py tests the question itself)."""
    status, page = await clerk.post(path, form)
    if status == 422 and (m := re.search(r'name="confirmar" value="([0-9a-f]+)"', page)):
        status, page = await clerk.post(path, {**form, "confirmar": m.group(1)})
    return status, page


async def verify(clerk, key: str = KEY, values: dict[str, str] = GOOD) -> tuple[int, str]:
    status, page = await clerk.get("/verificacion")
    assert status == 200 and hidden(page, "acta") == key
    form = {"acta": key, "imagen": hidden(page, "imagen"), **values_form(values)}
    return await confirmed(clerk, "/verificacion", form)


async def test_capture_then_blind_verification_makes_the_acta_verified(clerks, signed_in):
    sha = digitize(clerks, KEY, seed=1)
    ana = await signed_in("ana")
    status, page = await ana.get("/captura")
    assert status == 200
    assert f"/imagenes/{sha}" in page and 'name="v_PAN"' in page and 'name="v_BOLETAS_SOBRANTES"' in page
    status, page = await capture(ana)
    assert status == 200 and f"Acta {KEY} capturada" in page
    [captured] = packets_of(clerks, "acta.captured")
    assert captured["by"] == "ana" and captured["round"] == 1 and captured["image_sha256"] == sha
    assert captured["values"]["PAN"] == 120 and captured["values"]["MORENA"] == 150

    beto = await signed_in("beto")
    status, page = await beto.get("/verificacion")
    assert status == 200 and hidden(page, "acta") == KEY
    assert 'value="120"' not in page and 'value="150"' not in page  # blind: first entry not shown
    status, page = await verify(beto)
    assert status == 200 and f"Acta {KEY} verificada: Contabilizada" in page
    [verified] = packets_of(clerks, "acta.verified")
    assert verified == {
        "seq": verified["seq"], "acta": KEY, "image_sha256": sha, "values": captured["values"],
        "class": actas.COUNTED, "observations": [], "total": 432, "captured_seq": captured["seq"],
        "by": "beto",
    }
    assert not packets_of(clerks, "acta.mismatch")
    coco = await signed_in("coco")
    status, page = await coco.get("/tablero")
    assert status == 200 and KEY in page and "verificada" in page


async def test_mismatch_goes_to_the_coordinator_who_decides(clerks, signed_in):
    digitize(clerks, KEY, seed=2)
    ana, beto, coco = await signed_in("ana"), await signed_in("beto"), await signed_in("coco")
    await capture(ana)
    status, page = await verify(beto, values={**GOOD, "PAN": "121", "NULOS": "I"})
    assert status == 200 and "no coinciden en NULOS, PAN" in page
    [mismatch] = packets_of(clerks, "acta.mismatch")
    [first] = [c for c in packets_of(clerks, "acta.captured") if c["round"] == 1]
    assert mismatch == {"seq": mismatch["seq"], "acta": KEY, "captured_seq": first["seq"],
                        "fields": ["NULOS", "PAN"], "by": "beto"}
    assert not packets_of(clerks, "acta.verified")
    status, page = await beto.get("/verificacion")
    assert "No hay actas pendientes" in page  # not offered for verification again

    status, page = await coco.get("/coordinacion/discrepancias")
    assert KEY in page and "NULOS, PAN" in page
    status, page = await coco.get(f"/coordinacion/resolver?acta={KEY}")
    assert status == 200 and ">120<" in page and ">121<" in page and ">ILEGIBLE<" in page
    assert 'name="v_PAN" value=""' in page and 'name="v_PRI" value="98"' in page
    status, page = await coco.post("/coordinacion/resolver",
                                   {"acta": KEY, **values_form({**GOOD, "PAN": "121"})})
    assert status == 200 and f"Acta {KEY} verificada" in page
    [verified] = packets_of(clerks, "acta.verified")
    assert verified["by"] == "coco" and verified["values"]["PAN"] == 121
    assert verified["captured_seq"] == first["seq"] and verified["class"] == actas.COUNTED
    status, page = await coco.post("/coordinacion/resolver", {"acta": KEY, **values_form(GOOD)})
    assert len(packets_of(clerks, "acta.verified")) == 1  # decided once


async def test_a_capturista_cannot_verify(clerks, signed_in):
    digitize(clerks, KEY, seed=3)
    beto, ana = await signed_in("beto"), await signed_in("ana")
    await capture(beto)
    status, page = await ana.get("/verificacion")
    assert status == 403 and "no tiene permiso" in page
    status, _ = await ana.post("/verificacion", {"acta": KEY, "imagen": "", **values_form(GOOD)})
    assert status == 403
    assert not packets_of(clerks, "acta.verified") and not packets_of(clerks, "acta.mismatch")


async def test_nobody_verifies_their_own_capture(clerks, signed_in):
    digitize(clerks, KEY, seed=4)
    beto = await signed_in("beto")
    await capture(beto)
    status, page = await beto.get("/verificacion")
    assert "No hay actas pendientes" in page
    status, page = await beto.post("/verificacion", {"acta": KEY, "imagen": "", **values_form(GOOD)})
    assert status == 403 and "propia captura" in page
    assert len(packets_of(clerks, "acta.captured")) == 1 and not packets_of(clerks, "acta.verified")
    carla = await signed_in("carla")
    status, page = await verify(carla)
    assert [v["by"] for v in packets_of(clerks, "acta.verified")] == ["carla"]


async def test_a_blank_is_never_zero_and_typed_values_are_kept(clerks, signed_in):
    digitize(clerks, KEY, seed=5)
    ana = await signed_in("ana")
    status, page = await capture(ana, values={**GOOD, "PAN": "", "PRI": "12a", "PT": "100000"})
    assert status == 422
    assert "Vacío" in page and "No es un número entero" in page and "Fuera de rango" in page
    assert 'name="v_PRI" value="12a"' in page and 'name="v_MORENA" value="150"' in page
    assert not packets_of(clerks, "acta.captured")


async def test_illegible_and_blank_marks_are_recorded_and_classified(clerks, signed_in):
    digitize(clerks, KEY, seed=6)
    ana, beto = await signed_in("ana"), await signed_in("beto")
    marked = {**GOOD, "PAN": "I", "PRD": "sin_dato"}
    await capture(ana, values=marked)
    _status, page = await verify(beto, values={**GOOD, "PAN": "ilegible", "PRD": "S"})
    assert "ALGÚN CAMPO ILEGIBLE O SIN DATO" in page and "PAN ilegible, PRD sin dato" in page
    [verified] = packets_of(clerks, "acta.verified")
    assert verified["values"]["PAN"] == "ILEGIBLE" and verified["values"]["PRD"] == "SIN_DATO"
    assert verified["observations"] == ["ALGÚN CAMPO ILEGIBLE O SIN DATO"]


async def test_all_unreadable_and_over_the_nominal_list_are_shown_to_the_clerk(clerks, signed_in):
    over = "DIP-14-01-0128-B01"  # lista nominal 402
    digitize(clerks, KEY, seed=7)
    digitize(clerks, over, seed=8)
    ana, beto = await signed_in("ana"), await signed_in("beto")
    votes = ("PAN", "PRI", "PRD", "PVEM", "PT", "MC", "MORENA", "CNR", "NULOS")
    unreadable = {**GOOD, **{f: "I" for f in votes}}
    await capture(ana, KEY, unreadable)
    await capture(ana, over, {**GOOD, "MORENA": "400"})
    _, page = await verify(beto, KEY, unreadable)
    assert actas.CLASS_LABELS[actas.ALL_UNREADABLE] in page
    _, page = await verify(beto, over, {**GOOD, "MORENA": "400"})
    assert actas.CLASS_LABELS[actas.EXCEEDS_NOMINAL] in page
    classes = {v["acta"]: v["class"] for v in packets_of(clerks, "acta.verified")}
    assert classes == {KEY: actas.ALL_UNREADABLE, over: actas.EXCEEDS_NOMINAL}


async def test_acopio_records_receipt_and_marks_keys_outside_the_catalog(clerks, signed_in):
    ana = await signed_in("ana")
    status, page = await ana.post("/acopio", {"clave": f"  {KEY}\n"})
    assert status == 200 and f"Acta {KEY} recibida." in page
    status, page = await ana.post("/acopio", {"clave": "DIP-99-99-9999-X01"})
    assert "FUERA DE CATÁLOGO" in page and "fuera de catálogo" in page
    status, page = await ana.post("/acopio", {"clave": KEY})
    assert "ya estaba registrada" in page
    got = [(p["acta"], p["in_catalog"], p["by"]) for p in packets_of(clerks, "acta.acopio")]
    assert got == [(KEY, True, "ana"), ("DIP-99-99-9999-X01", False, "ana")]
    status, page = await ana.post("/acopio", {"clave": "   "})
    assert status == 400 and len(packets_of(clerks, "acta.acopio")) == 2


async def test_an_unidentified_image_gets_a_key_then_is_captured(clerks, signed_in):
    sha = digitize(clerks, None, seed=9)
    ana = await signed_in("ana")
    status, page = await ana.get("/captura")
    assert "Imagen sin identificar" in page and hidden(page, "imagen") == sha
    status, page = await ana.post("/captura/asignar", {"imagen": sha, "clave": KEY})
    assert status == 200 and hidden(page, "acta") == KEY and hidden(page, "imagen") == sha
    assert [(p["acta"], p["image_sha256"], p["by"]) for p in packets_of(clerks, "acta.assigned")] == [
        (KEY, sha, "ana")]
    status, _ = await ana.post("/captura/asignar", {"imagen": sha, "clave": "DIP-14-01-0124-B01"})
    assert len(packets_of(clerks, "acta.assigned")) == 1


async def test_two_clerks_get_different_actas_and_a_capture_happens_once(clerks, signed_in):
    sha = digitize(clerks, KEY, seed=10)
    digitize(clerks, "DIP-14-01-0123-C01", seed=11)
    ana, beto = await signed_in("ana"), await signed_in("beto")
    _, page_a = await ana.get("/captura")
    _, page_b = await beto.get("/captura")
    assert hidden(page_a, "acta") != hidden(page_b, "acta")
    form = {"acta": KEY, "imagen": sha, **values_form(GOOD)}
    await ana.post("/captura", form)
    _, page = await beto.post("/captura", form)
    assert "ya fue capturada" in page
    assert len(packets_of(clerks, "acta.captured")) == 1
