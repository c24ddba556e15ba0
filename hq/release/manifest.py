"""MANIFEST.json of a cut and its HQ signature (MANIFEST.json.sig).

The manifest names the cut (zip name, number, local and UTC time, final or not), the previous
cut's manifest SHA-256 — so cuts form a chain that cannot be reordered or silently replaced
(DESIGN invariant 7) —, the head (seq, hash) of every node chain the cut covers, the SHA-256 of
every other file in the zip, and the 13 summary fields. Its bytes are signed as they are:
`MANIFEST.json.sig` is the base64 Ed25519 signature of exactly those bytes by the HQ key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from catd_node import keys
from catd_node.errors import BadInput

NAME = "MANIFEST.json"
SIG = "MANIFEST.json.sig"
FORMAT = "catd/corte/v1"


@dataclass(frozen=True)
class Previous:
    name: str
    sha256: str          # SHA-256 of the previous cut's MANIFEST.json bytes


@dataclass(frozen=True)
class Manifest:
    name: str                              # the zip's file name
    release: str
    election: str
    number: int                            # 1 for the first cut, +1 each cut
    cut: str                               # local official time, `2024-06-02T20:00`
    timezone: str                          # `UTC-6`
    cut_utc: str                           # RFC 3339 UTC
    final: bool
    previous: Previous | None
    nodes: dict[str, tuple[int, str]]      # node → (seq, hash) of the last packet covered
    files: dict[str, str]                  # file name in the zip → SHA-256
    summary: dict[str, str]                # the 13 summary fields as printed
    hq_key: str                            # SHA-256 of hq.pub's bytes (its fingerprint)
    # the keys file published before the night (hq/release/trust.py): version, sha256 and
    # added_after_publication (node → when HQ registered it after publishing); absent if none
    llaves: dict[str, Any] | None = None
    # the transparency log this cut covers (docs/tlog.md): origin, size and base64 root of
    # HQ's checkpoint when the cut was read; absent in cuts made before the log existed
    log: dict[str, Any] | None = None

    @property
    def added_after_publication(self) -> dict[str, str]:
        added = (self.llaves or {}).get("added_after_publication")
        return {str(k): str(v) for k, v in added.items()} if isinstance(added, dict) else {}

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "name": self.name, "release": self.release, "election": self.election,
            "number": self.number, "cut": self.cut, "timezone": self.timezone, "cut_utc": self.cut_utc,
            "final": self.final,
            "previous": None if self.previous is None else {"name": self.previous.name,
                                                            "sha256": self.previous.sha256},
            "nodes": {n: {"seq": s, "hash": h} for n, (s, h) in sorted(self.nodes.items())},
            "files": dict(sorted(self.files.items())), "summary": self.summary, "hq_key": self.hq_key,
            **({} if self.llaves is None else {"llaves": self.llaves}),
            **({} if self.log is None else {"log": self.log}),
        }

    def encode(self) -> bytes:
        """The manifest's bytes: sorted keys, one field a line, UTF-8 — what is signed."""
        return (json.dumps(self.to_json(), sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sign(key: Ed25519PrivateKey, data: bytes) -> bytes:
    """MANIFEST.json.sig: the base64 signature of the manifest's bytes, one line."""
    return base64.b64encode(key.sign(data)) + b"\n"


def signed_by(public: Ed25519PublicKey, data: bytes, sig_file: bytes) -> bool:
    try:
        sig = base64.b64decode(sig_file.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(sig) == 64 and keys.verify(public, sig, data)


def _get(obj: Any, name: str, kind: type, where: str) -> Any:
    value = obj.get(name) if isinstance(obj, dict) else None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadInput(f"{where}.{name}", f"expected {kind.__name__}, got {value!r}")
    return value


def parse(data: bytes, where: str = NAME) -> Manifest:
    """A manifest from its bytes; BadInput names the field that is wrong."""
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(where, f"not JSON ({exc})") from exc
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise BadInput(where, f"not a {FORMAT} manifest")
    prev = obj.get("previous")
    previous = None
    if prev is not None:
        previous = Previous(_get(prev, "name", str, f"{where}.previous"),
                            _get(prev, "sha256", str, f"{where}.previous"))
    nodes = {}
    for node, head in _get(obj, "nodes", dict, where).items():
        nodes[node] = (_get(head, "seq", int, f"{where}.nodes.{node}"),
                       _get(head, "hash", str, f"{where}.nodes.{node}"))
    files = _get(obj, "files", dict, where)
    summary = _get(obj, "summary", dict, where)
    if not all(isinstance(v, str) for v in (*files.values(), *summary.values())):
        raise BadInput(f"{where}.files", "expected text values")
    return Manifest(
        name=_get(obj, "name", str, where), release=_get(obj, "release", str, where),
        election=_get(obj, "election", str, where), number=_get(obj, "number", int, where),
        cut=_get(obj, "cut", str, where), timezone=_get(obj, "timezone", str, where),
        cut_utc=_get(obj, "cut_utc", str, where), final=_get(obj, "final", bool, where),
        previous=previous, nodes=nodes, files=files, summary=summary,
        hq_key=_get(obj, "hq_key", str, where),
        llaves=_get(obj, "llaves", dict, where) if "llaves" in obj else None,
        log=_log(obj, where) if "log" in obj else None,
    )


def _log(obj: dict[str, Any], where: str) -> dict[str, Any]:
    log = _get(obj, "log", dict, where)
    _get(log, "origin", str, f"{where}.log")
    _get(log, "size", int, f"{where}.log")
    _get(log, "root", str, f"{where}.log")
    return dict(log)
