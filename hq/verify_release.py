"""`catd-hq verify-release ZIP [LATER_ZIP] [--keys DIR]`: check a cut on its own.

In this order, stopping at the first fault and naming the file, packet or acta (exit 1):
the manifest's HQ signature; the zip's name; every file's SHA-256 and no unlisted file; each
node's chain in `evidencia.ndjson` (contiguous from seq 1, linked, hashed, signed by the
node's key, ending at the head the manifest names) — with `--keys DIR` every node's key must be
DIR's; `catalogo.json` against every chain's node.genesis `election_sha256` (and DIR's
catalog); the election and cut lines, the summary
and acta headers; every row recomputed from its node's packets by the count's own rules
(`hq.count.count_rows`) and the catalog in the cut, in the official order; no acta its CATD
reported left out; the 13 summary fields. Given two cuts, also whether the later extends the
earlier (DESIGN invariant 7). `tools/verify_release.py` checks the same, in the same order,
with nothing of ours installed; a test holds the two to the same verdicts.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from catd_node import catalog, keys, packets, tlog, tlog_note
from catd_node.errors import EXIT_CHECK_FAILED, EXIT_OK, BadInput, CheckFailed
from catd_node.safetext import one_line
from catd_node.tally import SUMMARY_FIELDS
from hq import tlog as hq_tlog
from hq.count import ActaRecord, Row, count_rows
from hq.release import evidence, manifest, trust, write, zipcheck
from hq.release.cut import CATALOG, HQ_PUB
from hq.release.manifest import Manifest
from sync import casilla_protocol

_CUT_NAME = re.compile(r"\d{8}_\d{4}_PREP_[A-Z0-9]+_[A-Z0-9]+\.zip")
_COUNTED_KINDS = frozenset({"acta.acopio", "acta.digitized", "acta.assigned", "acta.captured",
                            "acta.verified", "acta.sin_acta", "acta.sin_acta_undone"})


def fail(why: str) -> CheckFailed:
    """A fault: `why` starts with what it names (`acta K: …`, `FILE: …`)."""
    what, _, rest = why.partition(": ")
    return CheckFailed(what, rest)


@dataclass
class Checked:
    """What one verified cut holds, for the extension check."""
    path: Path
    manifest: Manifest
    manifest_sha: str
    fingerprint: str
    published: dict[str, tuple[list[str], str]] = field(default_factory=dict)  # key → (cells, node)
    touched: dict[str, list[tuple[str, int]]] = field(default_factory=dict)   # acta → (node, seq)
    hashes_at: dict[str, str] = field(default_factory=dict)                    # node → hash at a wanted seq
    key_from: dict[str, str] = field(default_factory=dict)                     # node → its key's source
    log_hashes: list[bytes] | None = None                                      # registro/hojas.bin
    log_note: str | None = None                                                # registro/checkpoint


class CutCheck:
    def __init__(self, path: Path, keys_dir: Path | None, want: dict[str, int] | None = None,
                 witnesses: tlog_note.WitnessPolicy | None = None) -> None:
        self.path, self.keys_dir, self.want = path, keys_dir, want or {}
        self.witnesses = witnesses
        try:
            self.zip = zipfile.ZipFile(path)
        except (OSError, zipfile.BadZipFile) as exc:
            raise BadInput(str(path), f"not a readable zip ({exc})") from exc
        self.rows: dict[str, list[Row]] = {}
        # phones' devices per chain, and photos a capture centre recorded from another
        # node's phone (checked against that node's chain once every chain is read)
        self.devices: dict[str, casilla_protocol.ChainDevices] = {}
        self.ccv_photos: list[tuple[str, str, dict[str, Any]]] = []
        self.genesis: dict[str, object] = {}     # node → election_sha256 its node.genesis names
        self.key_from: dict[str, str] = {}       # node → where its key was taken from

    def read(self, name: str) -> bytes:
        try:
            return zipcheck.read(self.zip, name)
        except KeyError:
            raise fail(f"{name}: missing from {self.path.name}") from None
        except BadInput as exc:
            raise fail(f"{exc.what}: {exc.why}") from None

    def sha256(self, name: str) -> str:
        try:
            return zipcheck.sha256(self.zip, name)
        except KeyError:
            raise fail(f"{name}: missing from {self.path.name}") from None

    def run(self) -> Checked:
        try:  # before any byte is inflated: one member per name, safe names, bounded sizes
            zipcheck.members(self.zip, self.path.name, tiled=True)
        except BadInput as exc:
            raise fail(f"{exc.what}: {exc.why}") from None
        body, sig = self.read(manifest.NAME), self.read(manifest.SIG)
        pem = (self.keys_dir / HQ_PUB).read_bytes() if self.keys_dir else self.read(HQ_PUB)
        fingerprint = hashlib.sha256(pem).hexdigest()
        if not manifest.signed_by(_key(pem, HQ_PUB), body, sig):
            raise fail(f"{manifest.SIG}: not a signature of {manifest.NAME} by the HQ key "
                       f"{fingerprint[:16]}…")
        try:
            m = manifest.parse(body)
        except BadInput as exc:
            raise fail(f"{manifest.NAME}: {exc.why}") from exc
        done = Checked(self.path, m, manifest.sha256(body), fingerprint)
        if _CUT_NAME.fullmatch(self.path.name) and self.path.name != m.name:
            raise fail(f"{self.path.name}: the file is named so, but its manifest names cut {m.name}")
        for name in sorted(m.files):
            if self.sha256(name) != m.files[name]:
                raise fail(f"{name}: its SHA-256 differs from the one {manifest.NAME} gives")
        for name in self.zip.namelist():
            if name not in m.files and name not in (manifest.NAME, manifest.SIG):
                raise fail(f"{name}: in the zip but not in {manifest.NAME}")
        self.outside_keys(m)
        self.chains(m, done)
        self.in_log(m, done, _key(pem, HQ_PUB))
        self.catalog_bound()
        self.check_rows(m, done)
        done.key_from = dict(self.key_from)
        return done

    def in_log(self, m: Manifest, done: Checked, hq_pub: Ed25519PublicKey) -> None:
        """The cut's packets are all in HQ's transparency log (docs/tlog.md): the checkpoint is
        HQ's, the leaf hashes give its root, and every evidence line is one of those leaves."""
        if m.log is None:
            if self.witnesses is not None:
                raise fail(f"{manifest.NAME}: names no transparency log; --witnesses needs one")
            return
        note_bytes, hashes_bytes = self.read(hq_tlog.REGISTRO_CHECKPOINT), self.read(hq_tlog.REGISTRO_HASHES)
        try:
            note = tlog_note.parse_note(note_bytes)
            self.hq_raw = tlog_note.log_verifier(hq_pub).pub
            tlog_note.verify_by(note, tlog_note.log_verifier(hq_pub))
            cp = tlog_note.parse_checkpoint_text(note.text)
        except tlog_note.NoteError as exc:
            raise fail(f"{hq_tlog.REGISTRO_CHECKPOINT}: {exc}") from exc
        if (cp.origin, cp.size, base64.b64encode(cp.root).decode()) != (m.log["origin"], m.log["size"],
                                                                         m.log["root"]):
            raise fail(f"{hq_tlog.REGISTRO_CHECKPOINT}: not the checkpoint {manifest.NAME} names")
        if len(hashes_bytes) != 32 * cp.size:
            raise fail(f"{hq_tlog.REGISTRO_HASHES}: {len(hashes_bytes)} bytes for a log of {cp.size} leaves")
        hashes = [hashes_bytes[i:i + 32] for i in range(0, len(hashes_bytes), 32)]
        if tlog.root_of_hashes(hashes) != cp.root:
            raise fail(f"{hq_tlog.REGISTRO_HASHES}: its leaves do not give the checkpoint's root")
        held = set(hashes)
        for number, raw in self.evidence_lines():
            if tlog.leaf_hash(raw.rstrip(b"\n")) not in held:
                raise fail(f"{evidence.WIRE} line {number}: this packet is not in HQ's transparency log")
        if self.witnesses is not None:
            cosigned = self.cosigned_note(note)
            try:
                self.witnesses.check(cosigned)
            except tlog_note.NoteError as exc:
                raise fail(f"{hq_tlog.REGISTRO_CHECKPOINT}: {exc}") from exc
        done.log_hashes, done.log_note = hashes, note.text

    def cosigned_note(self, note: tlog_note.Note) -> tlog_note.Note:
        """The checkpoint the witnesses cosigned: from `<zip>.testigos.json` beside the zip
        (HQ writes it as cosignatures arrive), HQ's, extending the cut's checkpoint by the
        consistency proof it carries; else the zip's own note."""
        beside = self.path.with_name(self.path.name + hq_tlog.SIDECAR)
        if not beside.exists():
            return note
        cp = tlog_note.parse_checkpoint_text(note.text)
        try:
            doc = json.loads(beside.read_bytes())
            later = tlog_note.parse_note(doc["checkpoint"])
            tlog_note.verify_by(later, tlog_note.Verifier(cp.origin, tlog_note.ALG_ED25519,
                                                          self.hq_raw))
            cp2 = tlog_note.parse_checkpoint_text(later.text)
            tlog.verify_consistency(cp.size, cp2.size, cp.root, cp2.root,
                                    [bytes.fromhex(h) for h in doc["consistency"]])
        except (ValueError, KeyError, TypeError, tlog_note.NoteError, tlog.ProofError) as exc:
            raise fail(f"{beside.name}: {exc}") from exc
        return later

    # ---- trust from outside the cut (docs/publication.md, "What a party holds") ----------

    def outside_keys(self, m: Manifest) -> None:
        """With --keys DIR, every node the manifest covers has its key in DIR: a CATD whose key
        only the cut carries may be one HQ made up (its key, its chain, its actas)."""
        if self.keys_dir is None:
            return
        for node in sorted(m.nodes):
            if trust.given_key(self.keys_dir, node) is None:
                raise fail(trust.missing_key(node, self.keys_dir, m.added_after_publication.get(node)))

    def node_key(self, node: str) -> Ed25519PublicKey:
        own = self.read(f"nodos/{node}.pub")
        if self.keys_dir is not None:
            given = trust.given_key(self.keys_dir, node)
            if given is None:
                raise fail(trust.missing_key(node, self.keys_dir, None))
            if given.read_bytes().strip() != own.strip():
                raise fail(f"nodos/{node}.pub: differs from {given}")
            own = given.read_bytes()
            self.key_from[node] = str(given)
        else:
            self.key_from[node] = f"nodos/{node}.pub"
        return _key(own, f"nodos/{node}.pub")

    def catalog_bound(self) -> None:
        """The cut's catalogo.json is the election file every CATD was installed with: its
        SHA-256 is the `election_sha256` each chain's node.genesis signs (no packet changes a
        node's election later), and DIR/catalogo.json's when given. Else HQ could reassign an
        acta, or lower a lista nominal, and recount."""
        held = self.sha256(CATALOG)
        for node in sorted(self.genesis):
            if self.genesis[node] != held:
                raise fail(trust.catalog_differs(node, held, self.genesis[node]))
        if self.keys_dir is not None and (given := self.keys_dir / CATALOG).exists():
            if hashlib.sha256(given.read_bytes()).hexdigest() != held:
                raise fail(f"{CATALOG}: differs from {given} (the election file published before the night)")

    def evidence_lines(self) -> Iterator[tuple[int, bytes]]:
        try:
            yield from zipcheck.lines(self.zip, evidence.WIRE)
        except BadInput as exc:
            raise fail(f"{exc.what}: {exc.why}") from None

    def chains(self, m: Manifest, done: Checked) -> None:
        """Every wire line checked on its stored bytes (packets.examine), chain by chain."""
        heads: dict[str, tuple[int, str]] = {}
        node_keys: dict[str, Ed25519PublicKey] = {}
        devices = self.devices
        for number, raw in self.evidence_lines():
            where = f"{evidence.WIRE} line {number}"
            try:
                packet = packets.from_wire(raw.decode("utf-8"), where)
                envelope = json.loads(packet.canonical)
            except (packets.PacketError, ValueError):
                raise fail(f"{where}: not a wire line of a packet") from None
            node = envelope.get("node") if isinstance(envelope, dict) else None
            where += f" ({node} seq {packet.seq})"
            if not isinstance(node, str):
                raise fail(f"{where}: not a packet envelope")
            last_seq, last_hash = heads.get(node, (0, packets.ZERO_HASH))
            if packet.seq != last_seq + 1:
                raise fail(f"{where}: expected seq {last_seq + 1}")
            if node not in node_keys:
                node_keys[node] = self.node_key(node)
            why, env = packets.examine(packet, node_keys[node], last_hash, node)
            if why:
                raise fail(f"{where}: {why}")
            heads[node] = (packet.seq, packet.hash)
            if self.want.get(node) == packet.seq:
                done.hashes_at[node] = packet.hash
            body = env["body"]
            if env["kind"] == "node.genesis":
                self.genesis[node] = body.get("election_sha256")
            elif node not in self.genesis:
                raise fail(f"{where}: {node}'s chain does not begin with its node.genesis")
            chain_devices = devices.setdefault(node, casilla_protocol.ChainDevices(node))
            chain_devices.add(env["kind"], body)
            if env["kind"] == "acta.digitized":
                if casilla_why := chain_devices.check(body):
                    raise fail(f"{where}: {casilla_why}")
                if casilla_protocol.statement_node(body) not in (None, node):
                    self.ccv_photos.append((where, node, body))
            acta = body.get("acta") if isinstance(body.get("acta"), str) else None
            if acta is not None:
                done.touched.setdefault(acta, []).append((node, packet.seq))
            if env["kind"] in _COUNTED_KINDS:
                self.rows.setdefault(node, []).append(
                    Row(node, packet.seq, env["kind"], env["at"], "", acta, body))
        for node in sorted(set(m.nodes) | set(heads)):
            if heads.get(node) != m.nodes.get(node):
                raise fail(f"{evidence.WIRE}: {node} ends at {heads.get(node)}, "
                           f"{manifest.NAME} names {m.nodes.get(node)}")

    def check_rows(self, m: Manifest, done: Checked) -> None:
        try:
            election = catalog.parse(json.loads(self.read(CATALOG)), CATALOG)
        except (BadInput, ValueError) as exc:
            raise fail(f"{CATALOG}: not an election file ({exc})") from exc
        for where, node, body in self.ccv_photos:
            acta = str(body.get("acta"))
            named = str(casilla_protocol.statement_node(body))
            if why := casilla_protocol.check_ccv(body, node, election.ccv_of(acta), election.owner(acta),
                                                 self.devices.get(named)):
                raise fail(f"{where}: {why}")
        by_node = {node: count_rows(election, rows).actas for node, rows in self.rows.items()}
        results = [n for n in m.files if n.endswith(".csv") and not n.endswith("_CANDIDATURAS.csv")]
        name = results[0] if len(results) == 1 else "results CSV"
        text = self.read(name).decode("utf-8-sig")
        lines = [line.split(write.DELIMITER) for line in text.split(write.NEWLINE)[:-1]]
        cut = write.cut_line(datetime.strptime(m.cut, "%Y-%m-%dT%H:%M"), election)
        for i, want in enumerate([[write.text_cell(election.name)], [cut], list(SUMMARY_FIELDS)]):
            if len(lines) <= i or lines[i] != want:
                raise fail(f"{name} line {i + 1}: expected {write.DELIMITER.join(want)}")
        writer = write.RowWriter(election)
        header = list(writer.layout.header)
        if len(lines) < 5 or lines[4] != header:
            raise fail(f"{name} line 5: the acta header is not the template's for this election")
        index = [line.split("|") for line in self.read(evidence.INDEX).decode().split("\r\n")[1:-1]]
        if len(index) != len(lines) - 5:
            raise fail(f"{evidence.INDEX}: {len(index)} entries for {len(lines) - 5} rows")
        records: list[ActaRecord] = []
        for cells, (key, node, seqs) in zip(lines[5:], index, strict=True):
            shown = cells[1][2:-1] if cells[1].startswith('="') else cells[1]
            if shown != key:
                raise fail(f"acta {shown}: {evidence.INDEX} names {key} for its row")
            owner = election.owner(key)
            if not election.may_capture(key, node):
                raise fail(f"acta {key}: counted from {node}, but the catalog assigns it to {owner}")
            record = by_node.get(node, {}).get(key)
            if record is None:
                raise fail(f"acta {key}: no report of it by {node} stands in the evidence")
            if list(record.evidence) != [int(s) for s in seqs.split()]:
                raise fail(f"acta {key}: {evidence.INDEX} names seqs {seqs}, the count finds "
                           f"{list(record.evidence)}")
            for column, printed, recomputed in zip(header, cells, writer.row(record), strict=False):
                if printed != recomputed:
                    raise fail(f"acta {key}: {column} is {printed!r}, the evidence gives {recomputed!r}")
            if len(cells) != len(header):
                raise fail(f"acta {key}: {len(cells)} columns, the header has {len(header)}")
            done.published[key] = (cells, node)
            records.append(record)
        for a, b in itertools.pairwise(records):
            if write.order_key(election, a.key) >= write.order_key(election, b.key):
                raise fail(f"acta {b.key}: out of the official order (after {a.key})")
        for node, held in sorted(by_node.items()):
            for key in sorted(held):
                if key not in done.published and election.may_capture(key, node):
                    first = min(r.seq for r in self.rows[node] if r.acta == key and r.kind in
                                ("acta.verified", "acta.sin_acta", "acta.sin_acta_undone"))
                    raise fail(f"acta {key}: reported by {node} (seq {first}) but not in the cut")
        computed = write.summary(election, records, m.final).fields()
        for name_, shown_ in zip(SUMMARY_FIELDS, lines[3], strict=False):
            if shown_ != computed[name_] or m.summary.get(name_) != computed[name_]:
                raise fail(f"summary {name_}: printed {shown_}, recomputed {computed[name_]}")


