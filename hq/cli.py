"""`catd-hq`: the central receiver's commands; each returns its exit code."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from catd_node import __version__
from catd_node.cli import parse, setup_logging
from catd_node.errors import EXIT_OK, BadInput, CatdError
from catd_node.safetext import one_line
from hq import store as hq_store
from hq.count import Count, count
from hq.store import HQDir, postgres

# Subcommands that ignore -d/--data-dir (they read and write the files they are given).
ON_FILES = ("catalog", "verify-release", "rehearse")
LOOPBACK = frozenset({"127.0.0.1", "::1"})
if TYPE_CHECKING:
    from hq.state import UploadLimits


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="catd-hq", description="CATD central receiver (HQ).")
    parser.add_argument("--version", action="version", version=f"catd-hq {__version__}")
    where = "HQ data directory (default $CATD_HQ_DATA_DIR or ./hq-data)"
    parser.add_argument("-d", "--data-dir", help=where)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    # Accepted before or after the command; SUPPRESS keeps a subcommand from resetting it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-d", "--data-dir", help=where, default=argparse.SUPPRESS)
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging",
                        default=argparse.SUPPRESS)
    # Commands that work on files, not on HQ's data dir: -d still parses there (scripts and
    # tests pass it) but their help does not offer what they ignore.
    on_files = argparse.ArgumentParser(add_help=False)
    on_files.add_argument("-d", "--data-dir", help=argparse.SUPPRESS, default=argparse.SUPPRESS)
    on_files.add_argument("-v", "--verbose", action="store_true", help="debug logging",
                          default=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("init", parents=[common], help="create the HQ data dir and key pair")
    p.add_argument("--election", type=Path, help="election catalog JSON (for results and CSV)")
    p.add_argument("--candidaturas", type=Path, metavar="FILE",
                   help="the release's candidacies CSV: its names go into HQ's election file, the "
                        "cuts' candidacies CSV and the site (needs --election)")
    p.add_argument("--db", metavar="URL",
                   help="keep HQ in this PostgreSQL database (postgresql://…) instead of hq.db;"
                        " several `serve` processes may then share it ($CATD_HQ_DB overrides)")
    p = sub.add_parser("add-node", parents=[common], help="register a node's public key")
    p.add_argument("--node-id", required=True, help="the CATD's node id, as in its catd.toml (CATD-09-07)")
    p.add_argument("--pubkey", required=True, type=Path, help="the node's node.pub (PEM)")
    p = sub.add_parser("keys", parents=[common], help="the keys file parties hold before the night")
    p.add_argument("action", choices=("publish",),
                   help="publish: write DATA/publicacion/llaves/ once (every registered CATD's key, "
                        "the election file and its SHA-256, HQ-signed); the folder is --keys DIR")
    p = sub.add_parser("serve", parents=[common], help="serve the /v1 API")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8700, help="port to listen on (default 8700)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="processes verifying packets (default: one per CPU; 0 = a thread)")
    p = sub.add_parser("status", parents=[common], help="per-node head, blobs, fork flag; conflicts")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p = sub.add_parser("verify", parents=[common], help="re-check every stored chain and blob")
    p.add_argument("--json", action="store_true",
                   help="one JSON document on stdout: ok, packets, blobs, nodes, reason, problems")
    p = sub.add_parser("export", parents=[common], help="export verified actas")
    p.add_argument("--csv", required=True, type=Path, help="CSV output file ('-' = stdout)")
    p = sub.add_parser("catalog", parents=[on_files], help="build an election file from a published release")
    p.add_argument("--from", dest="source", required=True, type=Path,
                   help="the release's results CSV (PREP 2018–2024 or cómputo layout; .gz or the cut's .zip)")
    p.add_argument("--out", type=Path, help="the election file to write (second form); required "
                                            "unless --check")
    p.add_argument("--check", action="store_true",
                   help="dry run: print what was detected (layout, encoding, date order, key form, "
                        "vocabulary, counts by class) and every tolerated oddity; write nothing")
    p.add_argument("--json", action="store_true", help="with --check: one JSON object")
    p.add_argument("--candidaturas", type=Path, help="the release's candidacies CSV (gives ID_ENTIDAD)")
    p.add_argument("--entidad", type=int,
                   help="entity id 1–32: fills a layout without one, picks one of several")
    p.add_argument("--election", help="the election's name when the file has no name line")
    p.add_argument("--release", help="release prefix KIND_ENT (default from the name: GUB_CDMX, DIP_QROO)")
    p.add_argument("--timezone", help="official time-zone label (default: the cut line's, e.g. UTC-6)")
    p.add_argument("--max-boletas-especial", type=int, default=750,
                   help="approved ballots of a casilla especial (default 750)")
    p.add_argument("--ccv", action="append", default=[], metavar="DISTRITO=NODE",
                   help="the node of the district's capture centre (CCV), which may also capture its "
                        "casilla photos (repeat per district)")
    p.add_argument("--distritos", type=Path, metavar="FILE",
                   help="district names for the site: a CSV ID_DISTRITO,NOMBRE (overrides the names "
                        "the release prints)")
    p.add_argument("--catd-per", choices=("district", "municipio"),
                   help="one CATD per district (default when districts are printed) or per municipio")
    p = sub.add_parser("publish", parents=[common], help="write one cut under DATA/publicacion/ and the site")
    p.add_argument("--final", action="store_true",
                   help="the final cut (participation counts casillas especiales)")
    p.add_argument("--at", metavar="ISO-TIME",
                   help="the cut's time (default now): 2024-06-02T20:00 is local official time; "
                        "with Z or an offset, converted")
    p = sub.add_parser("verify-release", parents=[on_files],
                       help="check a cut on its own; with two cuts, that the later extends the earlier")
    p.add_argument("zips", nargs="+", type=Path, metavar="ZIP", help="a cut, or the earlier then the later")
    p.add_argument("--keys", type=Path, metavar="DIR",
                   help="the keys published before the night (catd-hq keys publish): hq.pub, "
                        "nodos/<NODE>.pub, catalogo.json (default: the cut's own, which prove nothing "
                        "against HQ)")
    p.add_argument("--witnesses", type=Path, metavar="FILE",
                   help="witness vkeys, one a line, and `quorum K`: the cut's log checkpoint must carry "
                        "K of their cosignatures (ZIP.testigos.json beside the zip)")
    p = sub.add_parser("rehearse", parents=[on_files],
                       help="simulacro: replay a published release through HQ and its CATD nodes")
    p.add_argument("--from", dest="source", required=True, type=Path,
                   help="the published release (any layout `catalog` reads)")
    p.add_argument("--out", required=True, type=Path,
                   help="an empty directory for the HQ, nodes, logs and cut")
    p.add_argument("--limit", type=int, help="replay only the first N acta rows")
    p.add_argument("--chaos", action="store_true",
                   help="SIGKILL node services and HQ and cut the link at random moments")
    p.add_argument("--seed", type=int, default=2024, help="seed of --chaos's choices (default 2024)")
    p.add_argument("--casilla", type=float, default=0.0, metavar="PCT",
                   help="send PCT %% of the actas photographed at the casilla (ORIGEN CASILLA, "
                        "DIGITALIZACION MOVIL) through HQ's PREP Casilla phone path (default 0)")
    p.add_argument("--entidad", type=int,
                   help="entity id 1–32 of a layout that prints none (default: from the candidacies file "
                        "beside it)")
    p.add_argument("--candidaturas", type=Path, metavar="FILE",
                   help="the release's candidacies CSV, whose names travel into the election file, the "
                        "cut and the site (default: the *CANDIDATURAS*.csv beside the release)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse(build_parser(), argv)
    setup_logging(args.verbose)
    hq = HQDir(hq_store.resolve(args.data_dir))
    try:
        return dispatch(args, hq)
    except CatdError as exc:
        print(f"error: {one_line(f'{exc.what}: {exc.why}')}", file=sys.stderr)  # names outside text
        return exc.exit_code
    except (OSError, sqlite3.Error) as exc:
        from catd_node import diskfull
        from catd_node.errors import EXIT_DISK_FULL

        line = diskfull.cli_message(exc, hq.root)
        if line is None:
            raise
        print(line, file=sys.stderr)
        return EXIT_DISK_FULL


def dispatch(args: argparse.Namespace, hq: HQDir) -> int:
    if args.command == "init":
        embedded = None
        if args.candidaturas is not None:
            if args.election is None:
                raise BadInput("--candidaturas", "needs --election (the file the names go into)")
            from hq.release import catalog as release_catalog

            embedded = release_catalog.embed(args.election, args.candidaturas)
        hq_store.init(hq.root, args.election, args.db)
        where = f", store: {postgres.redact(args.db)}" if args.db else ""
        print(f"initialised {hq.root} (public key: {hq.pub_path}{where})")
        if embedded is not None and embedded.named == 0:
            print(f"warning: {args.candidaturas} names no candidacy of this election's vote fields; "
                  f"the election file is copied unchanged", file=sys.stderr)
        elif embedded is not None:
            written = embedded.write(hq.election_path)
            if embedded.data is not None:
                digest = hashlib.sha256(written.read_bytes()).hexdigest()
                print(f"{embedded.named} candidacies named in {written} (sha256 {digest}): give every "
                      f"node this election file, not {args.election}")
            else:
                print(f"{embedded.named} candidacies named: {args.candidaturas} kept as {written} "
                      f"(a first-form election file holds no names)")
        return EXIT_OK
    if args.command == "add-node":
        try:
            pem = args.pubkey.read_bytes()
        except OSError as exc:
            raise BadInput(str(args.pubkey), f"cannot read ({exc.strerror})") from exc
        conn = hq.connect()
        try:
            added = hq_store.add_node(conn, args.node_id, pem)
        finally:
            conn.close()
        print(f"{'registered' if added else 'already registered'} node {args.node_id}")
        if added:
            from hq.release import trust

            version = trust.record_added(hq, args.node_id, pem.decode("ascii"))
            if version is not None:   # a CATD the parties' keys file does not hold
                print(f"recorded in the keys file, version {version}: {args.node_id} added after "
                      f"publication ({trust.folder(hq) / trust.NAME}); every later cut names it")
        return EXIT_OK
    if args.command == "keys":
        from hq.release import trust

        folder = trust.publish(hq)
        doc = trust.read(hq) or {}
        print(f"keys file published: {folder} ({len(doc.get('nodes', {}))} CATD keys, election "
              f"{doc.get('election_sha256', '')}); parties verify with --keys {folder}")
        return EXIT_OK
    if args.command == "serve":
        hq.check()
        if args.workers < 0:
            raise BadInput("--workers", "must be 0 or more")
        from hq.state import UploadLimits

        limits = UploadLimits.from_env(os.environ)  # docs/uploads.md
        return asyncio.run(serve(hq, args.host, args.port, args.workers, access_log=args.verbose,
                                 limits=limits))
    if args.command == "status":
        from hq import results

        election = hq.election()
        conn = hq.connect()
        try:
            report = hq_store.status(conn)
            counted = count(conn, election) if election is not None else Count({}, ())
        finally:
            conn.close()
        report["conflicts"] = results.conflicts_json(counted)
        from hq import diskstate

        report["disk"] = diskstate.read(hq)
        from hq import blobcheck

        report["blob_check"] = blobcheck.last(hq)
        if args.json:
            print(json.dumps(report, indent=2, sort_keys=True))
        else:
            for node, info in report["nodes"].items():
                flag = "  FORKED" if info["forked"] else ""
                actas = info["missing_actas"]
                named = f" (actas {', '.join(actas[:5])}{'…' if len(actas) > 5 else ''})" if actas else ""
                print(f"{node}: seq {info['seq']} blobs {info['blobs_stored']} stored,"
                      f" {info['blobs_missing']} missing{named}{flag}")
            lost = report["blobs_lost"]
            if lost["count"]:
                print(f"IMAGES LOST at HQ: {lost['count']} found missing or damaged, not yet sent again "
                      "by their node (catd-hq verify names them; the nodes resend them by themselves)")
            print(f"conflicts: {len(counted.conflicts)} reports not counted (GET /v1/conflicts)")
            if report["disk"]["state"] == "full":
                print(f"DISK FULL at {report['disk']['path']} since {report['disk']['since']}: writes are "
                      "answered 507; nodes retry; resumes by itself when space returns")
        return EXIT_OK
    if args.command == "verify":
        from hq import audit

        return audit.main(hq, as_json=args.json)
    if args.command == "export":
        from hq import csv_export

        return csv_export.main(hq, args.csv)
    if args.command == "catalog":
        from hq.release import catalog

        options = catalog.Options(
            entidad=args.entidad, election=args.election, release=args.release, timezone=args.timezone,
            max_boletas_especial=args.max_boletas_especial, catd_per=args.catd_per, ccv=tuple(args.ccv),
            distritos=args.distritos)
        if args.check:
            return catalog.check(args.source, args.candidaturas, options, as_json=args.json)
        if args.out is None:
            raise BadInput("--out", "required (or --check for a dry run)")
        return catalog.main(args.source, args.out, args.candidaturas, options)
    if args.command == "publish":
        from hq.release import cut

        with _unwound_by_sigterm():
            published = cut.publish(hq, at=_at(args.at), final=args.final)
        fields = published.manifest.summary
        print(f"corte {published.manifest.number}{' (final)' if args.final else ''}: "
              f"{fields['ACTAS_CAPTURADAS']} de {fields['ACTAS_ESPERADAS']} actas capturadas, "
              f"{fields['ACTAS_CONTABILIZADAS']} contabilizadas")
        print(published.path)
        return EXIT_OK
    if args.command == "verify-release":
        from hq import verify_release

        return verify_release.main(args.zips, args.keys, args.witnesses)
    if args.command == "rehearse":
        if args.limit is not None and args.limit < 1:
            raise BadInput("--limit", "must be 1 or more")
        if not 0 <= args.casilla <= 100:
            raise BadInput("--casilla", "must be a percentage from 0 to 100")
        from simulacro import rehearse  # never imported by HQ itself: only this command drives it

        return rehearse.rehearse(rehearse.Options(source=args.source, out=args.out, limit=args.limit,
                                                  chaos=args.chaos, seed=args.seed, entidad=args.entidad,
                                                  casilla=args.casilla, candidaturas=args.candidaturas))
    raise AssertionError(args.command)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


@contextmanager
def _unwound_by_sigterm() -> Iterator[None]:
    """SIGTERM (serve stopping its schedule) unwinds the cut, which gives its claim up
    (hq/cuts.py): the other receivers need not wait for it to go stale."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def _at(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadInput("--at", f"{text!r} is not an ISO time like 2024-06-02T20:00") from exc


