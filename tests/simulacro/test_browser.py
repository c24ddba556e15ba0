"""The clerk's browser reads a page's forms as Chromium would submit them."""

from __future__ import annotations

from simulacro.browser import forms_of

PAGE = """<html><body>
<form method="post" action="/logout"><input type="hidden" name="csrf" value="t&amp;k"></form>
<form method="post" action="/acopio" class="card">
  <input type="hidden" name="csrf" value="t&amp;k">
  <input id="clave" name="clave" value="" autofocus maxlength="200" required>
  <select id="mecanismo" name="mecanismo"><option value="">—</option><option value="D">D</option>
    <option value="F" selected>F</option></select>
  <select name="tipo_documento"><option value="ACTA PREP">Acta PREP</option>
    <option value="RPP">RPP</option></select>
  <input type="checkbox" name="off"><input type="checkbox" name="on" value="1" checked>
  <input name='v_PAN' value='12' inputmode="numeric">
  <button type="submit">Registrar</button>
</form></body></html>"""


def test_forms_hidden_fields_inputs_and_selects():
    logout, acopio = forms_of(PAGE)
    assert (logout.action, logout.method, logout.fields) == ("/logout", "post", {"csrf": "t&k"})
    assert acopio.fields == {"csrf": "t&k", "clave": "", "mecanismo": "F", "tipo_documento": "ACTA PREP",
                             "on": "1", "v_PAN": "12"}
    assert acopio.inputs == ["clave", "v_PAN"]
    assert acopio.selects == {"mecanismo": ["", "D", "F"], "tipo_documento": ["ACTA PREP", "RPP"]}
