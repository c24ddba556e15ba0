"""`catd-node run`: scan, web and sync as separate child processes, each restarted on death.

"Independizar los procesos": the services share only the database, so a crashing scanner
never stops capture or sync. A dead child is restarted with a growing delay (reset after it
has stayed up a while); SIGTERM/SIGINT stops all children, then the supervisor.

A child that exits for a bad configuration (it says so in its exit note) is not restarted
until catd.toml — or a file it names — changes: restarting cannot fix it, and a restart loop
hides the reason. Its state, with the reason, is in `run/services.json` for the dashboard.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from catd_node import config
from catd_node.datadir import DataDir
from catd_node.errors import EXIT_OK, BadConfig
from catd_node.lifecycle import EXIT_NOTE_ENV, die_with_parent

log = logging.getLogger("catd.supervisor")

SERVICES = ("scan", "web", "sync")
BACKOFF_FIRST_S = 0.5
BACKOFF_CAP_S = 30.0
HEALTHY_AFTER_S = 60.0  # a child up this long gets its backoff reset
STOP_GRACE_S = 10.0
STATE_RETRY_S = 2.0  # run/services.json unwritable (disk full): tried again this often


def _die_with_parent() -> None:
    """In the child: SIGTERM if the supervisor itself is killed, so no orphan keeps the
    scanner folder claimed or the web port bound."""
    die_with_parent(signal.SIGTERM)


@dataclass
class Child:
    service: str
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff_s: float = BACKOFF_FIRST_S
    restart_at: float = 0.0
    last_exit: int | None = None
    history: list[int] = field(default_factory=list)
    config_seen: str = ""                   # catd.toml's fingerprint when it was started
    held: dict[str, str] | None = None      # {what, why}: exited for bad configuration


class Supervisor:
    def __init__(self, datadir: DataDir, services: tuple[str, ...] = SERVICES) -> None:
        self.datadir = datadir
        self.children = {name: Child(name) for name in services}
        self.stopping = False
        self.state_path = datadir.root / "run" / "services.json"
        self.state_unwritable = False
        self.state_retry_at = 0.0

    def command(self, service: str) -> list[str]:
        return [sys.executable, "-m", "catd_node.cli", service, "-d", str(self.datadir.root)]

    def note_path(self, child: Child) -> Path:
        return self.state_path.parent / f"{child.service}.exit.json"

    def start(self, child: Child) -> None:
        note = self.note_path(child)
        try:
            note.parent.mkdir(exist_ok=True)
            note.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("exit_note_unusable path=%s error=%s", note, exc)
        child.config_seen = config.fingerprint(self.datadir.config_path)
        child.held = None
        env = {**os.environ, EXIT_NOTE_ENV: str(note)}
        child.proc = subprocess.Popen(self.command(child.service), preexec_fn=_die_with_parent, env=env)
        child.started_at = time.monotonic()
        log.info("started service=%s pid=%d restarts=%d", child.service, child.proc.pid, child.restarts)
        self.write_state()

    def reap(self, now: float) -> None:
        """Notice dead children and schedule or perform their restart."""
        for child in self.children.values():
            if child.proc is not None:
                rc = child.proc.poll()
                if rc is None:
                    if now - child.started_at >= HEALTHY_AFTER_S:
                        child.backoff_s = BACKOFF_FIRST_S
                    continue
                child.last_exit = rc
                child.history.append(rc)
                child.proc = None
                child.held = self._bad_config(child)
                if child.held is not None:
                    log.error("service held service=%s rc=%d reason=%s: %s (not restarted until "
                              "catd.toml changes)", child.service, rc, child.held["what"], child.held["why"])
                    self.write_state()
                    continue
                child.restart_at = now + child.backoff_s
                log.warning(
                    "service died service=%s rc=%d restart_in=%.1fs", child.service, rc, child.backoff_s
                )
                child.backoff_s = min(child.backoff_s * 2, BACKOFF_CAP_S)
                self.write_state()
            elif child.held is not None:
                if not self.stopping and config.fingerprint(self.datadir.config_path) != child.config_seen:
                    log.info("configuration changed: restarting service=%s", child.service)
                    child.backoff_s = BACKOFF_FIRST_S
                    child.restarts += 1
                    self.start(child)
            elif now >= child.restart_at and not self.stopping:
                if child.last_exit is not None:
                    child.restarts += 1
                self.start(child)

    def _bad_config(self, child: Child) -> dict[str, str] | None:
        """{what, why} when the child's exit note says a bad configuration stopped it."""
        note = self.note_path(child)
        try:
            doc = json.loads(note.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        finally:
            note.unlink(missing_ok=True)
        if not isinstance(doc, dict) or doc.get("config") is not True:
            return None
        return {"what": str(doc.get("what", "")), "why": str(doc.get("why", ""))}

    def stop_all(self) -> None:
        """SIGTERM every child, wait for them, SIGKILL what is left."""
        self.stopping = True
        live = [c.proc for c in self.children.values() if c.proc is not None]
        for proc in live:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for proc in live:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("service ignored SIGTERM pid=%d, killing", proc.pid)
                proc.kill()
                proc.wait()
        for child in self.children.values():
            child.proc = None
        self.write_state()

    def write_state(self) -> None:
        """`run/services.json`: pid, restarts and last exit of each service (for the coordinator).

        Never fatal: on a full disk (issue 23) the supervisor logs and keeps its children running;
        the file is rewritten at the next change once there is room."""
        try:
            self._write_state()
        except OSError as exc:
            if not self.state_unwritable:
                log.error("state_unwritable path=%s error=%s (services keep running; retried at the "
                          "next change)", self.state_path, exc)
            self.state_unwritable = True
            self.state_path.with_suffix(".tmp").unlink(missing_ok=True)
            return
        if self.state_unwritable:
            log.info("state_written path=%s (writable again)", self.state_path)
        self.state_unwritable = False

    def _write_state(self) -> None:
        self.state_path.parent.mkdir(exist_ok=True)
        doc = {
            "supervisor_pid": os.getpid(),
            "stopping": self.stopping,
            "services": {
                c.service: {
                    "pid": c.proc.pid if c.proc else None,
                    "restarts": c.restarts,
                    "last_exit": c.last_exit,
                    "held": c.held,
                }
                for c in self.children.values()
            },
        }
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=2), encoding="utf-8")
        os.replace(tmp, self.state_path)

    def run(self, poll_s: float = 0.2) -> int:
        def request_stop(signum: int, _frame: object) -> None:
            log.info("stopping on signal=%s", signal.Signals(signum).name)
            self.stopping = True

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        try:
            while not self.stopping:
                now = time.monotonic()
                self.reap(now)
                if self.state_unwritable and now >= self.state_retry_at:
                    self.state_retry_at = now + STATE_RETRY_S
                    self.write_state()
                time.sleep(poll_s)
        finally:
            self.stop_all()
        log.info("all services stopped")
        return EXIT_OK


def main(datadir: DataDir) -> int:
    if not datadir.config_path.exists():  # a wrong -d: nothing to supervise
        raise BadConfig(str(datadir.root), "not a CATD data directory (run `catd-node init`)")
    try:
        datadir.config  # noqa: B018 - named now; the children are held until it is fixed
    except BadConfig as exc:
        log.error("bad configuration %s: %s (services wait until catd.toml changes)", exc.what, exc.why)
    return Supervisor(datadir).run()


def read_state(root: Path) -> dict[str, object]:
    """The supervisor's state file, for tests and the dashboard."""
    data: dict[str, object] = json.loads((root / "run" / "services.json").read_text(encoding="utf-8"))
    return data