def extends(earlier: Checked, later: Checked) -> None:
    """CheckFailed unless `later` extends `earlier`: same key, later number and time, the
    previous link (adjacent cuts), every chain extended, no row changed without a new packet."""
    a, b, name = earlier.manifest, later.manifest, later.path.name
    if earlier.fingerprint != later.fingerprint:
        raise fail(f"{name}: signed by another HQ key than {earlier.path.name}")
    if a.final:
        raise fail(f"{name}: {earlier.path.name} is the final cut; nothing follows it")
    if b.number <= a.number or b.cut <= a.cut:
        raise fail(f"{name}: cut {b.number} ({b.cut}) does not come after cut {a.number} ({a.cut})")
    if b.number == a.number + 1 and (b.previous is None or b.previous.sha256 != earlier.manifest_sha):
        raise fail(f"{name}: does not name {earlier.path.name}'s manifest as the previous one")
    if a.log is not None and b.log is not None and earlier.log_hashes is not None \
            and later.log_hashes is not None:
        if len(later.log_hashes) < len(earlier.log_hashes) or tlog.root_of_hashes(
                later.log_hashes[:len(earlier.log_hashes)]) != tlog.root_of_hashes(earlier.log_hashes):
            raise fail(f"{name}: its transparency log does not extend {earlier.path.name}'s")
        if tlog.leaf_hash(tlog.cut_leaf(a.name, earlier.manifest_sha)) not in set(later.log_hashes):
            raise fail(f"{name}: {earlier.path.name} is not in its transparency log: that cut was not"
                       " published by this HQ")
    for node, (seq, hash_hex) in sorted(a.nodes.items()):
        if later.hashes_at.get(node) != hash_hex:
            raise fail(f"{name}: {node}'s chain does not extend its seq {seq} in {earlier.path.name}")
    for key, (cells, _) in earlier.published.items():
        now = later.published.get(key)
        if now is not None and now[0] == cells:
            continue
        if not any(seq > a.nodes.get(node, (0, ""))[0] for node, seq in later.touched.get(key, [])):
            change = "is left out" if now is None else "changed"
            raise fail(f"acta {key}: its row {change} in {name}, yet no packet of it came after "
                       f"{earlier.path.name}")


