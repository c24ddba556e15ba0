"""`catd-node attest`: a signed manifest of the installed code and of the store.

The institute hashes every system file at the start and the end of the night and shows the
databases "en ceros" before a notary. The manifest lists the SHA-256 of every file of the
three packages and of the deploy files, the software version and the store's head and
counts; it is signed by the node key and recorded as a `node.attested` packet.
`--compare` checks a start-of-night manifest's signature, then names every changed, added
or removed file (exit 1 when there is any).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from catd_node import __version__, canonical, keys, packets, wording
from catd_node import status as status_mod
from catd_node.catalog import Election
from catd_node.cli import print_json
from catd_node.datadir import DataDir
from catd_node.errors import EXIT_CHECK_FAILED, EXIT_OK, BadInput, CheckFailed

DOMAIN = b"catd/attest/v1\n"
PACKAGES = ("catd_node", "scanners", "sync")
DATA_FILES = ("catd.toml", "election.json", "node.pub", "hq.pub")


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise BadInput(name, "package not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def deploy_dir() -> Path | None:
    """The deploy/ folder shipped beside the packages (a source checkout or an unpacked release)."""
    candidate = package_dir("catd_node").parent / "deploy"
    return candidate if candidate.is_dir() else None


def _walk(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            yield path


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def installed_files(datadir: DataDir) -> dict[str, str]:
    """Relative name → SHA-256 of every code, deploy and configuration file that is attested."""
    files: dict[str, str] = {}
    for name in PACKAGES:
        root = package_dir(name)
        for path in _walk(root):
            files[f"{name}/{path.relative_to(root).as_posix()}"] = _sha256_file(path)
    deploy = deploy_dir()
    if deploy is not None:
        for path in _walk(deploy):
            files[f"deploy/{path.relative_to(deploy).as_posix()}"] = _sha256_file(path)
    for name in DATA_FILES:
        path = datadir.root / name
        if path.is_file():
            files[f"data/{name}"] = _sha256_file(path)
    return files


def store_summary(conn: sqlite3.Connection, datadir: DataDir) -> dict[str, Any]:
    """The store's head and counts; `at_zero` when it holds only the genesis packet."""
    doc = status_mod.status(conn, datadir.config.node_id, datadir.election)
    blobs = sum(1 for _ in datadir.blobs_dir.rglob("*") if _.is_file()) if datadir.blobs_dir.exists() else 0
    return {
        "head": doc["head"],
        "packets": doc["packets"],
        "actas": doc["actas"],
        "quarantined": doc["quarantined"],
        "blobs": blobs,
        "at_zero": doc["packets"] == 1 and blobs == 0,
    }


def build(datadir: DataDir, conn: sqlite3.Connection) -> dict[str, Any]:
    return {
        "kind": "catd.attestation",
        "node": datadir.config.node_id,
        "version": __version__,
        "created_at": packets.now(),
        "files": installed_files(datadir),
        "store": store_summary(conn, datadir),
    }


def sign(manifest: dict[str, Any], datadir: DataDir) -> dict[str, Any]:
    raw = hashlib.sha256(DOMAIN + canonical.encode(manifest)).digest()
    return {
        "manifest": manifest,
        "hash": raw.hex(),
        "sig": base64.b64encode(datadir.private_key().sign(raw)).decode("ascii"),
    }


def load_signed(path: Path, datadir: DataDir) -> dict[str, Any]:
    """Read a signed manifest and check its hash and signature against node.pub."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        manifest, sig = doc["manifest"], base64.b64decode(doc["sig"], validate=True)
    except FileNotFoundError as exc:
        raise BadInput(str(path), "manifest not found") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise BadInput(str(path), f"not a signed manifest ({exc})") from exc
    raw = hashlib.sha256(DOMAIN + canonical.encode(manifest)).digest()
    if raw.hex() != doc.get("hash") or not keys.verify(datadir.public_key(), sig, raw):
        raise CheckFailed(str(path), "manifest signature does not verify against node.pub (altered?)")
    result: dict[str, Any] = manifest
    return result


@dataclass(frozen=True)
class Differences:
    changed: list[str]
    added: list[str]
    removed: list[str]

    @property
    def any(self) -> bool:
        return bool(self.changed or self.added or self.removed)


def compare(before: dict[str, str], after: dict[str, str]) -> Differences:
    return Differences(
        changed=sorted(k for k in before.keys() & after.keys() if before[k] != after[k]),
        added=sorted(after.keys() - before.keys()),
        removed=sorted(before.keys() - after.keys()),
    )


_REPORT = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
    """<!doctype html><html lang="es"><meta charset="utf-8">
