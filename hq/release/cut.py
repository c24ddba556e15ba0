"""One cut (corte): `DATA/publicacion/YYYYMMDD_HHMM_PREP_<ELEC>_<ENT>.zip`, written once.

The zip is built in a temporary directory beside its final place and linked into it, so a
reader sees the whole cut or none; a cut is never rewritten (a name already taken is refused)
and each names the previous one's manifest hash. Receivers sharing the folder write one cut
at a time, each once: the writer claims the cut's number in the store first (hq/cuts.py).
The count, the heads and the packets are read in one read transaction: the receiver keeps
storing while a cut is written.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import queue
import re
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from catd_node.blobs import fsync_dir
from catd_node.catalog import Election
from catd_node.errors import BadInput, CutHeld
from hq import cuts
from hq import tlog as hq_tlog
from hq.count import ActaRecord, Count, count_rows
from hq.release import candidaturas, evidence, leeme, manifest, trust, write
from hq.release.manifest import Manifest, Previous
from hq.store import HQDir
from hq.store.base import Conn

PUBLICACION = "publicacion"
CATALOG = "catalogo.json"
HQ_PUB = "hq.pub"
REGISTRO = "registro"   # publicacion/registro/: the transparency log as static tiles (docs/tlog.md)
NAMES_FILE = "candidaturas.csv"      # DATA/candidaturas.csv: the official candidacies, optional
BOM = b"\xef\xbb\xbf"
CHUNK = 1 << 20
_CUT_NAME = re.compile(r"(\d{8}_\d{4})_PREP_([A-Z0-9]+)_([A-Z0-9]+)\.zip")
# Evidence is most of a cut's bytes; level 1 deflates it at several times the speed of the
# default for a few percent more size (benchmarks/publish.py).
COMPRESSLEVEL = 1
Counter = Callable[[Conn, Election], Count]


def release_code(election: Election) -> str:
    """`GUB_CDMX`: the election's release prefix, or (first-form files) its contest ids."""
    if election.release:
        return election.release
    kind = "_".join(sorted(election.contests)) or "PREP"
    return f"{kind.replace('_', '')}_{election.entidad_id or 0:02d}"


def file_names(election: Election, cut: datetime) -> tuple[str, str, str]:
    """(zip, results CSV, candidacies CSV) names: `20240602_2000_PREP_GUB_CDMX.zip`,
    `CDMX_GUB_2024.csv`, `CDMX_GUB_CANDIDATURAS.csv`."""
    code = release_code(election)
    kind, _, ent = code.partition("_")
    return (f"{cut:%Y%m%d_%H%M}_PREP_{code}.zip", f"{ent}_{kind}_{cut:%Y}.csv",
            f"{ent}_{kind}_CANDIDATURAS.csv")


@dataclass(frozen=True)
class Published:
    path: Path
    manifest: Manifest
    manifest_bytes: bytes


def previous_cut(folder: Path) -> tuple[Path, bytes, Manifest] | None:
    """The latest cut in `folder` (names sort by time) with its manifest."""
    names = sorted(p for p in folder.glob("*.zip") if _CUT_NAME.fullmatch(p.name))
    if not names:
        return None
    with zipfile.ZipFile(names[-1]) as archive:
        data = archive.read(manifest.NAME)
    return names[-1], data, manifest.parse(data, f"{names[-1].name}!{manifest.NAME}")


