"""Sin acta: the coordinator registers an expected acta that could not be had, as a signed
packet, and undoes it when the acta turns up. While registered, the acta is not captured."""

from __future__ import annotations

import json

import pytest

from catd_node import cli, store
from catd_node.datadir import DataDir
from catd_node.status import acta_counts
from tests import catalog_v2
from tests.catalog_v2 import FOREIGN, SHORT, THIRTY
from tests.web.conftest import digitize, hidden, packets_of, values_form


@pytest.fixture
def node_dir(node_v2_dir: DataDir) -> DataDir:
    return node_v2_dir


def sin_acta_count(d: DataDir) -> int:
    conn = store.connect(d.db_path)
    try:
        return acta_counts(conn, 0)["sin_acta"]
    finally:
        conn.close()


async def register(coco, key: str, reason: str = "paquete_no_entregado") -> tuple[int, str]:
    return await coco.post("/coordinacion/sin-acta", {"clave": key, "motivo": reason})


async def undo(who, key: str) -> tuple[int, str]:
    return await who.post("/coordinacion/sin-acta/deshacer", {"acta": key})


def capture_form(d: DataDir, key: str, sha: str) -> dict[str, str]:
    return {"acta": key, "imagen": sha, **values_form(catalog_v2.values(d.election.ballot(key)))}


async def test_register_and_undo_are_signed_packets(clerks: DataDir, signed_in) -> None:
    coco = await signed_in("coco")
    status, page = await coco.get("/coordinacion/sin-acta")
    assert status == 200 and f'<option value="{THIRTY}">' in page
    assert f'<option value="{FOREIGN}">' not in page  # another CATD's acta is not offered
    status, page = await register(coco, THIRTY, "casilla_no_instalada")
    assert status == 200 and f"Acta {THIRTY} registrada como sin acta (casilla no instalada)" in page
    [reg] = packets_of(clerks, "acta.sin_acta")
    assert reg == {"seq": reg["seq"], "acta": THIRTY, "reason": "casilla_no_instalada", "by": "coco"}
    assert sin_acta_count(clerks) == 1
    status, page = await coco.get("/tablero")
    assert "Sin acta" in page and "Casilla no instalada" in page
    status, page = await undo(coco, THIRTY)
    assert status == 200 and f"Registro sin acta de {THIRTY} deshecho" in page
    [undone] = packets_of(clerks, "acta.sin_acta_undone")
    assert undone == {"seq": undone["seq"], "acta": THIRTY, "sin_acta_seq": reg["seq"], "by": "coco"}
    assert sin_acta_count(clerks) == 0
    status, page = await undo(coco, THIRTY)
    assert status == 409 and "no está registrada como sin acta" in page
    # registered again after an undo: a new registration, undone by naming it
    await register(coco, THIRTY)
    assert sin_acta_count(clerks) == 1 and len(packets_of(clerks, "acta.sin_acta")) == 2
    assert cli.main(["verify", "-d", str(clerks.root)]) == 0  # every packet signed and linked


async def test_only_a_coordinator_registers_or_undoes(clerks: DataDir, signed_in) -> None:
    ana, beto, coco = await signed_in("ana"), await signed_in("beto"), await signed_in("coco")
    for clerk in (ana, beto):
        status, page = await register(clerk, THIRTY)
        assert status == 403 and "no tiene permiso" in page
    assert not packets_of(clerks, "acta.sin_acta")
    await register(coco, THIRTY)
    for clerk in (ana, beto):
        status, _ = await undo(clerk, THIRTY)
        assert status == 403
        status, _ = await clerk.get("/coordinacion/sin-acta")
        assert status == 403
    assert not packets_of(clerks, "acta.sin_acta_undone") and sin_acta_count(clerks) == 1


async def test_an_acta_with_a_verified_capture_cannot_be_sin_acta(clerks: DataDir, signed_in) -> None:
    sha = digitize(clerks, THIRTY, seed=1)
    ana, beto, coco = await signed_in("ana"), await signed_in("beto"), await signed_in("coco")
    await ana.get("/captura")
    form = capture_form(clerks, THIRTY, sha)
    await ana.post("/captura", form)
    await beto.get("/verificacion")
    status, page = await beto.post("/verificacion", form)
    assert "verificada" in page
    status, page = await register(coco, THIRTY)
    assert status == 409 and "ya tiene una captura verificada" in page
    assert not packets_of(clerks, "acta.sin_acta")