def _key(pem: bytes, what: str) -> Ed25519PublicKey:
    try:
        return keys.public_from_pem(pem, what)
    except BadInput as exc:
        raise fail(f"{what}: {exc.why}") from exc


def main(paths: list[Path], keys_dir: Path | None, witnesses_file: Path | None = None) -> int:
    if len(paths) > 2:
        raise BadInput("ZIP", "give one cut, or two (the earlier first)")
    policy = None
    if witnesses_file is not None:
        try:
            policy = tlog_note.parse_policy(witnesses_file.read_text(encoding="utf-8"), str(witnesses_file))
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInput(str(witnesses_file), f"cannot read it ({exc})") from exc
        except tlog_note.NoteError as exc:
            raise BadInput(str(witnesses_file), str(exc)) from exc
    if keys_dir is not None and not (keys_dir / HQ_PUB).exists():
        raise BadInput(str(keys_dir), f"no {HQ_PUB} in it")
    try:
        late: dict[str, str] = {}
        if keys_dir is not None:
            problem, late = trust.check_dir(keys_dir)
            if problem is not None:
                raise fail(problem)
        first = CutCheck(paths[0], keys_dir, witnesses=policy).run()
        print(f"ok: {paths[0].name}: cut {first.manifest.number}, {len(first.published)} rows, "
              f"{len(first.manifest.nodes)} CATD chains; HQ key {first.fingerprint}")
        added = {**first.manifest.added_after_publication, **late}
        for line in trust.key_notes(first.key_from, keys_dir, added):
            print(one_line(line))
        if len(paths) == 2:
            want = {node: seq for node, (seq, _) in first.manifest.nodes.items()}
            second = CutCheck(paths[1], keys_dir, want, witnesses=policy).run()
            print(f"ok: {paths[1].name}: cut {second.manifest.number}, {len(second.published)} rows")
            fresh = {n: w for n, w in second.key_from.items() if n not in first.key_from}
            added = {**second.manifest.added_after_publication, **late}
            for line in trust.key_notes(fresh, keys_dir, added) if fresh else []:
                print(one_line(line))
            extends(first, second)
            print(f"ok: {paths[1].name} extends {paths[0].name}")
    except CheckFailed as exc:
        # text read from the cut (keys, names) never reaches the terminal raw: an escape
        # sequence could turn this line into an "ok" on the screen
        print(f"FAIL {one_line(f'{exc.what}: {exc.why}')}", file=sys.stderr)
        return EXIT_CHECK_FAILED
    return EXIT_OK
