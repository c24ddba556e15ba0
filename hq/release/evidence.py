"""The evidence of a cut: every node's signed packets, and which of them each row rests on.

`evidencia.ndjson` holds each node's chain complete, from seq 1 up to the head the cut covers,
as wire lines (docs/contracts.md, "Packets"), node by node. Not only the packets behind rows: with the
whole chain a verifier checks every link from genesis to the head, so HQ cannot leave out a
packet that would change a row — a later report, the undoing of a sin acta, another CATD's
report of the same acta. The cost at national size is about 1.3× the packets behind rows
(logins and the second captures are the rest); benchmarks/RESULTS.md has the figures.
`evidencia_actas.txt` maps each row to its node and the seqs it draws on.

Everything is read inside one read transaction (`snapshot`), so the count, the heads and the
packets written all describe the same moment while the receiver keeps writing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from json.encoder import encode_basestring

from hq.count import ActaRecord, Row
from hq.store import COUNT_KINDS
from hq.store.base import Conn
from hq.store.base import snapshot as store_snapshot

WIRE = "evidencia.ndjson"
INDEX = "evidencia_actas.txt"
INDEX_HEADER = "CLAVE_ACTA|NODO|SECUENCIAS\r\n"
_PAGE = 20_000    # packets fetched per query: bounded memory on a chain of any length


@contextmanager
def snapshot(conn: Conn) -> Iterator[None]:
    """A read transaction: every query inside sees the database as of its first read (SQLite
    WAL; REPEATABLE READ on PostgreSQL: `base.snapshot`), however long the cut takes."""
    with store_snapshot(conn, patient=True):
        yield


def heads(conn: Conn) -> dict[str, tuple[int, str]]:
    """node → (seq, hash) of its last packet held, for every node with packets."""
    rows = conn.execute(
        "SELECT p.node, p.seq, p.hash FROM packets p"
        " JOIN (SELECT node, MAX(seq) AS seq FROM packets GROUP BY node) h"
        " ON p.node = h.node AND p.seq = h.seq ORDER BY p.node").fetchall()
    return {node: (int(seq), str(hash_hex)) for node, seq, hash_hex in rows}


def wire_line(seq: int, canonical: bytes | str, hash_hex: str, sig: bytes) -> bytes:
    """`packets.to_wire` of a stored packet, built without parsing it (same bytes; tested)."""
    text = canonical if isinstance(canonical, str) else canonical.decode("utf-8")
    text = encode_basestring(text)   # json.dumps(…, ensure_ascii=False), in C
    sig64 = base64.b64encode(sig).decode("ascii")
    return f'{{"canonical":{text},"hash":"{hash_hex}","seq":{seq},"sig":"{sig64}"}}\n'.encode()


class Stream:
    """Each covered node's packets 1..head, node by node, as NDJSON wire lines; on the way, the
    rows the count reads (`hq.count.Row`), so the published rows are counted from exactly the
    packets the cut publishes, read once."""

    def __init__(self, conn: Conn, covered: dict[str, tuple[int, str]]) -> None:
        self.conn, self.covered = conn, covered
        self.rows: list[Row] = []

    def lines(self) -> Iterator[bytes]:
        counted = frozenset(COUNT_KINDS)
        keep = self.rows.append
        for node, (head, _) in sorted(self.covered.items()):
            after = 0
            while after < head:
                page = self.conn.execute(
                    "SELECT seq, canonical, hash, sig, kind, at, received_at, acta FROM packets"
                    " WHERE node = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                    (node, after, head, _PAGE)).fetchall()
                if not page:
                    break
                for seq, canonical, hash_hex, sig, kind, at, received_at, acta in page:
                    text = bytes(canonical).decode("utf-8")
                    yield wire_line(int(seq), text, str(hash_hex), bytes(sig))
                    if kind in counted:
                        # A capture is read for its time only (as hq.count reads it from the store).
                        body = {} if kind == "acta.captured" else json.loads(text)["body"]
                        keep(Row(node, int(seq), kind, at, received_at, acta, body))
                after = int(page[-1][0])


def wire_lines(conn: Conn, covered: dict[str, tuple[int, str]]) -> Iterator[bytes]:
    """The wire lines alone."""
    return Stream(conn, covered).lines()


def index_lines(records: Iterable[ActaRecord]) -> Iterator[str]:
    """`CLAVE_ACTA|NODO|SECUENCIAS` (seqs space-separated), rows in the results file's order."""
    yield INDEX_HEADER
    for record in records:
        yield f"{record.key}|{record.node}|{' '.join(map(str, record.evidence))}\r\n"


def node_pems(conn: Conn, nodes: Iterable[str]) -> dict[str, bytes]:
    """The registered public key (PEM) of each node."""
    wanted = set(nodes)
    return {node: pem.encode("ascii") for node, pem in conn.execute("SELECT node, pubkey FROM nodes")
            if node in wanted}
