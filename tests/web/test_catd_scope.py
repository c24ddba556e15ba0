"""A node offers only its own CATD's actas (election.actas_of(node_id)); an acta of another CATD
arriving by scan, acopio or assignment is recorded and flagged on the dashboard, never lost.
Acopio records MECANISMOS_TRASLADO and TIPO_DOCUMENTO."""

from __future__ import annotations

import json

import pytest

from catd_node import cli
from catd_node.datadir import DataDir
from tests import catalog_v2
from tests.catalog_v2 import ANTICIPADO, FOREIGN, OTHER, OWN, SHORT, THIRTY
from tests.web.conftest import digitize, hidden, packets_of, values_form


@pytest.fixture
def node_dir(node_v2_dir: DataDir) -> DataDir:
    return node_v2_dir


def form_for(d: DataDir, key: str, sha: str) -> dict[str, str]:
    return {"acta": key, "imagen": sha, **values_form(catalog_v2.values(d.election.ballot(key)))}


async def test_only_this_catds_actas_are_offered(clerks: DataDir, signed_in) -> None:
    own = set(clerks.election.actas_of(OWN))
    assert FOREIGN not in own and THIRTY in own
    foreign_sha = digitize(clerks, FOREIGN, seed=1)   # scanned first: first in arrival order
    sha = digitize(clerks, THIRTY, seed=2)
    ana = await signed_in("ana")
    status, page = await ana.get("/captura")
    assert hidden(page, "acta") == THIRTY
    status, page = await ana.post("/captura", form_for(clerks, THIRTY, sha))
    assert f"Acta {THIRTY} capturada" in page and "No hay actas pendientes de captura" in page
    # a form for it posted anyway (an old tab, a crafted request) is refused, and nothing written
    status, page = await ana.post("/captura", form_for(clerks, FOREIGN, foreign_sha))
    assert status == 409 and f"corresponde al {OTHER}, no a este CATD" in page
    assert [c["acta"] for c in packets_of(clerks, "acta.captured")] == [THIRTY]
    assert [d["acta"] for d in packets_of(clerks, "acta.digitized")] == [FOREIGN, THIRTY]  # kept


async def test_a_foreign_acta_by_scan_and_acopio_is_flagged_on_the_dashboard(clerks: DataDir, signed_in,
                                                                              capsys) -> None:
    digitize(clerks, FOREIGN, seed=3)
    ana, coco = await signed_in("ana"), await signed_in("coco")
    status, page = await ana.post("/acopio", {"clave": FOREIGN})
    assert status == 200 and f"Acta {FOREIGN} recibida." in page
    assert f"corresponde al {OTHER}, no a este CATD ({OWN})" in page and "de otro CATD" in page
    [acopio] = packets_of(clerks, "acta.acopio")
    assert acopio["acta"] == FOREIGN and acopio["in_catalog"] is True
    status, page = await coco.get("/tablero")
    section = page[page.index('id="otro-catd"'):page.index("</section>", page.index('id="otro-catd"'))]
    assert "Actas de otro CATD (1)" in section and FOREIGN in section and OTHER in section
    assert "acopio, imagen (CATD, ESCANER)" in section
    capsys.readouterr()
    assert cli.main(["status", "--json", "-d", str(clerks.root)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["actas"]["foreign"] == 1 and doc["actas"]["expected"] == len(clerks.election.actas_of(OWN))


async def test_an_image_assigned_to_a_foreign_acta_is_recorded_and_not_captured(clerks: DataDir,
                                                                                signed_in) -> None:
    sha = digitize(clerks, None, seed=4)
    ana, coco = await signed_in("ana"), await signed_in("coco")
    status, page = await ana.get("/captura")
    assert "Imagen sin identificar" in page
    status, page = await ana.post("/captura/asignar", {"imagen": sha, "clave": FOREIGN})
    assert status == 200 and f"corresponde al {OTHER}" in page and "No hay actas pendientes" in page
    assert [a["acta"] for a in packets_of(clerks, "acta.assigned")] == [FOREIGN]
    status, page = await coco.get("/tablero")
    assert 'id="otro-catd"' in page and FOREIGN in page


async def test_acopio_records_mecanismo_and_tipo_documento(clerks: DataDir, signed_in) -> None:
    ana = await signed_in("ana")
    status, page = await ana.post("/acopio", {"clave": THIRTY, "mecanismo": "F", "tipo_documento": "RPP"})
    assert status == 200 and f"Acta {THIRTY} recibida" in page
    assert '<option value="F" selected>' in page  # kept selected for the next paquete
    assert '<option value="RPP" selected>' in page
    await ana.post("/acopio", {"clave": SHORT, "mecanismo": "", "tipo_documento": ""})
    await ana.post("/acopio", {"clave": ANTICIPADO, "mecanismo": "I", "tipo_documento": ""})
    await ana.post("/acopio", {"clave": "DESCONOCIDA-1", "mecanismo": "D"})
    got = [(p["acta"], p["mecanismo_traslado"], p["tipo_documento"])
           for p in packets_of(clerks, "acta.acopio")]
    assert got == [(THIRTY, "F", "RPP"), (SHORT, None, "ACTA PREP"), (ANTICIPADO, "I", "ACTA VA"),
                   ("DESCONOCIDA-1", "D", "ACTA PREP")]
    status, page = await ana.post("/acopio", {"clave": THIRTY + "X", "mecanismo": "Z"})
    assert status == 400 and "mecanismo de traslado" in page and "no es una opción" in page
    status, page = await ana.post("/acopio", {"clave": THIRTY + "X", "tipo_documento": "FOTO"})
    assert status == 400 and "tipo de documento" in page
    assert len(packets_of(clerks, "acta.acopio")) == 4
    status, page = await ana.get("/acopio")
    assert "<td>F</td>" in page and "<td>RPP</td>" in page
