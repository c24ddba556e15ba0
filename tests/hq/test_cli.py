"""catd-hq commands: init, add-node, serve (real child process, SIGTERM), status, verify."""

from __future__ import annotations

import json

import aiohttp
import pytest

from hq import cli
from sync import protocol
from tests.hqkit import ELECTION, VALUES_A, append_actas, blob_headers, rewrite_packet


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_init_and_add_node_refuse_bad_input(tmp_path, capsys, hq_node):
    root = tmp_path / "hq2"
    assert run(capsys, "-d", str(root), "init", "--election", str(ELECTION))[0] == 0
    assert (root / "hq.key").stat().st_mode & 0o777 == 0o600
    code, _, err = run(capsys, "-d", str(root), "init")
    assert code == 2 and "hq.key" in err
    code, _, err = run(capsys, "-d", str(tmp_path / "hq3"), "init", "--election", str(tmp_path / "nope.json"))
    assert code == 2 and "nope.json" in err and not (tmp_path / "hq3").exists()
    pub = str(hq_node.pub_path)
    assert run(capsys, "-d", str(root), "add-node", "--node-id", "CATD-14-01", "--pubkey", pub)[0] == 0
    assert run(capsys, "-d", str(root), "add-node", "--node-id", "CATD-14-01", "--pubkey", pub)[0] == 0
    code, _, err = run(capsys, "-d", str(root), "add-node", "--node-id", "CATD-14-01",
                       "--pubkey", str(root / "hq.pub"))
    assert code == 2 and "different public key" in err
    code, _, err = run(capsys, "-d", str(root), "add-node", "--node-id", "CATD-14-02",
                       "--pubkey", str(ELECTION))
    assert code == 2 and "--pubkey" in err
    code, _, err = run(capsys, "-d", str(tmp_path / "missing"), "status", "--json")
    assert code == 2 and "catd-hq init" in err


async def _deliver(url, node, skip=()):
    chain = node.ledger().packets()
    async with aiohttp.ClientSession() as session:
        async with session.post(url + protocol.PACKETS_PATH, data=protocol.frame(chain)) as resp:
            assert resp.status == 200, await resp.text()
        for packet in chain:
            if packet.kind == "acta.digitized" and packet.body["image"]["sha256"] not in skip:
                sha = packet.body["image"]["sha256"]
                data = node.blobs().read(sha)
                async with session.put(url + protocol.blob_path(sha), data=data,
                                       headers=blob_headers(node, "PUT", sha, 0, len(data))) as resp:
                    assert resp.status == 201
    return chain


@pytest.mark.slow
async def test_serve_process_status_verify_and_tampering(hq_node, hq_dir, hq_process, capsys):
    append_actas(hq_node, {"DIP-14-01-0123-B01": VALUES_A, "DIP-14-01-0123-C01": VALUES_A})
    extra = hq_node.blobs().put(b"never uploaded")
    ledger = hq_node.ledger()
    ledger.append("acta.digitized", {
        "image": {"sha256": extra, "bytes": 14, "format": "webp", "width": 1, "height": 1, "dpi": 200},
        "original": {"sha256": extra, "bytes": 14, "name": "x.jpg"},
        "source": {"kind": "upload", "id": "phone-1"}, "acta": None, "identified_by": None})
    ledger.close()
    chain = await _deliver(hq_process.url, hq_node, skip={extra})
    # A rejection found on a worker process crosses back intact (status, code, line).
    from catd_node import keys, packets

    forged = packets.seal(keys.generate(), node="CATD-14-01", seq=len(chain) + 1, prev=chain[-1].hash,
                          kind="acta.acopio", body={"acta": "X", "by": "eve", "in_catalog": False})
    async with aiohttp.ClientSession() as session:
        async with session.post(hq_process.url + protocol.PACKETS_PATH,
                                data=protocol.frame([chain[-1], forged])) as resp:
            answer = await resp.json()
            assert (resp.status, answer["error"], answer["line"]) == (422, protocol.BAD_SIGNATURE, 2)
    assert hq_process.stop() == 0  # graceful SIGTERM
    hq_process.start()  # same port; state survives the restart
    async with aiohttp.ClientSession() as session:
        async with session.get(hq_process.url + protocol.head_path("CATD-14-01")) as resp:
            assert await resp.json() == {"seq": len(chain), "hash": chain[-1].hash}

    code, out, _ = run(capsys, "-d", str(hq_dir.root), "status", "--json")
    node = json.loads(out)["nodes"]["CATD-14-01"]
    assert code == 0
    assert (node["seq"], node["hash"], node["forked"]) == (len(chain), chain[-1].hash, False)
    assert (node["blobs_stored"], node["blobs_missing"]) == (2, 1)

    code, out, err = run(capsys, "-d", str(hq_dir.root), "verify")
    assert code == 0, err
    assert f"{len(chain)} packets" in out
    code, out, err = run(capsys, "-d", str(hq_dir.root), "verify", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["ok"] and doc["reason"] is None and doc["problems"] == [], err
    assert (doc["packets"], doc["blobs"]) == (len(chain), 2)
    assert doc["nodes"]["CATD-14-01"] == {"packets": len(chain), "head_seq": len(chain)}

    # Tamper one stored blob: verify names it.
    sha = chain[1].body["image"]["sha256"]
    path = hq_dir.blobs().path(sha)
    good = path.read_bytes()
    path.write_bytes(b"tampered" + good)
    code, _, err = run(capsys, "-d", str(hq_dir.root), "verify")
    assert code == 1 and sha in err
    code, out, _ = run(capsys, "-d", str(hq_dir.root), "verify", "--json")
    doc = json.loads(out)
    assert code == 1 and doc["ok"] is False and sha in doc["reason"] and len(doc["problems"]) == 1
    path.write_bytes(good)
    assert run(capsys, "-d", str(hq_dir.root), "verify")[0] == 0

    # Tamper one stored packet (bypassing the append-only trigger): verify names node and seq.
    rewrite_packet(hq_dir, 3, lambda canonical: canonical.replace(b'"PAN":100', b'"PAN":999'))
    code, _, err = run(capsys, "-d", str(hq_dir.root), "verify")
    assert code == 1 and "node CATD-14-01 seq 3" in err and "hash" in err
