"""`catd-node sync [--once]`: replay the chain, then its images, to HQ — exactly once at HQ.

HQ's head is the checkpoint (CouchDB's lesson: a checkpoint kept on one side only loses or
repeats work): the client asks for it at start and after every failure, checks HQ's hash is
our packet at that seq, and resumes at seq+1. A batch counts as delivered only with a
receipt that verifies against `hq.pub`. Packets (votes) always go before images (DESIGN
invariant 4). No database transaction is ever open across network I/O: reads and the short
receipt writes run on one database thread between requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from catd_node import diskfull, ledger
from catd_node.config import SyncConfig
from catd_node.config import fingerprint as config_fingerprint
from catd_node.datadir import DataDir
from catd_node.errors import EXIT_OK, BadConfig, CheckFailed, HQUnreachable
from sync import casilla, receipts
from sync.backlog import (  # noqa: F401  (BatchSizer, read_batch: used by tests and benchmarks)
    BatchSizer,
    Framed,
    Local,
    hash_at,
    load_blob,
    read_batch,
    read_framed,
)
from sync.policy import GaveUp, Policy, Retryable
from sync.transport import HQ, Endpoints, LaneStopped, NeedPackets, Timeouts

log = logging.getLogger("catd.sync")
PREEMPT_CHECK_S = 0.1  # how often the image lane looks for new packets (votes go first)
MARK_EVERY = 64  # delivered images noted in the local cache per transaction


Settings = SyncConfig  # the `[sync]` table, read by catd_node.config with the rest of catd.toml
NOT_CONFIGURED = "hq_not_configured"  # the state (and last_error prefix) of a node without HQ yet


def policy_for(settings: SyncConfig, once: bool) -> Policy:
    """The retry policy: `sync --once` gives up after `retry_budget_s`; the service never does."""
    return Policy(base=settings.retry_base_s, cap=settings.retry_cap_s,
                  budget=settings.retry_budget_s if once else None)


class Replay:
    """One node's replay to HQ: the packet lane, then the image lane."""

    def __init__(self, datadir: DataDir, hq: HQ, local: Local, policy: Policy, workers: int = 4,
                 recheck_s: float = 60.0) -> None:
        self.datadir = datadir
        self.recheck_s = recheck_s
        self.rechecked_at: float | None = None  # monotonic time HQ was last asked what it lacks
        self.hq = hq
        self.local = local
        self.policy = policy
        self.workers = max(1, workers)
        self.sizer = BatchSizer()
        self.checkpoint: int | None = None  # HQ's seq as last learnt; None = ask HQ
        self.receipted = False              # we hold a verified receipt covering `checkpoint`
        self.refused_blobs: dict[str, str] = {}
        self.prefetch: asyncio.Task[Framed] | None = None  # the next batch, read during a POST
        self.delivered: list[tuple[str, int, str]] = []    # (sha, size, url) not yet noted locally

    async def drain(self) -> None:
        """Until HQ holds every packet and every referenced image (raises on refusal/give-up)."""
        unreferenced = 0
        while True:
            await self.packets()
            try:
                if await self.images() and not await self.recheck():
                    break
            except NeedPackets as exc:
                unreferenced += 1
                if unreferenced > 3:
                    raise LaneStopped("images lane", f"unreferenced: HQ keeps refusing blob {exc}") from exc
                log.warning("blob unreferenced at HQ sha=%s: re-checking HQ's head", str(exc)[:16])
                self.checkpoint = None
        if self.refused_blobs:
            first = next(iter(self.refused_blobs.items()))
            stopped = LaneStopped("images lane", f"{len(self.refused_blobs)} image(s) refused, first "
                                                 f"{first[0][:16]}…: {first[1]}")
            await self._stopped(stopped)
            raise stopped

    async def _failed(self, exc: Retryable) -> None:
        self.checkpoint = None
        self.sizer.shrink()
        await self.local.run(receipts.record_error, exc.reason, self.hq.endpoints.current)

    # -- packets ---------------------------------------------------------------------------

    async def packets(self) -> None:
        try:
            while not await self.policy.call("packets", self._packet_step, self._failed):
                pass
        except LaneStopped as exc:
            await self._stopped(exc)
            raise
        finally:
            self._drop_prefetch()

    async def _stopped(self, exc: LaneStopped) -> None:
        log.error("lane stopped %s reason=%s", exc.what, exc.why)
        await self.local.run(receipts.record_error, exc.why, self.hq.endpoints.current)

    async def _packet_step(self) -> bool:
        """Send one batch; True when HQ holds our whole chain and we hold its receipt.

        While HQ verifies and stores a batch, the next one is read and framed (`prefetch`);
        it is used only if it starts where HQ's answer leaves us, with the grown batch size.
        Batches still go one at a time: HQ's head stays the checkpoint.
        """
        if self.checkpoint is None:
            self._drop_prefetch()
            await self._learn_checkpoint(await self.local.run(ledger.head))
        assert self.checkpoint is not None
        # Without a receipt for HQ's head (e.g. killed before the answer came), send that
        # packet again: HQ answers a replay with its original signed receipt.
        start = self.checkpoint if not self.receipted and self.checkpoint >= 1 else self.checkpoint + 1
        framed = await self._framed(start)
        if self.checkpoint >= framed.top and self.receipted:
            return True
        if framed.packets and framed.last_seq < framed.top:
            grown = BatchSizer(self.sizer.count, self.sizer.bytes)
            grown.grow()
            self.prefetch = asyncio.ensure_future(
                self.local.run(read_framed, framed.last_seq + 1, grown.count, grown.bytes))
        receipt, url = await self.hq.post_packets(framed.body, framed.last_seq, framed.last_hash)
        await self.local.run(receipts.store_receipt, receipt, url)
        log.info("batch acked seq=%d..%d packets=%d bytes=%d url=%s received_at=%s", framed.first_seq,
                 framed.last_seq, framed.packets, len(framed.body), url, receipt.received_at)
        self.checkpoint, self.receipted = receipt.seq, True
        self.sizer.grow()
        return self.checkpoint >= framed.top

    async def _framed(self, start: int) -> Framed:
        """The batch from `start` at the current size: the prefetched one if it matches."""
        task, self.prefetch = self.prefetch, None
        if task is not None:
            framed = await task
            if (framed.start, framed.count, framed.max_bytes) == (start, self.sizer.count, self.sizer.bytes):
                return framed
        return await self.local.run(read_framed, start, self.sizer.count, self.sizer.bytes)

    def _drop_prefetch(self) -> None:
        if self.prefetch is not None:
            self.prefetch.cancel()
            self.prefetch = None

    async def _learn_checkpoint(self, top: ledger.Head) -> None:
        hq_seq, hq_hash = await self.hq.head()
        if hq_seq > top.seq:
            raise LaneStopped("packets lane", f"hq_ahead: HQ holds seq {hq_seq} but this node's chain "
                                              f"ends at {top.seq} (restored node? wrong data dir?)")
        if hq_seq > 0:
            ours = await self.local.run(hash_at, hq_seq)
            if ours != hq_hash:
                raise LaneStopped("packets lane", f"fork: seq {hq_seq}: HQ holds {hq_hash[:16]}…, this "
                                                  f"node holds {str(ours)[:16]}…")
        acked = await self.local.run(receipts.acked_seq)
        if acked > hq_seq:
            log.warning("hq behind receipts acked_seq=%d hq_seq=%d: resending", acked, hq_seq)
            await self.local.run(receipts.rewind, hq_seq, hq_hash)
            acked = hq_seq
        self.checkpoint, self.receipted = hq_seq, acked >= hq_seq

    # -- images ----------------------------------------------------------------------------

    async def images(self) -> bool:
        """Deliver images of acked packets; False when new packets must go first."""
        while True:
            acked = await self.local.run(receipts.acked_seq)
            pending = [s for s in await self.local.run(receipts.pending_blobs, acked, 256)
                       if s not in self.refused_blobs]
            if not pending:
                return await self._no_new_packets(acked)
            if await self._image_round(pending, acked):
                return False

    async def _image_round(self, pending: list[str], acked: int) -> bool:
        """Upload `pending` with a few workers; True when new packets preempted the images."""
        queue = iter(pending)
        preempted = False
        checked_at = time.monotonic()

        async def worker() -> None:
            nonlocal preempted, checked_at
            for sha in queue:
                # new votes wait at most one check interval plus the uploads in flight
                if not preempted and time.monotonic() - checked_at >= PREEMPT_CHECK_S:
                    checked_at = time.monotonic()
                    preempted = not await self._no_new_packets(acked)
                if preempted:
                    return
                await self._deliver_blob(sha)
                if len(self.delivered) >= MARK_EVERY:
                    await self._note_delivered()

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(self.workers, len(pending))):
                    group.create_task(worker())
        except BaseExceptionGroup as group_error:  # the first failure, as itself
            raise group_error.exceptions[0] from None
        finally:
            await self._note_delivered()
        return preempted

    async def _note_delivered(self) -> None:
        """Note delivered images in the local cache, several per transaction. The cache only
        spares re-offering them: one lost here is offered again, and HQ answers 200 stored."""
        rows, self.delivered = self.delivered, []
        if rows:
            await self.local.run(receipts.mark_blobs, rows)

    async def recheck(self) -> bool:
        """Every `recheck_s` (and in each `sync --once`): ask HQ which of this node's images
        it lacks; an image it had acknowledged and since lost (hq/blobcheck.py) leaves the
        delivered cache and is sent again. True when there is something to send again. A
        failure to ask is only logged: the next drain asks again."""
        now = time.monotonic()
        if self.rechecked_at is not None and now - self.rechecked_at < self.recheck_s:
            return False
        self.rechecked_at = now
        try:
            missing = await self.hq.missing()
        except (Retryable, LaneStopped) as exc:
            log.warning("cannot ask HQ which images it lacks: %s", exc)
            return False
        if not missing:
            return False
        again = await self.local.run(receipts.forget_blobs, missing)
        if again:
            log.error("HQ lost %d image(s) it had acknowledged: sending them again (first %s…)",
                      again, missing[0][:16])
        return again > 0

    async def _no_new_packets(self, acked: int) -> bool:
        return (await self.local.run(ledger.head)).seq <= acked

    async def _deliver_blob(self, sha: str) -> None:
        path = self.datadir.blobs().path(sha)
        loaded = await asyncio.get_running_loop().run_in_executor(None, load_blob, path)
        if loaded is None:
            self._refuse(sha, "blob_missing_locally: the node lost this image (run catd-node verify)")
            return
        size, data = loaded
        resume = False

        async def attempt() -> None:
            offset: int | None = 0
            if resume:
                offset = await self.hq.blob_offset(sha, size)
            for _ in range(4):
                if offset is None:
                    self.delivered.append((sha, size, self.hq.endpoints.current))
                    return
                result = await self.hq.put_blob(sha, path, offset, size, data)
                if isinstance(result, str):
                    self.delivered.append((sha, size, result))
                    log.info("blob delivered sha=%s bytes=%d from=%d url=%s", sha[:16], size, offset, result)
                    return
                offset = result  # HQ kept a partial or holds another offset: continue from there
            raise Retryable(f"offset_mismatch: blob {sha[:16]}… upload keeps moving")

        async def failed(exc: Retryable) -> None:
            nonlocal resume
            resume = True
            if exc.reason.startswith("hash_mismatch"):
                why = await self.local.run(lambda _c: self.datadir.blobs().problem(sha))
                if why is not None:
                    raise LaneStopped("images lane", f"blob_corrupt_locally: {sha[:16]}…: {why}")
            await self.local.run(receipts.record_error, exc.reason, self.hq.endpoints.current)

        try:
            await self.policy.call(f"blob {sha[:12]}", attempt, failed)
        except LaneStopped as exc:
            await self._stopped(exc)
            self._refuse(sha, exc.why)

    def _refuse(self, sha: str, why: str) -> None:
        log.error("image refused sha=%s reason=%s", sha[:16], why)
        self.refused_blobs[sha] = why


