"""Known answers for catd_node.tlog from a second implementation written apart from it.

`_Ref` below is RFC 6962 §2.1 read literally (recursive MTH, PATH and PROOF over the list
of leaves, no frontier, no tiles, no iterative verification); the roots of the RFC's
eight-leaf test tree are the published ones (certificate-transparency test data)."""

from __future__ import annotations

import hashlib
import random

import pytest

from catd_node import tlog

CT_LEAVES = [bytes.fromhex(h) for h in
             ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
              "606162636465666768696a6b6c6d6e6f"]]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


class _Ref:
    @staticmethod
    def mth(d: list[bytes]) -> bytes:
        if not d:
            return hashlib.sha256(b"").digest()
        if len(d) == 1:
            return hashlib.sha256(b"\x00" + d[0]).digest()
        k = 1
        while k * 2 < len(d):
            k *= 2
        return hashlib.sha256(b"\x01" + _Ref.mth(d[:k]) + _Ref.mth(d[k:])).digest()

    @staticmethod
    def path(m: int, d: list[bytes]) -> list[bytes]:
        if len(d) == 1:
            return []
        k = 1
        while k * 2 < len(d):
            k *= 2
        if m < k:
            return [*_Ref.path(m, d[:k]), _Ref.mth(d[k:])]
        return [*_Ref.path(m - k, d[k:]), _Ref.mth(d[:k])]

    @staticmethod
    def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
        n = len(d)
        if m == n:
            return [] if b else [_Ref.mth(d)]
        k = 1
        while k * 2 < n:
            k *= 2
        if m <= k:
            return [*_Ref.subproof(m, d[:k], b), _Ref.mth(d[k:])]
        return [*_Ref.subproof(m - k, d[k:], False), _Ref.mth(d[:k])]


def _nodes(leaves: list[bytes]) -> tlog.NodeFn:
    def node(level: int, index: int) -> bytes:
        return _Ref.mth(leaves[index << level:(index + 1) << level])
    return node


def test_ct_roots() -> None:
    for n in range(1, 9):
        assert _Ref.mth(CT_LEAVES[:n]).hex() == CT_ROOTS[n - 1]
        assert tlog.root_of(CT_LEAVES[:n]).hex() == CT_ROOTS[n - 1]
    assert tlog.root_of([]) == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 8, 9, 16, 17, 100, 257, 600])
def test_inclusion_and_consistency_against_reference(size: int) -> None:
    rng = random.Random(size)
    leaves = [rng.randbytes(rng.randrange(0, 40)) for _ in range(size)]
    node = _nodes(leaves)
    root = _Ref.mth(leaves)
    assert tlog.root_from(node, size) == root
    for m in sorted({0, size - 1, size // 2, *rng.sample(range(size), min(size, 6))}):
        proof = tlog.inclusion_proof(node, m, size)
        assert proof == _Ref.path(m, leaves)
        tlog.verify_inclusion(m, size, tlog.leaf_hash(leaves[m]), proof, root)
        with pytest.raises(tlog.ProofError):
            tlog.verify_inclusion(m, size, tlog.leaf_hash(leaves[m] + b"x"), proof, root)
        if size > 1:
            with pytest.raises(tlog.ProofError):
                tlog.verify_inclusion((m + 1) % size, size, tlog.leaf_hash(leaves[m]), proof, root)
    for old in sorted({1, size // 3, size - 1, size, *rng.sample(range(1, size + 1), min(size, 5))}):
        if old < 1:
            continue
        proof = tlog.consistency_proof(node, old, size)
        assert proof == ([] if old == size else _Ref.subproof(old, leaves, True))
        tlog.verify_consistency(old, size, _Ref.mth(leaves[:old]), root, proof)
        if old < size:
            forged = [*leaves[:old - 1], leaves[old - 1] + b"!"]
            with pytest.raises(tlog.ProofError):
                tlog.verify_consistency(old, size, _Ref.mth(forged), root, proof)
            with pytest.raises(tlog.ProofError):
                tlog.verify_consistency(old, size, _Ref.mth(leaves[:old]), root + b"", proof[:-1])


def test_frontier_tiles_and_bundles() -> None:
    rng = random.Random(7)
    size = 256 * 256 + 300
    leaves = [rng.randbytes(8) for _ in range(size)]
    hashes = [hashlib.sha256(b"\x00" + x).digest() for x in leaves]
    closed: dict[tuple[int, int], bytes] = {}
    f = tlog.Frontier()
    f.append(hashes[:1000], lambda lv, i, h: closed.__setitem__((lv, i), h))
    f = tlog.Frontier.unpack(f.size, f.pack())  # survives a restart
    f.append(hashes[1000:], lambda lv, i, h: closed.__setitem__((lv, i), h))
    assert sorted(closed) == [(8, i) for i in range(257)] + [(16, 0)]
    # level-8 hashes: the roots of each run of 256 leaves, computed apart
    for i in (0, 5, 256):
        assert closed[(8, i)] == _Ref.mth(leaves[256 * i:256 * (i + 1)])
    tiles: dict[str, bytes] = {}
    for level, index, width in tlog.tiles_for(size):
        span = range(index * 256, index * 256 + width)
        src = [hashes[j] if level == 0 else closed[(8 * level, j)] for j in span]
        tiles[tlog.tile_path(level, index, width)] = b"".join(src)
    assert "tile/0/257.p/44" in tiles and "tile/1/001.p/1" in tiles and "tile/2/000.p/1" in tiles
    src = tlog.TileSource(size, tiles.__getitem__)
    root = f.root()
    assert tlog.root_from(src.node, size) == root
    for m in (0, 255, 256 * 256 - 1, size - 1):
        tlog.verify_inclusion(m, size, hashes[m], tlog.inclusion_proof(src.node, m, size), root)
    old_root = tlog.root_from(src.node, 40000)
    small = tlog.Frontier()
    small.append(hashes[:40000])
    assert old_root == small.root()
    tlog.verify_consistency(40000, size, old_root, root, tlog.consistency_proof(src.node, 40000, size))


def test_tile_paths_and_bundles() -> None:
    assert tlog.tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tlog.tile_path(1, 5, 17) == "tile/1/005.p/17"
    assert tlog.tile_path("entries", 0, 3) == "tile/entries/000.p/3"
    assert tlog.parse_tile_index("x001/x234/067") == 1234067
    for bad in ("1", "0001", "x01/234", "abc"):
        with pytest.raises(ValueError):
            tlog.parse_tile_index(bad)
    data = tlog.bundle([b"", b"ab", b"\xff" * 300])
    assert data[:2] == b"\x00\x00" and data[2:4] == b"\x00\x02"
    assert tlog.unbundle(data) == [b"", b"ab", b"\xff" * 300]
    with pytest.raises(ValueError, match="65535"):
        tlog.bundle([b"x" * 65536])
    with pytest.raises(ValueError):
        tlog.unbundle(b"\x00\x05ab")
