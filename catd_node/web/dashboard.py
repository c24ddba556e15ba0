"""The coordinator's dashboard, `/status` JSON and `/metrics` (Prometheus text format)."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from catd_node import diskfull
from catd_node import status as node_status
from catd_node.actas import CLASS_LABELS, SIN_ACTA_LABELS
from catd_node.blobs import check_name
from catd_node.catalog import Election
from catd_node.datadir import DataDir
from catd_node.errors import BadInput
from catd_node.web import forms, rules, services
from catd_node.web.state import BOARD, DATADIR, DB, ELECTION, STATUS_TOKEN, clerk, now, render, require

log = logging.getLogger("catd.web.dashboard")
LINK_FRESH_S = 120


def _status(conn: sqlite3.Connection, node_id: str, election: Election,
            hq_problem: str | None) -> dict[str, Any]:
    try:
        return node_status.status(conn, node_id, election, hq_problem)
    except (sqlite3.Error, AttributeError, ImportError, KeyError) as exc:
        # sync.receipts may not exist yet, or its tables may not be created: report without HQ
        log.warning("hq summary unavailable: %s", exc)
        top = node_status.ledger.head(conn)
        return {"node_id": node_id, "head": {"seq": top.seq, "hash": top.hash},
                "packets": int(conn.execute("SELECT COUNT(*) FROM packets").fetchone()[0]),
                "actas": node_status.acta_counts(conn, node_status.expected(election, node_id), election,
                                                 node_id),
                "quarantined": int(conn.execute(
                    "SELECT COUNT(*) FROM packets WHERE kind = 'scan.quarantined'").fetchone()[0]),
                "hq": {"acked_seq": 0, "last_receipt_at": None, "last_error": f"no disponible: {exc}",
                       "configured": hq_problem is None, "problem": hq_problem}}


PROBLEM_LABELS = {  # for the coordinator, in Spanish; the JSON keeps the English reason
    "catd.toml: hq.urls": "falta la dirección de HQ (hq.urls en catd.toml)",
    "catd.toml: hq.pubkey": "falta la llave pública de HQ o no se puede leer (hq.pubkey en catd.toml)",
}


def problem_label(problem: str) -> str:
    return next((label for start, label in PROBLEM_LABELS.items() if problem.startswith(start)),
                f"catd.toml no se puede usar ({problem})")


def _hq_problem(root: Path) -> str | None:
    """Read afresh: catd.toml may have been edited since the web app started (sync picks it up)."""
    problem = DataDir(root).hq_problem()
    return None if problem is None else f"{problem.what}: {problem.why}"


def _age_s(stamp: str | None, at: float) -> float | None:
    if not stamp:
        return None
    try:
        then = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)
        return max(0.0, at - then.timestamp())
    except ValueError:
        return None


async def snapshot(request: web.Request) -> dict[str, Any]:
    """Status of the node plus what the web app knows (sent to HQ, link, disk)."""
    datadir = request.app[DATADIR]
    board = request.app[BOARD]
    db = request.app[DB]
    await board.refresh(db.read)
    problem = await asyncio.get_running_loop().run_in_executor(None, _hq_problem, datadir.root)
    doc = await db.read(_status, datadir.config.node_id, request.app[ELECTION], problem)
    hq = doc["hq"]
    acked = int(hq.get("acked_seq") or 0)
    doc["actas"]["sent_to_hq"] = sum(
        1 for s in board.actas.values() if s.verified and s.verified.seq <= acked)
    doc["actas"]["mismatched"] = len(board.mismatched())
    doc["actas"]["second_image"] = len(board.second_images())
    age = _age_s(hq.get("last_receipt_at"), now(request))
    doc["hq"]["lag_packets"] = max(0, doc["head"]["seq"] - acked)
    doc["hq"]["receipt_age_s"] = None if age is None else round(age, 1)
    doc["hq"]["problem_label"] = None if problem is None else problem_label(problem)
    doc["hq"]["link"] = ("sin configurar" if problem is not None else
                         "en línea" if age is not None and age <= LINK_FRESH_S and not hq.get("last_error")
                         else "sin conexión")
    usage = shutil.disk_usage(datadir.root)
    disk = await asyncio.get_running_loop().run_in_executor(None, diskfull.of_datadir, datadir)
    doc["disk"] = {**disk, "free_bytes": usage.free if disk["state"] == "ok" else disk["free_bytes"],
                   "total_bytes": usage.total}
    doc["services"] = await services.read_async(datadir.root)
    return doc


def status_token(path: Path) -> str:
    """The monitoring token in `path` (data dir, mode 0600), made on first use.

    Whoever can read the data dir (the catd user, root) can monitor; "the peer is 127.0.0.1"
    is no proof, as behind a reverse proxy every request comes from there."""
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(token + "\n")
    return token


def _visible(request: web.Request) -> bool:
    """A signed-in coordinator, or monitoring with `Authorization: Bearer <status.token>`."""
    who = clerk(request)
    if who is not None and who.role == "coordinador":
        return True
    sent = request.headers.get("Authorization", "")
    expected = request.app[STATUS_TOKEN]
    return sent.startswith("Bearer ") and secrets.compare_digest(
        sent.removeprefix("Bearer ").strip().encode(), expected.encode())


async def status_json(request: web.Request) -> web.StreamResponse:
    if not _visible(request):
        raise web.HTTPForbidden(text="solo para coordinación")
    return web.json_response(await snapshot(request), headers={"Cache-Control": "no-store"})


async def metrics(request: web.Request) -> web.StreamResponse:
    if not _visible(request):
        raise web.HTTPForbidden(text="solo para coordinación")
    doc = await snapshot(request)
    lines = ["# HELP catd_actas Actas by stage of the CATD procedure.", "# TYPE catd_actas gauge"]
    lines += [f'catd_actas{{stage="{stage}"}} {int(n)}' for stage, n in doc["actas"].items()]
    for name, value, text in (
        ("catd_head_seq", doc["head"]["seq"], "Sequence number of the last packet."),
        ("catd_packets", doc["packets"], "Packets in the ledger."),
        ("catd_quarantined", doc["quarantined"], "Files quarantined by the scanner service."),
        ("catd_hq_acked_seq", int(doc["hq"].get("acked_seq") or 0), "Last packet HQ acknowledged."),
        ("catd_hq_lag_packets", doc["hq"]["lag_packets"], "Packets not yet acknowledged by HQ."),
        ("catd_disk_free_bytes", doc["disk"]["free_bytes"], "Free bytes on the data dir's disk."),
        ("catd_disk_full", int(doc["disk"]["state"] == "full"), "Ingest paused: the disk is full (1)."),
        ("catd_claimed_waiting", doc["disk"]["claimed_waiting"], "Files waiting in .claimed/."),
    ):
        lines += [f"# HELP {name} {text}", f"# TYPE {name} gauge", f"{name} {int(value)}"]
    by_service = doc["services"]["by_service"]
    if by_service:
        lines += ["# HELP catd_service_up Service running under the supervisor (1) or not (0).",
                  "# TYPE catd_service_up gauge"]
        lines += [f'catd_service_up{{service="{name}"}} {int(info["state"] == "en marcha")}'
                  for name, info in by_service.items()]
        lines += ["# HELP catd_service_restarts Restarts of the service by the supervisor.",
                  "# TYPE catd_service_restarts gauge"]
        lines += [f'catd_service_restarts{{service="{name}"}} {int(info["restarts"])}'
                  for name, info in by_service.items()]
    stats = request.app[DB].stats
    for name, value, text in (
        ("catd_web_commits_total", stats.groups, "Write transactions committed by the web app (groups)."),
        ("catd_web_commit_steps_total", stats.steps, "Submits carried by those commits."),
        ("catd_web_commit_failed_steps_total", stats.failed_steps,
         "Submits refused inside a group (undone alone)."),
    ):
        lines += [f"# HELP {name} {text}", f"# TYPE {name} counter", f"{name} {int(value)}"]
    lines += ["# HELP catd_web_commit_group_largest Most submits one commit has carried.",
              "# TYPE catd_web_commit_group_largest gauge", f"catd_web_commit_group_largest {stats.largest}"]
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain",
                        headers={"Cache-Control": "no-store"}, charset="utf-8")


@require("coordinador")
async def dashboard(request: web.Request) -> web.StreamResponse:
    done = request.query.get("hecho", "")
    return await _dashboard(request, message=DECIDED.get(done))


DECIDED = {"conservada": "Se conservó la imagen del acta; la otra imagen queda aparte.",
           "reemplazada": "La otra imagen es ahora la imagen del acta; el acta se captura de nuevo "
                          "sobre ella."}


async def _dashboard(request: web.Request, message: str | None = None, warning: str | None = None,
                     status: int = 200) -> web.Response:
    doc = await snapshot(request)
    board = request.app[BOARD]
    stages = [("Esperadas (catálogo)", "expected"), ("Recibidas (acopio)", "received"),
              ("Digitalizadas", "digitized"), ("Sin identificar", "unidentified"),
              ("Capturadas", "captured"), ("Verificadas", "verified"),
              ("Con discrepancia", "mismatched"), ("Con otra imagen sin resolver", "second_image"),
              ("Sin acta", "sin_acta"), ("Enviadas a HQ", "sent_to_hq")]
    expected = max(1, doc["actas"]["expected"])
    rows = [{"label": label, "n": doc["actas"][k], "pct": min(100, round(100 * doc["actas"][k] / expected))}
            for label, k in stages]
    actas_list = sorted(board.actas.values(), key=lambda s: s.key)
    return render(request, "dashboard.html", {
        "doc": doc, "rows": rows, "actas": actas_list, "quarantine": list(reversed(board.quarantine[-50:])),
        "free_gb": doc["disk"]["free_bytes"] / 1e9, "class_labels": _labels(),
        "foreign": board.foreign_actas(), "sin_actas": board.sin_actas(), "sin_acta_labels": SIN_ACTA_LABELS,
        "second_images": board.second_images(), "message": message, "warning": warning}, status=status)


@require("coordinador")
async def second_image_submit(request: web.Request) -> web.StreamResponse:
    """The coordinator decides on a second image of an acta: keep the acta's image
    (`acta.image_kept`) or make the other its image (a confirmed replacement, `acta.assigned`)."""
    form = await request.post()
    key, other = str(form.get("acta", "")), str(form.get("imagen", ""))
    decision = str(form.get("decision", ""))
    who = clerk(request)
    assert who is not None
    try:
        sha = check_name(other)
        key = forms.check_key(key, request.app[ELECTION].actas)
        if decision == "conservar":
            packet = await request.app[DB].write(rules.keep_image, key, sha, who.name)
        elif decision == "reemplazar":
            packet = await request.app[DB].write(rules.assign, key, sha, who.name, True)
        else:
            raise BadInput("decision", "elija conservar la imagen del acta o reemplazarla")
    except BadInput as exc:
        return await _dashboard(request, warning=f"{exc.what}: {exc.why}.", status=422)
    except rules.Refused as exc:
        return await _dashboard(request, warning=f"{exc.what}: {exc.why}.", status=exc.status)
    log.info("second image decided acta=%s other=%s decision=%s seq=%d", key, sha[:12], decision, packet.seq)
    done = "conservada" if decision == "conservar" else "reemplazada"
    raise web.HTTPSeeOther(f"/tablero?hecho={done}#otra-imagen")


def _labels() -> dict[str, str]:
    return CLASS_LABELS
