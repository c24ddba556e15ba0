"""The HQ data dir (hq.key, hq.pub, hq.db or database.url, blobs/, uploads/, election.json)
and its queries, written once for both stores (`base.Conn`): SQLite (hq.db, the default) or
PostgreSQL (`catd-hq init --db postgresql://…`, the URL kept in database.url)."""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from catd_node import catalog, keys, packets
from catd_node.blobs import BlobStore
from catd_node.catalog import Election
from catd_node.errors import BadInput
from hq.store import postgres
from hq.store import sqlite as sqlite_store
from hq.store.base import Conn, writing
from sync import protocol

log = logging.getLogger("catd.hq")
DEFAULT = "./hq-data"
DB_ENV = "CATD_HQ_DB"


def resolve(arg: str | None) -> Path:
    """-d/--data-dir, else $CATD_HQ_DATA_DIR, else ./hq-data."""
    return Path(arg or os.environ.get("CATD_HQ_DATA_DIR") or DEFAULT)


@dataclass(frozen=True)
class HQDir:
    root: Path

    @property
    def key_path(self) -> Path:
        return self.root / "hq.key"

    @property
    def pub_path(self) -> Path:
        return self.root / "hq.pub"

    @property
    def db_path(self) -> Path:
        return self.root / "hq.db"

    @property
    def db_url_path(self) -> Path:
        """Present when HQ lives in PostgreSQL: the database URL (mode 0600; keep passwords
        in ~/.pgpass or $PGPASSWORD rather than here)."""
        return self.root / "database.url"

    def db_url(self) -> str | None:
        """The PostgreSQL URL ($CATD_HQ_DB overrides the data dir's), or None for SQLite."""
        env = os.environ.get(DB_ENV)
        if env:
            return env
        try:
            return self.db_url_path.read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None

    @property
    def blobs_dir(self) -> Path:
        return self.root / "blobs"

    @property
    def uploads_dir(self) -> Path:
        """Partial blob uploads, per node (`<node>/<sha256>.partial`: hq/partials.py), kept
        across dropped connections for the node that started them."""
        return self.root / "uploads"

    @property
    def election_path(self) -> Path:
        return self.root / "election.json"

    def check(self) -> None:
        if not self.key_path.exists() or not (self.db_path.exists() or self.db_url_path.exists()):
            raise BadInput(str(self.root), "not an HQ data directory (run `catd-hq init`)")

    def private_key(self) -> Ed25519PrivateKey:
        return keys.read_private(self.key_path)

    def public_key(self) -> Ed25519PublicKey:
        return keys.read_public(self.pub_path)

    def blobs(self) -> BlobStore:
        return BlobStore(self.blobs_dir)

    def election(self) -> Election | None:
        return catalog.load(self.election_path) if self.election_path.exists() else None

    def connect(self, *, create: bool = False) -> Conn:
        """A migrated connection to HQ's store: hq.db (WAL, synchronous=FULL, manual
        transactions) or the PostgreSQL database named in database.url."""
        if not create:
            self.check()
        url = self.db_url()
        if url is None:
            return sqlite_store.connect(self.db_path)
        conn = postgres.connect(url)
        try:
            postgres.migrate(conn)
            postgres.claim_key(conn, self.pub_path.read_text(encoding="ascii"))
        except BaseException:
            conn.close()
            raise
        return conn


