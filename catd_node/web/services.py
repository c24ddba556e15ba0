"""The services as `catd-node run` supervises them (run/services.json), for the dashboard.

The supervisor rewrites the file on every start, death and stop; this only reads it. No file
means the services were started some other way: "sin supervisor".
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from catd_node import supervisor

LABELS = {"scan": "escaneo", "web": "web", "sync": "sincronización"}
NO_SUPERVISOR = "sin supervisor"
HELD = "en espera: configuración inválida"


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def read(root: Path) -> dict[str, Any]:
    """{"supervisor": state, "supervisor_pid", "by_service": {name: {label, state, pid, restarts,
    last_exit}}}; states in Spanish for the coordinator."""
    try:
        doc = supervisor.read_state(root)
    except FileNotFoundError:
        return {"supervisor": NO_SUPERVISOR, "supervisor_pid": None, "by_service": {}}
    except (OSError, ValueError) as exc:
        return {"supervisor": f"estado ilegible: {exc}", "supervisor_pid": None, "by_service": {}}
    pid = doc.get("supervisor_pid")
    running = _alive(pid)
    stopping = bool(doc.get("stopping"))
    overall = ("detenido" if not running else "deteniéndose" if stopping else "en marcha")
    listed = doc.get("services")
    by_service: dict[str, Any] = {}
    for name, info in (listed.items() if isinstance(listed, dict) else ()):
        info = info if isinstance(info, dict) else {}
        child = info.get("pid")
        held = info.get("held") if isinstance(info.get("held"), dict) else None
        if running and held is not None and child is None:
            state = HELD  # exited for a bad configuration: waits for catd.toml to change
        elif running and child is not None:
            state = "en marcha" if _alive(child) else "caído"
        elif running and not stopping:
            state = "reiniciando"
        else:
            state = "detenido"
        by_service[str(name)] = {
            "label": LABELS.get(str(name), str(name)), "state": state,
            "pid": child if isinstance(child, int) else None,
            "restarts": int(info.get("restarts") or 0),
            "last_exit": info.get("last_exit") if isinstance(info.get("last_exit"), int) else None,
            "held": None if held is None else f"{held.get('what', '')}: {held.get('why', '')}",
        }
    return {"supervisor": overall, "supervisor_pid": pid if isinstance(pid, int) else None,
            "by_service": by_service}


async def read_async(root: Path) -> dict[str, Any]:
    """`read` off the event loop (a file read and a few kill(pid, 0))."""
    return await asyncio.get_running_loop().run_in_executor(None, read, root)
