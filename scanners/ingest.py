"""One claimed file → blobs + packets in one transaction, then the original leaves the folder.

Order per file (DESIGN invariant 1): read the original, blobs written and fsynced, ONE ledger
transaction with the packets and the `scan_claims`/`scan_originals` rows, commit, and only then
move the original to processed/ or quarantine/. Every step can be repeated: a claim whose row
exists is only moved, so a crash anywhere ends in exactly one packet or one quarantine entry.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import stat as stat_mod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catd_node.blobs import BlobStore, sha256_hex
from catd_node.config import ImageConfig
from catd_node.ledger import Ledger, Transaction
from scanners import claim as claim_mod
from scanners import names, nofollow, quarantine
from scanners.claim import Claimed
from scanners.decode import Rejected
from scanners.nofollow import Dir, LinkInPath
from scanners.pipeline import ProcessedPage, process

log = logging.getLogger("catd.scan")

MAX_ORIGINAL_BYTES = 256 * 1024 * 1024  # far above a 600-dpi colour TIFF; refuses runaway files
DUPLICATES = "duplicates"
# ORIGEN and DIGITALIZACION (LEEME_G fields 44, 45): a scanner folder is the CATD's scanner; an
# upload is a phone, at the CATD unless its sidecar says the photo was taken at the casilla.
DIGITALIZACION = {"scanner": "ESCANER", "upload": "MOVIL"}
ORIGENES = ("CATD", "CASILLA")


@dataclass(frozen=True)
class Result:
    """What became of one claimed file."""

    outcome: str  # digitized | duplicate | quarantined | returned (changed after the claim)
    file: str
    seqs: tuple[int, ...] = ()
    actas: tuple[str | None, ...] = ()
    reason: str | None = None
    bytes: int = 0
    destination: Path | None = None


@dataclass(frozen=True)
class Job:
    """A claimed original read into memory, waiting for the pipeline."""

    claimed: Claimed
    data: bytes
    sha256: str
    sidecar_text: str | None
    args: tuple[Any, ...] = field(repr=False, default=())


def run_pipeline(data: bytes, name: str, sidecar_text: str | None, cfg: ImageConfig,
                 catalog_keys: frozenset[str]) -> list[ProcessedPage] | Rejected:
    """The process-pool entry point: pages, or the rejection (never raises on bad input)."""
    try:
        return process(data, name, sidecar_text, cfg, catalog_keys)
    except Rejected as exc:
        return exc
    except Exception as exc:  # invariant 5: a decoder bug is one quarantined file, not a dead service
        return Rejected("corrupt", f"{type(exc).__name__}: {exc}"[:300])


class Ingestor:
    """Turns claimed files into packets; runs in the service's single writer thread."""

    def __init__(self, ledger: Ledger, blobs: BlobStore, processed: Path, quarantine_dir: Path,
                 image: ImageConfig, catalog_keys: frozenset[str]) -> None:
        self.ledger = ledger
        self.blobs = blobs
        self.processed = processed
        self.quarantine_dir = quarantine_dir
        self.image = image
        self.catalog_keys = catalog_keys

    # -- step 1: finish an earlier run's outcome, or read the original --------------------------

    def start(self, claimed: Claimed) -> Job | Result:
        """A Job for the pipeline, or the final Result when no decoding is needed."""
        done = self._earlier(claimed)
        if done is not None:
            return done
        odd = names.name_problem(claimed.relative)
        if odd is not None:  # no scanner writes it; kept, with its reason, not ingested
            return self.quarantine(claimed, *odd)
        try:
            data, before, after = _read(claimed)
        except _Unreadable as exc:
            return self.quarantine(claimed, exc.reason, exc.detail)
        if after != before:
            # Still being written through an open descriptor: give it back to the settle rule.
            back = claim_mod.unclaim(claimed)
            log.warning("returned file=%s why=changed_after_claim path=%s", claimed.name, back)
            return Result("returned", claimed.name)
        sha = sha256_hex(data)
        first = self._first_seq(sha)
        if first is not None:
            return self._duplicate(claimed, sha, len(data), first)
        sidecar_text = _read_sidecar(claimed)
        base = names.printable(claimed.relative.name)
        return Job(claimed, data, sha, sidecar_text,
                   (data, base, sidecar_text, self.image, self.catalog_keys))

    # -- step 2: the pipeline's answer → one transaction → the move ---------------------------

    def finish(self, job: Job, result: list[ProcessedPage] | Rejected) -> Result:
        if isinstance(result, Rejected):
            return self.quarantine(job.claimed, result.code, result.detail, job.sha256, len(job.data))
        if not result:
            return self.quarantine(job.claimed, "corrupt", "no pages", job.sha256, len(job.data))
        claimed = job.claimed
        shas = [self.blobs.put(page.compressed.data) for page in result]  # fsynced before commit
        duplicate_seq: int | None = None
        with self.ledger.transaction() as tx:
            committed = _claim_done(tx, claimed)  # already recorded (claim recovered twice)
            first = None if committed else _first_seq_in(tx, job.sha256)
            if first is not None:  # the same bytes committed meanwhile by another claim
                duplicate_seq = self._append_duplicate(tx, claimed, job.sha256, first)
            elif not committed:
                seqs = [tx.append("acta.digitized", _digitized_body(claimed, job, page, sha)).seq
                        for page, sha in zip(result, shas, strict=True)]
                tx.conn.execute(
                    "INSERT INTO scan_originals (original_sha256, seq, claim, name, source, pages, bytes)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (job.sha256, seqs[0], claimed.key, claimed.name,
                     f"{claimed.source.kind}:{claimed.source.id}", len(seqs), len(job.data)),
                )
                _record(tx, claimed, "digitized", job.sha256, seqs[0])
        if committed:
            return self._earlier(claimed) or Result("returned", claimed.name)
        if duplicate_seq is not None:
            dest = self._to_processed(claimed, duplicate=True)
            log.info("duplicate file=%s original_sha256=%s first_seq=%d", claimed.name, job.sha256[:16],
                     first)
            return Result("duplicate", claimed.name, (duplicate_seq,), bytes=len(job.data),
                          destination=dest)
        dest = self._to_processed(claimed, duplicate=False)
        actas = tuple(page.acta for page in result)
        for page, seq in zip(result, seqs, strict=True):
            log.info("ingested file=%s page=%d acta=%s by=%s seq=%d bytes=%d", claimed.name, page.page,
                     page.acta, page.identified_by, seq, len(page.compressed.data))
        return Result("digitized", claimed.name, tuple(seqs), actas, bytes=len(job.data), destination=dest)

    def ingest(self, claimed: Claimed) -> Result:
        """Start, decode in this process, finish: for `--once` helpers and tests."""
        step = self.start(claimed)
        if isinstance(step, Result):
            return step
        return self.finish(step, run_pipeline(*step.args))

    # -- quarantine ------------------------------------------------------------------------------

    def quarantine(self, claimed: Claimed, reason: str, detail: str, sha: str | None = None,
                   size: int = 0) -> Result:
        """A `scan.quarantined` packet, then `quarantine/NAME` with `NAME.why.txt`."""
        with self.ledger.transaction() as tx:
            packet = tx.append("scan.quarantined", {
                "file": claimed.name, "source": claimed.source.body(), "reason": reason,
                "detail": detail, "original_sha256": sha,
            })
            _record(tx, claimed, "quarantined", sha, packet.seq)
        dest = self._place(claimed, reason, detail, packet.at, sha)
        log.warning("quarantined file=%s reason=%s detail=%s seq=%d", claimed.name, reason, detail,
                    packet.seq)
        return Result("quarantined", claimed.name, (packet.seq,), reason=reason, bytes=size,
                      destination=dest)

    # -- helpers ---------------------------------------------------------------------------------

    def _earlier(self, claimed: Claimed) -> Result | None:
        """A claim committed before a crash: only its move is left to do."""
        row = self.ledger.conn.execute(
            "SELECT outcome, original_sha256, seq FROM scan_claims WHERE claim = ?", (claimed.key,)
        ).fetchone()
        if row is None:
            return None
        outcome, sha, seq = row
        if outcome == "quarantined":
            packet = self.ledger.packets(seq, seq)[0]
            body = packet.body
            dest = self._place(claimed, body["reason"], body["detail"], packet.at, sha)
            reason = body["reason"]
        else:
            dest = self._to_processed(claimed, duplicate=outcome == "duplicate")
            reason = None
        log.info("finished file=%s outcome=%s seq=%d (committed before a restart)", claimed.name,
                 outcome, seq)
        return Result(outcome, claimed.name, (seq,), reason=reason, destination=dest)

    def _first_seq(self, sha: str) -> int | None:
        row = self.ledger.conn.execute(
            "SELECT seq FROM scan_originals WHERE original_sha256 = ?", (sha,)
        ).fetchone()
        return int(row[0]) if row else None

    def _duplicate(self, claimed: Claimed, sha: str, size: int, first: int) -> Result:
        with self.ledger.transaction() as tx:
            seq = self._append_duplicate(tx, claimed, sha, first)
        dest = self._to_processed(claimed, duplicate=True)
        log.info("duplicate file=%s original_sha256=%s first_seq=%d seq=%d", claimed.name, sha[:16],
                 first, seq)
        return Result("duplicate", claimed.name, (seq,), bytes=size, destination=dest)

    @staticmethod
    def _append_duplicate(tx: Transaction, claimed: Claimed, sha: str, first: int) -> int:
        seq = tx.append("scan.duplicate", {
            "file": claimed.name, "source": claimed.source.body(), "original_sha256": sha,
            "first_seq": first,
        }).seq
        _record(tx, claimed, "duplicate", sha, seq)
        return seq

    def _to_processed(self, claimed: Claimed, *, duplicate: bool) -> Path:
        parts = ((DUPLICATES,) if duplicate else ()) + claimed.source.folder().parts \
            + claimed.relative.parent.parts
        with claim_mod.destination(self.processed, parts) as dest:
            name = nofollow.free_name(dest, names.fit(claimed.relative.name))
            return claim_mod.release(claimed, dest, name)

    def _place(self, claimed: Claimed, reason: str, detail: str, at: str, sha: str | None) -> Path:
        text = quarantine.why_text(claimed, reason, detail, at, sha)
        return quarantine.place(self.quarantine_dir, claimed, text)


