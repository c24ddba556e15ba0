"""Helpers for the node-side sync tests: a fake clock, a fast policy, node chains with real
image blobs, and the end-state check every fault test ends with."""

from __future__ import annotations

import asyncio
import contextlib
import io
import random
from pathlib import Path

from catd_node import cli as node_cli
from catd_node import ledger as ledger_mod
from catd_node.config import SyncConfig as Settings
from catd_node.datadir import DataDir
from hq import cli as hq_cli
from hq import store as hq_store
from hq.store import HQDir
from sync.policy import Policy
from tests.hqkit import with_hq_urls

ACTAS = [f"DIP-14-01-{n:04d}-B01" for n in range(123, 143)]


class FakeClock:
    """Injected clock and sleep: retries wait no real time, the budget still runs out."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0.005)  # let other tasks (the proxy, the server) run


def fast_policy(clock: FakeClock, budget: float | None = 30.0, cap: float = 2.0) -> Policy:
    return Policy(base=0.5, cap=cap, budget=budget, sleep=clock.sleep, clock=clock)


def fast_settings(**overrides: float) -> Settings:
    values = {"connect_timeout_s": 2.0, "read_timeout_s": 2.0, "poll_s": 0.05, "blob_workers": 2}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def configure(node: DataDir, urls: list[str], sync_table: dict[str, float] | None = None) -> DataDir:
    """Point the node at `urls`; optional `[sync]` settings (for child processes)."""
    node = with_hq_urls(node, urls)
    if sync_table:
        lines = node.config_path.read_text(encoding="utf-8").splitlines()
        lines = [line for line in lines if line.split(" = ")[0] not in sync_table]
        at = next(i for i, line in enumerate(lines) if line.startswith("[sync]"))
        lines[at + 1:at + 1] = [f"{k} = {v}" for k, v in sync_table.items()]
        node.config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return DataDir(node.root)


def image_bytes(rng: random.Random, size: int) -> bytes:
    """Random-ish bytes that compress poorly, like a WebP scan."""
    return rng.randbytes(size)


def add_chain(node: DataDir, images: int, *, image_size: int = 40_000, extra_per_image: int = 2,
              seed: int = 7) -> list[str]:
    """Append `images` acta.digitized packets (real blob files) each followed by
    `extra_per_image` acta.acopio packets; return the image SHA-256s."""
    rng = random.Random(seed)
    blobs = node.blobs()
    ledger = node.ledger()
    shas: list[str] = []
    try:
        for i in range(images):
            acta = ACTAS[i % len(ACTAS)]
            data = image_bytes(rng, image_size)
            sha = blobs.put(data)
            shas.append(sha)
            with ledger.transaction() as tx:
                tx.append("acta.digitized", {
                    "image": {"sha256": sha, "bytes": len(data), "format": "webp", "width": 1700,
                              "height": 2200, "dpi": 200},
                    "original": {"sha256": sha, "bytes": len(data), "name": f"scan-{i}.jpg"},
                    "source": {"kind": "scanner", "id": "scanner-1"}, "acta": acta,
                    "identified_by": "filename",
                })
                for _ in range(extra_per_image):
                    tx.append("acta.acopio", {"acta": acta, "by": "ana", "in_catalog": True})
    finally:
        ledger.close()
    return shas


def run_cli(main, argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(argv)
    return code, out.getvalue()


def assert_hq_holds_exactly(hq: HQDir, node: DataDir) -> None:
    """HQ holds exactly the node's chain (each seq once, same hashes) and every image;
    `catd-hq verify` and `catd-node verify` both exit 0."""
    conn = node.reader()
    try:
        local = {p.seq: p.hash for p in ledger_mod.read(conn)}
        refs = {row[0] for row in conn.execute("SELECT DISTINCT sha256 FROM blob_refs")}
    finally:
        conn.close()
    hconn = hq.connect()
    try:
        node_id = node.config.node_id
        rows = hconn.execute(
            "SELECT seq, hash FROM packets WHERE node = ? ORDER BY seq", (node_id,)
        ).fetchall()
        status = hq_store.status(hconn)["nodes"][node_id]
        stored = {row[0] for row in hconn.execute("SELECT sha256 FROM blobs")}
    finally:
        hconn.close()
    assert len(rows) == len({seq for seq, _ in rows}), "a packet is stored twice at HQ"
    assert dict(rows) == local, "HQ's chain differs from the node's"
    assert status["seq"] == max(local) and status["blobs_missing"] == 0 and not status["forked"], status
    assert refs <= stored, f"HQ lacks {len(refs - stored)} image(s)"
    for sha in refs:
        assert hq.blobs().problem(sha) is None
    left = [p for p in hq.uploads_dir.rglob("*.partial") if p.stem in refs]
    assert not left, f"a finished upload left a partial: {left}"
    code, _ = run_cli(hq_cli.main, ["-d", str(hq.root), "verify"])
    assert code == 0, "catd-hq verify failed"
    code, _ = run_cli(node_cli.main, ["verify", "-d", str(node.root)])
    assert code == 0, "catd-node verify failed"


def blob_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")]

