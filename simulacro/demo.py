"""`make run`: a whole CATD on one machine — a local HQ, the node's services, a simulated
scanner dropping realistic acta images, and demo clerk accounts. Ctrl-C stops everything.

    python -m simulacro.demo [--dir demo-data] [--web-port 8080] [--hq-port 8700] [--interval 4]
                             [--election FILE [--node-id ID]]

With `--election` (e.g. the CDMX catalog `catd-hq catalog` writes) the node runs as `--node-id`
(default: the CATD of the catalog's first acta) and the scanner drops that CATD's actas, each
printed with its own ballot.
"""

from __future__ import annotations

import argparse
import dataclasses
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
ELECTION = Path(__file__).resolve().parent.parent / "catd_node" / "data" / "election.json"
NODE_ID = "CATD-14-01"
DEMO_USERS = (
    ("capturista1", "capturista", "captura-demo-1"),
    ("capturista2", "capturista", "captura-demo-2"),
    ("verificador1", "verificador", "verifica-demo-1"),
    ("coordinador", "coordinador", "coordina-demo"),
)


def hq_command(*args: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from hq.cli import main; sys.exit(main())", *args]


def node_id_for(election_file: Path) -> str:
    """The demo's CATD: the example's, or the CATD of the catalog's first acta."""
    if election_file == ELECTION:
        return NODE_ID
    first = next(iter(catalog.load(election_file).actas.values()), None)
    return first.catd if first is not None and first.catd else NODE_ID


def prepare(root: Path, web_port: int, hq_port: int, settle_ms: int, election: Path = ELECTION,
            node_id: str = NODE_ID) -> tuple[DataDir, Path]:
    """Create (once) the HQ and node data dirs, register the node, add demo users."""
    hq_dir, node_root = root / "hq", root / "catd"
    if (node_root / "node.key").exists():
        node = DataDir(node_root)
        _configure(node, web_port, hq_port, settle_ms)
        return node, hq_dir
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(hq_command("init", "-d", str(hq_dir), "--election", str(election)), check=True)
    # A cut every minute from now (an institute's is every 20): the public site at HQ's `/`
    # and the downloadable cuts fill in while the tour goes on.
    (hq_dir / "hq.toml").write_text("[publish]\nevery_min = 1\nhours = 24\n", encoding="utf-8")
    node = datadir_mod.init(node_root, node_id, election, (f"http://127.0.0.1:{hq_port}",), hq_dir / "hq.pub")
    subprocess.run(
        hq_command("add-node", "-d", str(hq_dir), "--node-id", node_id, "--pubkey", str(node.pub_path)),
        check=True,
    )
    subprocess.run(hq_command("keys", "publish", "-d", str(hq_dir)), check=True)   # before the night
    from catd_node.web import users

    for name, role, password in DEMO_USERS:
        users.add_user(node, name, role, password)
    _configure(node, web_port, hq_port, settle_ms)
    return DataDir(node_root), hq_dir


def _configure(node: DataDir, web_port: int, hq_port: int, settle_ms: int) -> None:
    """Point the node at this run's ports (kept in catd.toml, as an operator would)."""
    cfg = config_mod.load(node.config_path)
    cfg = dataclasses.replace(
        cfg,
        web=dataclasses.replace(cfg.web, port=web_port),
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
    (then the QR on the acta identifies it)."""

    def __init__(self, node: DataDir, interval: float, seed: int = 2027) -> None:
        self.node = node
        self.folder = next(iter(node.scanner_folders().values()))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.interval = interval
        self.rng = random.Random(seed)
        self.queue = list(node.election.actas_of(node.config.node_id))  # this CATD's actas only
        self.count = 0
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
        specimen.write(tmp, key, plausible_values(election, key, self.rng), seed=self.count,
                       contest=election.contest_of(key), ballot=election.ballot(key),
                       election_name=election.name)
        os.replace(tmp, self.folder / name)
        log.info("simulated scanner dropped file=%s acta=%s", name, key)
        self.next_at = time.monotonic() + self.interval


def banner(web_port: int, hq_port: int, node: DataDir) -> str:
    node_id = node.config.node_id
    users = "\n".join(f"    {name:<13} {role:<12} contraseña: {pw}" for name, role, pw in DEMO_USERS)
    return f"""
================================================================================
 catd-node demo — CATD {node_id}
   Web app for clerks:  http://127.0.0.1:{web_port}/
   Local HQ:            http://127.0.0.1:{hq_port}/v1/results
   Published results:   http://127.0.0.1:{hq_port}/  (a cut every minute)
   Node data dir:       {node.root}
   Accounts:
{users}
   A simulated scanner drops an acta into {node.scanner_folders()["scanner-1"]} every few
   seconds. Capture one as capturista1, verify it as verificador1, and watch it reach HQ.
   Ctrl-C stops everything.
================================================================================
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("CATD_DEMO_DIR", "demo-data")))
    parser.add_argument("--web-port", type=int, default=int(os.environ.get("CATD_DEMO_WEB_PORT", 8080)))
    parser.add_argument("--hq-port", type=int, default=int(os.environ.get("CATD_DEMO_HQ_PORT", 8700)))
    parser.add_argument(
        "--interval",
        type=float,
        default=float(os.environ.get("CATD_DEMO_INTERVAL", 4.0)),
        help="seconds between scans",
    )
    parser.add_argument("--settle-ms", type=int, default=1000)
    parser.add_argument("--election", type=Path, default=ELECTION,
                        help="election catalog (default: the 20-acta example)")
    parser.add_argument("--node-id", help="the CATD to run as (default: the example's, or the CATD of the "
                        "catalog's first acta)")
    parser.add_argument("--duration", type=float, default=0, help="stop after this many seconds (0 = never)")
    args = parser.parse_args(argv)
    setup_logging()
    node, hq_dir = prepare(args.dir.resolve(), args.web_port, args.hq_port, args.settle_ms, args.election,
                           args.node_id or node_id_for(args.election))

    stopping = False

    def request_stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    hq = subprocess.Popen(
        hq_command("serve", "-d", str(hq_dir), "--port", str(args.hq_port)), start_new_session=True
    )
    catd = subprocess.Popen(
        [sys.executable, "-m", "catd_node.cli", "run", "-d", str(node.root)], start_new_session=True
    )
    print(banner(args.web_port, args.hq_port, node), flush=True)
    scanner = SimulatedScanner(node, args.interval)
    deadline = time.monotonic() + args.duration if args.duration else None
    try:
        while not stopping and (deadline is None or time.monotonic() < deadline):
            if hq.poll() is not None or catd.poll() is not None:
                log.error("a demo process exited: hq rc=%s catd rc=%s", hq.poll(), catd.poll())
                return 1
            scanner.tick()
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
