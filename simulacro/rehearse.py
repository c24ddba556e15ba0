"""`catd-hq rehearse`: replay a published election through the whole system and prove the release equal.

1. plan: read the release, build its catalog, and what reaches each CATD (simulacro/plan.py);
2. install HQ and one node per CATD, run them as real processes, every node's link to HQ
   through a relay that counts bytes and can be cut (simulacro/cluster.py, link.py);
3. per CATD, in file order with a few actas in flight: acopio, the acta's image into a scanner
   folder or through the phone upload, or the coordinator's sin acta; two clerks capture and
   verify each acta blind over HTTP (simulacro/clerks.py); `--chaos` injects faults meanwhile,
   and sends the `--casilla` share's phone photos hours ahead of their packets: every one at
   the start of its CATD's night, the paper acta arriving (acopio, scanned) in its file-order
   turn, after the clerks have the photo — the scan must not take the photo's place;
4. drain: wait until HQ holds every node's chain and every image;
5. `catd-hq publish --final`, then compare the cut with the source (simulacro/compare.py).
Prints each difference, the closing table, and the final zip's path last; exit 0 when all
agree, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from catd_node.errors import EXIT_OK, BadInput
from hq import store as hq_store
from hq.release import read as release_read
from simulacro import casilla, clerks, compare, plan, sheet
from simulacro.browser import Browser, Page
from simulacro.chaos import Chaos
from simulacro.cluster import Cluster, Node, free_port, user_name
from simulacro.link import Link
from simulacro.stats import Stats

log = logging.getLogger("catd.simulacro")
EXIT_DIFFERENT = 1
WINDOW = 8                 # actas in flight per CATD: received but not yet verified
STALL_S = 180.0            # no progress this long: the rehearsal stops and says where it stands
DRAIN_S = 600.0
PUBLISH_S = 1800.0


@dataclass(frozen=True)
class Options:
    source: Path
    out: Path
    limit: int | None = None
    chaos: bool = False
    seed: int = 2024
    entidad: int | None = None
    hq_workers: int = 1
    progress: bool = True
    casilla: float = 0.0   # percent of the casilla-photographed actas sent by the PREP Casilla path
    candidaturas: Path | None = None   # the candidacies file; None: the one beside the release


class Stalled(Exception):
    """No progress for STALL_S, or HQ never caught up: where each CATD stands."""


class PublishFailed(Exception):
    pass


def _render_to(path: str, item: sheet.Sheet) -> None:
    """In the image worker: render and hand the file over as a scanner does (temp name, rename)."""
    data = sheet.render(item)
    target = Path(path)
    tmp = target.with_name(f".{target.name}.part")
    tmp.write_bytes(data)
    os.replace(tmp, target)


def _sheet(acta: plan.Acta, title: str) -> sheet.Sheet:
    return sheet.Sheet(acta.key, title, sheet.rows_of(acta.fields, acta.typed))


class Run:
    """One rehearsal's moving parts."""

    def __init__(self, options: Options, the_plan: plan.Plan, cluster: Cluster, link: Link,
                 stats: Stats) -> None:
        self.options, self.plan, self.cluster, self.link, self.stats = options, the_plan, cluster, link, stats
        self.images = ProcessPoolExecutor(max_workers=1)
        self.desks: dict[str, clerks.Desk] = {}
        self.windows: dict[str, asyncio.Semaphore] = {}
        self.browsers: list[Browser] = []
        self.phones: list[clerks.Phone] = []
        self.casilla_phones: list[casilla.CasillaPhone] = []
        self.casilla_keys = self._casilla_share()
        # --chaos: the casilla share's photos reach HQ ahead of their packets (PREP Casilla at
        # ~20:30, the paper at the CATD hours later): key → when the photo was received
        self.ahead = options.chaos and bool(self.casilla_keys)
        self.photographed: dict[str, float] = {}
        self.leads: list[float] = []
        self.title = the_plan.election.name
        self.dropped = 0

    def _casilla_share(self) -> frozenset[str]:
        """The actas photographed at the casilla (ORIGEN CASILLA, DIGITALIZACION MOVIL in the
        source) that go through HQ's phone path: `--casilla` percent of them, chosen by seed."""
        # not an acta outside the catalog: the phone page checks the key against the CATD's catalog
        mobile = [a.key for a in self.plan.actas if a.origen == "CASILLA" and a.digitalizacion == "MOVIL"
                  and a.kind == plan.CAPTURA]
        count = round(len(mobile) * self.options.casilla / 100)
        return frozenset(random.Random(self.options.seed).sample(mobile, count))

    def _event(self, node: str, stage: str, key: str) -> None:
        self.stats.event(stage, key)
        if stage in ("verificacion", "sin_acta") and not (self.ahead and key in self.casilla_keys):
            self.windows[node].release()   # a photo sent ahead holds no place in the window

    async def _browser(self, node: Node, role: str) -> Browser:
        browser = Browser(node.web)
        self.browsers.append(browser)
        await browser.login(user_name(role), clerks.PASSWORDS[role])
        return browser

    async def _node(self, node: Node) -> None:
        """One CATD's work: its staff, and the actas arriving in file order."""
        actas = self.plan.of(node.node_id)
        desk = clerks.Desk(node.node_id, node.web, {a.key: a for a in actas},
                           to_capture=sum(1 for a in actas if a.kind != plan.SIN_ACTA_KIND))
        desk.on_event = lambda stage, key: self._event(node.node_id, stage, key)
        self.desks[node.node_id] = desk
        self.windows[node.node_id] = asyncio.Semaphore(WINDOW)
        capture = await self._browser(node, "capturista")
        reception = capture   # the same capturista registers acopio between captures (one login)
        verify = await self._browser(node, "verificador")
        coordinator = await self._browser(node, "coordinador")
        phone: clerks.Phone | None = None
        if any(a.by_phone for a in actas):
            token = await clerks.device_token(desk, coordinator, "telefono-1")
            form = (await reception.get("/uploads")).form("/uploads")
            phone = clerks.Phone(node.web, token, tuple(form.fields) if form else ())
            self.phones.append(phone)
        cae: casilla.CasillaPhone | None = None
        if any(a.key in self.casilla_keys for a in actas):
            cae = await casilla.enrol(coordinator, "cae-1")
            self.casilla_phones.append(cae)
        workers = [asyncio.create_task(clerks.capturista(desk, capture)),
                   asyncio.create_task(clerks.verificador(desk, verify))]
        try:
            if self.ahead and cae is not None:
                await self._casilla_ahead(desk, [a for a in actas if a.key in self.casilla_keys], cae)
            await self._arrivals(node, desk, actas, reception, coordinator, phone, cae)
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()

    async def _casilla_ahead(self, desk: clerks.Desk, actas: list[plan.Acta],
                             cae: casilla.CasillaPhone) -> None:
        """The CAEs' photos, all sent before the first packet of this CATD arrives."""
        loop = asyncio.get_running_loop()
        for acta in actas:
            data = await loop.run_in_executor(self.images, sheet.render, _sheet(acta, self.title))
            await cae.send(acta.key, data)
            self.photographed[acta.key] = time.monotonic()
            desk.delivered += 1
            desk.record("imagen", acta.key)

    async def _paper_after(self, desk: clerks.Desk, acta: plan.Acta, reception: Browser, page: Page | None,
                           folder: Path, name: str) -> Page:
        """The paper acta of a photo sent ahead: acopio and the scanned sheet, once the clerks
        have the photo (captured), so the scan arrives second, as at a real CATD."""
        while acta.key not in desk.done["captura"]:
            await asyncio.sleep(0.05)
        page = await clerks.acopio(desk, reception, acta, page)
        await asyncio.get_running_loop().run_in_executor(self.images, _render_to, str(folder / name),
                                                         _sheet(acta, self.title))
        self.leads.append(time.monotonic() - self.photographed[acta.key])
        return page

    async def _arrivals(self, node: Node, desk: clerks.Desk, actas: list[plan.Acta], reception: Browser,
                        coordinator: Browser, phone: clerks.Phone | None,
                        cae: casilla.CasillaPhone | None = None) -> None:
        loop = asyncio.get_running_loop()
        folder = next(iter(node.datadir.scanner_folders().values()))
        page = None
        for acta in actas:
            if self.ahead and acta.key in self.casilla_keys:
                self.dropped += 1
                page = await self._paper_after(desk, acta, reception, page, folder,
                                               f"acta-{self.dropped:06d}.png")
                continue
            await self.windows[node.node_id].acquire()
            if acta.kind == plan.SIN_ACTA_KIND:
                await clerks.sin_acta(desk, coordinator, acta)
                continue
            page = await clerks.acopio(desk, reception, acta, page)
            self.dropped += 1
            name = f"acta-{self.dropped:06d}.png"   # not the key: the QR code on it identifies it
            if cae is not None and acta.key in self.casilla_keys:
                data = await loop.run_in_executor(self.images, sheet.render, _sheet(acta, self.title))
                await cae.send(acta.key, data)
            elif phone is not None and acta.by_phone:
                data = await loop.run_in_executor(self.images, sheet.render, _sheet(acta, self.title))
                await phone.send(desk, name, data, acta.origen)
            else:
                item = _sheet(acta, self.title)
                await loop.run_in_executor(self.images, _render_to, str(folder / name), item)
            desk.delivered += 1
            desk.record("imagen", acta.key)

    async def _watch_hq(self, stop: asyncio.Event) -> None:
        """The "en HQ" bar: verified or sin acta packets at or below the chain head HQ holds."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            while not stop.is_set():
                total = 0
                for node in self.cluster.nodes.values():
                    try:
                        async with session.get(f"{self.cluster.hq_url}/v1/nodes/{node.node_id}/head") as r:
                            seq = int((await r.json())["seq"]) if r.status == 200 else 0
                    except (aiohttp.ClientError, TimeoutError, ValueError, KeyError):
                        seq = 0
                    total += await asyncio.to_thread(_settled, node, seq)
                self.stats.set_count("hq", max(total, self.stats.stages["hq"].count))
                if time.monotonic() - self.stats.last_progress > STALL_S:
                    raise Stalled(self._where())
                try:
                    await asyncio.wait_for(stop.wait(), 1.0)
                except TimeoutError:
                    pass

    def _where(self) -> str:
        parts = [f"{d.node}: {d.delivered} delivered, {d.captured} captured, {d.verified} verified "
                 f"of {d.to_capture}" for d in self.desks.values() if d.verified < d.to_capture]
        if not parts:   # every acta verified: HQ is what lags
            parts = [f"HQ lacks {lag}" for lag in self._behind()]
        dead = self.cluster.dead()
        return (f"no progress for {STALL_S:.0f} s; " + "; ".join(parts[:8])
                + (f"; exited: {', '.join(dead)}" if dead else ""))

    async def work(self) -> None:
        stop, stop_chaos = asyncio.Event(), asyncio.Event()
        watcher = asyncio.create_task(self._watch_hq(stop))
        tasks = [watcher]
        chaos = (Chaos(self.cluster, self.link, random.Random(self.options.seed))
                 if self.options.chaos else None)
        if chaos is not None:
            tasks.append(asyncio.create_task(chaos.run(stop_chaos)))
        self.stats.fed_at = time.monotonic()
        try:
            nodes = [asyncio.create_task(self._node(n)) for n in self.cluster.nodes.values()]
            tasks += nodes
            pending: set[asyncio.Task[None]] = set(nodes)
            while pending:
                done, pending = await asyncio.wait(pending | {watcher}, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
                pending.discard(watcher)
            stop_chaos.set()
            if chaos is not None:
                await tasks[1]
                self.stats.notes.append(chaos.summary())
            await self._drain(watcher)
        finally:
            stop.set()
            stop_chaos.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.stats.requests = sum(b.requests for b in self.browsers) + sum(p.posts for p in self.phones)
            for browser in self.browsers:
                await browser.close()
            for phone in self.phones:
                await phone.close()
            for cae in self.casilla_phones:
                await cae.close()
            if self.casilla_phones:
                sent = sum(c.sent for c in self.casilla_phones)
                size = sum(c.bytes_sent for c in self.casilla_phones)
                self.stats.notes.append(f"PREP Casilla: {sent} photos through HQ's phone path, "
                                        f"{size // max(sent, 1)} bytes each on average")
            if self.leads:
                self.stats.notes.append(
                    f"PREP Casilla ahead of the paper: {len(self.leads)} photos sent before their "
                    f"packets, the scanned paper {statistics.median(self.leads):.1f} s later (median)")
            self.images.shutdown(cancel_futures=True)
        for desk in self.desks.values():
            self.stats.notes.extend(f"{desk.node}: {n}" for n in desk.notes)

    async def _drain(self, watcher: asyncio.Task[None]) -> None:
        """Until HQ holds every node's whole chain and every image it references."""
        deadline = time.monotonic() + DRAIN_S
        while True:
            if watcher.done() and watcher.exception() is not None:
                raise watcher.exception()  # type: ignore[misc]
            behind = await asyncio.to_thread(self._behind)
            if not behind:
                self.stats.all_in_hq_at = time.monotonic()
                self.stats.set_count("hq", self.stats.stages["hq"].total)
                return
            if time.monotonic() > deadline:
                raise Stalled(f"HQ still lacks, after {DRAIN_S:.0f} s: {'; '.join(behind[:8])}")
            await asyncio.sleep(0.5)

    def _behind(self) -> list[str]:
        conn = _ro(self.cluster.hq.db_path)
        try:
            held = hq_store.status(conn)["nodes"]
        finally:
            conn.close()
        out = []
        for node in self.cluster.nodes.values():
            head = _head(node)
            at_hq = held.get(node.node_id, {})
            if at_hq.get("seq", 0) < head or at_hq.get("blobs_missing", 1):
                out.append(f"{node.node_id} seq {at_hq.get('seq', 0)}/{head}, "
                           f"{at_hq.get('blobs_missing', '?')} images missing")
        return out


