"""The site's charts (hq/release/site/charts.py): every label and value inside the viewBox by
the charts' own generous text widths, in both layouts (names above bars; short labels beside
them). The browser test measures the same with Chromium's getBBox."""

from __future__ import annotations

import pytest

from catd_node import tally
from hq.release.site import charts
from hq.release.site.pages import Bar


def bar(label: str, votes: int, whole: int, name: str = "") -> Bar:
    return Bar(label.replace(" – ", "_"), label, name, votes, tally.percent(votes, whole), "#123456")


CDMX = [bar("PAN – PRI – PRD", 1_902_446, 5_516_482, "SANTIAGO TABOADA CORTINA"),
        bar("PVEM – PT – MORENA", 2_689_486, 5_516_482, "CLARA MARINA BRUGADA MOLINA"),
        bar("MC", 59_486, 5_516_482, "SALOMON CHERTORIVSKI WOLDENBERG")]
SHORT = [bar("PAN", 12_345_678, 20_000_000), bar("PRI", 3, 20_000_000), bar("MC", 0, 20_000_000)]
LONG = [bar("PARTIDO DE LA REVOLUCIÓN DEMOCRÁTICA – PARTIDO VERDE ECOLOGISTA DE MÉXICO", 99_999, 99_999,
            "MARÍA DE LOS ÁNGELES GUADALUPE HERNÁNDEZ Y FERNÁNDEZ DE CÓRDOBA"),
        bar("CANDIDATURAINDEPENDIENTESINESPACIOSQUENOSEPUEDECORTARNUNCAJAMÁS", 1, 99_999)]


@pytest.mark.parametrize("items", [CDMX, SHORT, LONG], ids=["cdmx", "short", "long"])
def test_every_text_fits_its_chart(items):
    chart = charts.bars("g", "Votos", items)
    assert chart.width >= charts.WIDTH
    for d in chart.bars:
        for line in d.lines:
            assert charts.text_width(line.text, line.size, line.bold) <= chart.width, line
            assert 0 < line.y <= chart.height
        assert d.value_x + charts.text_width(d.value, charts.VALUE_SIZE) <= chart.width, d.value
        assert chart.bar_x + d.length <= chart.width
        assert d.bar_y + charts.BAR <= chart.height
    # the largest bar is the longest; a bar never vanishes
    longest = max(chart.bars, key=lambda d: d.bar.votes)
    assert all(d.length <= longest.length and d.length >= 1 for d in chart.bars)


def test_short_labels_sit_beside_their_bars_and_names_above_them():
    assert charts.bars("g", "Votos", SHORT).bar_x > 1
    assert charts.bars("g", "Votos", CDMX).bar_x < 1
    names = charts.bars("g", "Votos", CDMX).bars[1].lines
    assert [line.text for line in names] == ["CLARA MARINA BRUGADA MOLINA", "PVEM – PT – MORENA"]
    wrapped = charts.bars("g", "Votos", LONG[:1]).bars[0].lines
    assert len(wrapped) >= 3 and all(line.text for line in wrapped)
    # a word that cannot wrap widens the chart rather than leave it
    assert charts.bars("g", "Votos", LONG).width > charts.WIDTH