async def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None), trust_env=False,
                                 connector=aiohttp.TCPConnector(limit=16))


@contextlib.asynccontextmanager
async def replay_for(datadir: DataDir, policy: Policy, settings: Settings,
                     clock: Callable[[], float] | None = None) -> Any:
    """A Replay with its HTTP session and database thread, closed on exit."""
    cfg = datadir.config
    problem = datadir.hq_problem()
    if problem is not None:
        raise problem
    hq_key = datadir.hq_public_key()
    assert hq_key is not None  # hq_problem said so
    endpoints = Endpoints(cfg.hq.urls, settings.failback_s, clock or policy.clock)
    timeouts = Timeouts(connect=settings.connect_timeout_s, read=settings.read_timeout_s)
    local = Local(datadir)
    session = await _session()
    try:
        hq = HQ(session, endpoints, cfg.node_id, hq_key, timeouts, datadir.private_key())
        yield Replay(datadir, hq, local, policy, settings.blob_workers, settings.recheck_s)
    finally:
        await session.close()
        local.close()


async def once(datadir: DataDir, policy: Policy | None = None, settings: Settings | None = None) -> None:
    """`sync --once`: drain, or raise HQUnreachable (exit 3) / CheckFailed (exit 1)."""
    settings = settings or datadir.config.sync
    policy = policy or policy_for(settings, once=True)
    async with replay_for(datadir, policy, settings) as replay:
        try:
            await replay.drain()
            if await casilla.pull_quietly(datadir, replay.hq):
                await replay.drain()
        except GaveUp as exc:
            reason = exc.last.reason
            await replay.local.run(receipts.record_error, reason, replay.hq.endpoints.current)
            if exc.last.untrusted:
                raise CheckFailed("HQ", f"answers could not be trusted: {reason}") from exc
            raise HQUnreachable("HQ", f"unreachable after {exc.attempts} attempts: {reason}") from exc
        summary = await replay.local.run(receipts.hq_summary)
    log.info("drained acked_seq=%d lag_packets=%d lag_bytes=%d", summary["acked_seq"],
             summary["lag_packets"], summary["lag_bytes"])


