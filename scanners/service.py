"""`catd-node scan [--once]`: watch the drop folders and ingest every finished file exactly once.

One thread owns the ledger, the claims and the moves; decoding and compression run in a
process pool (2 workers). Bad input ends in quarantine, never in a dead service (invariant 5).
"""

from __future__ import annotations

import fcntl
import logging
import multiprocessing
import os
import queue
import signal
import sqlite3
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from catd_node import diskfull
from catd_node.blobs import sha256_hex
from catd_node.datadir import DataDir
from catd_node.errors import EXIT_DISK_FULL, BadInput
from catd_node.lifecycle import die_with_parent
from scanners import claim as claim_mod
from scanners import names, watch
from scanners.claim import Claimed
from scanners.decode import Rejected
from scanners.ingest import Ingestor, Job, Result, run_pipeline
from scanners.nofollow import Dir, LinkInPath
from scanners.pipeline import ProcessedPage, worker_init
from scanners.settle import Action, FileStat, Rules, Settler
from scanners.watch import Folder, Watcher

log = logging.getLogger("catd.scan")

WORKERS = 2
IN_FLIGHT = 2 * WORKERS  # originals read into memory at once
CLAIM_AHEAD = 2 * IN_FLIGHT  # claimed, not yet started: more would only sit in .claimed/
ONCE_MIN_WAIT_S = 10.0
TURN_S = 0.2  # hints drained per loop turn at most this long, so SIGTERM is seen in a flood


@dataclass
class Work:
    """What the service did, for its stop line and the flood tests: each must grow linearly with
    the files dropped (a sweep per claim made 10,000 files take minutes; issue 14)."""

    sweeps: int = 0   # full walks of every drop folder
    walked: int = 0   # files seen by walks (sweeps and new sub-folders)
    stats: int = 0    # settle stats
    claims: int = 0

    def line(self) -> str:
        return f"sweeps={self.sweeps} walked={self.walked} stats={self.stats} claims={self.claims}"


def rules_for(d: DataDir) -> Rules:
    """Settle rules from `[scan]`: settle_ms, max_settle_s and empty_s."""
    scan = d.config.scan
    return Rules.from_ms(scan.settle_ms, scan.max_settle_s, scan.empty_s)


WORKER_NICENESS = 10  # decoding yields the CPU to the clerks' web app on a 2-core node


def _worker_start() -> None:
    """Pool worker set-up: exit when the service dies (even by SIGKILL), cap memory, and run at a
    lower CPU priority — a flood of scans must not slow the clerks capturing (issue 14)."""
    die_with_parent()
    worker_init()
    os.nice(WORKER_NICENESS)


