"""HQ's transparency log in its store (SQLite or PostgreSQL): append, tiles, checkpoints.

`append` runs inside the caller's write transaction (the packets' own, in
`receive.store_batch`), so a packet is stored if and only if its leaf is. It costs three
statements per batch whatever its size: the head row (size and the right-edge frontier,
read under a lock), the new leaf rows and any tile-level node hashes the batch closed
(levels 8, 16, …), then the head again. Leaves and node rows are append-only by trigger.

Everything served under /v1/log/ is derived from those rows: the level-0 tile N is the leaf
hashes N·256…, tile L>0 the level-8·L node hashes, an entry bundle the entries themselves.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from catd_node import packets, tlog, tlog_note
from hq.store.base import Conn

_sha = hashlib.sha256


def note_signer(key: Ed25519PrivateKey) -> tuple[tlog_note.Verifier, Ed25519PrivateKey]:
    return tlog_note.log_verifier(key.public_key()), key


def wire_entry(seq: int, canonical: bytes, hash_hex: str, sig: bytes) -> bytes:
    """The packet's wire line (`packets.to_wire`) as UTF-8 bytes, without its newline: the
    leaf HQ logs (built as the cut's evidence lines are, without parsing the packet)."""
    from hq.release.evidence import wire_line

    return wire_line(seq, canonical, hash_hex, sig)[:-1]


def _lock(conn: Conn) -> str:
    return "" if isinstance(conn, sqlite3.Connection) else " FOR UPDATE"


def size(conn: Conn) -> int:
    return int(conn.execute("SELECT size FROM tlog_head WHERE id = 1").fetchone()[0])


def append(conn: Conn, entries: Sequence[bytes]) -> int:
    """Append `entries` as leaves (inside the caller's transaction); the index of the first."""
    if not entries:
        return size(conn)
    for e in entries:
        if len(e) > tlog.MAX_ENTRY:
            raise ValueError(f"a log entry of {len(e)} bytes; at most {tlog.MAX_ENTRY}")
    n, blob = conn.execute("SELECT size, frontier FROM tlog_head WHERE id = 1" + _lock(conn)).fetchone()
    frontier = tlog.Frontier.unpack(int(n), bytes(blob))
    first = frontier.size
    sha = _sha
    hashes = [sha(b"\x00" + e).digest() for e in entries]
    closed: list[tuple[int, int, bytes]] = []
    frontier.append(hashes, lambda level, index, h: closed.append((level, index, h)))
    conn.executemany("INSERT INTO tlog_leaves (idx, hash, entry) VALUES (?, ?, ?)",
                     [(first + i, h, e) for i, (h, e) in enumerate(zip(hashes, entries, strict=True))])
    if closed:
        conn.executemany("INSERT INTO tlog_nodes (level, idx, hash) VALUES (?, ?, ?)", closed)
    conn.execute("UPDATE tlog_head SET size = ?, frontier = ? WHERE id = 1", (frontier.size, frontier.pack()))
    return first


def head(conn: Conn) -> tuple[int, bytes]:
    n, blob = conn.execute("SELECT size, frontier FROM tlog_head WHERE id = 1").fetchone()
    return int(n), tlog.Frontier.unpack(int(n), bytes(blob)).root()


def node_fn(conn: Conn) -> tlog.NodeFn:
    """Node hashes from the store: tile-level rows directly, others hashed up from them."""
    cache: dict[tuple[int, int], bytes] = {}

    def node(level: int, index: int) -> bytes:
        got = cache.get((level, index))
        if got is not None:
            return got
        span = level % tlog.TILE_HEIGHT
        base = level - span
        lo, hi = index << span, (index + 1) << span  # one range read at the tile level below
        if base == 0:
            rows = conn.execute("SELECT hash FROM tlog_leaves WHERE idx >= ? AND idx < ? ORDER BY idx",
                                (lo, hi)).fetchall()
        else:
            rows = conn.execute("SELECT hash FROM tlog_nodes WHERE level = ? AND idx >= ? AND idx < ?"
                                " ORDER BY idx", (base, lo, hi)).fetchall()
        if len(rows) != hi - lo:
            raise tlog.ProofError(f"no node {level}/{index} in the log")
        hashes = [bytes(r[0]) for r in rows]
        while len(hashes) > 1:
            hashes = [tlog.node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
        cache[(level, index)] = got = hashes[0]
        return got

    return node


def tile(conn: Conn, level: int, index: int, width: int) -> bytes | None:
    """The hash tile (level, index) of `width` hashes, or None when the log is not that big."""
    n = size(conn)
    if not 1 <= width <= tlog.TILE_WIDTH or tlog.tile_width(n, level, index) < width:
        return None
    lo = index * tlog.TILE_WIDTH
    if level == 0:
        rows = conn.execute("SELECT hash FROM tlog_leaves WHERE idx >= ? AND idx < ? ORDER BY idx",
                            (lo, lo + width)).fetchall()
    else:
        rows = conn.execute("SELECT hash FROM tlog_nodes WHERE level = ? AND idx >= ? AND idx < ?"
                            " ORDER BY idx", (tlog.TILE_HEIGHT * level, lo, lo + width)).fetchall()
    return b"".join(bytes(r[0]) for r in rows)


def entries(conn: Conn, index: int, width: int) -> bytes | None:
    n = size(conn)
    if not 1 <= width <= tlog.TILE_WIDTH or tlog.tile_width(n, 0, index) < width:
        return None
    lo = index * tlog.TILE_WIDTH
    rows = conn.execute("SELECT entry FROM tlog_leaves WHERE idx >= ? AND idx < ? ORDER BY idx",
                        (lo, lo + width)).fetchall()
    return tlog.bundle(bytes(r[0]) for r in rows)


def packet_index(conn: Conn, node: str, seq: int) -> int | None:
    """The leaf index of packet (node, seq), or None when HQ does not hold it."""
    row = conn.execute("SELECT log_idx FROM packets WHERE node = ? AND seq = ?", (node, seq)).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def checkpoint(conn: Conn, key: Ed25519PrivateKey, at_size: int | None = None) -> tlog_note.Note:
    """HQ's signed checkpoint of the log now (or at `at_size`), with the cosignatures gathered
    for that size. Ed25519 is deterministic: the same size always gives the same note."""
    n, root = head(conn)
    if at_size is not None and at_size != n:
        if not 0 <= at_size <= n:
            raise tlog.ProofError(f"the log has {n} leaves, not {at_size}")
        n, root = at_size, tlog.root_from(node_fn(conn), at_size)
    v, _ = note_signer(key)
    text = tlog_note.Checkpoint(v.name, n, root).text()
    note = tlog_note.sign_note(text, v.name, key)
    for witness, sig in conn.execute("SELECT witness, sig FROM tlog_cosigs WHERE size = ? ORDER BY witness",
                                     (n,)).fetchall():
        raw = base64.b64decode(sig)
        note.sigs.append((witness, raw[:4], raw[4:]))
    return note


def add_cosignature(conn: Conn, key: Ed25519PrivateKey, policy: tlog_note.WitnessPolicy,
                    body: bytes) -> tuple[int, list[str]]:
    """Keep the cosignatures in `body` (a checkpoint note) by listed witnesses; the note must be
    HQ's own checkpoint of a size the log had. Returns (size, witnesses kept)."""
    note = tlog_note.parse_note(body)
    cp = tlog_note.parse_checkpoint_text(note.text)
    v, _ = note_signer(key)
    if cp.origin != v.name:
        raise tlog_note.NoteError(f"origin {cp.origin!r} is not this log's ({v.name})")
    n, _ = head(conn)
    if cp.size > n:
        raise tlog_note.NoteError(f"size {cp.size} is past the log's {n}")
    ours = checkpoint(conn, key, cp.size)
    if ours.text != note.text:
        raise tlog_note.NoteError(f"that is not this log's checkpoint of size {cp.size}")
    kept = []
    for w in policy.witnesses:
        try:
            tlog_note.verify_by(note, w)
        except tlog_note.NoteError:
            continue
        sig = next(s for name, kid, s in note.sigs if name == w.name and kid == w.id)
        conn.execute("INSERT INTO tlog_cosigs (size, witness, sig, at) VALUES (?, ?, ?, ?)"
                     " ON CONFLICT DO NOTHING",
                     (cp.size, w.name, base64.b64encode(w.id + sig).decode(), packets.now()))
        kept.append(w.name)
    if not kept:
        raise tlog_note.NoteError("no valid cosignature by a witness listed in witnesses.txt")
    return cp.size, kept


def receipt_log(conn: Conn, key: Ed25519PrivateKey, index: int) -> dict[str, Any]:
    """What a receipt carries beside HQ's signature: leaf `index`'s inclusion proof in the log
    as it is now, and HQ's signed checkpoint of that size (docs/tlog.md, Receipts)."""
    n, root = head(conn)
    proof = tlog.inclusion_proof(node_fn(conn), index, n)
    v, _ = note_signer(key)
    note = tlog_note.sign_note(tlog_note.Checkpoint(v.name, n, root).text(), v.name, key)
    return {**tlog.proof_json(index, n, proof), "checkpoint": note.render()}


REGISTRO_CHECKPOINT = "registro/checkpoint"
REGISTRO_HASHES = "registro/hojas.bin"


def cut_log(conn: Conn, key: Ed25519PrivateKey) -> tuple[dict[str, Any], bytes, list[bytes]]:
    """What a cut carries of the log, read in the cut's snapshot: the manifest's `log` field,
    HQ's signed checkpoint (registro/checkpoint) and every leaf hash up to it, in order
    (registro/hojas.bin: the level-0 tiles joined), so a verifier recomputes the root."""
    n, root = head(conn)
    v, _ = note_signer(key)
    note = tlog_note.sign_note(tlog_note.Checkpoint(v.name, n, root).text(), v.name, key)
    rows = conn.execute("SELECT hash FROM tlog_leaves WHERE idx < ? ORDER BY idx", (n,))
    hashes = [bytes(r[0]) for r in rows]
    return ({"origin": v.name, "size": n, "root": base64.b64encode(root).decode()},
            note.render().encode(), hashes)


def log_cut(conn: Conn, name: str, manifest_bytes: bytes) -> int:
    """Append a published cut's leaf (its own transaction); its index."""
    from hq.store.base import writing

    with writing(conn):
        return append(conn, [tlog.cut_leaf(name, hashlib.sha256(manifest_bytes).hexdigest())])


def write_tiles(conn: Conn, key: Ed25519PrivateKey, folder: Path) -> int:
    """The log as static files under `folder` (publicacion/registro/): `checkpoint`, every
    hash tile and entry bundle (C2SP tlog-tiles paths), so the site or any mirror serves the
    log as it serves the cuts. Full tiles never change and are written once; partial ones are
    rewritten. Each file goes in whole (temporary name, then rename). Returns the size."""
    n, _ = head(conn)
    for level, index, width in tlog.tiles_for(n):
        for kind in ((level,) if level else (0, "entries")):
            path = folder / tlog.tile_path(kind, index, width)
            if path.exists():
                continue
            data = entries(conn, index, width) if kind == "entries" else tile(conn, level, index, width)
            if data is None:
                raise tlog.ProofError(f"the log lost {path.name} while writing it")
            _put(path, data)
    _put(folder / "checkpoint", checkpoint(conn, key, n).render().encode())
    return n


SIDECAR = ".testigos.json"


def sidecar(conn: Conn, key: Ed25519PrivateKey, cut_size: int) -> dict[str, Any] | None:
    """For a cut whose checkpoint has `cut_size` leaves: the latest cosigned checkpoint of at
    least that size (with every cosignature HQ holds for it) and the consistency proof from
    the cut's size to it, so a verifier checks the witnesses vouched for a tree extending the
    cut's. None while no witness has cosigned so far."""
    row = conn.execute("SELECT MAX(size) FROM tlog_cosigs WHERE size >= ?", (cut_size,)).fetchone()
    if row is None or row[0] is None:
        return None
    later = int(row[0])
    proof = tlog.consistency_proof(node_fn(conn), cut_size, later)
    return {"size": cut_size, "checkpoint": checkpoint(conn, key, later).render(),
            "consistency": [p.hex() for p in proof]}


def refresh_sidecars(conn: Conn, key: Ed25519PrivateKey, folder: Path) -> int:
    """Write `<zip>.testigos.json` beside every cut in `folder` a cosigned checkpoint covers."""
    import zipfile

    written = 0
    for path in sorted(folder.glob("*.zip")):
        try:
            with zipfile.ZipFile(path) as archive:
                log = json.loads(archive.read("MANIFEST.json")).get("log")
        except (OSError, KeyError, ValueError, zipfile.BadZipFile):
            continue
        if not isinstance(log, dict) or not isinstance(log.get("size"), int):
            continue
        doc = sidecar(conn, key, log["size"])
        if doc is not None:
            _put(path.with_name(path.name + SIDECAR), json.dumps(doc, indent=1).encode())
            written += 1
    return written


def _put(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk leaves no half-written tile (issue 21)
        raise


def proof_answer(conn: Conn, index: int, at_size: int) -> dict[str, Any]:
    node = node_fn(conn)
    return tlog.proof_json(index, at_size, tlog.inclusion_proof(node, index, at_size))