<title>Constancia de integridad — {{ m.node }}</title>
<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto}td,th{padding:.2rem .6rem;
text-align:left}code{font-size:.85em}.bad{color:#b00}</style>
<h1>Constancia de integridad del nodo {{ m.node }}</h1>
<p>Versión del software: <b>{{ m.version }}</b> · Emitida: {{ issued }}
<small>({{ m.created_at }})</small></p>
<p>Huella del manifiesto (SHA-256): <code>{{ signed.hash }}</code><br>
Firma Ed25519 del nodo: <code>{{ signed.sig }}</code></p>
<h2>Base de datos</h2>
<p>Paquetes: {{ m.store.packets }} · Último paquete: {{ m.store.head.seq }}
<code>{{ m.store.head.hash }}</code> · Imágenes: {{ m.store.blobs }} ·
{% if m.store.at_zero %}<b>Base de datos en ceros</b> (solo el paquete de inicio){% else %}
Actas verificadas: {{ m.store.actas.verified }}{% endif %}</p>
{% if diff is not none %}<h2>Comparación con el manifiesto {{ against }}</h2>
{% if diff.any %}<p class="bad">Se encontraron diferencias en los archivos:</p><ul>
{% for f in diff.changed %}<li class="bad">modificado: <code>{{ f }}</code></li>{% endfor %}
{% for f in diff.added %}<li class="bad">agregado: <code>{{ f }}</code></li>{% endfor %}
{% for f in diff.removed %}<li class="bad">eliminado: <code>{{ f }}</code></li>{% endfor %}</ul>
{% else %}<p>Sin diferencias: los {{ m.files|length }} archivos son idénticos.</p>{% endif %}{% endif %}
<h2>Archivos ({{ m.files|length }})</h2><table><tr><th>Archivo</th><th>SHA-256</th></tr>
{% for name, sha in m.files|dictsort %}<tr><td>{{ name }}</td><td><code>{{ sha }}</code></td></tr>
{% endfor %}</table></html>
"""
)


def report_html(signed: dict[str, Any], diff: Differences | None, against: str | None,
                election: Election | None = None) -> str:
    """The notary's readable report (Spanish); its time in the election's official zone, as the
    node's screens show it, with the signed UTC stamp beside it."""
    created = str(signed["manifest"]["created_at"])
    issued = wording.official_time_text(created, election) if election is not None else f"{created} (UTC)"
    return _REPORT.render(m=signed["manifest"], signed=signed, diff=diff, against=against, issued=issued)


def main(datadir: DataDir, out: Path | None, compare: Path | None, as_json: bool) -> int:
    before = load_signed(compare, datadir) if compare is not None else None
    ledger = datadir.ledger()
    try:
        manifest = build(datadir, ledger.conn)
        signed = sign(manifest, datadir)
        diff = _compare_files(before, manifest)
        body: dict[str, Any] = {
            "manifest_sha256": signed["hash"],
            "version": __version__,
            "files": len(manifest["files"]),
            "store_head": manifest["store"]["head"],
            "at_zero": manifest["store"]["at_zero"],
        }
        if diff is not None and before is not None:
            body["compare"] = {
                "against_created_at": before["created_at"],
                "changed": diff.changed,
                "added": diff.added,
                "removed": diff.removed,
            }
        packet = ledger.append("node.attested", body)
    finally:
        ledger.close()
    if out is not None:
        out.write_text(json.dumps(signed, indent=2, sort_keys=True, ensure_ascii=False), encoding="utf-8")
        out.with_suffix(".html").write_text(
            report_html(signed, diff, str(compare) if compare else None, datadir.election), encoding="utf-8"
        )
    if as_json:
        print_json(
            {
                "hash": signed["hash"],
                "seq": packet.seq,
                "files": len(manifest["files"]),
                "store": manifest["store"],
                "differences": None if diff is None else diff.__dict__,
            }
        )
    else:
        _print_text(signed, diff, packet.seq, out)
    return EXIT_CHECK_FAILED if diff is not None and diff.any else EXIT_OK


def _compare_files(before: dict[str, Any] | None, manifest: dict[str, Any]) -> Differences | None:
    return None if before is None else compare(before["files"], manifest["files"])


def _print_text(signed: dict[str, Any], diff: Differences | None, seq: int, out: Path | None) -> None:
    m = signed["manifest"]
    print(
        f"attestation {signed['hash']} node={m['node']} version={m['version']} "
        f"files={len(m['files'])} recorded as seq {seq}"
    )
    store = m["store"]
    print(
        f"store: {store['packets']} packets, head {store['head']['seq']}, {store['blobs']} blobs"
        + (" — at zero" if store["at_zero"] else "")
    )
    if out is not None:
        print(f"signed manifest: {out}; report: {out.with_suffix('.html')}")
    if diff is not None:
        for name in diff.changed:
            print(f"changed: {name}")
        for name in diff.added:
            print(f"added: {name}")
        for name in diff.removed:
            print(f"removed: {name}")
        print("differences found" if diff.any else "no differences: every file is identical")