def _ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)


def _head(node: Node) -> int:
    conn = _ro(node.datadir.root / "catd.db")
    try:
        return int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM packets").fetchone()[0])
    finally:
        conn.close()


def _settled(node: Node, seq: int) -> int:
    """Actas of `node` verified or registered sin acta in packets up to `seq`."""
    if seq <= 0:
        return 0
    conn = _ro(node.datadir.root / "catd.db")
    try:
        return int(conn.execute("SELECT COUNT(*) FROM packets WHERE seq <= ? AND kind IN"
                                " ('acta.verified', 'acta.sin_acta')", (seq,)).fetchone()[0])
    finally:
        conn.close()


def publish(cluster: Cluster) -> Path:
    """`catd-hq publish --final`; the zip's path is its last line."""
    done = subprocess.run([sys.executable, "-m", "hq.cli", "-d", str(cluster.hq.root), "publish", "--final"],
                          capture_output=True, text=True, timeout=PUBLISH_S, env=cluster.env)
    (cluster.logs / "publish.log").write_text(done.stdout + done.stderr, encoding="utf-8")
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or not lines:
        raise PublishFailed(f"catd-hq publish --final: exit {done.returncode}: {done.stderr.strip()[-400:]}")
    return Path(lines[-1].strip())


@dataclass
class Result:
    """What a rehearsal found (the benchmark reads it; the command prints it)."""

    exit_code: int
    plan: plan.Plan
    stats: Stats
    outcome: compare.Outcome | None = None
    zip_path: Path | None = None
    error: str | None = None


