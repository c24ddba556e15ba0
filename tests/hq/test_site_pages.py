"""The site's drill-down pages as files (no browser): a sección page per sección, rewritten
only when one of its actas' rows changes; the district, sección and acta pages say the place
in words; the 404 page ships with the site."""

from __future__ import annotations

from datetime import datetime

from hq.release import cut
from tests.hq import countkit as ck


def test_seccion_pages_follow_their_actas_and_are_rewritten_only_when_one_changes(tmp_path):
    hq, a, b = ck.hq_two_catd(tmp_path)
    ck.acopio(a, ck.A1)
    ck.report(a, ck.A1, ck.values(ck.A1, PAN=30, MORENA=20))
    ck.deliver(hq, a)
    cut.publish(hq, at=datetime(2024, 6, 2, 20, 0))
    site = hq.root / "publicacion" / "sitio"
    one, two = site / "seccion" / "0001.html", site / "seccion" / "0002.html"
    page = one.read_text(encoding="utf-8")
    assert "<h1>Sección 0001</h1>" in page and "Distrito 01" in page
    assert "Básica 01" in page and "Contigua 01" in page and "Aún sin acta en la sede" in page
    assert f'href="../acta/001/{ck.A1}.html"' in page
    index = (site / "secciones.html").read_text(encoding="utf-8")
    assert 'href="secciones/0001-0099.html"' in index and "Secciones 0001 a 0003" in index
    hundred = (site / "secciones" / "0001-0099.html").read_text(encoding="utf-8")
    assert 'href="../seccion/0002.html"' in hundred
    assert "No existe esa página" in (site / "404.html").read_text(encoding="utf-8")
    before = {p: p.stat().st_ino for p in (one, two)}
    # a later cut where only sección 0002 changed
    ck.acopio(b, ck.B1)
    ck.report(b, ck.B1, ck.values(ck.B1, MORENA=61))
    ck.deliver(hq, b)
    cut.publish(hq, at=datetime(2024, 6, 2, 20, 15))
    assert one.stat().st_ino == before[one], "an unchanged sección page is left as it was"
    assert two.stat().st_ino != before[two]
    assert "61" in two.read_text(encoding="utf-8")
    district = (site / "distrito" / "002.html").read_text(encoding="utf-8")
    assert "<h1>Distrito 02</h1>" in district and "Total de votos" in district
    acta = (site / "acta" / "002" / f"{ck.B1}.html").read_text(encoding="utf-8")
    assert "<h1>Sección 0002 · Básica 01 · Distrito 02</h1>" in acta and "Datos de la base" in acta


def test_seccion_cero_is_named_for_every_kind_it_holds():
    from catd_node.catalog import ActaSpec
    from hq.release.site import pages

    def spec(tipo: str, ident: int) -> ActaSpec:
        return ActaSpec(f"090000{tipo}{ident:02d}00A01", "GUB", 0, f"{tipo}{ident:02d}00", 700, tipo, ident,
                        distrito=34)

    m, a, p = spec("M", 6), spec("A", 1), spec("P", 2)
    assert pages.seccion_title([m]) == "Sección 0000 · Voto desde el extranjero"
    assert pages.seccion_title([m, a, m, p]) == \
        "Sección 0000 · Voto desde el extranjero, voto anticipado y prisión preventiva"
    assert [pages.casilla_in_list(s) for s in (m, a)] == ["Voto desde el extranjero · Mesa 06",
                                                         "Voto anticipado · Mesa 01"]
    assert pages.seccion_title([spec("B", 1)]) == "Sección 0000"
