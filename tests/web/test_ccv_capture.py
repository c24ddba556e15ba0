"""A node the catalog names capture centre (`ccv`) of a district captures that district's
actas — its CATD's casilla photos — as its own: offered, accepted, not flagged as another
CATD's; an acta of a district it is not CCV of stays another CATD's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from catd_node import cli, datadir
from catd_node.datadir import DataDir
from tests import catalog_v2
from tests.catalog_v2 import FOREIGN, OWN
from tests.web.conftest import digitize, packets_of, values_form


@pytest.fixture
def node_dir(tmp_path: Path) -> DataDir:
    data = catalog_v2.build()
    data["ccv"] = {"2": OWN}   # this node is also district 2's capture centre (FOREIGN is there)
    path = tmp_path / "election-ccv.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return datadir.init(tmp_path / "catd", OWN, path)


async def test_the_ccv_captures_its_districts_acta(clerks: DataDir, signed_in, capsys) -> None:
    assert clerks.election.owner(FOREIGN) != OWN and clerks.election.ccv_of(FOREIGN) == OWN
    sha = digitize(clerks, FOREIGN, seed=1)
    ana, coco = await signed_in("ana"), await signed_in("coco")
    status, page = await ana.get("/captura")
    assert status == 200 and FOREIGN in page
    form = {"acta": FOREIGN, "imagen": sha,
            **values_form(catalog_v2.values(clerks.election.ballot(FOREIGN)))}
    status, page = await ana.post("/captura", form)
    assert status == 200 and f"Acta {FOREIGN} capturada" in page, page
    assert [c["acta"] for c in packets_of(clerks, "acta.captured")] == [FOREIGN]
    status, page = await coco.get("/tablero")
    assert 'id="otro-catd"' not in page
    capsys.readouterr()
    assert cli.main(["status", "--json", "-d", str(clerks.root)]) == 0
    assert json.loads(capsys.readouterr().out)["actas"]["foreign"] == 0