def _record(tx: Transaction, claimed: Claimed, outcome: str, sha: str | None, seq: int) -> None:
    tx.conn.execute(
        "INSERT INTO scan_claims (claim, outcome, original_sha256, seq, name) VALUES (?, ?, ?, ?, ?)",
        (claimed.key, outcome, sha, seq, claimed.name),
    )


def _claim_done(tx: Transaction, claimed: Claimed) -> bool:
    return tx.conn.execute("SELECT 1 FROM scan_claims WHERE claim = ?", (claimed.key,)).fetchone() is not None


def _first_seq_in(tx: Transaction, sha: str) -> int | None:
    row = tx.conn.execute("SELECT seq FROM scan_originals WHERE original_sha256 = ?", (sha,)).fetchone()
    return int(row[0]) if row else None


def origin(claimed: Claimed, sidecar_text: str | None) -> tuple[str, str]:
    """(ORIGEN, DIGITALIZACION) of an image: where and how it was digitized."""
    origen = "CATD"
    if sidecar_text is not None:
        try:
            data = json.loads(sidecar_text.lstrip("\ufeff"))
        except ValueError:
            data = None  # identify() already logs an unreadable sidecar
        said = data.get("origen") if isinstance(data, dict) else None
        if isinstance(said, str) and said.strip().upper() in ORIGENES:
            origen = said.strip().upper()
        elif said is not None:
            log.warning("sidecar_origen_ignored file=%s origen=%r", claimed.name, str(said)[:40])
    return origen, DIGITALIZACION.get(claimed.source.kind, "ESCANER")