class Service:
    """The drop-folder service: hints → settle → claim → pipeline → commit → move."""

    def __init__(self, d: DataDir, *, once: bool = False) -> None:
        self.d = d
        self.once = once
        self.cfg = d.config
        self.ledger = d.ledger()
        self.ingestor = Ingestor(
            self.ledger, d.blobs(), d.processed, d.quarantine, self.cfg.image,
            frozenset(d.election.actas),
        )
        self.rules = rules_for(d)
        self.settler = Settler(self.rules)
        self.hints: queue.SimpleQueue[watch.Hint] = queue.SimpleQueue()
        self.stopping = threading.Event()
        self.folders: list[Folder] = []
        self.where: dict[str, Folder] = {}
        self.claimed: deque[Claimed] = deque()
        self.running: dict[Future[Any], Job] = {}
        self.attempts: dict[str, int] = {}
        self.results: list[Result] = []
        self.pool: ProcessPoolExecutor | None = None
        self.tick_s = min(0.25, max(0.02, self.rules.settle_ns / 4e9))
        self.work = Work()
        # A full disk pauses ingest (issue 21): {path, needed_bytes, since} while paused.
        self.full: dict[str, Any] | None = None
        self.held: list[Claimed] = []  # claims that could not go back (committed, or the move failed)
        self.next_space_check = 0.0
        self.disk_state: diskfull.StateFile | None = None

    # -- life cycle ----------------------------------------------------------------------------

    def run(self) -> int:
        lock = _lock(self.d.root / "scan.lock")
        self.disk_state = diskfull.StateFile(self.d.root / "run")
        self.disk_state.write({"state": "ok"})
        self.pool = self._new_pool()
        watcher: Watcher | None = None
        try:
            self._refresh_folders()
            for folder in self.folders:
                for claimed in claim_mod.recover(folder.root, folder.source):
                    log.info("recovered file=%s claim=%s", claimed.name, claimed.key)
                    self.claimed.append(claimed)
            if not self.once:
                watcher = Watcher(self._watch_roots(), self.cfg.scan.poll, self.hints)
                watcher.start()
            self._sweep()
            started = last_sweep = time.monotonic()
            while not self.stopping.is_set():
                self._drain_hints()
                now = time.monotonic()
                if watcher is not None and (now - last_sweep >= self.cfg.scan.rescan_s
                                            or not watcher.alive()):
                    if not watcher.alive():
                        log.warning("observer_died restarting=yes")
                    self._refresh_folders()
                    watcher.restart(self._watch_roots())
                    self._sweep()
                    last_sweep = now
                if self.full is not None:
                    self._check_space(now)
                if self.full is None:
                    self._settle()
                    self._start_jobs()
                self._collect(self.tick_s)
                if self.once and (self._once_done(started) or (self.full is not None and not self.running)):
                    break
            self._drain_running()
        finally:
            if watcher is not None:
                watcher.stop()
            if self.pool is not None:
                self.pool.shutdown(wait=True, cancel_futures=True)
            self.ledger.close()
            if self.disk_state is not None:
                self.disk_state.close()
            os.close(lock)
        if self.once and self.full is not None:
            log.error("scan_once_paused path=%s needed_bytes=%d (disk full: the originals wait in "
                      "their drop folders; run again once there is room)", self.full["path"],
                      self.full["needed_bytes"])
            return EXIT_DISK_FULL
        return 0

    def stop(self) -> None:
        self.stopping.set()

    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn, not forkserver: forkserver hands every worker its "alive" pipe, so after a
        # SIGKILL of this service the forkserver and its workers wait on each other forever.
        # Spawned workers are our direct children and die with us (die_with_parent).
        context = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(WORKERS, mp_context=context, initializer=_worker_start)

    def _once_done(self, started: float) -> bool:
        if self.claimed or self.running:
            return False
        pending = self.settler.pending()
        if not pending:
            return True
        wait = max(ONCE_MIN_WAIT_S, 4 * self.rules.settle_ns / 1e9)
        if time.monotonic() - started < wait:
            return False
        for key in pending:
            log.warning("left file=%s why=not_finished_yet", names.printable(key))
        return True

    # -- folders, hints, settle ----------------------------------------------------------------

    def _refresh_folders(self) -> None:
        self.folders = watch.folders(self.d)

    def _watch_roots(self) -> list[Path]:
        return [f.root for f in self.folders if f.source.kind == "scanner"] + [watch.uploads_root(self.d)]

    def _sweep(self) -> None:
        """Every file in every folder becomes a settle candidate (events get lost)."""
        self._refresh_folders()
        self.where = {}
        self.work.sweeps += 1
        for folder in self.folders:
            self._walk(folder)
        for key in self.settler.pending():
            self._folder_of(key)

    def _walk(self, folder: Folder, under: tuple[str, ...] = ()) -> None:
        """Files in `folder` (or only below its sub-folder `under`) become settle candidates."""
        roots = frozenset(f.root for f in self.folders) | {watch.uploads_root(self.d)}
        for path in watch.walk(folder.root, roots - {folder.root}, under):
            self.work.walked += 1
            self.settler.hint(str(path))
            if self.stopping.is_set():
                return

    def _walk_new(self, key: str) -> None:
        """A folder appeared (created or moved in): walk it alone — files written into it before
        the observer watched it raised no event. A new phone's folder is a new drop folder."""
        path = Path(key)
        if path.parent == watch.uploads_root(self.d):
            self._refresh_folders()
        folder = self._folder_of(key)
        if folder is None:
            return
        self.where.pop(key, None)  # a folder, not a file: no settle entry
        self._walk(folder, path.relative_to(folder.root).parts)

    def _folder_of(self, key: str) -> Folder | None:
        folder = self.where.get(key)
        if folder is None:
            path = Path(key)
            best = [f for f in self.folders if path.is_relative_to(f.root)]
            if not best:
                return None
            folder = max(best, key=lambda f: len(f.root.parts))
            self.where[key] = folder
        return folder

    def _drain_hints(self) -> None:
        """Hints since the last turn. Rescans asked for many times are done once; a turn ends
        after TURN_S so a flood never keeps the loop from seeing SIGTERM."""
        rescan = False
        appeared: dict[str, None] = {}
        deadline = time.monotonic() + TURN_S
        while not self.stopping.is_set() and time.monotonic() < deadline:
            try:
                key, kind = self.hints.get_nowait()
            except queue.Empty:
                break
            if key == watch.RESCAN:
                rescan = True
            elif kind == watch.FOLDER:
                appeared[key] = None
            else:
                self._hint_file(key, renamed=kind == watch.RENAMED)
        if rescan:
            self._sweep()
            return
        for key in appeared:
            if self.stopping.is_set():
                return
            self._walk_new(key)

    def _hint_file(self, key: str, *, renamed: bool) -> None:
        path = Path(key)
        folder = self._folder_of(key)
        if folder is None:
            return
        parts = path.relative_to(folder.root).parts
        if any(names.skip_dir(p) for p in parts[:-1]):  # .claimed/ among them
            self.where.pop(key, None)
            return
        if names.is_candidate(path.name):
            self.settler.hint(key, renamed=renamed)

    def _settle(self) -> None:
        """Stat pending files in the order they were seen; claim what is finished while the
        claimed backlog has room — a flood is taken a few at a time, each file stat'ed about
        once, instead of all claimed at once with SIGTERM unseen meanwhile."""
        for key in self.settler.pending():
            if len(self.claimed) >= CLAIM_AHEAD or self.stopping.is_set():
                return
            path = Path(key)
            folder = self._folder_of(key)
            if folder is None:  # its folder is gone from the configuration
                self.settler.forget(key)
                continue
            try:
                self.work.stats += 1
                st = _stat(folder.root, path)
            except LinkInPath as exc:
                # A folder on its path became a symlink after the file was seen: the path now
                # names something outside the drop folder (issue 12). Never followed.
                log.warning("refused file=%s why=link_in_path path=%s (a symlink is never followed)",
                            names.printable(key), names.printable(str(exc.filename)))
                self.settler.forget(key)
                self.where.pop(key, None)
                continue
            except OSError as exc:
                log.warning("stat_failed file=%s error=%s", names.printable(key), exc)
                continue
            decision = self.settler.decide(key, path.name, st)
            if decision.action not in (Action.TAKE, Action.QUARANTINE):
                if decision.action is not Action.WAIT:
                    self.where.pop(key, None)
                continue
            self.where.pop(key, None)
            try:
                claimed = claim_mod.claim(folder.root, path, folder.source)
            except OSError as exc:
                if not diskfull.is_full(exc):
                    raise
                self._paused(exc, None, 0)  # no room for the claim folder: the file stays put
                return
            self.work.claims += 1
            if claimed is None:
                continue
            if decision.action is Action.QUARANTINE:
                sha = sha256_hex(b"") if decision.reason == "empty" else None
                reason = decision.reason or "corrupt"
                result = self._guard(claimed, lambda c=claimed, r=reason, t=decision.detail, h=sha:
                                     self.ingestor.quarantine(c, r, t, h))
                if result is not None:
                    self._done(result)
                if self.full is not None:
                    return
            else:
                self.claimed.append(claimed)

    # -- jobs ----------------------------------------------------------------------------------

    def _start_jobs(self) -> None:
        while self.claimed and len(self.running) < IN_FLIGHT:
            claimed = self.claimed.popleft()
            step = self._guard(claimed, lambda c=claimed: self.ingestor.start(c))
            if isinstance(step, Job):
                self._submit(step)
            elif step is not None:
                self._done(step)
            if self.full is not None:
                return

    def _submit(self, job: Job) -> None:
        assert self.pool is not None
        try:
            future = self.pool.submit(run_pipeline, *job.args)
        except BrokenProcessPool:
            self.pool = self._new_pool()
            future = self.pool.submit(run_pipeline, *job.args)
        self.running[future] = job

    def _collect(self, timeout: float) -> None:
        """Finish jobs the pool has answered; waits at most `timeout` (the loop's tick)."""
        if not self.running:
            if timeout > 0:
                self.stopping.wait(timeout)
            return
        done, _ = wait(list(self.running), timeout=timeout, return_when=FIRST_COMPLETED)
        broken = False
        for future in done:
            job = self.running.pop(future)
            try:
                answer: list[ProcessedPage] | Rejected = future.result()
            except BrokenProcessPool:
                broken = True
                self._retry_or_quarantine(job)
                continue
            result = self._guard(job.claimed, lambda j=job, a=answer: self.ingestor.finish(j, a),
                                 len(job.data))
            if result is not None:
                self._done(result)
        if broken:
            self.pool = self._new_pool()

    def _retry_or_quarantine(self, job: Job) -> None:
        """A worker died (killed by the memory limit?): one retry, then quarantine."""
        count = self.attempts.get(job.claimed.key, 0) + 1
        self.attempts[job.claimed.key] = count
        if count < 2:
            self.claimed.appendleft(job.claimed)
            return
        result = self._guard(job.claimed, lambda: self.ingestor.quarantine(
            job.claimed, "decoder_crashed", "el proceso de decodificación murió dos veces",
            job.sha256, len(job.data)))
        if result is not None:
            self._done(result)

    def _drain_running(self) -> None:
        """On stop: finish what the pool already holds (claims not started stay for next run)."""
        deadline = time.monotonic() + 30
        while self.running and time.monotonic() < deadline:
            self._collect(0.2)

    def _guard(self, claimed: Claimed, step: Any, needed: int = 0) -> Any:
        """Run one step; a full disk pauses ingest (the claim goes back to its folder), another OS
        error leaves the claim for the next start instead of killing us."""
        try:
            return step()
        except (OSError, sqlite3.Error) as exc:
            if diskfull.is_full(exc):
                self._paused(exc, claimed, needed)
                return None
            if not isinstance(exc, OSError):
                raise
            log.error("step_failed file=%s error=%s (left in .claimed for the next start)",
                      claimed.name, exc)
            return None

    # -- a full disk: pause, give the originals back, resume when there is room ------------------

    def _places(self) -> list[Path]:
        """Where ingest writes: the blobs, catd.db, processed/ and quarantine/."""
        return [self.d.blobs_dir, self.d.db_path.parent, self.d.processed, self.d.quarantine]

    def _paused(self, exc: BaseException, claimed: Claimed | None, needed: int) -> None:
        if self.ledger.conn.in_transaction:
            try:
                self.ledger.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        default = self.d.db_path if isinstance(exc, sqlite3.Error) else self.d.blobs_dir
        path = diskfull.where(exc, default)
        need = needed + diskfull.MARGIN_BYTES
        if self.full is None:
            self.full = {"path": str(path), "needed_bytes": need,
                         "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            log.error("disk_full path=%s free_bytes=%d needed_bytes=%d file=%s error=%s (ingest paused; "
                      "originals go back to their drop folders; resumes by itself when space returns)",
                      path, diskfull.free_bytes(path), need, claimed.name if claimed else "-", exc)
        else:
            self.full["needed_bytes"] = max(int(self.full["needed_bytes"]), need)
        if self.disk_state is not None:
            self.disk_state.write({"state": "full", **self.full})
        if claimed is not None:
            self._give_back(claimed)
        while self.claimed:
            self._give_back(self.claimed.popleft())
        self.next_space_check = time.monotonic() + diskfull.CHECK_S

    def _give_back(self, claimed: Claimed) -> None:
        """An uncommitted claim goes back to its drop folder; a committed one (only its move is
        left) or one that cannot move waits in `.claimed/` for the resume."""
        try:
            committed = self.ledger.conn.execute(
                "SELECT 1 FROM scan_claims WHERE claim = ?", (claimed.key,)).fetchone() is not None
        except sqlite3.Error:
            committed = True  # unknown: keep it claimed, the resume finishes or re-ingests it
        if committed:
            self.held.append(claimed)
            return
        try:
            back = claim_mod.unclaim(claimed)
        except OSError as exc:
            log.warning("claim_kept file=%s why=disk_full error=%s (retried when space returns)",
                        claimed.name, exc)
            self.held.append(claimed)
            return
        log.info("returned file=%s why=disk_full path=%s", claimed.name, back)

    def _check_space(self, now: float) -> None:
        """Every CHECK_S while paused: resume once every place has the room the failed write needed."""
        if self.full is None or now < self.next_space_check:
            return
        self.next_space_check = now + diskfull.CHECK_S
        free = min(diskfull.free_bytes(p) for p in self._places())
        if free < int(self.full["needed_bytes"]):
            return
        log.info("disk_ok free_bytes=%d needed_bytes=%d held=%d (ingest resumes)", free,
                 self.full["needed_bytes"], len(self.held))
        self.full = None
        if self.disk_state is not None:
            self.disk_state.write({"state": "ok"})
        self.claimed.extend(self.held)
        self.held = []
        self._sweep()

    def _done(self, result: Result) -> None:
        self.results.append(result)


def _stat(root: Path, path: Path) -> FileStat | None:
    """The entry at `path` itself, reached from `root` without following any link on the way."""
    *folders, name = path.relative_to(root).parts
    try:
        with Dir.root(root) as top, top.child(folders) as here:
            st = here.lstat(name)
    except FileNotFoundError:
        return None
    return None if st is None else FileStat.of(st)


def _lock(path: Path) -> int:
    """One scan service per data dir: it alone recovers `.claimed/` at start (released on death)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        os.close(fd)
        raise BadInput(str(path), "another `catd-node scan` is running on this data dir") from exc
    return fd


def main(datadir: DataDir, once: bool = False) -> int:
    """Run the service; `once` ingests what is present now and returns 0."""
    service = Service(datadir, once=once)
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: service.stop())
    log.info("scan_started folders=%d once=%s settle_ms=%d", len(service.d.scanner_folders()), once,
             service.cfg.scan.settle_ms)
    code = service.run()
    counts: dict[str, int] = {}
    for result in service.results:
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    log.info("scan_stopped %s %s", " ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "files=0",
             service.work.line())
    return code