async def service(datadir: DataDir, stop: asyncio.Event, policy: Policy | None = None,
                  settings: Settings | None = None) -> None:
    """The replay service: drain, wait for new packets, repeat; retries forever.

    A node without HQ yet (no URL or key: normal before HQ exists) or with a catd.toml it
    cannot read waits in a visible state instead of exiting; catd.toml is re-read whenever it
    changes, so a configuration written later is picked up without a restart.
    """
    while not stop.is_set():
        seen = config_fingerprint(datadir.config_path)
        current = DataDir(datadir.root)  # config and keys read afresh
        problem = current.hq_problem()  # a catd.toml it cannot read is one too
        poll_s = (settings or (current.config.sync if problem is None else SyncConfig())).poll_s
        changed = _config_changed(datadir, seen, stop, poll_s)
        try:
            if problem is not None:
                await _wait_configured(current, problem, changed)
            else:
                await _replay_until(current, stop, changed, policy, settings or current.config.sync)
        finally:
            changed.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await changed
        if not stop.is_set():
            log.info("configuration changed: re-reading catd.toml")


def _config_changed(datadir: DataDir, seen: str, stop: asyncio.Event, poll_s: float) -> asyncio.Task[None]:
    """A task that ends when catd.toml (or a file it names) differs from `seen`, or on stop."""
    async def watch() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.05, poll_s))
            if await asyncio.to_thread(config_fingerprint, datadir.config_path) != seen:
                return

    return asyncio.ensure_future(watch())