def rehearse(options: Options) -> int:
    """`catd-hq rehearse`: the whole simulacro; prints differences, the table, the zip path last."""
    return run(options).exit_code


def run(options: Options) -> Result:
    out = options.out
    if out.exists() and any(out.iterdir()):
        raise BadInput(str(out), "not empty: a rehearsal writes a new HQ and nodes there")
    out.mkdir(parents=True, exist_ok=True)
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        for name in ("catd.ledger", "catd.datadir", "catd.hq"):   # the set-up's own lines, per node
            logging.getLogger(name).setLevel(logging.WARNING)
    the_plan = plan.build(options.source, out, options.limit, options.entidad, options.candidaturas)
    print(plan.summary_line(the_plan), flush=True)
    totals = {"acopio": sum(1 for a in the_plan.actas if a.kind != plan.SIN_ACTA_KIND),
              "sin_acta": sum(1 for a in the_plan.actas if a.kind == plan.SIN_ACTA_KIND)}
    totals.update(imagen=totals["acopio"], captura=totals["acopio"], verificacion=totals["acopio"],
                  hq=len(the_plan.actas))
    cluster = Cluster(out, the_plan.election_path, the_plan.nodes, hq_workers=options.hq_workers)
    stats = Stats(totals, show=options.progress)
    stats.actas = len(the_plan.actas)
    result = Result(EXIT_DIFFERENT, the_plan, stats)
    try:
        asyncio.run(_rehearse(options, cluster, result))
    except (Stalled, clerks.ClerkError, RuntimeError, PublishFailed, subprocess.TimeoutExpired, OSError,
            aiohttp.ClientError) as exc:   # a web app that never answers again, a process that died
        result.error = f"rehearsal stopped: {exc}"
        print(stats.table())
        print(f"error: {result.error}", file=sys.stderr)
        return result
    return report(cluster, result)


