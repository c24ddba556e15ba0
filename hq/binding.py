"""Is a verified acta's image bound to it? (issue 12, defence in depth at HQ.)

The node's web app refuses a capture on an image that no acta.digitized or acta.assigned packet
links to the acta; a modified node could skip that check, so HQ checks the chain it received
too, and does not count an acta whose verified capture fails here. The rule mirrors the node's
(`catd_node.web.board.ActaState`): the link comes from the same node, for the same acta, before
the verification, and no assignment that `replaces` the acta's image came between the two.
"""

from __future__ import annotations

import sqlite3

_BOUND = """
SELECT 1 FROM packets b
WHERE b.node = :node AND b.acta = :acta AND b.seq < :seq
  AND ((b.kind = 'acta.digitized'
        AND json_extract(CAST(b.canonical AS TEXT), '$.body.image.sha256') = :sha)
    OR (b.kind = 'acta.assigned'
        AND json_extract(CAST(b.canonical AS TEXT), '$.body.image_sha256') = :sha))
  AND NOT EXISTS (
    SELECT 1 FROM packets r
    WHERE r.node = :node AND r.acta = :acta AND r.kind = 'acta.assigned'
      AND r.seq > b.seq AND r.seq < :seq
      AND json_extract(CAST(r.canonical AS TEXT), '$.body.replaces') IS NOT NULL)
LIMIT 1
"""


def image_bound_to_acta(conn: sqlite3.Connection, node: str, acta: str, sha: object, seq: int) -> bool:
    """True when `node` linked image `sha` to `acta` (acta.digitized or acta.assigned) before its
    packet `seq`, and did not replace that image before `seq`."""
    if not isinstance(sha, str):
        return False
    params = {"node": node, "acta": acta, "sha": sha, "seq": seq}
    return conn.execute(_BOUND, params).fetchone() is not None