async def _wait_configured(datadir: DataDir, problem: BadConfig, changed: asyncio.Task[None]) -> None:
    """Record the state for `status` and the dashboard, then wait for catd.toml to change."""
    log.warning("sync waiting state=%s reason=%s: %s (edit catd.toml; it is re-read when it "
                "changes)", NOT_CONFIGURED, problem.what, problem.why)
    local = Local(datadir)
    try:
        await local.run(receipts.record_error, f"{NOT_CONFIGURED}: {problem.what}: {problem.why}")
    finally:
        local.close()
    await changed


async def _replay_until(datadir: DataDir, stop: asyncio.Event, changed: asyncio.Task[None],
                        policy: Policy | None, settings: Settings) -> None:
    """Drain, poll, repeat — until stop or a configuration change (the replay is cancelled:
    HQ's head is the checkpoint, so nothing is lost or repeated)."""
    policy = policy or policy_for(settings, once=False)
    async with replay_for(datadir, policy, settings) as replay:
        while not stop.is_set() and not changed.done():
            work = asyncio.ensure_future(_drain_once(replay, settings))
            await asyncio.wait({work, changed}, return_when=asyncio.FIRST_COMPLETED)
            if not work.done():
                work.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await work
                return
            pause = work.result()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(changed), pause)


DISK_FULL_PAUSE_S = 2.0


async def _drain_once(replay: Replay, settings: Settings) -> float:
    """One drain; the pause before the next (longer after HQ refused something)."""
    try:
        await replay.drain()
        if await casilla.pull_quietly(replay.datadir, replay.hq):
            await replay.drain()  # the new acta.digitized packets go up at once
    except LaneStopped as exc:
        log.error("sync paused reason=%s retry_in_s=%s", exc.why, settings.stopped_pause_s)
        replay.refused_blobs.clear()
        replay.checkpoint = None
        return settings.stopped_pause_s
    except GaveUp as exc:  # only with a finite budget; the service keeps going
        log.warning("sync retry budget spent reason=%s", exc.last.reason)
    except (OSError, sqlite3.Error) as exc:
        full = diskfull.in_chain(exc)
        if full is None:
            raise
        # The node's own disk is full (a receipt cannot be recorded): a state, not a crash
        # (issue 21). HQ's head is the checkpoint, so the next drain repeats nothing.
        log.error("disk_full path=%s free_bytes=%d error=%s (sync waits %.0f s, then tries again)",
                  replay.datadir.db_path, diskfull.free_bytes(replay.datadir.db_path), full,
                  DISK_FULL_PAUSE_S)
        replay.checkpoint = None
        return DISK_FULL_PAUSE_S
    return settings.poll_s


async def _main(datadir: DataDir, run_once: bool) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    work = asyncio.ensure_future(once(datadir) if run_once else service(datadir, stop))
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({work, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if not work.done():
        log.info("stopping on signal")
        work.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await work
        return EXIT_OK
    stopper.cancel()
    work.result()  # raises the CatdError for the CLI to report with its exit code
    return EXIT_OK


def main(datadir: DataDir, once: bool) -> int:
    """Entry point of `catd-node sync [--once]`."""
    return asyncio.run(_main(datadir, once))