class _Member:
    """A zip member written in chunks, hashed as written. Hashing and deflating run on a thread
    of their own (hashlib and zlib let go of the GIL on large buffers): at national size the
    evidence is ~700 MB, and its compression overlaps with making the next lines."""

    def __init__(self, archive: zipfile.ZipFile, name: str) -> None:
        self.name = name
        self.stream = archive.open(name, "w", force_zip64=True)
        self.hash = hashlib.sha256()
        self.buffer: list[bytes] = []
        self.size = 0
        self.chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self.failed: BaseException | None = None
        self.thread = threading.Thread(target=self._drain, name=f"zip-{name}", daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        while (chunk := self.chunks.get()) is not None:
            if self.failed is None:
                try:
                    self.hash.update(chunk)
                    self.stream.write(chunk)
                except BaseException as exc:  # raised again in the writer's thread by close()
                    self.failed = exc

    def write(self, data: bytes) -> None:
        self.buffer.append(data)
        self.size += len(data)
        if self.size >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            self.chunks.put(b"".join(self.buffer))
        self.buffer, self.size = [], 0

    def close_quietly(self) -> None:
        """Stop the thread after a failure in the lines; the member is closed so that the
        failure, not the zip's complaint about an open member, is what is raised (the zip is
        thrown away)."""
        self.chunks.put(None)
        self.thread.join()
        with contextlib.suppress(Exception):
            self.stream.close()

    def close(self) -> str:
        self.flush()
        self.chunks.put(None)
        self.thread.join()
        if self.failed is not None:
            raise self.failed
        self.stream.close()
        return self.hash.hexdigest()


def _member(archive: zipfile.ZipFile, name: str, parts: Iterable[bytes]) -> str:
    out = _Member(archive, name)
    try:
        for part in parts:
            out.write(part)
    except BaseException:
        out.buffer = []
        out.close_quietly()
        raise
    return out.close()


@dataclass(frozen=True)
class CutInput:
    """Everything one cut is made of, read at one moment."""
    election: Election
    election_bytes: bytes
    records: dict[str, ActaRecord]
    heads: dict[str, tuple[int, str]]
    node_pems: dict[str, bytes]
    hq_pub: bytes
    names_file: Path | None = None
    llaves: dict[str, Any] | None = None     # the published keys file, as the manifest names it
    log: tuple[dict[str, Any], bytes, list[bytes]] | None = None  # hq.tlog.cut_log


def write_zip(path: Path, data: CutInput, cut: datetime, final: bool, number: int,
              previous: Previous | None, key: Ed25519PrivateKey, wire: Iterable[bytes],
              counted: Callable[[], dict[str, ActaRecord]] | None = None,
              ) -> tuple[Manifest, bytes, dict[str, ActaRecord]]:
    """Write the cut's zip at `path` (a temporary place): the evidence first, then the rows
    `counted()` gives once it is read (default: `data.records`). Returns the manifest, its
    bytes and the records."""
    election = data.election
    zip_name, results_name, cand_name = file_names(election, cut)
    layout = write.Layout.of(election)
    files: dict[str, str] = {}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESSLEVEL) as archive:
        files[evidence.WIRE] = _member(archive, evidence.WIRE, wire)
        held = counted() if counted is not None else data.records
        records = write.ordered(election, held.values())
        summary = write.summary(election, records, final, by_field=False).fields()
        rows = write.lines_of(election, records, cut, summary)
        files[results_name] = _member(archive, results_name, _utf8(rows, bom=True))
        items = candidaturas.candidacies(election, data.names_file)
        files[cand_name] = _member(archive, cand_name, _utf8(candidaturas.lines(election, items), bom=True))
        text = leeme.render(election, zip_name=zip_name, results_name=results_name,
                            candidaturas_name=cand_name, cut_line=write.cut_line(cut, election),
                            final=final, header=layout.header)
        files["LEEME.txt"] = _member(archive, "LEEME.txt", [BOM, text.encode()])
        files[CATALOG] = _member(archive, CATALOG, [data.election_bytes])
        files[evidence.INDEX] = _member(archive, evidence.INDEX, _utf8(evidence.index_lines(records)))
        files[HQ_PUB] = _member(archive, HQ_PUB, [data.hq_pub])
        for node, pem in sorted(data.node_pems.items()):
            files[f"nodos/{node}.pub"] = _member(archive, f"nodos/{node}.pub", [pem])
        if data.log is not None:
            files[hq_tlog.REGISTRO_CHECKPOINT] = _member(archive, hq_tlog.REGISTRO_CHECKPOINT, [data.log[1]])
            files[hq_tlog.REGISTRO_HASHES] = _member(archive, hq_tlog.REGISTRO_HASHES, data.log[2])
        built = Manifest(
            name=zip_name, release=release_code(election), election=election.name, number=number,
            cut=f"{cut:%Y-%m-%dT%H:%M}", timezone=election.timezone,
            cut_utc=f"{write.utc_of(cut, election):%Y-%m-%dT%H:%M:%SZ}", final=final, previous=previous,
            nodes=dict(data.heads), files=files, summary=summary,
            hq_key=manifest.sha256(data.hq_pub), llaves=data.llaves,
            log=None if data.log is None else data.log[0])
        body = built.encode()
        archive.writestr(manifest.NAME, body)
        archive.writestr(manifest.SIG, manifest.sign(key, body))
    return built, body, held


def _utf8(lines: Iterable[str], bom: bool = False) -> Iterable[bytes]:
    if bom:
        yield BOM
    for text in lines:
        yield text.encode("utf-8")