def _digitized_body(claimed: Claimed, job: Job, page: ProcessedPage, sha: str) -> dict[str, Any]:
    c = page.compressed
    origen, digitalizacion = origin(claimed, job.sidecar_text)
    return {
        "image": {"sha256": sha, "bytes": len(c.data), "format": c.format, "width": int(c.width),
                  "height": int(c.height), "dpi": int(c.dpi)},
        "original": {"sha256": job.sha256, "bytes": len(job.data), "name": claimed.name},
        "source": claimed.source.body(),
        "acta": page.acta,
        "identified_by": page.identified_by,
        "page": int(page.page),
        "origen": origen,
        "digitalizacion": digitalizacion,
    }


class _Unreadable(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


Stamp = tuple[int, int] | None  # (size, mtime_ns) of the claimed entry; None when gone


def _read(claimed: Claimed) -> tuple[bytes, Stamp, Stamp]:
    """The original's bytes and its stamp before and after reading, opened relative to its claim
    folder: never through a symlink (issue 12) nor blocking on a FIFO."""
    try:
        with Dir.root(claimed.root) as top, claimed.folder(top) as here:
            try:
                fd = here.open_file(claimed.relative.name)
            except PermissionError as exc:
                raise _Unreadable("unreadable", f"permiso denegado: {exc.strerror}") from exc
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise _Unreadable("path_outside_folder", "enlace simbólico: no se sigue") from exc
                raise _Unreadable("unreadable", f"{exc.strerror}") from exc
            try:
                data, before = _read_fd(fd)
            finally:
                os.close(fd)
            after = here.lstat(claimed.relative.name)
    except LinkInPath as exc:
        raise _Unreadable("path_outside_folder",
                          "una carpeta en su ruta es un enlace simbólico: no se sigue") from exc
    except FileNotFoundError as exc:
        raise _Unreadable("unreadable", f"{exc.strerror}") from exc
    return data, before, None if after is None else (after.st_size, after.st_mtime_ns)


def _read_fd(fd: int) -> tuple[bytes, Stamp]:
    try:
        st = os.fstat(fd)
        if not stat_mod.S_ISREG(st.st_mode):
            raise _Unreadable("not_a_regular_file", "no es un archivo regular")
        if st.st_size > MAX_ORIGINAL_BYTES:
            raise _Unreadable("decompression_bomb", f"{st.st_size} bytes > {MAX_ORIGINAL_BYTES}")
        if st.st_size == 0:
            raise _Unreadable("empty", "0 bytes")
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks), (st.st_size, st.st_mtime_ns)
    except OSError as exc:
        raise _Unreadable("unreadable", f"{exc.strerror}") from exc


def _read_sidecar(claimed: Claimed) -> str | None:
    """The sidecar's first 64 KiB; a symlinked sidecar is not read (issue 12)."""
    if claimed.sidecar is None:
        return None
    try:
        with Dir.root(claimed.root) as top, claimed.folder(top) as here:
            fd = here.open_file(claimed.sidecar)
            try:
                if not stat_mod.S_ISREG(os.fstat(fd).st_mode):
                    raise OSError(errno.EINVAL, "not a regular file")
                return os.read(fd, names.SIDECAR_MAX_BYTES).decode("utf-8", errors="replace")
            finally:
                os.close(fd)
    except OSError as exc:
        log.warning("sidecar_unreadable file=%s sidecar=%s error=%s", claimed.name,
                    names.printable(claimed.sidecar), exc)
        return None