async def serve(hq: HQDir, host: str, port: int, workers: int = 0, access_log: bool = False,
                limits: UploadLimits | None = None) -> int:
    """Serve until SIGTERM/SIGINT, then stop accepting and finish requests in flight.

    aiohttp's access log (a line per request) only with -v: every stored batch and blob and
    every refusal already has its own line."""
    import logging

    from aiohttp import web

    from catd_node import netguard
    from hq import schedule
    from hq.app import create_app

    plan = schedule.load(hq, hq.election(), datetime.now(UTC))   # a bad hq.toml stops serve before it starts
    # Bodies never inflated, heads within 30 s, connections capped per client — except from
    # loopback, where the TLS proxy in front of HQ (deploy/README.md) connects from.
    net = netguard.fitted(netguard.Limits(per_client=64, exempt=LOOPBACK), netguard.raise_fd_limit())
    runner = web.AppRunner(create_app(hq, workers, limits), shutdown_timeout=10, **net.runner_options(),
                           access_log=logging.getLogger("aiohttp.access") if access_log else None)
    await runner.setup()
    await netguard.start_site(runner, host, port, net)
    for address in runner.addresses:
        print(f"catd-hq serving http://{address[0]}:{address[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    publishing = schedule.start(hq, plan)
    try:
        await stop.wait()
    finally:
        if publishing is not None:
            publishing.cancel()
            await asyncio.gather(publishing, return_exceptions=True)
        await runner.cleanup()
    print("catd-hq stopped", flush=True)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
