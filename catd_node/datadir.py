"""The CATD data directory: its layout, `catd-node init`, and opening its parts."""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from catd_node import catalog, config, keys, store
from catd_node.blobs import BlobStore, sha256_hex
from catd_node.catalog import Election
from catd_node.config import Config, HQConfig
from catd_node.errors import BadConfig, BadInput
from catd_node.ledger import Ledger

log = logging.getLogger("catd.datadir")
DEFAULT = "./catd-data"


def resolve(arg: str | None) -> Path:
    """-d/--data-dir, else $CATD_DATA_DIR, else ./catd-data."""
    return Path(arg or os.environ.get("CATD_DATA_DIR") or DEFAULT)


@dataclass(frozen=True)
class DataDir:
    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / "catd.toml"

    @property
    def key_path(self) -> Path:
        return self.root / "node.key"

    @property
    def pub_path(self) -> Path:
        return self.root / "node.pub"

    @property
    def db_path(self) -> Path:
        return self.root / "catd.db"

    @property
    def blobs_dir(self) -> Path:
        return self.root / "blobs"

    @property
    def status_token_path(self) -> Path:
        """The bearer token for the web app's /status and /metrics (made by the web app)."""
        return self.root / "status.token"

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def processed(self) -> Path:
        return self.root / "processed"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @cached_property
    def config(self) -> Config:
        if not self.config_path.exists():
            raise BadConfig(str(self.root), "not a CATD data directory (run `catd-node init`)")
        return config.load(self.config_path)

    def path(self, relative: str) -> Path:
        """A configured path: relative ones are under the data dir."""
        p = Path(relative)
        return p if p.is_absolute() else self.root / p

    @cached_property
    def election(self) -> Election:
        try:
            return catalog.load(self.path(self.config.election))
        except BadConfig:
            raise
        except BadInput as exc:  # the file catd.toml names: fixed by editing either
            raise BadConfig(exc.what, exc.why) from exc

    def private_key(self) -> Ed25519PrivateKey:
        return keys.read_private(self.key_path)

    def public_key(self) -> Ed25519PublicKey:
        return keys.read_public(self.pub_path)

    def hq_public_key(self) -> Ed25519PublicKey | None:
        if not self.config.hq.pubkey:
            return None
        try:
            return keys.read_public(self.path(self.config.hq.pubkey))
        except BadInput as exc:
            raise BadConfig(f"catd.toml: hq.pubkey ({exc.what})", exc.why) from exc

    def hq_problem(self) -> BadConfig | None:
        """Why this node cannot talk to HQ yet (no URL, no key to check receipts), or None.

        Normal before HQ exists: sync waits in this state and the dashboard shows it."""
        try:
            if not self.config.hq.urls:
                return BadConfig("catd.toml: hq.urls", "no HQ URL configured")
            if self.hq_public_key() is None:
                return BadConfig("catd.toml: hq.pubkey", "no HQ public key: receipts could not be checked")
        except BadInput as exc:
            return exc if isinstance(exc, BadConfig) else BadConfig(exc.what, exc.why)
        return None

    def blobs(self) -> BlobStore:
        return BlobStore(self.blobs_dir)

    def ledger(self) -> Ledger:
        """The writer: migrated store, node key loaded."""
        conn = store.connect(self.db_path)
        try:
            store.migrate(conn)
        finally:
            conn.close()
        return Ledger(self.db_path, self.config.node_id, self.private_key())

    def reader(self) -> store.sqlite3.Connection:
        """A connection for reads (and component rows) without loading the private key."""
        if not self.db_path.exists():
            raise BadInput(str(self.db_path), "database missing (run `catd-node init`)")
        conn = store.connect(self.db_path)
        store.migrate(conn)
        return conn

    def scanner_folders(self) -> dict[str, Path]:
        return {sid: self.path(folder) for sid, folder in self.config.scan.folders.items()}


def init(root: Path, node_id: str, election_file: Path, hq_urls: tuple[str, ...] = (),
         hq_pubkey: Path | None = None) -> DataDir:
    """Create a data dir with a new node key, the election copy, and packet 1 (node.genesis)."""
    if not node_id or len(node_id) > 64 or not all(c.isalnum() or c in "-_." for c in node_id):
        raise BadInput("--node-id", "use 1–64 letters, digits, '-', '_' or '.'")
    election = catalog.load(election_file)  # validate before creating anything
    if (root / "node.key").exists():
        raise BadInput(str(root / "node.key"), "a key already exists here; refusing to overwrite it")
    for existing in ("catd.db", "catd.toml"):
        if (root / existing).exists():
            raise BadInput(str(root / existing), "already a CATD data directory; refusing to re-initialise")
    for url in hq_urls:
        if not url.startswith(("http://", "https://")):
            raise BadInput("--hq-url", f"{url!r} is not an http(s) URL")
    if hq_pubkey is not None:
        keys.read_public(hq_pubkey)
    root.mkdir(parents=True, exist_ok=True)
    datadir = DataDir(root)
    key = keys.generate()
    keys.write_private(datadir.key_path, key)
    keys.write_public(datadir.pub_path, key.public_key())
    shutil.copyfile(election_file, root / "election.json")
    hq = HQConfig(urls=hq_urls, pubkey="hq.pub" if hq_pubkey else None)
    if hq_pubkey is not None:
        shutil.copyfile(hq_pubkey, root / "hq.pub")
    cfg = Config(node_id=node_id, hq=hq)
    datadir.config_path.write_text(config.render(cfg), encoding="utf-8")
    for sub in (datadir.blobs_dir, datadir.processed, datadir.quarantine):
        sub.mkdir(exist_ok=True)
    for folder in datadir.scanner_folders().values():
        folder.mkdir(parents=True, exist_ok=True)
    ledger = datadir.ledger()
    try:
        genesis = ledger.append("node.genesis", {
            "node": node_id,
            "pubkey": keys.public_pem(key.public_key()).decode("ascii"),
            "election": election.name,
            "election_sha256": sha256_hex((root / "election.json").read_bytes()),
            "actas_expected": len(election.actas_of(node_id)),  # this CATD's, not the whole state's
        })
    finally:
        ledger.close()
    log.info("initialised node=%s dir=%s genesis=%s", node_id, root, genesis.hash[:16])
    return datadir
