"""catd-witness: cosign HQ's transparency log only while it grows consistently.

    catd-witness init DIR --name NAME --log-vkey VKEY --url URL
    catd-witness vkey DIR
    catd-witness cosign DIR [--checkpoint FILE] [--follow SECONDS] [--json]
    catd-witness compare VIEW_A VIEW_B [--url URL] [--json]

A party representative or an observer runs it on a laptop (Python 3.11+ and `cryptography`
only). DIR holds the witness key (witness.key, never leaves the laptop), witness.json (its
name, HQ's log key and URL) and view.json: the last checkpoint it cosigned, written to disk
(fsync, rename) before the cosignature leaves. `cosign` takes HQ's latest checkpoint (or a
file), checks HQ's signature, refuses a smaller size (going backwards) or another root at
the same size (a split view), checks HQ's consistency proof from its view to the new one,
and only then cosigns (C2SP tlog-cosignature/v1) and posts it to HQ. Anything refused is
kept in refused/ as evidence. `compare` sets two witnesses' view.json side by side: the
same size with two roots, or a larger one that is not consistent, is a split view.

Exit: 0 cosigned / same story; 1 refused / split view; 2 bad input; 3 HQ unreachable.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from catd_node import tlog, tlog_note

EXIT_OK, EXIT_REFUSED, EXIT_BAD_INPUT, EXIT_UNREACHABLE = 0, 1, 2, 3
TIMEOUT_S = 20.0


class Refused(Exception):
    """HQ showed something a witness must not cosign."""


class BadInput(Exception):
    pass


class Unreachable(Exception):
    pass


def _write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _http(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise BadInput(f"HQ url {url[:60]!r}: expected http:// or https://")
    return url


def fetch(url: str, path: str) -> bytes:
    if not url:
        raise BadInput("no HQ url (witness.json or --url)")
    try:
        with urllib.request.urlopen(_http(url) + path, timeout=TIMEOUT_S) as resp:  # noqa: S310
            return bytes(resp.read())
    except urllib.error.HTTPError as exc:
        raise Refused(f"HQ answered {exc.code} to {path}: {exc.read()[:300]!r}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise Unreachable(f"HQ at {url} unreachable: {exc}") from exc


def consistency(url: str, old: int, new: int) -> list[bytes]:
    """HQ's consistency proof between two sizes (verified by the caller, never trusted)."""
    try:
        answer = json.loads(fetch(url, f"/v1/log/proof/consistency?old={old}&size={new}"))
        return [bytes.fromhex(h) for h in answer["proof"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise Refused(f"HQ's consistency proof {old}→{new} is malformed: {exc}") from exc


class Witness:
    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            self.config = json.loads((root / "witness.json").read_text(encoding="utf-8"))
            pem = (root / "witness.key").read_bytes()
        except (OSError, ValueError) as exc:
            raise BadInput(f"{root}: not a witness directory ({exc})") from exc
        key = serialization.load_pem_private_key(pem, None)
        if not isinstance(key, Ed25519PrivateKey):
            raise BadInput(f"{root / 'witness.key'}: not an Ed25519 key")
        self.key = key
        self.name: str = self.config["name"]
        try:
            self.log = tlog_note.parse_vkey(self.config["log_vkey"])
        except tlog_note.NoteError as exc:
            raise BadInput(f"{root / 'witness.json'}: log_vkey: {exc}") from exc
        self.url: str = self.config.get("url", "").rstrip("/")

    @property
    def verifier(self) -> tlog_note.Verifier:
        return tlog_note.signer(self.name, self.key, tlog_note.ALG_COSIGNATURE)[0]

    def view(self) -> dict[str, Any] | None:
        path = self.root / "view.json"
        if not path.exists():
            return None
        return dict(json.loads(path.read_text(encoding="utf-8")))

    def _refuse(self, why: str, note_text: str) -> Refused:
        folder = self.root / "refused"
        folder.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        digest = hashlib.sha256(note_text.encode()).hexdigest()[:12]
        (folder / f"{stamp}-{digest}.json").write_text(
            json.dumps({"why": why, "checkpoint": note_text}, ensure_ascii=False, indent=1), encoding="utf-8")
        return Refused(why)

    def fetch(self, path: str) -> bytes:
        return fetch(self.url, path)

    def consistency(self, old: int, new: int) -> list[bytes]:
        return consistency(self.url, old, new)

    def cosign(self, note_bytes: bytes, proof: list[bytes] | None = None) -> tuple[tlog_note.Note, bool]:
        """Check the checkpoint against the view and cosign it; (note with our cosignature,
        True when the view moved). Raises Refused, leaving the view as it was."""
        try:
            note = tlog_note.parse_note(note_bytes)
            tlog_note.verify_by(note, self.log)
            cp = tlog_note.parse_checkpoint_text(note.text)
        except tlog_note.NoteError as exc:
            raise self._refuse(f"not a checkpoint signed by HQ's log key: {exc}",
                               note_bytes.decode("utf-8", "replace")) from exc
        if cp.origin != self.log.name:
            raise self._refuse(f"origin {cp.origin!r} is not {self.log.name!r}", note.text)
        view = self.view()
        moved = True
        if view is not None:
            old = tlog_note.parse_checkpoint_text(view["checkpoint"])
            if cp.size < old.size:
                raise self._refuse(f"size {cp.size} is behind the {old.size} already cosigned: a log never"
                                   " shrinks (out of order or rolled back)", note.text)
            if cp.size == old.size:
                if cp.root != old.root:
                    raise self._refuse(f"SPLIT VIEW: two trees of size {cp.size} signed by HQ", note.text)
                moved = False
            else:
                if proof is None:
                    proof = self.consistency(old.size, cp.size)
                try:
                    tlog.verify_consistency(old.size, cp.size, old.root, cp.root, proof)
                except tlog.ProofError as exc:
                    raise self._refuse(f"size {cp.size} does not extend the {old.size} cosigned: {exc}",
                                       note.text) from exc
        now = int(time.time())
        if view is not None and now < int(view.get("time", 0)):
            now = int(view["time"])  # a clock set back never dates a cosignature before the last
        line = tlog_note.cosign(note.text, self.name, self.key, now)
        note.sigs = [s for s in note.sigs if s[0] != self.name] + [line]
        if moved or view is None:
            _write_atomic(self.root / "view.json", json.dumps(
                {"witness": self.verifier.vkey(), "checkpoint": note.text, "time": now,
                 "note": note.render()}, ensure_ascii=False, indent=1).encode())
        return note, moved

    def post(self, note: tlog_note.Note) -> dict[str, Any]:
        if not self.url:
            raise BadInput("witness.json names no HQ url")
        req = urllib.request.Request(  # noqa: S310 (scheme checked by _http)
            _http(self.url) + "/v1/log/cosignature", data=note.render().encode(), method="POST",
            headers={"Content-Type": "text/plain; charset=utf-8"})
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:  # noqa: S310
                return dict(json.loads(resp.read()))
        except urllib.error.HTTPError as exc:
            raise Refused(f"HQ did not take the cosignature ({exc.code}): {exc.read()[:300]!r}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise Unreachable(f"HQ at {self.url} unreachable: {exc}") from exc


def init(root: Path, name: str, log_vkey: str, url: str) -> Witness:
    try:
        tlog_note.parse_vkey(log_vkey)
        tlog_note.signer(name, Ed25519PrivateKey.generate())
    except tlog_note.NoteError as exc:
        raise BadInput(str(exc)) from exc
    if url:
        _http(url)
    if (root / "witness.key").exists():
        raise BadInput(f"{root / 'witness.key'} exists; refusing to overwrite a witness key")
    root.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    _write_atomic(root / "witness.key", key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()), 0o600)
    _write_atomic(root / "witness.json", json.dumps(
        {"name": name, "log_vkey": log_vkey.strip(), "url": url}, indent=1).encode())
    return Witness(root)


def compare(a: dict[str, Any], b: dict[str, Any], proof: list[bytes] | None = None,
            fetch_proof: Any = None) -> str | None:
    """None when two views tell one story; otherwise why they are a split view."""
    ca = tlog_note.parse_checkpoint_text(a["checkpoint"])
    cb = tlog_note.parse_checkpoint_text(b["checkpoint"])
    if ca.origin != cb.origin:
        return f"different logs ({ca.origin} and {cb.origin})"
    small, large = (ca, cb) if ca.size <= cb.size else (cb, ca)
    if small.size == large.size:
        if small.root != large.root:
            return (f"SPLIT VIEW: two trees of size {small.size} "
                    f"({base64.b64encode(ca.root).decode()} and {base64.b64encode(cb.root).decode()})")
        return None
    if proof is None:
        if fetch_proof is None:
            raise BadInput(f"sizes {small.size} and {large.size} differ: give --url to fetch the proof")
        proof = fetch_proof(small.size, large.size)
    try:
        tlog.verify_consistency(small.size, large.size, small.root, large.root, proof)
    except tlog.ProofError as exc:
        return (f"SPLIT VIEW: the tree of size {large.size} does not extend the one of size"
                f" {small.size} ({exc})")
    return None


def _load_view(path: Path) -> dict[str, Any]:
    file = path / "view.json" if path.is_dir() else path
    try:
        return dict(json.loads(file.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise BadInput(f"{file}: cannot read a witness view ({exc})") from exc


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="catd-witness", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("init", help="create a witness directory and key")
    s.add_argument("dir", type=Path)
    s.add_argument("--name", required=True)
    s.add_argument("--log-vkey", required=True, help="HQ's log key (GET /v1/log/vkey, compare in person)")
    s.add_argument("--url", default="", help="HQ's base URL")
    s = sub.add_parser("vkey", help="print this witness's verifier key (for HQ's witnesses.txt)")
    s.add_argument("dir", type=Path)
    s = sub.add_parser("cosign", help="check and cosign HQ's latest checkpoint")
    s.add_argument("dir", type=Path)
    s.add_argument("--checkpoint", type=Path, help="a checkpoint note file instead of HQ's latest")
    s.add_argument("--proof", type=Path, help="consistency proof JSON file (default: ask HQ)")
    s.add_argument("--no-post", action="store_true", help="do not send the cosignature to HQ")
    s.add_argument("--follow", type=float, default=0.0, help="repeat every SECONDS")
    s.add_argument("--json", action="store_true")
    s = sub.add_parser("compare", help="two witnesses' views: one story or a split view")
    s.add_argument("a", type=Path)
    s.add_argument("b", type=Path)
    s.add_argument("--url", default="", help="HQ's base URL, for a proof between two sizes")
    s.add_argument("--json", action="store_true")
    return p


def _out(args: argparse.Namespace, obj: dict[str, Any], text: str) -> None:
    print(json.dumps(obj, ensure_ascii=False) if getattr(args, "json", False) else text, flush=True)


def _cosign_once(args: argparse.Namespace, w: Witness) -> int:
    note_bytes = args.checkpoint.read_bytes() if args.checkpoint else w.fetch("/v1/log/checkpoint")
    proof = None
    if args.proof:
        proof = [bytes.fromhex(h) for h in json.loads(args.proof.read_text(encoding="utf-8"))["proof"]]
    note, moved = w.cosign(note_bytes, proof)
    cp = tlog_note.parse_checkpoint_text(note.text)
    posted = None
    if not args.no_post and w.url:
        posted = w.post(note)
    _out(args, {"cosigned": True, "size": cp.size, "root": base64.b64encode(cp.root).decode(),
                "moved": moved, "posted": posted is not None},
         f"cosigned {cp.origin} size {cp.size}" + ("" if moved else " (unchanged)"))
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.cmd == "init":
            w = init(args.dir, args.name, args.log_vkey, args.url)
            print(w.verifier.vkey())
            return EXIT_OK
        if args.cmd == "vkey":
            print(Witness(args.dir).verifier.vkey())
            return EXIT_OK
        if args.cmd == "compare":
            a, b = _load_view(args.a), _load_view(args.b)
            url = args.url.rstrip("/")
            why = compare(a, b, fetch_proof=(lambda old, new: consistency(url, old, new))
                          if url else None)
            _out(args, {"split": why is not None, "why": why},
                 why or "one story: the two views are consistent")
            return EXIT_REFUSED if why else EXIT_OK
        w = Witness(args.dir)
        while True:
            try:
                code = _cosign_once(args, w)
            except (Refused, Unreachable) as exc:
                if not args.follow:
                    raise
                print(f"{type(exc).__name__.lower()}: {exc}", file=sys.stderr, flush=True)
                code = EXIT_REFUSED
            if not args.follow:
                return code
            time.sleep(args.follow)
    except Refused as exc:
        _out(args, {"cosigned": False, "refused": str(exc)}, f"refused: {exc}")
        return EXIT_REFUSED
    except Unreachable as exc:
        print(f"catd-witness: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except (BadInput, OSError) as exc:
        print(f"catd-witness: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
