"""The simulacro's installation: one HQ and one node per CATD, set up as an institute would and
run as real processes (`catd-hq serve`, `catd-node run`), with each one's log under `logs/`.

Set-up happens in this process through the same functions the commands call (`catd-hq init`,
`catd-node init`, `catd-hq add-node`, `catd-node user add`): a node's data dir, key exchange,
its clerks. Each node reaches HQ through `hq_url` (the rehearsal's link, which it can cut).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from catd_node import config as config_mod
from catd_node import datadir as datadir_mod
from catd_node.datadir import DataDir
from catd_node.web import passwords, users
from hq import store as hq_store
from hq.release import trust
from hq.store import HQDir
from simulacro.clerks import PASSWORDS

ROLES = ("capturista", "verificador", "coordinador")
HQ_START_S = 60.0
STOP_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def user_name(role: str) -> str:
    return f"{role}-1"


@dataclass
class Node:
    node_id: str
    datadir: DataDir
    web_port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def web(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def service_pids(self) -> dict[str, int]:
        """The pids of its running scan, web and sync services (`run/services.json`)."""
        try:
            state = json.loads((self.datadir.root / "run" / "services.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        services = state.get("services", state) if isinstance(state, dict) else {}
        pids: dict[str, int] = {}
        for name, info in services.items():
            pid = info.get("pid") if isinstance(info, dict) else None
            if isinstance(pid, int) and pid > 0:
                pids[name] = pid
        return pids


@dataclass
class Cluster:
    root: Path
    election: Path
    node_ids: tuple[str, ...]
    hq_url_for_nodes: str = ""            # the link's URL; set before prepare()
    hq_workers: int = 1
    hq_port: int = 0
    hq_proc: subprocess.Popen[bytes] | None = None
    nodes: dict[str, Node] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=lambda: {**os.environ, "PYTHONUNBUFFERED": "1"})

    @property
    def hq(self) -> HQDir:
        return HQDir(self.root / "hq")

    @property
    def hq_url(self) -> str:
        return f"http://127.0.0.1:{self.hq_port}"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    # -- set-up ------------------------------------------------------------------------------

    def prepare(self) -> None:
        """HQ's data dir and key; each node's data dir, registered at HQ, with its clerks."""
        self.logs.mkdir(parents=True, exist_ok=True)
        self.hq_port = self.hq_port or free_port()
        hq = hq_store.init(self.hq.root, self.election)
        # One hash per role for every CATD: Argon2id at 64 MiB costs ~0.2 s, and each clerk's
        # password is the drill's own.
        hashes = {role: passwords.hash_password(PASSWORDS[role]) for role in ROLES}
        conn = hq.connect()
        try:
            for node_id in self.node_ids:
                root = self.root / "nodes" / node_id
                node = datadir_mod.init(root, node_id, self.election, (self.hq_url_for_nodes,), hq.pub_path)
                hq_store.add_node(conn, node_id, node.pub_path.read_bytes())
                ledger = node.ledger()
                try:
                    with ledger.transaction() as tx:
                        for role in ROLES:
                            users.add(tx, user_name(role), role, hashes[role], "simulacro")
                finally:
                    ledger.close()
                port = free_port()
                cfg = node.config
                # The institute's defaults but the web app on loopback: scanners hand their files over
                # renamed (taken at once), phone uploads are linked in (taken after settle_ms).
                cfg = dataclasses.replace(cfg, web=dataclasses.replace(cfg.web, host="127.0.0.1", port=port))
                node.config_path.write_text(config_mod.render(cfg), encoding="utf-8")
                self.nodes[node_id] = Node(node_id, DataDir(root), port, self.logs / f"{node_id}.log")
        finally:
            conn.close()
        # The keys file a party holds before the night (`catd-hq keys publish`): every cut of
        # the rehearsal verifies against it (`verify-release --keys DATA/publicacion/llaves`).
        trust.publish(hq)

    # -- processes ---------------------------------------------------------------------------

    def start_hq(self) -> None:
        """`catd-hq serve` on its port; returns when it answers."""
        log = open(self.logs / "hq.log", "ab")
        try:
            self.hq_proc = subprocess.Popen(
                [sys.executable, "-m", "hq.cli", "-d", str(self.hq.root), "serve", "--host", "127.0.0.1",
                 "--port", str(self.hq_port), "--workers", str(self.hq_workers)],
                stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        finally:
            log.close()
        _wait_port(self.hq_port, HQ_START_S, "catd-hq serve", self.hq_proc)

    def kill_hq(self) -> None:
        """SIGKILL HQ (the chaos of a power cut at HQ)."""
        if self.hq_proc is not None and self.hq_proc.poll() is None:
            os.killpg(self.hq_proc.pid, signal.SIGKILL)
            self.hq_proc.wait(STOP_S)

    def start_nodes(self) -> None:
        for node in self.nodes.values():
            log = open(node.log, "ab")
            try:
                node.proc = subprocess.Popen(
                    [sys.executable, "-m", "catd_node.cli", "run", "-d", str(node.datadir.root)],
                    stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
            finally:
                log.close()
        for node in self.nodes.values():
            assert node.proc is not None
            _wait_port(node.web_port, HQ_START_S, f"{node.node_id} web", node.proc)

    def stop(self) -> None:
        """SIGTERM every node's supervisor (it stops its services), then HQ; SIGKILL stragglers."""
        procs = [n.proc for n in self.nodes.values() if n.proc is not None]
        procs += [self.hq_proc] if self.hq_proc is not None else []
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_S
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(STOP_S)

    def dead(self) -> list[str]:
        """Processes that exited on their own (a supervisor or HQ: nothing restarts those)."""
        out = [f"{n.node_id} (exit {n.proc.returncode})" for n in self.nodes.values()
               if n.proc is not None and n.proc.poll() is not None]
        if self.hq_proc is not None and self.hq_proc.poll() is not None:
            out.append(f"HQ (exit {self.hq_proc.returncode})")
        return out


def _wait_port(port: int, timeout: float, what: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} while starting (see its log)")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout:.0f} s")
