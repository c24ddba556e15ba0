"""RFC 6962 Merkle tree hashing, proofs and C2SP tlog-tiles math (standard library only).

The transparency log (docs/tlog.md) holds one leaf per packet HQ accepted and one per
published cut manifest. Hashes follow RFC 6962 §2.1: a leaf is SHA-256(0x00 || data), an
inner node SHA-256(0x01 || left || right). The log is served as C2SP tlog-tiles: tiles of
height 8 (256 hashes), the tile at level L holding the hashes of tree level 8·L; a partial
tile `.p/<W>` holds the first W; entry bundles hold the leaves themselves, each with a 2-byte
big-endian length (so a leaf is at most 65,535 bytes: `leaf_hash` never refuses, `bundle`
does).

Proofs are computed from a `NodeFn(level, index)` that returns the hash of the complete
subtree of 2^level leaves starting at leaf index·2^level: HQ answers it from its store, a
verifier from downloaded tiles (`TileSource`). Verification follows RFC 9162 §2.1.3.2 and
§2.1.4.2 and needs only hashlib.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any

HASH_SIZE = 32
TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
MAX_ENTRY = 0xFFFF
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeFn = Callable[[int, int], bytes]
_sha = hashlib.sha256


class ProofError(ValueError):
    """A proof that does not verify, or a request no proof answers (index past size)."""


def leaf_hash(data: bytes) -> bytes:
    return _sha(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n ≥ 2): RFC 6962's k."""
    return 1 << ((n - 1).bit_length() - 1)


class Frontier:
    """The right edge of a growing tree: the roots of its complete subtrees, largest first.

    `append` adds leaf hashes in O(1) amortised and calls `on_node(level, index, hash)` for
    every complete subtree it closes whose level is a multiple of TILE_HEIGHT (the hashes
    tiles are made of), levels ≥ 8 only: level-0 hashes are the leaves themselves."""

    __slots__ = ("size", "stack")

    def __init__(self, size: int = 0, stack: list[bytes] | None = None) -> None:
        self.size = size
        self.stack = stack if stack is not None else []
        if len(self.stack) != size.bit_count():
            raise ValueError(f"frontier of {len(self.stack)} hashes for size {size}")

    def append(self, hashes: Iterable[bytes],
               on_node: Callable[[int, int, bytes], None] | None = None) -> None:
        """Add leaf hashes, a whole level at a time: each level's new nodes are hashed in one
        comprehension (pairs), with the old frontier node prepended when it is a left sibling
        and a lone last node kept as the new frontier's at that level."""
        row = list(hashes)
        if not row:
            return
        old, added = self.size, len(row)
        bits = [lv for lv in range(old.bit_length() - 1, -1, -1) if old >> lv & 1]
        pending = dict(zip(bits, self.stack, strict=True))  # level → node, from the old frontier
        sha = _sha
        level, start = 0, old
        while row:
            if start & 1:
                row = [pending.pop(level), *row]
                start -= 1
            if len(row) & 1:
                pending[level] = row.pop()
            if not row:
                break
            it = iter(row)
            row = [sha(b"\x01" + a + b).digest() for a, b in zip(it, it, strict=True)]
            start >>= 1
            level += 1
            if on_node is not None and level % TILE_HEIGHT == 0:
                for k, h in enumerate(row):
                    on_node(level, start + k, h)
        self.size = old + added
        self.stack = [pending[lv] for lv in sorted(pending, reverse=True)]

    def root(self) -> bytes:
        if not self.stack:
            return EMPTY_ROOT
        h = self.stack[-1]
        for left in reversed(self.stack[:-1]):
            h = node_hash(left, h)
        return h

    def pack(self) -> bytes:
        return b"".join(self.stack)

    @classmethod
    def unpack(cls, size: int, blob: bytes) -> Frontier:
        return cls(size, [blob[i:i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE)])


def root_of(leaves: Iterable[bytes]) -> bytes:
    """The tree head of raw leaves (a convenience over Frontier)."""
    return root_of_hashes(leaf_hash(x) for x in leaves)


def root_of_hashes(hashes: Iterable[bytes]) -> bytes:
    f = Frontier()
    f.append(hashes)
    return f.root()


# ---------------------------------------------------------------- proofs from node hashes