def init(root: Path, election_file: Path | None = None, db_url: str | None = None) -> HQDir:
    """Create the HQ data dir: key pair, database (hq.db, or the schema in the PostgreSQL
    database `db_url`), blob and upload dirs, the election copy."""
    hq = HQDir(root)
    if election_file is not None:
        catalog.load(election_file)  # validate before creating anything
    if db_url is not None:
        if not postgres.is_url(db_url):
            raise BadInput("--db", "expected a postgresql://… URL (SQLite is the default: omit --db)")
        conn = postgres.connect(db_url)  # reachable, and not another HQ's, before creating anything
        try:
            if postgres.held_key(conn) is not None:
                raise BadInput(postgres.redact(db_url), postgres.IN_USE)
        finally:
            conn.close()
    if hq.key_path.exists():
        raise BadInput(str(hq.key_path), "a key already exists here; refusing to overwrite it")
    root.mkdir(parents=True, exist_ok=True)
    key = keys.generate()
    keys.write_private(hq.key_path, key)
    keys.write_public(hq.pub_path, key.public_key())
    hq.blobs_dir.mkdir(exist_ok=True)
    hq.uploads_dir.mkdir(exist_ok=True)
    if election_file is not None:
        shutil.copyfile(election_file, hq.election_path)
    if db_url is not None:
        fd = os.open(hq.db_url_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(db_url + "\n")
    hq.connect(create=True).close()
    log.info("initialised hq dir=%s", root)
    return hq


def add_node(conn: Conn, node: str, pubkey_pem: bytes) -> bool:
    """Register `node` with its public key; True if added, False if already so registered."""
    if not node or len(node) > 64 or not all(c.isalnum() or c in "-_." for c in node):
        raise BadInput("--node-id", "use 1–64 letters, digits, '-', '_' or '.'")
    keys.public_from_pem(pubkey_pem, "--pubkey")
    pem = pubkey_pem.decode("ascii").strip() + "\n"
    with writing(conn):
        row = conn.execute("SELECT pubkey FROM nodes WHERE node = ?", (node,)).fetchone()
        if row is not None:
            if row[0] != pem:
                raise BadInput(node, "already registered with a different public key")
            return False
        conn.execute(
            "INSERT INTO nodes (node, pubkey, added_at) VALUES (?, ?, ?)", (node, pem, packets.now())
        )
    return True


def node_pems(conn: Conn) -> dict[str, str]:
    """Registered nodes → public key PEM (plain text, so it can cross to worker processes)."""
    return dict(conn.execute("SELECT node, pubkey FROM nodes").fetchall())


def node_keys(conn: Conn) -> dict[str, Ed25519PublicKey]:
    return {
        node: keys.public_from_pem(pem.encode("ascii"), node)
        for node, pem in conn.execute("SELECT node, pubkey FROM nodes")
    }


def head(conn: Conn, node: str) -> tuple[int, str]:
    """(seq, hash) of the last packet held for `node` (0 and zeros when none)."""
    row = conn.execute(
        "SELECT seq, hash FROM packets WHERE node = ? ORDER BY seq DESC LIMIT 1", (node,)
    ).fetchone()
    return (row[0], row[1]) if row else (0, packets.ZERO_HASH)


def receipt(
    conn: Conn, node: str, seq: int, hq_key: Ed25519PrivateKey | None = None
) -> dict[str, Any] | None:
    """The receipt of (node, seq): its received_at is when HQ first stored the packet. One not
    signed yet is signed now with `hq_key` (Ed25519 is deterministic: always the same sig)."""
    row = conn.execute(
        "SELECT hash, received_at, receipt_sig FROM packets WHERE node = ? AND seq = ?", (node, seq)
    ).fetchone()
    if row is None:
        return None
    if row[2] is None:
        if hq_key is None:
            return {"node": node, "seq": seq, "hash": row[0], "received_at": row[1], "sig": None}
        return protocol.sign_receipt(hq_key, node, seq, row[0], row[1])
    return {"node": node, "seq": seq, "hash": row[0], "received_at": row[1], "sig": row[2]}


def is_referenced(conn: Conn, sha: str) -> bool:
    return conn.execute("SELECT 1 FROM blob_refs WHERE sha256 = ? LIMIT 1", (sha,)).fetchone() is not None


def blob_size(conn: Conn, sha: str) -> int | None:
    row = conn.execute("SELECT bytes FROM blobs WHERE sha256 = ?", (sha,)).fetchone()
    return None if row is None else int(row[0])


def blob_state(conn: Conn, sha: str, node: str) -> tuple[int | None, bool]:
    """(stored size or None, referenced by a packet received from `node`) in one read."""
    row = conn.execute(
        "SELECT (SELECT bytes FROM blobs WHERE sha256 = ?1),"
        " EXISTS (SELECT 1 FROM blob_refs WHERE sha256 = ?1 AND node = ?2)",
        (sha, node),
    ).fetchone()
    return (None if row[0] is None else int(row[0])), bool(row[1])


def record_blob(conn: Conn, sha: str, size: int) -> None:
    """Note a stored blob. On SQLite the row is written on a synchronous=NORMAL connection:
    lost on power loss, it is re-derived at start-up (`rederive_blob_rows`). On PostgreSQL it
    is a synchronous commit (base.relax): the upload is acknowledged after this returns, and
    a promoted standby must hold every row HQ acknowledged. Failing all that, the node's
    missing-blob query (`missing_blobs`) names it and the node uploads it again."""
    at = packets.now()
    with writing(conn):
        conn.execute(
            "INSERT INTO blobs (sha256, bytes, stored_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (sha, size, at),
        )
        # an image HQ had lost (hq/blobcheck.py) and a node sent again
        conn.execute("UPDATE blob_losses SET restored_at = ? WHERE sha256 = ? AND restored_at IS NULL",
                     (at, sha))


def rederive_blob_rows(conn: Conn, blobs: BlobStore) -> int:
    """Record referenced blobs whose file is in the store but whose row is missing (a row
    written without fsync and lost on power loss); each file is re-hashed first. Returns
    how many rows were restored."""
    missing = [row[0] for row in conn.execute(
        "SELECT DISTINCT r.sha256 FROM blob_refs r LEFT JOIN blobs b ON b.sha256 = r.sha256"
        " WHERE b.sha256 IS NULL")]
    restored = 0
    for sha in missing:
        if not blobs.has(sha):
            continue
        why = blobs.problem(sha)
        if why is not None:
            log.warning("blob file not restored sha=%s reason=%s", sha[:16], why)
            continue
        record_blob(conn, sha, blobs.size(sha))
        restored += 1
    if restored:
        log.warning("blob rows re-derived from the store count=%d", restored)
    return restored


LACKING_MAX = 1000      # blob names per answer of GET /v1/nodes/{node}/blobs/missing
MISSING_ACTAS_MAX = 100  # actas named per node in `status`


def lacking_blobs(conn: Conn, node: str, limit: int = LACKING_MAX) -> list[str]:
    """Blobs referenced by `node`'s packets that HQ does not hold (never received, or lost
    and not yet sent again), in name order, at most `limit`."""
    rows = conn.execute(
        "SELECT DISTINCT r.sha256 FROM blob_refs r LEFT JOIN blobs b ON b.sha256 = r.sha256"
        " WHERE r.node = ? AND b.sha256 IS NULL ORDER BY r.sha256 LIMIT ?", (node, limit))
    return [row[0] for row in rows]


def missing_actas(conn: Conn, node: str, limit: int = MISSING_ACTAS_MAX) -> list[str]:
    """The actas of `node` whose image HQ does not hold, at most `limit`."""
    rows = conn.execute(
        "SELECT DISTINCT p.acta FROM blob_refs r JOIN packets p ON p.node = r.node AND p.seq = r.seq"
        " LEFT JOIN blobs b ON b.sha256 = r.sha256"
        " WHERE r.node = ? AND b.sha256 IS NULL AND p.acta IS NOT NULL ORDER BY p.acta LIMIT ?",
        (node, limit))
    return [row[0] for row in rows]


def status(conn: Conn) -> dict[str, Any]:
    """`catd-hq status --json`: nodes → id → {seq, hash, blobs_stored, blobs_missing,
    missing_actas, forked, forks}; blobs_lost → {count, list} (hq/blobcheck.py)."""
    from hq import blobcheck

    nodes: dict[str, Any] = {}
    for node, forked in conn.execute("SELECT node, forked FROM nodes ORDER BY node").fetchall():
        seq, hash_hex = head(conn, node)
        stored, missing = conn.execute(
            "SELECT COUNT(b.sha256), COUNT(*) - COUNT(b.sha256) FROM"
            " (SELECT DISTINCT sha256 FROM blob_refs WHERE node = ?) r"
            " LEFT JOIN blobs b ON b.sha256 = r.sha256",
            (node,),
        ).fetchone()
        forks = conn.execute("SELECT COUNT(*) FROM forks WHERE node = ?", (node,)).fetchone()[0]
        nodes[node] = {
            "seq": seq, "hash": hash_hex, "blobs_stored": stored, "blobs_missing": missing,
            "missing_actas": missing_actas(conn, node) if missing else [],
            "forked": bool(forked), "forks": forks,
        }
    return {"nodes": nodes, "blobs_lost": blobcheck.lost_report(conn)}


# The packets the count reads (hq/count.py). A capture is read for its time only, so its
# canonical bytes (the bulk of the values) are not fetched. The kind filter uses the
# packets_kind_acta index; rows come back in each node's chain order.
COUNT_KINDS = ("acta.verified", "acta.sin_acta", "acta.sin_acta_undone", "acta.acopio",
               "acta.digitized", "acta.assigned", "acta.captured")
_COUNT_PACKETS = (
    "SELECT node, seq, kind, at, received_at, acta,"
    " CASE kind WHEN 'acta.captured' THEN NULL ELSE canonical END"
    f" FROM packets WHERE kind IN ({', '.join('?' * len(COUNT_KINDS))}) ORDER BY node, seq"
)


def count_packets(conn: Conn) -> list[tuple[str, int, str, str, str, str | None, bytes | None]]:
    """(node, seq, kind, at, received_at, acta, canonical bytes or None for a capture) of every
    packet the count reads, in (node, seq) order."""
    return conn.execute(_COUNT_PACKETS, COUNT_KINDS).fetchall()


def heads(conn: Conn) -> tuple[tuple[str, int], ...]:
    """(node, last seq) of every chain: packets are append-only, so equal heads mean equal data."""
    return tuple(conn.execute("SELECT node, MAX(seq) FROM packets GROUP BY node ORDER BY node").fetchall())


def packet_times(conn: Conn, kinds: tuple[str, ...],
                 ) -> dict[tuple[str, int], tuple[str, str, str]]:
    """(node, seq) → (kind, at, received_at) of the packets of these kinds."""
    rows = conn.execute(
        f"SELECT node, seq, kind, at, received_at FROM packets WHERE kind IN ({', '.join('?' * len(kinds))})",
        kinds)
    return {(node, seq): (kind, at, received_at) for node, seq, kind, at, received_at in rows}
