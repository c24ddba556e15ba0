"""Trust from outside the cut: the keys file a party holds before the night.

A cut carries every key it is checked with (hq.pub, nodos/<NODE>.pub). Checked against those
alone it proves that it agrees with itself, nothing against HQ: HQ could make up a CATD, key
and chain and all. What a party must hold instead is written once at set-up by
`catd-hq keys publish`, before the night, under DATA/publicacion/llaves/:

    llaves.json        every registered CATD's key and the election file's SHA-256 (JSON)
    llaves.json.sig    base64 Ed25519 signature of llaves.json's bytes by the HQ key
    hq.pub             HQ's public key
    nodos/<NODE>.pub   each CATD's public key, as registered
    catalogo.json      the election file HQ was installed with, byte for byte

That folder is what `verify-release --keys DIR` takes. A node registered (`add-node`) after
the file is published is recorded in a later version of it (`added_after_publication`, with
the time) and every later cut's manifest names it (`llaves`), so a verifier holding the first
version is told why the node's key is not in it. tools/verify_release.py applies the same rules
with nothing of ours installed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from catd_node import keys
from catd_node.errors import BadInput
from hq.release import manifest
from hq.store import HQDir
from hq.store.base import Conn

log = logging.getLogger("catd.hq.trust")
FOLDER = "llaves"                 # under DATA/publicacion/
NAME = "llaves.json"
SIG = "llaves.json.sig"
FORMAT = "catd/llaves/v1"
CATALOG = "catalogo.json"
HQ_PUB = "hq.pub"


# ---- the verifier's side -------------------------------------------------------------------

def given_key(keys_dir: Path, node: str) -> Path | None:
    """The node's key in DIR: `nodos/<NODE>.pub` (the published layout) or `<NODE>.pub`."""
    for candidate in (keys_dir / "nodos" / f"{node}.pub", keys_dir / f"{node}.pub"):
        if candidate.is_file():
            return candidate
    return None


def missing_key(node: str, keys_dir: Path, added_at: str | None) -> str:
    if added_at is not None:
        return (f"{node}: no key for it in {keys_dir}; the cut says HQ registered it after the "
                f"keys were published ({added_at}): only that CATD can confirm its key")
    return (f"{node}: no key for it in {keys_dir}; a CATD whose key only the cut carries may be "
            "one HQ made up")


def catalog_differs(node: str, held: str, named: object) -> str:
    return (f"{CATALOG}: its SHA-256 {held[:16]}… is not the election file {node} was installed "
            f"with ({str(named)[:16]}…, named by its node.genesis)")


def check_dir(keys_dir: Path) -> tuple[str | None, dict[str, str]]:
    """(what is wrong with DIR's keys file, or None; node → when it was added after
    publication). A DIR without llaves.json (keys gathered by hand) has nothing to check. With
    it: signed by DIR/hq.pub, naming that key, each DIR/nodos key's hash and the catalog's."""
    path = keys_dir / NAME
    if not path.is_file():
        return None, {}
    body = path.read_bytes()
    sig = (keys_dir / SIG).read_bytes() if (keys_dir / SIG).is_file() else b""
    pem = (keys_dir / HQ_PUB).read_bytes()
    try:
        hq_key = keys.public_from_pem(pem, HQ_PUB)
    except BadInput as exc:
        return f"{HQ_PUB}: {exc.why}", {}
    if not manifest.signed_by(hq_key, body, sig):
        return f"{NAME}: not signed by {keys_dir / HQ_PUB} ({SIG} missing or not its signature)", {}
    try:
        doc = json.loads(body)
        nodes, added = dict(doc["nodes"]), dict(doc.get("added_after_publication") or {})
        named_hq, named_election = doc["hq_key"], doc["election_sha256"]
    except (ValueError, KeyError, TypeError):
        return f"{NAME}: not a {FORMAT} keys file", {}
    if named_hq != hashlib.sha256(pem).hexdigest():
        return f"{NAME}: names another HQ key than {keys_dir / HQ_PUB}", {}
    catalog = keys_dir / CATALOG
    if catalog.is_file() and hashlib.sha256(catalog.read_bytes()).hexdigest() != named_election:
        return f"{NAME}: names another election file than {catalog}", {}
    for node, digest in sorted(nodes.items()):
        given = given_key(keys_dir, str(node))
        if given is not None and hashlib.sha256(given.read_bytes()).hexdigest() != digest:
            return f"{NAME}: {given} is not the key it lists for {node}", {}
    return None, {str(k): str(v) for k, v in added.items()}