async def test_only_expected_actas_of_this_catd_with_a_listed_reason(clerks: DataDir, signed_in) -> None:
    coco = await signed_in("coco")
    status, page = await register(coco, FOREIGN)
    assert status == 409 and "corresponde al CATD-09-02" in page
    status, page = await register(coco, "090999B0100A02")
    assert status == 409 and "no está en el catálogo" in page
    status, page = await register(coco, THIRTY, "se_mojo")
    assert status == 409 and "elija uno de los motivos" in page
    await register(coco, THIRTY)
    status, page = await register(coco, THIRTY, "paquete_sin_bolsa")
    assert status == 409 and "ya está registrada como sin acta" in page
    assert [p["acta"] for p in packets_of(clerks, "acta.sin_acta")] == [THIRTY]


async def test_a_sin_acta_acta_is_not_captured_until_undone(clerks: DataDir, signed_in) -> None:
    ana, coco = await signed_in("ana"), await signed_in("coco")
    await register(coco, THIRTY)
    sha = digitize(clerks, THIRTY, seed=2)   # the acta turned up after all, as a scan
    status, page = await ana.get("/captura")
    assert "No hay actas pendientes de captura" in page   # not offered while registered sin acta
    status, page = await ana.post("/captura", capture_form(clerks, THIRTY, sha))
    assert status == 409 and "registrada como sin acta (paquete no entregado)" in page
    assert "deshacer ese registro" in page and not packets_of(clerks, "acta.captured")
    status, page = await coco.get("/tablero")
    assert "el acta llegó: deshaga el registro" in page
    status, page = await coco.get("/coordinacion/sin-acta")
    assert '<span class="tag bad">imagen</span>' in page
    await undo(coco, THIRTY)
    status, page = await ana.get("/captura")
    assert hidden(page, "acta") == THIRTY
    status, page = await ana.post("/captura", capture_form(clerks, THIRTY, sha))
    assert f"Acta {THIRTY} capturada" in page and len(packets_of(clerks, "acta.captured")) == 1


async def test_registered_between_capture_and_verification_blocks_verification(clerks: DataDir,
                                                                                signed_in) -> None:
    sha = digitize(clerks, SHORT, seed=3)
    ana, beto, coco = await signed_in("ana"), await signed_in("beto"), await signed_in("coco")
    await ana.get("/captura")
    form = capture_form(clerks, SHORT, sha)
    await ana.post("/captura", form)
    await register(coco, SHORT, "paquete_sin_bolsa")
    status, page = await beto.get("/verificacion")
    assert "No hay actas pendientes de verificación" in page
    status, page = await beto.post("/verificacion", form)  # a form opened before the registration
    assert status == 409 and "registrada como sin acta" in page
    assert not packets_of(clerks, "acta.verified") and len(packets_of(clerks, "acta.captured")) == 1


async def test_acopio_of_a_sin_acta_acta_is_recorded_and_the_clerk_told(clerks: DataDir, signed_in) -> None:
    ana, coco = await signed_in("ana"), await signed_in("coco")
    await register(coco, THIRTY)
    status, page = await ana.post("/acopio", {"clave": THIRTY})
    assert status == 200 and f"Acta {THIRTY} recibida" in page
    assert "estaba registrada como SIN ACTA" in page and "avise a coordinación" in page
    assert [p["acta"] for p in packets_of(clerks, "acta.acopio")] == [THIRTY]


async def test_status_json_counts_sin_acta(clerks: DataDir, signed_in, capsys) -> None:
    coco = await signed_in("coco")
    await register(coco, THIRTY)
    await register(coco, SHORT, "casilla_no_instalada")
    await undo(coco, SHORT)
    capsys.readouterr()
    assert cli.main(["status", "--json", "-d", str(clerks.root)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["actas"]["sin_acta"] == 1 and doc["actas"]["expected"] == 7
