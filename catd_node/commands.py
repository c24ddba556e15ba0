"""What each `catd-node` command does, given parsed arguments and the data dir."""

from __future__ import annotations

import argparse
import importlib
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from catd_node import datadir as datadir_mod
from catd_node import diskfull, packets
from catd_node import status as status_mod
from catd_node import verify as verify_mod
from catd_node.cli import print_json
from catd_node.datadir import DataDir
from catd_node.errors import EXIT_CHECK_FAILED, EXIT_OK, BadInput, CheckFailed


def init(args: argparse.Namespace, d: DataDir) -> int:
    created = datadir_mod.init(d.root, args.node_id, args.election, tuple(args.hq_url),
                               args.hq_pubkey)
    print(f"initialised {args.node_id} in {created.root}")
    print(f"node public key: {created.pub_path} (give it to HQ: catd-hq add-node)")
    return EXIT_OK


def _receipt_audit(conn: sqlite3.Connection, d: DataDir) -> tuple[int, Sequence[verify_mod.Finding]]:
    """HQ's receipts held against the chain (none when the sync component is not installed)."""
    try:
        receipts = importlib.import_module("sync.receipts")
    except ModuleNotFoundError:
        return 0, ()
    audit: tuple[int, Sequence[verify_mod.Finding]] = receipts.audit(
        conn, d.hq_public_key(), d.config.node_id)
    return audit


def _verify_report(d: DataDir, quiet: bool) -> verify_mod.Report:
    node_id = d.config.node_id  # first: "not a CATD data directory" beats "node.pub missing"
    public_key = d.public_key()
    try:
        conn = d.reader()
        try:
            total = int(conn.execute("SELECT COUNT(*) FROM packets").fetchone()[0])
            with tqdm(total=total, unit="pkt", desc="verify", disable=quiet) as bar:
                acked = int(status_mod.hq_summary(conn).get("acked_seq") or 0)
                return verify_mod.verify_store(conn, public_key, node_id, d.blobs(),
                                               progress=bar.update, acked_seq=acked,
                                               receipts=_receipt_audit(conn, d))
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        # A damaged database file is a failed check, not bad usage.
        return verify_mod.Report(False, 0, 0, packets.ZERO_HASH, 0,
                                 reason=f"{d.db_path}: database unreadable ({exc})")


def verify(args: argparse.Namespace, d: DataDir) -> int:
    report = _verify_report(d, quiet=args.json or not sys.stderr.isatty())
    if args.json:
        print_json(report.as_json())
    elif report.ok:
        print(f"ok: {report.packets} packets, head {report.head_seq} {report.head_hash}, "
              f"{report.blobs} blobs, {report.receipts} HQ receipts")
    else:
        print(f"FAILED: {report.reason}", file=sys.stderr)
        for extra in report.problems[1:]:
            print(f"  also: {extra}", file=sys.stderr)
    return EXIT_OK if report.ok else EXIT_CHECK_FAILED


def status(args: argparse.Namespace, d: DataDir) -> int:
    conn = d.reader()
    try:
        problem = d.hq_problem()
        doc = status_mod.status(conn, d.config.node_id, d.election,
                                None if problem is None else f"{problem.what}: {problem.why}")
    finally:
        conn.close()
    doc["disk"] = diskfull.of_datadir(d)
    if args.json:
        print_json(doc)
    else:
        a = doc["actas"]
        print(f"{doc['node_id']}: {doc['packets']} packets, head {doc['head']['seq']}")
        print(f"actas: expected {a['expected']} · received {a['received']} · digitized "
              f"{a['digitized']} (+{a['unidentified']} unidentified) · captured {a['captured']}"
              f" · verified {a['verified']} · quarantined {doc['quarantined']}")
        hq = doc["hq"]
        if not hq["configured"]:
            print(f"HQ: not configured ({hq['problem']}); sync waits until catd.toml names it")
        print(f"HQ: acked seq {hq['acked_seq']}, last receipt {hq['last_receipt_at'] or '—'}, "
              f"last error {hq['last_error'] or '—'}")
        disk = doc["disk"]
        if disk["state"] == "full":
            print(f"DISK FULL at {disk['path']}: {disk['free_bytes']} bytes free, {disk['needed_bytes']} "
                  f"needed; ingest paused since {disk['since']}, resumes by itself when space returns")
        if disk["claimed_waiting"]:
            print(f"claimed, waiting: {disk['claimed_waiting']} file(s) in .claimed/")
    return EXIT_OK


