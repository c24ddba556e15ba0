"""Attestation: the installed code and the store, signed; a changed file is named (exit 1)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from catd_node import datadir, verify
from tests.e2e.conftest import REPO, child_env, node_cli


def copy_install(dest: Path) -> Path:
    """The three packages and deploy/ copied as an installation of their own."""
    for name in ("catd_node", "scanners", "sync", "deploy"):
        shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def test_compare_names_a_changed_file_and_exits_1(tmp_path, election_file):
    install = copy_install(tmp_path / "install")
    env = child_env(PYTHONPATH=str(install))
    data = tmp_path / "catd"
    assert (
        node_cli(
            "init",
            "-d",
            str(data),
            "--node-id",
            "CATD-14-01",
            "--election",
            str(election_file),
            env=env,
            cwd=tmp_path,
        ).returncode
        == 0
    )

    start = node_cli("attest", "-d", str(data), "--out", str(tmp_path / "inicio.json"), env=env, cwd=tmp_path)
    assert start.returncode == 0, start.stderr
    signed = json.loads((tmp_path / "inicio.json").read_text())
    files = signed["manifest"]["files"]
    # The manifest covers the copy under test, not the repository the test runs from.
    assert files["catd_node/ledger.py"]
    assert any(name.startswith("deploy/systemd/") for name in files)
    assert signed["manifest"]["store"]["at_zero"] is True
    report = (tmp_path / "inicio.html").read_text()
    assert "Base de datos en ceros" in report
    # the notary reads the official time, as the node's screens show it (issue 22)
    assert re.search(r"Emitida: \d\d/\d\d/\d{4} \d\d:\d\d \(UTC-6\)", report), report[:600]

    same = node_cli(
        "attest", "-d", str(data), "--compare", str(tmp_path / "inicio.json"), env=env, cwd=tmp_path
    )
    assert same.returncode == 0, same.stdout + same.stderr
    assert "no differences" in same.stdout

    ledger_py = install / "catd_node" / "ledger.py"
    ledger_py.write_text(ledger_py.read_text() + "\n# tampered\n")
    (install / "sync" / "backdoor.py").write_text("x = 1\n")
    (install / "deploy" / "README.md").unlink()
    changed = node_cli(
        "attest",
        "-d",
        str(data),
        "--compare",
        str(tmp_path / "inicio.json"),
        "--out",
        str(tmp_path / "cierre.json"),
        env=env,
        cwd=tmp_path,
    )
    assert changed.returncode == 1
    assert "changed: catd_node/ledger.py" in changed.stdout
    assert "added: sync/backdoor.py" in changed.stdout
    assert "removed: deploy/README.md" in changed.stdout
    assert "modificado" in (tmp_path / "cierre.html").read_text()

    # Every run was recorded in the chain, which still verifies.
    node = datadir.DataDir(data)
    conn = node.reader()
    kinds = [row[0] for row in conn.execute("SELECT kind FROM packets ORDER BY seq")]
    report_v = verify.verify_chain(verify.stored_rows(conn), node.public_key(), "CATD-14-01", node.blobs())
    conn.close()
    assert kinds == ["node.genesis", "node.attested", "node.attested", "node.attested"]
    assert report_v.ok, report_v.reason


def test_a_tampered_manifest_is_refused(tmp_path, election_file):
    data = tmp_path / "catd"
    done = node_cli("init", "-d", str(data), "--node-id", "N1", "--election", str(election_file))
    assert done.returncode == 0
    assert node_cli("attest", "-d", str(data), "--out", str(tmp_path / "m.json")).returncode == 0
    doc = json.loads((tmp_path / "m.json").read_text())
    name = next(iter(doc["manifest"]["files"]))
    doc["manifest"]["files"][name] = "0" * 64  # hide a change by editing the old manifest
    (tmp_path / "m.json").write_text(json.dumps(doc))
    done = node_cli("attest", "-d", str(data), "--compare", str(tmp_path / "m.json"))
    assert done.returncode == 1
    assert "signature does not verify" in done.stderr