def cut_time(election: Election, at: datetime | None) -> datetime:
    """The cut's local official time to the minute: `at` (aware, or naive = local official
    time), default now."""
    if at is None:
        return write.local_of(datetime.now(UTC), election)
    if at.tzinfo is None:
        return at.replace(second=0, microsecond=0)
    return write.local_of(at, election)


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """A cut allocates millions of small acyclic objects (packets, bodies, rows); the cyclic
    collector would walk them again and again for nothing (~20% of a cut's time, measured at
    5,000 actas). Reference counting still frees them."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _next(folder: Path, election: Election, cut: datetime, final: bool) -> tuple[int, Previous | None]:
    """The number the cut at `cut` would have in the chain and the cut it would name; BadInput
    when it cannot follow the folder's last cut (its minute is taken, it is not later, the
    final cut is out)."""
    zip_name = file_names(election, cut)[0]
    if (folder / zip_name).exists():
        raise BadInput(str(folder / zip_name), "a cut of this minute is already published; "
                                               "a cut is never rewritten")
    last = previous_cut(folder)
    if last is None:
        return 1, None
    last_path, last_bytes, last_manifest = last
    if last_manifest.final:
        raise BadInput(str(last_path), "the final cut is already published")
    if f"{cut:%Y-%m-%dT%H:%M}" <= last_manifest.cut:
        raise BadInput("--at", f"{cut:%Y-%m-%d %H:%M} is not after the last cut ({last_manifest.cut})")
    return last_manifest.number + 1, Previous(last_path.name, manifest.sha256(last_bytes))


def publish(hq: HQDir, *, at: datetime | None = None, final: bool = False,
            counter: Counter | None = None, site: bool = True, stale_s: float = cuts.STALE_S) -> Published:
    """Write one cut under DATA/publicacion/ (and the site beside it); BadInput when the cut
    cannot be made (no catalog, a cut of that minute exists, the final cut is out), CutHeld
    when another writer has claimed it (hq/cuts.py; `stale_s`: when a claim not renewed is a
    dead writer's)."""
    election = hq.election()
    if election is None:
        raise BadInput(str(hq.election_path), "HQ has no election catalog (catd-hq init --election FILE)")
    folder = hq.root / PUBLICACION
    folder.mkdir(exist_ok=True)
    when = cut_time(election, at)
    where = str(folder / file_names(election, when)[0])
    conn = hq.connect()
    try:
        number, previous = _next(folder, election, when, final)
        # Claimed in the store before anything is written: of the receivers sharing this
        # folder, one writes cut `number`, and none another cut meanwhile (DESIGN invariant 7).
        with cuts.holding(hq.connect, conn, cuts.key(number), where, stale_s=stale_s) as lease:
            if _next(folder, election, when, final) != (number, previous):
                raise CutHeld(where, "the publication folder changed while the cut was claimed")
            for stale in folder.glob(".corte-*"):   # left by writers that died: none other runs
                shutil.rmtree(stale, ignore_errors=True)
            with _no_cyclic_gc():
                data, built, body = _write(hq, conn, election, folder, when, final, (number, previous),
                                           counter, lease)
            hq_tlog.log_cut(conn, built.name, body)  # the next cut's log holds this one
            hq_tlog.write_tiles(conn, hq.private_key(), folder / REGISTRO)
            if site:
                from hq.release.site.build import write_site  # the site imports this module

                write_site(hq, folder, data, built)
    finally:
        conn.close()
    return Published(folder / built.name, built, body)


def _put(tmp: Path, path: Path) -> None:
    """Put the finished zip in place: a hard link, which fails if the name is taken (a cut is
    never rewritten, even by a writer whose claim was lost), else a rename."""
    try:
        os.link(tmp, path)
    except FileExistsError as exc:
        raise BadInput(str(path), "a cut of this minute is already published; "
                                  "a cut is never rewritten") from exc
    except OSError:   # a file system without hard links
        os.rename(tmp, path)


def _write(hq: HQDir, conn: Conn, election: Election, folder: Path, cut: datetime, final: bool,
           place: tuple[int, Previous | None], counter: Counter | None,
           lease: cuts.Lease) -> tuple[CutInput, Manifest, bytes]:
    """The zip, in a temporary folder then put in place. Rows are counted (hq.count.count_rows)
    from the very packets the evidence publishes, read once in one snapshot; `counter`
    replaces that count (tests)."""
    zip_name = file_names(election, cut)[0]
    number, previous = place
    tmp = Path(tempfile.mkdtemp(prefix=".corte-", dir=folder))
    try:
        with evidence.snapshot(conn):
            heads = evidence.heads(conn)
            data = CutInput(election=election, election_bytes=hq.election_path.read_bytes(), records={},
                            heads=heads, node_pems=evidence.node_pems(conn, heads),
                            hq_pub=hq.pub_path.read_bytes(), names_file=hq.root / NAMES_FILE,
                            llaves=trust.for_manifest(hq), log=hq_tlog.cut_log(conn, hq.private_key()))
            stream = evidence.Stream(conn, heads)

            def counted() -> dict[str, ActaRecord]:
                if counter is not None:
                    return counter(conn, election).actas
                return count_rows(election, stream.rows).actas

            built, body, records = write_zip(tmp / zip_name, data, cut, final, number, previous,
                                             hq.private_key(), stream.lines(), counted)
            stream.rows.clear()
        with (tmp / zip_name).open("rb") as done:
            os.fsync(done.fileno())
        lease.confirm(str(folder / zip_name))   # still ours, and for stale_s no one else's
        _put(tmp / zip_name, folder / zip_name)
        fsync_dir(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    data = replace(data, records=records)
    return data, built, body