def export(args: argparse.Namespace, d: DataDir) -> int:
    conn = d.reader()
    try:
        total = int(conn.execute("SELECT COUNT(*) FROM packets").fetchone()[0])
        out = sys.stdout if str(args.packets) == "-" else Path(args.packets).open("w", encoding="utf-8")
        try:
            with tqdm(total=total, unit="pkt", desc="export", disable=not sys.stderr.isatty()) as bar:
                for packet in verify_mod.stored_rows(conn):
                    try:
                        line = packets.to_wire(packet)
                    except UnicodeDecodeError as exc:
                        raise CheckFailed(f"seq {packet.seq}", "stored canonical bytes are not UTF-8: "
                                          "the store is damaged (run catd-node verify)") from exc
                    out.write(line + "\n")
                    bar.update(1)
        finally:
            if out is not sys.stdout:
                out.close()
    finally:
        conn.close()
    if str(args.packets) != "-":
        print(f"exported {total} packets to {args.packets}", file=sys.stderr)
    return EXIT_OK


def read_password(prompt: str = "Contraseña: ") -> str:
    """A new password: asked twice without echo on a terminal, else the first line of stdin."""
    import getpass

    if sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if getpass.getpass("Repita la contraseña: ") != first:
            raise BadInput("contraseña", "las dos contraseñas no coinciden; no se cambió nada")
        password = first
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise BadInput("stdin", "no password given (type it at the prompt, or pipe it in: "
                                "echo 'secret' | catd-node user add …)")
    return password


def user(args: argparse.Namespace, d: DataDir) -> int:
    from catd_node.web import users

    if args.user_command == "list":
        d.config  # noqa: B018  "not a CATD data directory" before anything else
        conn = d.reader()
        try:
            accounts = users.all_users(conn)
        finally:
            conn.close()
        if args.json:
            print_json([{"name": u.name, "role": u.role, "active": u.active} for u in accounts])
        else:
            for u in accounts:
                print(f"{u.name}\t{u.role}\t{'activa' if u.active else 'desactivada'}")
        return EXIT_OK
    if args.user_command == "disable":
        changed = users.disable_user(d, args.name)
        print(f"user {args.name} {'disabled' if changed else 'was already disabled'}")
        return EXIT_OK
    if args.user_command == "passwd":
        users.change_password(d, args.name, read_password("Nueva contraseña: "))
        print(f"password of {args.name} changed (its sessions were ended)")
        return EXIT_OK
    password = read_password()
    users.add_user(d, args.name, args.role, password)
    print(f"user {args.name} added as {args.role}")
    return EXIT_OK


def scan(args: argparse.Namespace, d: DataDir) -> int:
    from scanners import service

    return service.main(d, once=args.once)


def web(args: argparse.Namespace, d: DataDir) -> int:
    from catd_node.web import server

    return server.main(d, host=args.host, port=args.port)


def sync(args: argparse.Namespace, d: DataDir) -> int:
    from sync import client

    return client.main(d, once=args.once)


def attest(args: argparse.Namespace, d: DataDir) -> int:
    from catd_node import attest as attest_mod

    return attest_mod.main(d, out=args.out, compare=args.compare, as_json=args.json)


def run(args: argparse.Namespace, d: DataDir) -> int:
    from catd_node import supervisor

    return supervisor.main(d)
