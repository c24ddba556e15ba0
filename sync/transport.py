"""HTTP to HQ for the sync client: failover across `[hq].urls`, strict reading of answers.

Only a well-formed answer counts (ODK's lesson: a captive portal answers 200 too): JSON
content type, a body that parses, the fields the protocol promises. Everything else is a
`Retryable` failure or, for refusals that retrying cannot fix, a `LaneStopped`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from catd_node.errors import CheckFailed
from sync import protocol, receipts
from sync.policy import Retryable, parse_retry_after
from sync.receipts import Receipt

log = logging.getLogger("catd.sync")
_HEX64 = re.compile(r"[0-9a-f]{64}")
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class LaneStopped(CheckFailed):
    """HQ refused in a way retrying cannot fix (fork, unknown node, bad packet): exit 1."""


class NeedPackets(Exception):
    """HQ says a blob is unreferenced: it lacks packets we thought it held; re-check its head."""


@dataclass(frozen=True)
class Timeouts:
    connect: float = 5.0
    read: float = 30.0
    min_rate: float = 32 * 1024  # bytes/s: a request may take read + size/min_rate in all

    def for_bytes(self, size: int) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=self.read + size / self.min_rate, sock_connect=self.connect,
                                     sock_read=self.read)


class Endpoints:
    """`[hq].urls` in order: move to the next on connection failure, back to the first later."""

    def __init__(self, urls: tuple[str, ...], failback_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not urls:
            raise ValueError("no HQ URL configured ([hq].urls)")
        self.urls = tuple(u.rstrip("/") for u in urls)
        self.failback_s = failback_s
        self.clock = clock
        self.index = 0
        self.left_first_at = 0.0

    @property
    def current(self) -> str:
        if self.index and self.clock() - self.left_first_at >= self.failback_s:
            log.info("failback url=%s", self.urls[0])
            self.index = 0
        return self.urls[self.index]

    def failed(self, url: str) -> None:
        if self.urls[self.index] != url:
            return  # another request already moved on
        if self.index == 0:
            self.left_first_at = self.clock()
        self.index = (self.index + 1) % len(self.urls)
        log.warning("failover from=%s to=%s", url, self.urls[self.index])


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    url: str

    def json(self) -> Any:
        """The JSON body; Retryable unless the answer really is JSON."""
        kind = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise Retryable(f"bad_answer: HTTP {self.status} with {kind or 'no content type'}, not JSON "
                            "(captive portal or proxy?)")
        try:
            return json.loads(self.body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise Retryable(f"bad_answer: HTTP {self.status} body is not complete JSON ({exc})") from exc


class HQ:
    """The node's view of HQ: head, packet batches, resumable blob uploads (each blob request
    signed with the node key: docs/uploads.md)."""

    def __init__(self, session: aiohttp.ClientSession, endpoints: Endpoints, node: str,
                 hq_key: Ed25519PublicKey, timeouts: Timeouts, node_key: Ed25519PrivateKey,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.session = session
        self.endpoints = endpoints
        self.node = node
        self.hq_key = hq_key
        self.timeouts = timeouts
        self.node_key = node_key
        self.wall_clock = wall_clock
        self.clock_offset = 0.0  # HQ's clock minus ours, learnt from a stale_date refusal

    def _signed(self, method: str, sha: str, offset: int | None = None,
                length: int | None = None) -> dict[str, str]:
        return protocol.sign_blob_request(self.node_key, method, sha, self.node,
                                          self.wall_clock() + self.clock_offset, offset, length)

    def _blob_refusal(self, answer: Answer) -> Exception:
        """A refusal of a blob request: HQ's clock differs from ours (sign with HQ's time and
        retry at once), another upload of ours holds the partial (retry after HQ's
        Retry-After); else as `_refusal`."""
        doc = _json_or_empty(answer) if answer.status in (403, 409) else {}
        code = doc.get("error")
        if code == protocol.STALE_DATE and isinstance(doc.get("hq_time"), int):
            self.clock_offset = doc["hq_time"] - self.wall_clock()
            off = f"{abs(self.clock_offset):.0f} s {'behind' if self.clock_offset > 0 else 'ahead of'} HQ's"
            log.warning("node clock is %s: blob requests now signed with HQ's time", off)
            return Retryable(f"stale_date: this node's clock is {off}", retry_after=0.0)
        if code == protocol.UPLOAD_IN_PROGRESS:
            return Retryable("upload_in_progress: HQ is still receiving an earlier upload of this image",
                             retry_after=parse_retry_after(answer.headers.get("Retry-After")))
        return self._refusal(answer, "images")

    async def _request(self, method: str, path: str, *, size: int = 0,
                       body: bytes | tuple[Path, int] | None = None,
                       headers: dict[str, str] | None = None) -> Answer:
        """One request, trying each URL once when the connection cannot even be made.

        `body` is bytes, or (file, offset) to stream a file from `offset`.
        """
        last: Retryable | None = None
        for _ in self.endpoints.urls:
            url = self.endpoints.current
            src: BinaryIO | None = None
            try:
                data: Any = body
                if isinstance(body, tuple):
                    src = body[0].open("rb")  # closed in finally
                    src.seek(body[1])
                    data = src
                async with self.session.request(
                    method, url + path, data=data, headers=headers,
                    timeout=self.timeouts.for_bytes(size), allow_redirects=False,
                ) as resp:
                    content = await resp.read()
                    return Answer(resp.status, dict(resp.headers), content, url)
            except aiohttp.ClientConnectorError as exc:
                last = Retryable(f"connect_failed: {url}: {exc.os_error or exc}", connect=True)
                self.endpoints.failed(url)
            except aiohttp.ConnectionTimeoutError:
                # no answer to the connect at all: a receiver host that is gone (power, network)
                # sends no refusal; like a refusal, it is a reason to try the next URL
                last = Retryable(f"connect_failed: {url}: no answer in {self.timeouts.connect} s",
                                 connect=True)
                self.endpoints.failed(url)
            except TimeoutError as exc:
                raise Retryable(f"timeout: {method} {url}{path}") from exc
            except aiohttp.ClientError as exc:
                raise Retryable(f"connection_dropped: {method} {url}{path}: {type(exc).__name__}") from exc
            except OSError as exc:
                raise Retryable(f"connection_dropped: {method} {url}{path}: {exc}") from exc
            finally:
                if src is not None:
                    src.close()
        assert last is not None
        raise last

    def _refusal(self, answer: Answer, lane: str) -> Exception:
        """The exception for a non-success status: retry it, or stop the lane naming why."""
        retry_after = parse_retry_after(answer.headers.get("Retry-After"))
        if answer.status in RETRY_STATUSES or answer.status >= 500:
            return Retryable(f"http_{answer.status}: {lane}", retry_after=retry_after)
        try:
            doc = answer.json()
        except Retryable:
            doc = {}
        doc = doc if isinstance(doc, dict) else {}
        code = str(doc.get("error") or f"http_{answer.status}")
        where = "".join(f" {k} {doc[k]}" for k in ("line", "seq") if k in doc)
        detail = str(doc.get("detail") or "")[:300]
        if code == protocol.FORK:
            detail = (f"HQ holds {str(doc.get('held_hash'))[:16]}… at seq {doc.get('seq')}, "
                      f"we sent {str(doc.get('sent_hash'))[:16]}… {detail}")
        return LaneStopped(f"{lane} lane", f"{code}:{where} HTTP {answer.status} {detail}".strip())

    async def head(self) -> tuple[int, str]:
        """HQ's (seq, hash) for this node: the checkpoint."""
        answer = await self._request("GET", protocol.head_path(self.node))
        if answer.status != 200:
            raise self._refusal(answer, "packets")
        doc = answer.json()
        seq = doc.get("seq") if isinstance(doc, dict) else None
        hash_hex = doc.get("hash") if isinstance(doc, dict) else None
        if (not isinstance(seq, int) or isinstance(seq, bool) or seq < 0
                or not isinstance(hash_hex, str) or not _HEX64.fullmatch(hash_hex)):
            raise Retryable("bad_answer: head is not {seq, hash}")
        return seq, hash_hex

    async def post_packets(self, body: bytes, last_seq: int, last_hash: str) -> tuple[Receipt, str]:
        """POST one batch; the verified receipt for its last packet and the URL that answered."""
        answer = await self._request(
            "POST", protocol.PACKETS_PATH, size=len(body), body=body,
            headers={"Content-Type": protocol.NDJSON},
        )
        if answer.status == 413:
            raise Retryable(f"too_large: batch of {len(body)} bytes refused", retry_after=0.0)
        if answer.status != 200:
            raise self._refusal(answer, "packets")
        doc = answer.json()
        if not isinstance(doc, dict) or "receipt" not in doc:
            raise Retryable("bad_answer: 200 without a receipt")
        try:
            receipt = receipts.check(self.hq_key, doc["receipt"], self.node, last_seq, last_hash)
        except ValueError as exc:
            raise Retryable(f"bad_receipt: {exc}", untrusted=True) from exc
        last_line = body.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        try:
            log_part = receipts.check_log(self.hq_key, doc.get("log"), last_line)
        except ValueError as exc:
            raise Retryable(f"bad_receipt: {exc}", untrusted=True) from exc
        return dataclasses.replace(receipt, log=log_part), answer.url

    async def missing(self) -> list[str] | None:
        """The images this node's packets reference that HQ lacks (never received, or lost and
        not yet sent again: hq/blobcheck.py), up to HQ's page; None when this HQ does not
        offer the question (an older HQ: 404 not_found)."""
        answer = await self._request("GET", protocol.missing_path(self.node), headers=self._signed("GET", ""))
        if answer.status == 404 and _json_or_empty(answer).get("error") == "not_found":
            return None
        if answer.status != 200:
            raise self._blob_refusal(answer)
        doc = answer.json()
        names = doc.get("missing") if isinstance(doc, dict) else None
        if not isinstance(names, list) or not all(isinstance(n, str) and _HEX64.fullmatch(n) for n in names):
            raise Retryable("bad_answer: missing is not a list of blob names")
        return names

    async def blob_offset(self, sha: str, size: int) -> int | None:
        """None when HQ holds blob `sha`, else the bytes of a partial upload it keeps."""
        answer = await self._request("HEAD", protocol.blob_path(sha), headers=self._signed("HEAD", sha))
        if answer.status == 200:
            held = answer.headers.get("Content-Length")
            if held != str(size):
                raise Retryable(f"bad_answer: HEAD blob 200 with Content-Length {held}, expected {size}")
            return None
        if answer.status == 404:
            try:
                offset = int(answer.headers.get(protocol.UPLOAD_OFFSET, "0"))
            except ValueError as exc:
                raise Retryable("bad_answer: Upload-Offset is not a number") from exc
            return offset if 0 <= offset <= size else 0
        if answer.status == 409 and _json_or_empty(answer).get("error") == protocol.UNREFERENCED:
            raise NeedPackets(sha)
        raise self._blob_refusal(answer)

    async def put_blob(self, sha: str, path: Path, offset: int, size: int,
                       data: bytes | None = None) -> str | int:
        """Upload blob `sha` from `offset` (from `data` when given, else streamed from `path`);
        the URL when HQ stored it, or the offset HQ holds when it kept a partial (202) or
        answered 409 offset_mismatch."""
        body: bytes | tuple[Path, int] = (path, offset) if data is None else data[offset:]
        answer = await self._request(
            "PUT", protocol.blob_path(sha), size=size - offset, body=body,
            headers={**self._signed("PUT", sha, offset, size), "Content-Type": "application/octet-stream"},
        )
        if answer.status in (200, 201):
            doc = answer.json()  # a portal's HTML 200 is not a stored blob
            if not isinstance(doc, dict) or doc.get("sha256", sha) != sha:
                raise Retryable("bad_answer: blob stored answer does not name the blob")
            return answer.url
        if answer.status == 202:  # HQ kept a partial: continue from what it holds
            doc = _json_or_empty(answer)
            if isinstance(doc.get("offset"), int) and 0 <= doc["offset"] <= size:
                return int(doc["offset"])
            raise Retryable("bad_answer: 202 without the offset HQ holds")
        if answer.status == 409:
            doc = _json_or_empty(answer)
            if doc.get("error") == protocol.OFFSET_MISMATCH and isinstance(doc.get("offset"), int):
                return int(doc["offset"])
            if doc.get("error") == protocol.UNREFERENCED:
                raise NeedPackets(sha)
        if answer.status == 422 and _json_or_empty(answer).get("error") == protocol.HASH_MISMATCH:
            raise Retryable(f"hash_mismatch: HQ hashed blob {sha[:16]}… differently (damaged in transit?)")
        raise self._blob_refusal(answer)


def _json_or_empty(answer: Answer) -> dict[str, Any]:
    try:
        doc = answer.json()
    except Retryable:
        return {}
    return doc if isinstance(doc, dict) else {}


async def closing_session() -> aiohttp.ClientSession:
    """A session with no default timeout (each request sets its own) and no env proxies."""
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None), trust_env=False,
                                 connector=aiohttp.TCPConnector(limit=8, force_close=False))

