"""The capture form as a clerk meets it after a typo: a summary of the fields to correct, the
focus on the first of them, and a question (never a refusal) before saving a value that cannot be."""

from __future__ import annotations

import re

from tests.web.conftest import GOOD, digitize, hidden, packets_of, values_form

KEY = "DIP-14-01-0123-B01"   # lista nominal 612; ceiling 612 + 2 × 7 parties = 626


async def open_form(clerks, signed_in):
    digitize(clerks, KEY, seed=3)
    ana = await signed_in("ana")
    _, page = await ana.get("/captura")
    return ana, {"csrf": hidden(page, "csrf"), "acta": KEY, "imagen": hidden(page, "imagen")}


def autofocused(page: str) -> list[str]:
    return re.findall(r'<input id="([^"]+)"[^>]*\sautofocus[\s>]', page)


async def test_errors_are_summarised_and_the_first_invalid_field_has_the_focus(clerks, signed_in):
    ana, base = await open_form(clerks, signed_in)
    status, page = await ana.post("/captura", {**base, **values_form({**GOOD, "PRI": "", "PVEM": "x",
                                                                       "NULOS": "-3"})})
    assert status == 422
    assert "3 campos por corregir:" in page
    assert re.search(r'<a href="#v_PRI">PRI</a>, <a href="#v_PVEM">PVEM</a>, '
                     r'<a href="#v_NULOS">VOTOS NULOS</a>', page)
    assert autofocused(page) == ["v_PRI"]
    assert re.search(r'id="v_PRI"[^>]* autofocus aria-invalid="true"', page)
    assert "autofocusaria" not in page
    assert packets_of(clerks, "acta.captured") == []


async def test_an_implausible_value_is_asked_about_then_saved_once_confirmed(clerks, signed_in):
    ana, base = await open_form(clerks, signed_in)
    typo = {**GOOD, "MORENA": "1500", "TOTAL_ASENTADO": "1782"}   # 150 typed with an extra 0
    status, page = await ana.post("/captura", {**base, **values_form(typo)})
    assert status == 422 and packets_of(clerks, "acta.captured") == []
    assert "Revise antes de guardar" in page
    assert "1500 es más que la lista nominal más representantes (626)" in page
    assert autofocused(page) == ["v_MORENA"] and 'aria-describedby="v_MORENA-warning"' in page
    token = re.search(r'name="confirmar" value="([0-9a-f]+)"', page)
    assert token
    # a confirmation of other values does not confirm these
    status, page = await ana.post("/captura", {**base, **values_form({**typo, "MORENA": "1400"}),
                                               "confirmar": token.group(1)})
    assert status == 422 and "1400 es más que" in page and packets_of(clerks, "acta.captured") == []
    status, page = await ana.post("/captura", {**base, **values_form(typo), "confirmar": token.group(1)})
    assert status == 200 and f"Acta {KEY} capturada" in page
    [captured] = packets_of(clerks, "acta.captured")
    assert captured["values"]["MORENA"] == 1500


async def test_an_asentado_far_from_the_sum_is_asked_about_and_a_correction_saves(clerks, signed_in):
    ana, base = await open_form(clerks, signed_in)
    status, page = await ana.post("/captura", {**base, **values_form({**GOOD, "TOTAL_ASENTADO": "4320"})})
    assert status == 422
    assert "asentado 4320, pero la suma de los votos capturados es 432" in page
    assert autofocused(page) == ["v_TOTAL_ASENTADO"]
    status, page = await ana.post("/captura", {**base, **values_form(GOOD)})   # corrected: no question
    assert status == 200 and len(packets_of(clerks, "acta.captured")) == 1