def key_notes(key_from: dict[str, str], keys_dir: Path | None, added: dict[str, str]) -> list[str]:
    """Per node, where its key came from and what that proves."""
    notes = []
    for node, where in sorted(key_from.items()):
        late = f"; registered after the keys were published ({added[node]})" if node in added else ""
        if keys_dir is None:
            notes.append(f"note: {node}: key taken from the cut ({where}): this proves the chain is "
                         f"that key's, nothing against HQ, who ships the key{late}")
        else:
            notes.append(f"key: {node}: from {where}{late}")
    if keys_dir is None:
        notes.append("note: pass --keys DIR with the keys published before the night "
                     "(DATA/publicacion/llaves/, the site's downloads page)")
    return notes


# ---- HQ's side: writing the keys file ------------------------------------------------------

def folder(hq: HQDir) -> Path:
    return hq.root / "publicacion" / FOLDER


def read(hq: HQDir) -> dict[str, Any] | None:
    """The keys file as published (None: not yet)."""
    path = folder(hq) / NAME
    if not path.exists():
        return None
    return json.loads(path.read_bytes())


def for_manifest(hq: HQDir) -> dict[str, Any] | None:
    """What a cut's manifest says of the keys file: its version, SHA-256 and the nodes
    registered after it was first published."""
    path = folder(hq) / NAME
    if not path.exists():
        return None
    data = path.read_bytes()
    doc = json.loads(data)
    return {"version": doc["version"], "sha256": hashlib.sha256(data).hexdigest(),
            "added_after_publication": doc.get("added_after_publication", {})}


def _registered(conn: Conn) -> dict[str, str]:
    return {str(node): str(pem) for node, pem in conn.execute("SELECT node, pubkey FROM nodes")}


def _write(hq: HQDir, doc: dict[str, Any], pems: dict[str, str], first: bool) -> Path:
    """The folder's files, each written whole (temporary file, then renamed); llaves.json and
    its signature last, so a reader finding them finds the rest."""
    out = folder(hq)
    (out / "nodos").mkdir(parents=True, exist_ok=True)
    body = (json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode()
    # hq.pub and the catalog are written with the first version only: a later one adds keys
    files = {HQ_PUB: hq.pub_path.read_bytes(), CATALOG: hq.election_path.read_bytes()} if first else {}
    files.update({f"nodos/{node}.pub": pem.encode("ascii") for node, pem in pems.items()})
    files[NAME] = body
    files[SIG] = manifest.sign(hq.private_key(), body)
    for name, data in files.items():
        target = out / name
        fd, tmp = tempfile.mkstemp(prefix=".llaves-", dir=target.parent)
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, target)
    return out


def publish(hq: HQDir, now: datetime | None = None) -> Path:
    """`catd-hq keys publish`: write the keys file once, before the night."""
    if read(hq) is not None:
        raise BadInput(str(folder(hq) / NAME), "the keys file is already published; it is written once "
                                               "(nodes added later are recorded by add-node)")
    election = hq.election()
    if election is None:
        raise BadInput(str(hq.election_path), "HQ has no election catalog (catd-hq init --election FILE)")
    conn = hq.connect()
    try:
        pems = _registered(conn)
    finally:
        conn.close()
    if not pems:
        raise BadInput("nodes", "no CATD is registered yet (catd-hq add-node)")
    at = f"{(now or datetime.now(UTC)):%Y-%m-%dT%H:%M:%SZ}"
    doc = {"format": FORMAT, "version": 1, "published_at": at, "updated_at": at,
           "election": election.name,
           "election_sha256": hashlib.sha256(hq.election_path.read_bytes()).hexdigest(),
           "hq_key": hashlib.sha256(hq.pub_path.read_bytes()).hexdigest(),
           "nodes": {n: hashlib.sha256(p.encode("ascii")).hexdigest() for n, p in sorted(pems.items())},
           "added_after_publication": {}}
    out = _write(hq, doc, pems, first=True)
    log.info("keys file published version=1 nodes=%d election_sha256=%s", len(pems), doc["election_sha256"])
    return out


def record_added(hq: HQDir, node: str, pem: str, now: datetime | None = None) -> int | None:
    """After `add-node` registered `node`: if the keys file is published and does not list it,
    write its next version listing the node under `added_after_publication`; the version (None:
    nothing published, or already listed)."""
    doc = read(hq)
    if doc is None or node in doc["nodes"]:
        return None
    conn = hq.connect()
    try:
        registered = _registered(conn)
    finally:
        conn.close()
    pem = registered.get(node, pem)
    at = f"{(now or datetime.now(UTC)):%Y-%m-%dT%H:%M:%SZ}"
    doc["version"] += 1
    doc["updated_at"] = at
    doc["nodes"][node] = hashlib.sha256(pem.encode("ascii")).hexdigest()
    doc["added_after_publication"][node] = at
    _write(hq, doc, {node: pem}, first=False)
    log.warning("node added after the keys file was published node=%s version=%d", node, doc["version"])
    return int(doc["version"])