def range_hash(node: NodeFn, lo: int, hi: int) -> bytes:
    """MTH of leaves lo..hi-1 (hi > lo), from complete subtrees."""
    n = hi - lo
    if n & (n - 1) == 0 and lo % n == 0:
        level = n.bit_length() - 1
        return node(level, lo >> level)
    k = _split(n)
    return node_hash(range_hash(node, lo, lo + k), range_hash(node, lo + k, hi))


def inclusion_proof(node: NodeFn, index: int, size: int) -> list[bytes]:
    """RFC 6962 PATH(index, D[0:size]), leaf to root order."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append(range_hash(node, lo + k, hi))
            hi = lo + k
        else:
            path.append(range_hash(node, lo, lo + k))
            lo = lo + k
    path.reverse()
    return path


def consistency_proof(node: NodeFn, old: int, new: int) -> list[bytes]:
    """RFC 6962 PROOF(old, D[0:new]) (empty when old is 0 or old == new)."""
    if not 0 <= old <= new:
        raise ProofError(f"no consistency proof from size {old} to size {new}")
    if old == 0 or old == new:
        return []
    out: list[bytes] = []

    def sub(m: int, lo: int, hi: int, whole: bool) -> None:
        n = hi - lo
        if m == n:
            if not whole:
                out.append(range_hash(node, lo, hi))
            return
        k = _split(n)
        if m <= k:
            sub(m, lo, lo + k, whole)
            out.append(range_hash(node, lo + k, hi))
        else:
            sub(m - k, lo + k, hi, False)
            out.append(range_hash(node, lo, lo + k))

    sub(old, 0, new, True)
    return out


def root_from(node: NodeFn, size: int) -> bytes:
    return EMPTY_ROOT if size == 0 else range_hash(node, 0, size)


# ---------------------------------------------------------------- verification (RFC 9162)

def root_from_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes]) -> bytes:
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof too short")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes) -> None:
    """Raise ProofError unless `leaf` (a leaf hash) is leaf `index` of the tree `root`/`size`."""
    if root_from_inclusion(index, size, leaf, proof) != root:
        raise ProofError(f"leaf {index} is not in the tree of size {size} with that root")


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes]) -> None:
    """Raise ProofError unless tree old_root/old is a prefix of tree new_root/new."""
    if not 0 <= old <= new:
        raise ProofError(f"size went from {old} to {new}: a log never shrinks")
    if old == new:
        if proof:
            raise ProofError("a proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError(f"two different trees of size {new}")
        return
    if old == 0:
        if proof:
            raise ProofError("a proof from the empty tree must be empty")
        return
    if not proof:
        raise ProofError("empty consistency proof")
    if old & (old - 1) == 0:  # old is a power of two: its root is the first hash
        proof = [old_root, *proof]
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            raise ProofError("consistency proof too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof too short")
    if fr != old_root:
        raise ProofError(f"the tree of size {new} does not extend the tree of size {old}")
    if sr != new_root:
        raise ProofError(f"consistency proof does not lead to the root of size {new}")


# ---------------------------------------------------------------- tiles (C2SP tlog-tiles)

def tile_path(level: int | str, index: int, width: int = TILE_WIDTH) -> str:
    """`tile/<L>/<N>[.p/<W>]` with N in groups of three digits (x001/x234/067)."""
    digits = f"{index:03d}"
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i:i + 3] for i in range(0, len(digits), 3)]
    name = "/".join([*("x" + g for g in groups[:-1]), groups[-1]])
    return f"tile/{level}/{name}" + ("" if width == TILE_WIDTH else f".p/{width}")


def parse_tile_index(text: str) -> int:
    """N from its path form (`x001/x234/067` or `067`); ValueError when malformed."""
    parts = text.split("/")
    if not parts or any(len(p) != (4 if i < len(parts) - 1 else 3) for i, p in enumerate(parts)):
        raise ValueError(f"bad tile index {text!r}")
    if any(not p.startswith("x") for p in parts[:-1]):
        raise ValueError(f"bad tile index {text!r}")
    digits = "".join(p.lstrip("x") for p in parts[:-1]) + parts[-1]
    if not digits.isdigit():
        raise ValueError(f"bad tile index {text!r}")
    return int(digits)


def tiles_for(size: int) -> list[tuple[int, int, int]]:
    """Every (level, index, width) tile of a tree of `size` leaves (partials last in row)."""
    out: list[tuple[int, int, int]] = []
    level = 0
    count = size  # hashes at tree level 8·level
    while count > 0:
        full, rest = divmod(count, TILE_WIDTH)
        out.extend((level, n, TILE_WIDTH) for n in range(full))
        if rest:
            out.append((level, full, rest))
        count >>= TILE_HEIGHT
        level += 1
    return out


def tile_width(size: int, level: int, index: int) -> int:
    """How many hashes tile (level, index) holds in a tree of `size`; 0 when none."""
    count = size >> (TILE_HEIGHT * level)
    return max(0, min(TILE_WIDTH, count - index * TILE_WIDTH))


def bundle(entries: Iterable[bytes]) -> bytes:
    out = bytearray()
    for e in entries:
        if len(e) > MAX_ENTRY:
            raise ValueError(f"a log entry of {len(e)} bytes does not fit an entry bundle"
                             f" (at most {MAX_ENTRY})")
        out += len(e).to_bytes(2, "big") + e
    return bytes(out)


def unbundle(data: bytes) -> list[bytes]:
    out, i = [], 0
    while i < len(data):
        if i + 2 > len(data):
            raise ValueError("entry bundle ends inside a length")
        n = int.from_bytes(data[i:i + 2], "big")
        if i + 2 + n > len(data):
            raise ValueError("entry bundle ends inside an entry")
        out.append(data[i + 2:i + 2 + n])
        i += 2 + n
    return out


class TileSource:
    """Node hashes for a tree of `size` from its tiles, fetched by `get(path) -> bytes`
    (a dict lookup, a file read, an HTTP GET); tiles and inner nodes are cached."""

    def __init__(self, size: int, get: Callable[[str], bytes]) -> None:
        self.size = size
        self.get = get
        self._tiles: dict[tuple[int, int], bytes] = {}
        self._cache: dict[tuple[int, int], bytes] = {}

    def _tile(self, level: int, index: int) -> bytes:
        key = (level, index)
        tile = self._tiles.get(key)
        if tile is None:
            width = tile_width(self.size, level, index)
            if width == 0:
                raise ProofError(f"tile {level}/{index} is past the tree of size {self.size}")
            tile = self.get(tile_path(level, index, width))
            if len(tile) != width * HASH_SIZE:
                raise ProofError(f"{tile_path(level, index, width)}: {len(tile)} bytes,"
                                 f" expected {width * HASH_SIZE}")
            self._tiles[key] = tile
        return tile

    def node(self, level: int, index: int) -> bytes:
        key = (level, index)
        got = self._cache.get(key)
        if got is not None:
            return got
        base, sub = divmod(level, TILE_HEIGHT)
        first = index << sub  # the 2^sub hashes under this node lie in one tile of level `base`
        tile = self._tile(base, first // TILE_WIDTH)
        i = first % TILE_WIDTH
        if sub == 0:
            got = tile[i * HASH_SIZE:(i + 1) * HASH_SIZE]
        else:
            part = tile[i * HASH_SIZE:(i + (1 << sub)) * HASH_SIZE]
            if len(part) != HASH_SIZE << sub:
                raise ProofError(f"node {level}/{index} is past the tree of size {self.size}")
            row = [part[j:j + HASH_SIZE] for j in range(0, len(part), HASH_SIZE)]
            sha = _sha
            while len(row) > 1:
                it = iter(row)
                row = [sha(b"\x01" + a + b).digest() for a, b in zip(it, it, strict=True)]
            got = row[0]
        self._cache[key] = got
        return got


class Levels:
    """Every complete node of a tree held in memory (its leaf hashes given), for many proofs
    at once: `node` is a list lookup. About n extra hashes to build."""

    def __init__(self, hashes: list[bytes]) -> None:
        self.size = len(hashes)
        self.levels = [hashes]
        row = hashes
        sha = _sha
        while len(row) > 1:
            it = iter(row[:len(row) & ~1])
            row = [sha(b"\x01" + a + b).digest() for a, b in zip(it, it, strict=True)]
            self.levels.append(row)

    def node(self, level: int, index: int) -> bytes:
        return self.levels[level][index]


def cut_leaf(name: str, manifest_sha256: str) -> bytes:
    """The leaf HQ logs for each published cut: its zip name and its manifest's SHA-256."""
    return f'{{"corte":"{name}","manifest_sha256":"{manifest_sha256}"}}'.encode()


def proof_json(index: int, size: int, proof: list[bytes]) -> dict[str, Any]:
    return {"index": index, "size": size, "proof": [p.hex() for p in proof]}