async def _rehearse(options: Options, cluster: Cluster, result: Result) -> None:
    stats = result.stats
    cluster.hq_port = cluster.hq_port or free_port()
    link = Link(cluster.hq_port)
    await link.start()
    cluster.hq_url_for_nodes = link.url
    try:
        await asyncio.to_thread(cluster.prepare)
        await asyncio.to_thread(cluster.start_hq)
        await asyncio.to_thread(cluster.start_nodes)
        print(f"HQ and {len(cluster.nodes)} CATD nodes running (logs in {cluster.logs})", flush=True)
        await Run(options, result.plan, cluster, link, stats).work()
    finally:
        stats.bytes_up = link.bytes_up
        stats.close()
        await asyncio.to_thread(cluster.stop)
        await link.close()
    started = time.monotonic()
    result.zip_path = await asyncio.to_thread(publish, cluster)
    stats.cut_s = time.monotonic() - started


def report(cluster: Cluster, result: Result) -> Result:
    the_plan, stats, zip_path = result.plan, result.stats, result.zip_path
    assert zip_path is not None
    ours = release_read.read(zip_path)
    rows = {r.line: r for r in the_plan.release.rows}
    expected = {a.key: rows[a.line] for a in the_plan.actas}
    outcome = compare.compare(the_plan.release, ours, expected=expected,
                              blob=compare.blob_check(cluster.hq.blobs().path), partial=the_plan.limited,
                              esperadas=len(the_plan.election.actas))
    for difference in outcome.differences:
        print(difference.line())
    for note in stats.notes:
        print(f"note: {note}")
    print(stats.table())
    unexplained = len(outcome.unexplained)
    explained = len(outcome.differences) - unexplained
    verdict = "agree" if outcome.agree else f"{unexplained} difference(s)"
    print(f"{outcome.rows} actas compared: {verdict}"
          + (f" ({explained} explained)" if explained else ""))
    print(zip_path, flush=True)
    result.outcome = outcome
    result.exit_code = EXIT_OK if outcome.agree else EXIT_DIFFERENT
    return result
