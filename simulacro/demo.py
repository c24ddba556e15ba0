"""`make run`: a whole CATD on one machine — a local HQ, the node's services, a simulated
scanner dropping realistic acta images, and demo clerk accounts. Ctrl-C stops everything.

    python -m simulacro.demo [--dir demo-data] [--host 127.0.0.1] [--web-port 8080]
                             [--hq-port 8700] [--interval 4] [--actas N]
                             [--election FILE [--node-id ID]]

The demo election (`simulacro/data/demo-election.json`) is a second-form catalog: 20 actas of
distrito 01 of Jalisco (entidad 14), collected by CATD-14-01; each image prints the casilla the
site publishes. With `--election` (e.g. the CDMX catalog `catd-hq catalog` writes) the node runs
as `--node-id` (default: the CATD of the catalog's first acta) and the scanner drops that CATD's
actas, each printed with its own ballot.

The URLs and accounts are written to `DIR/LEEME.txt` and recalled every minute. Run again on the
same DIR, the demo reuses what is there: the scanner drops only the actas it has not dropped yet
(`DIR/escaneos.jsonl` records each drop).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from catd_node import catalog
from catd_node import config as config_mod
from catd_node import datadir as datadir_mod
from catd_node.catalog import Election
from catd_node.cli import setup_logging
from catd_node.datadir import DataDir

log = logging.getLogger("catd.demo")
ELECTION = Path(__file__).resolve().parent / "data" / "demo-election.json"
NODE_ID = "CATD-14-01"
LEEME = "LEEME.txt"
DROPS = "escaneos.jsonl"     # one line per image the simulated scanner dropped
REMIND_EVERY_S = 60.0
DEMO_USERS = (
    ("capturista1", "capturista", "captura-demo-1"),
    ("capturista2", "capturista", "captura-demo-2"),
    ("verificador1", "verificador", "verifica-demo-1"),
    ("coordinador", "coordinador", "coordina-demo"),
)


def hq_command(*args: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from hq.cli import main; sys.exit(main())", *args]


def node_id_for(election_file: Path) -> str:
    """The demo's CATD: the CATD of the catalog's first acta (CATD-14-01 for the demo's)."""
    first = next(iter(catalog.load(election_file).actas.values()), None)
    return first.catd if first is not None and first.catd else NODE_ID


def quiet(command: list[str]) -> None:
    """Run a setup command; its output is shown only if it fails."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"demo setup failed: {' '.join(command[3:])} (exit {done.returncode})")


def prepare(root: Path, web_port: int, hq_port: int, settle_ms: int, election: Path = ELECTION,
            node_id: str = NODE_ID, host: str = "127.0.0.1") -> tuple[DataDir, Path]:
    """Create (once) the HQ and node data dirs, register the node, add demo users; on a later
    run, reuse them (only the ports and the address are set again)."""
    hq_dir, node_root = root / "hq", root / "catd"
    if (node_root / "node.key").exists():
        node = DataDir(node_root)
        _configure(node, web_port, hq_port, settle_ms, host)
        log.info("demo reuses %s (node %s)", root, node.config.node_id)
        held = node_root / "election.json"
        if held.exists() and held.read_bytes() != election.read_bytes():
            log.warning("demo: %s was made with another election file than %s; it keeps its own "
                        "(make clean, or another --dir, to start over with this one)", root, election)
        return DataDir(node_root), hq_dir
    root.mkdir(parents=True, exist_ok=True)
    quiet(hq_command("init", "-d", str(hq_dir), "--election", str(election)))
    # A cut every minute from now (an institute's is every 20): the public site at HQ's `/`
    # and the downloadable cuts fill in while the tour goes on.
    (hq_dir / "hq.toml").write_text("[publish]\nevery_min = 1\nhours = 24\n", encoding="utf-8")
    node = datadir_mod.init(node_root, node_id, election, (f"http://127.0.0.1:{hq_port}",), hq_dir / "hq.pub")
    quiet(hq_command("add-node", "-d", str(hq_dir), "--node-id", node_id, "--pubkey", str(node.pub_path)))
    quiet(hq_command("keys", "publish", "-d", str(hq_dir)))   # before the night
    from catd_node.web import users

    for name, role, password in DEMO_USERS:
        users.add_user(node, name, role, password)
    _configure(node, web_port, hq_port, settle_ms, host)
    return DataDir(node_root), hq_dir


def _configure(node: DataDir, web_port: int, hq_port: int, settle_ms: int, host: str = "127.0.0.1") -> None:
    """Point the node at this run's address and ports (kept in catd.toml, as an operator would)."""
    cfg = config_mod.load(node.config_path)
    cfg = dataclasses.replace(
        cfg,
        web=dataclasses.replace(cfg.web, host=host, port=web_port),
        hq=dataclasses.replace(cfg.hq, urls=(f"http://127.0.0.1:{hq_port}",)),
        scan=dataclasses.replace(cfg.scan, settle_ms=settle_ms),
    )
    node.config_path.write_text(config_mod.render(cfg), encoding="utf-8")


def plausible_values(election: Election, key: str, rng: random.Random) -> dict[str, int | str]:
    """Counts a casilla could report on its own ballot: under its lista nominal (or the ballots
    of a casilla especial), controls consistent."""
    from simulacro import specimen

    spec = election.actas[key]
    contest = election.contests[spec.contest]
    ballot = election.ballot(key)
    ceiling = election.max_boletas_especial if spec.especial else spec.lista_nominal
    voters = rng.randint(ceiling // 3, ceiling * 2 // 3)
    weights = [rng.random() ** 2 for _ in ballot]
    scale = voters / sum(weights)
    values: dict[str, int | str] = {f: int(w * scale) for f, w in zip(ballot, weights, strict=True)}
    total = sum(int(v) for v in values.values())
    controls = specimen.control_values(total, ceiling, 0)
    for field in contest.controls:
        values[field] = controls.get(field, 0)
    if rng.random() < 0.15:
        values[rng.choice(ballot)] = "ILEGIBLE"
    return values


class SimulatedScanner:
    """Drops one acta image every `interval` seconds, the way scanners do: some written slowly
    in place, some written under a temp name and renamed; named by key or by sequence number
    (then the QR on the acta identifies it).

    Each drop is recorded in `record` (JSON lines: file, acta, the identity printed on it), so
    a restarted demo drops only the actas not dropped before, and a test can hold the site to
    what each image shows. `limit`: drop at most this many actas in all (0: every one)."""

    def __init__(self, node: DataDir, interval: float, seed: int = 2027, record: Path | None = None,
                 limit: int = 0) -> None:
        self.node = node
        self.folder = next(iter(node.scanner_folders().values()))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.interval = interval
        self.record = record
        done = dropped(record) if record is not None else {}
        self.count = len(done)
        self.rng = random.Random(f"{seed}:{self.count}")
        held = digitized(node)
        left = [k for k in node.election.actas_of(node.config.node_id)   # this CATD's actas only
                if k not in done and k not in held]
        budget = max(0, limit - self.count) if limit else len(left)
        self.queue = left[:budget]
        self.already = len(done)
        self.next_at = time.monotonic()

    def tick(self) -> None:
        if not self.queue or time.monotonic() < self.next_at:
            return
        from simulacro import specimen

        key = self.queue.pop(0)
        self.count += 1
        name = f"{key}.jpg" if self.count % 2 else f"escaneo-{self.count:04d}.jpg"
        tmp = self.folder / f".{name}.part"
        election = self.node.election
        spec = election.actas[key]
        specimen.write(tmp, key, plausible_values(election, key, self.rng), seed=self.count,
                       contest=election.contest_of(key), ballot=election.ballot(key),
                       election_name=election.name, distrito=spec.distrito)
        os.replace(tmp, self.folder / name)
        if self.record is not None:
            printed = dict(specimen.key_fields(key, spec.distrito))
            line = json.dumps({"file": name, "acta": key, "printed": printed}, ensure_ascii=False)
            with self.record.open("a", encoding="utf-8") as out:
                out.write(line + "\n")
                out.flush()
                os.fsync(out.fileno())
        log.info("simulated scanner dropped file=%s acta=%s", name, key)
        if not self.queue:
            log.info("simulated scanner done: every acta of %s dropped", self.node.config.node_id)
        self.next_at = time.monotonic() + self.interval


def dropped(record: Path) -> dict[str, dict[str, object]]:
    """acta → its drop line, from the scanner's record (a torn last line is ignored)."""
    out: dict[str, dict[str, object]] = {}
    try:
        text = record.read_text(encoding="utf-8")
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict) and isinstance(item.get("acta"), str):
            out[item["acta"]] = item
    return out


def digitized(node: DataDir) -> frozenset[str]:
    """The actas the node already holds an image of (a demo dir from before the record)."""
    conn = node.reader()
    try:
        rows = conn.execute("SELECT DISTINCT acta FROM packets WHERE kind = 'acta.digitized'").fetchall()
    finally:
        conn.close()
    return frozenset(str(r[0]) for r in rows if r[0])


def shown_host(host: str) -> str:
    """The address a browser on this machine uses for a listening `host`."""
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def banner(web_port: int, hq_port: int, node: DataDir, host: str = "127.0.0.1") -> str:
    node_id = node.config.node_id
    at = shown_host(host)
    users = "\n".join(f"    {name:<13} {role:<12} contraseña: {pw}" for name, role, pw in DEMO_USERS)
    election = node.election
    where = f"{election.entidad} · " if election.entidad else ""
    return f"""
================================================================================
 catd-node demo — CATD {node_id} — {where}{election.name}
   Web app for clerks:  http://{at}:{web_port}/
   Local HQ:            http://{at}:{hq_port}/v1/results
   Published results:   http://{at}:{hq_port}/  (a cut every minute)
   Node data dir:       {node.root}
   Accounts:
{users}
   A simulated scanner drops an acta into {node.scanner_folders()["scanner-1"]} every few
   seconds. Capture one as capturista1, verify it as verificador1, and watch it reach HQ.
   This text is in {node.root.parent / LEEME}. Ctrl-C stops everything.
================================================================================
"""


def reminder(web_port: int, hq_port: int, host: str, leeme: Path) -> str:
    """One line recalled every minute, when the banner has scrolled away under the logs."""
    at = shown_host(host)
    accounts = ", ".join(f"{name} / {password}" for name, _, password in DEMO_USERS)
    return (f"demo: captura http://{at}:{web_port}/ · resultados http://{at}:{hq_port}/ · cuentas: {accounts}"
            f" (todo en {leeme})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("CATD_DEMO_DIR", "demo-data")),
                        help="where the demo keeps its HQ and node (reused when run again)")
    parser.add_argument("--host", default=os.environ.get("CATD_DEMO_HOST", "127.0.0.1"),
                        help="address the web app and HQ listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--web-port", type=int, default=int(os.environ.get("CATD_DEMO_WEB_PORT", 8080)),
                        help="the clerks' web app port")
    parser.add_argument("--hq-port", type=int, default=int(os.environ.get("CATD_DEMO_HQ_PORT", 8700)),
                        help="the local HQ's port (its API and the public site)")
    parser.add_argument(
        "--interval",
        type=float,
        default=float(os.environ.get("CATD_DEMO_INTERVAL", 4.0)),
        help="seconds between scans",
    )
    parser.add_argument("--actas", type=int, default=int(os.environ.get("CATD_DEMO_ACTAS", 0)),
                        help="drop at most this many actas in all, across runs (default 0: every one)")
    parser.add_argument("--settle-ms", type=int, default=1000,
                        help="how long a scanned file must stay unchanged before it is read")
    parser.add_argument("--election", type=Path, default=ELECTION,
                        help="election catalog (default: the demo's 20 actas of Jalisco, distrito 01)")
    parser.add_argument("--node-id", help="the CATD to run as (default: the example's, or the CATD of the "
                        "catalog's first acta)")
    parser.add_argument("--duration", type=float, default=0, help="stop after this many seconds (0 = never)")
    args = parser.parse_args(argv)
    setup_logging()
    root = args.dir.resolve()
    node, hq_dir = prepare(root, args.web_port, args.hq_port, args.settle_ms, args.election,
                           args.node_id or node_id_for(args.election), args.host)
    text = banner(args.web_port, args.hq_port, node, args.host)
    leeme = root / LEEME
    leeme.write_text(text.strip("\n") + "\n", encoding="utf-8")

    stopping = False

    def request_stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    hq = subprocess.Popen(
        hq_command("serve", "-d", str(hq_dir), "--host", args.host, "--port", str(args.hq_port)),
        start_new_session=True,
    )
    catd = subprocess.Popen(
        [sys.executable, "-m", "catd_node.cli", "run", "-d", str(node.root)], start_new_session=True
    )
    print(text, flush=True)
    scanner = SimulatedScanner(node, args.interval, record=root / DROPS, limit=args.actas)
    if scanner.already:
        log.info("simulated scanner: %d actas dropped by an earlier run, %d left", scanner.already,
                 len(scanner.queue))
    deadline = time.monotonic() + args.duration if args.duration else None
    remind_at = time.monotonic() + REMIND_EVERY_S
    try:
        while not stopping and (deadline is None or time.monotonic() < deadline):
            if hq.poll() is not None or catd.poll() is not None:
                log.error("a demo process exited: hq rc=%s catd rc=%s", hq.poll(), catd.poll())
                return 1
            scanner.tick()
            if time.monotonic() >= remind_at:
                print(reminder(args.web_port, args.hq_port, args.host, leeme), flush=True)
                remind_at = time.monotonic() + REMIND_EVERY_S
            time.sleep(0.2)
    finally:
        for proc in (catd, hq):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (catd, hq):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.info("demo stopped; data kept in %s", args.dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
