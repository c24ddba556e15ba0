"""End to end: phone → HQ → node (its sync client pulls) → capture → verify → published row
ORIGEN CASILLA / DIGITALIZACION MOVIL, and both verifiers check the phone's signature behind
it (a forged statement in a chain is caught by both)."""

from __future__ import annotations

import base64
import csv
import io
import zipfile
from pathlib import Path

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from catd_node import canonical
from hq import store as hq_store
from hq.casilla import phone
from hq.release import cut
from hq.release.site import pages
from sync import client
from tests.casilla.casillakit import NODE_A, acta_photo, enrol, two_catd_election
from tests.hq import countkit as ck
from tests.hq.cutkit import FIRST_CUT, hq_verdict, tool_verdict
from tests.hqkit import make_node, post_chain, serve_hq, with_hq_urls


def _digitized(node, acta: str) -> list[dict]:
    ledger = node.ledger()
    try:
        return [p.body for p in ledger.packets() if p.kind == "acta.digitized" and p.body.get("acta") == acta]
    finally:
        ledger.close()


def _rows(zip_path: Path) -> dict[str, dict[str, str]]:
    with zipfile.ZipFile(zip_path) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".csv") and "CANDIDATURAS" not in n.upper())
        text = archive.read(name).decode("utf-8-sig")
    lines = [x for x in text.split("\r\n") if x]
    start = next(i for i, x in enumerate(lines) if x.startswith("CLAVE_CASILLA"))
    reader = csv.DictReader(io.StringIO("\n".join(lines[start:])), delimiter="|")
    return {r["CLAVE_ACTA"].strip('="'): r for r in reader}


async def test_phone_to_published_row_with_phone_signature_verified(tmp_path: Path, capsys) -> None:
    election, of_a, _ = two_catd_election(tmp_path)
    hq = hq_store.init(tmp_path / "hq", election, None)
    a = make_node(tmp_path / "a", hq, NODE_A, election)
    key = enrol(a, "cae-1")
    acta = of_a[0]
    data = acta_photo(acta)
    async with serve_hq(hq) as url, aiohttp.ClientSession() as session:
        a = with_hq_urls(a, [url])
        await post_chain(url, a)
        status, answer = await phone.send(session, url, phone.sign(key, "cae-1", NODE_A, acta, data), data)
        assert status == 201, answer
        await client.once(a)           # drain, then pull the casilla photo, then drain again
        [body] = _digitized(a, acta)
        how = (body["origen"], body["digitalizacion"], body["identified_by"])
        assert how == ("CASILLA", "MOVIL", "casilla")
        assert body["image"]["sha256"] == answer["receipt"]["codigo_integridad"]
        assert a.blobs().read(body["image"]["sha256"]) == data
        await client.once(a)           # nothing new: pulled once
        assert len(_digitized(a, acta)) == 1
        # the clerks capture and verify it blind (as for any image), and the node sends it up
        ck.report(a, acta, ck.values(acta, PAN=41), sha=body["image"]["sha256"])
        await client.once(a)
    published = cut.publish(hq, at=FIRST_CUT).path
    row = _rows(published)[acta]
    assert (row["ORIGEN"], row["DIGITALIZACION"]) == ("CASILLA", "MOVIL")
    assert row["CODIGO_INTEGRIDAD"] == body["image"]["sha256"].upper()
    ours, theirs = hq_verdict(capsys, str(published)), tool_verdict(str(published))
    assert (ours.code, theirs.code) == (0, 0), (ours.text, theirs.text)
    site = hq.root / "publicacion" / "sitio"
    page = (site / pages.acta_path(hq.election(), acta)).read_text(encoding="utf-8")
    assert "fotografiada en la casilla (PREP Casilla)" in page


def test_a_photo_signed_by_a_key_never_enrolled_fails_both_verifiers(tmp_path: Path, capsys) -> None:
    """A node whose key was stolen writes a casilla photo with a forged phone statement: its
    chain is sound, but the statement is not the enrolled phone's: both verifiers say so."""
    election, of_a, _ = two_catd_election(tmp_path)
    hq = hq_store.init(tmp_path / "hq", election, None)
    a = make_node(tmp_path / "a", hq, NODE_A, election)
    enrol(a, "cae-1")
    acta = of_a[0]
    data = acta_photo(acta)
    signed = phone.sign(Ed25519PrivateKey.generate(), "cae-1", NODE_A, acta, data)
    casilla = {"statement": base64.b64encode(signed.statement).decode("ascii"), "sig": signed.sig}
    assert canonical.decode(signed.statement)["acta"] == acta
    packet = ck.digitize(a, acta, source="upload", image=data, origen="CASILLA", digitalizacion="MOVIL",
                         casilla=casilla)
    ck.report(a, acta, ck.values(acta, PAN=41), sha=packet.body["image"]["sha256"])
    ck.deliver(hq, a)
    published = cut.publish(hq, at=FIRST_CUT).path
    ours, theirs = hq_verdict(capsys, str(published)), tool_verdict(str(published))
    assert ours.code == theirs.code == 1, (ours.text, theirs.text)
    assert "casilla statement signature does not verify" in ours.text
    assert "casilla statement signature does not verify" in theirs.text
