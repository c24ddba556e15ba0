"""`catd.toml`: the node configuration, read into frozen dataclasses with named errors.

Each key's default is declared once, on its dataclass field; `parse` reads every field of a
section by its declared type, then checks the ranges. A bad configuration raises BadConfig
(exit 2), which the supervisor holds until catd.toml changes instead of restarting the child
in a loop.
"""

from __future__ import annotations

import hashlib
import ipaddress
import tomllib
import typing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from catd_node.errors import BadConfig

FORMATS = ("webp", "jpeg")
COLOR_MODES = ("color", "gray")
T = TypeVar("T")


@dataclass(frozen=True)
class ScanConfig:
    settle_ms: int = 1500
    rescan_s: int = 300
    poll: bool = False  # PollingObserver for network mounts where inotify is silent
    max_settle_s: int = 600  # a file still changing after this is quarantined "never_settled"
    empty_s: int = 600  # a 0-byte file still empty after this is quarantined "empty"
    folders: dict[str, str] = field(default_factory=lambda: {"scanner-1": "inbox/scanner-1"})


@dataclass(frozen=True)
class ImageConfig:
    dpi: int = 200
    format: str = "webp"
    quality: int = 60
    color: str = "color"


@dataclass(frozen=True)
class WebConfig:
    host: str = "0.0.0.0"
    port: int = 8080
    # A reverse proxy in front: its addresses (X-Forwarded-For/-Proto are honoured only from
    # them, and they have no per-client connection cap), cookies marked Secure (HTTPS), and
    # extra origins a state-changing request may come from (e.g. "https://catd.example").
    trusted_proxies: tuple[str, ...] = ()
    secure_cookies: bool = False
    trusted_origins: tuple[str, ...] = ()
    max_connections_per_client: int = 32
    request_timeout_s: int = 30  # a request head, and a form body, must arrive within this


@dataclass(frozen=True)
class HQConfig:
    urls: tuple[str, ...] = ()
    pubkey: str | None = None


@dataclass(frozen=True)
class SyncConfig:
    """The optional `[sync]` table (seconds unless named otherwise)."""

    retry_base_s: float = 1.0
    retry_cap_s: float = 30.0
    retry_budget_s: float = 25.0      # sync --once: give up (exit 3) after this long unreachable
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    poll_s: float = 2.0               # service: look for new packets (and a changed catd.toml)
    failback_s: float = 300.0         # go back to the first URL after this long on another
    stopped_pause_s: float = 300.0    # service: after a refusal, try again this much later
    blob_workers: int = 4
    recheck_s: float = 60.0           # service: ask HQ this often which of our images it lacks


@dataclass(frozen=True)
class Config:
    node_id: str
    election: str = "election.json"
    scan: ScanConfig = field(default_factory=ScanConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    web: WebConfig = field(default_factory=WebConfig)
    hq: HQConfig = field(default_factory=HQConfig)
    sync: SyncConfig = field(default_factory=SyncConfig)


def _name(kind: Any) -> str:
    return {float: "number", tuple: "list"}.get(kind, getattr(kind, "__name__", str(kind)))


def _value(value: Any, hint: Any, what: str) -> Any:
    """`value` as the field's declared type (int, float, bool, str, str | None, tuple[str, ...])."""
    kinds = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, type(int | str)) else (hint,)
    for kind in kinds:
        origin = typing.get_origin(kind) or kind
        if kind is type(None) or isinstance(value, bool) != (kind is bool):
            continue
        if kind is float and isinstance(value, int | float):
            return float(value)
        if origin is tuple and isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        if origin is not tuple and isinstance(value, origin):
            return value
    names = " or ".join(_name(typing.get_origin(k) or k) for k in kinds if k is not type(None))
    raise BadConfig(what, f"expected {names}, got {value!r}")


def _section(cls: type[T], table: dict[str, Any], where: str, skip: tuple[str, ...] = ()) -> T:
    """A section's dataclass from its TOML table: each key present read by its declared type,
    the others left to the field's one declared default."""
    hints = typing.get_type_hints(cls)
    values = {f.name: _value(table[f.name], hints[f.name],
                             f"{where} {f.name}" if where.endswith(":") else f"{where}.{f.name}")
              for f in fields(cls) if f.name in table and f.name not in skip}  # type: ignore[arg-type]
    return cls(**values)


def parse(data: dict[str, Any], source: str = "catd.toml") -> Config:
    """Build a Config from parsed TOML, naming the bad field on error."""
    def table(name: str) -> dict[str, Any]:
        value = data.get(name, {})
        if not isinstance(value, dict):
            raise BadConfig(f"{source}: [{name}]", "expected a table")
        return value

    if "node_id" not in data:
        raise BadConfig(f"{source}: node_id", "missing")
    top = _section(Config, data, f"{source}:", skip=("scan", "image", "web", "hq", "sync"))
    if not top.node_id:
        raise BadConfig(f"{source}: node_id", "missing")
    scan_t = table("scan")
    folders_t = scan_t.get("folders", ScanConfig().folders)
    if not isinstance(folders_t, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in folders_t.items()
    ):
        raise BadConfig(f"{source}: [scan.folders]", "expected scanner-id = \"folder\" lines")
    scan = replace(_section(ScanConfig, scan_t, f"{source}: scan", skip=("folders",)),
                   folders=dict(folders_t))
    image = _section(ImageConfig, table("image"), f"{source}: image")
    web = _section(WebConfig, table("web"), f"{source}: web")
    web = replace(web, trusted_proxies=tuple(v.strip() for v in web.trusted_proxies),
                  trusted_origins=tuple(v.strip() for v in web.trusted_origins))
    hq = _section(HQConfig, table("hq"), f"{source}: hq")
    sync = _section(SyncConfig, table("sync"), f"{source}: sync")
    _check(source, scan, image, web, hq, sync)
    return Config(node_id=top.node_id, election=top.election, scan=scan, image=image, web=web, hq=hq,
                  sync=sync)


def _check(source: str, scan: ScanConfig, image: ImageConfig, web: WebConfig, hq: HQConfig,
           sync: SyncConfig) -> None:
    """The ranges each section's values must lie in."""
    if image.format not in FORMATS:
        raise BadConfig(f"{source}: image.format", f"must be one of {FORMATS}, got {image.format!r}")
    if image.color not in COLOR_MODES:
        raise BadConfig(f"{source}: image.color", f"must be one of {COLOR_MODES}")
    if not 150 <= image.dpi <= 600:
        raise BadConfig(f"{source}: image.dpi", "must be 150–600 (below 150 handwriting blurs)")
    if not 1 <= image.quality <= 100:
        raise BadConfig(f"{source}: image.quality", "must be 1–100")
    if scan.settle_ms < 0 or scan.rescan_s < 1:
        raise BadConfig(f"{source}: scan", "settle_ms must be ≥ 0 and rescan_s ≥ 1")
    if scan.max_settle_s * 1000 < scan.settle_ms or scan.empty_s < 1:
        raise BadConfig(f"{source}: scan", "max_settle_s must be ≥ settle_ms and empty_s ≥ 1")
    _check_web(source, web)
    if not all(u.startswith(("http://", "https://")) for u in hq.urls):
        raise BadConfig(f"{source}: hq.urls", "expected a list of http(s) URLs")
    for f in fields(SyncConfig):
        if (value := getattr(sync, f.name)) < 0:
            raise BadConfig(f"{source}: sync.{f.name}", f"expected a number ≥ 0, got {value!r}")
    if sync.blob_workers < 1:
        raise BadConfig(f"{source}: sync.blob_workers", "expected at least 1")


def _check_web(source: str, web: WebConfig) -> None:
    if not 0 <= web.port <= 65535:
        raise BadConfig(f"{source}: web.port", f"{web.port} is not a TCP port")
    for key in ("trusted_proxies", "trusted_origins"):
        if not all(v.strip() for v in getattr(web, key)):
            raise BadConfig(f"{source}: web.{key}", "expected a list of non-empty strings")
    for proxy in web.trusted_proxies:
        try:
            ipaddress.ip_address(proxy)
        except ValueError as exc:
            raise BadConfig(f"{source}: web.trusted_proxies", f"{proxy!r} is not an IP address") from exc
    for origin in web.trusted_origins:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or origin.endswith("/"):
            raise BadConfig(f"{source}: web.trusted_origins",
                            f"{origin!r} is not an origin like \"https://catd.example\" (no path)")
    if web.max_connections_per_client < 1:
        raise BadConfig(f"{source}: web.max_connections_per_client", "must be ≥ 1")
    if not 1 <= web.request_timeout_s <= 3600:
        raise BadConfig(f"{source}: web.request_timeout_s", "must be 1–3600")


def load(path: Path) -> Config:
    """Read and parse `catd.toml`."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BadConfig(str(path), "not found (run `catd-node init` first)") from exc
    except OSError as exc:
        raise BadConfig(str(path), f"unreadable ({exc.strerror})") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BadConfig(str(path), f"not valid TOML ({exc})") from exc
    return parse(data, str(path))


def fingerprint(path: Path) -> str:
    """What a change of configuration changes: catd.toml's bytes and the identity of the files it
    names (the election, HQ's key). Services and the supervisor compare it to notice an edit."""
    digest = hashlib.sha256()
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"unreadable:{exc.errno}"
    digest.update(data)
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        doc = {}
    hq = doc.get("hq") if isinstance(doc.get("hq"), dict) else {}
    for named in (doc.get("election"), hq.get("pubkey") if isinstance(hq, dict) else None):
        if isinstance(named, str) and named:
            try:
                st = (path.parent / named).stat()
                digest.update(f"\0{named}\0{st.st_size}:{st.st_mtime_ns}:{st.st_ino}".encode())
            except (OSError, ValueError):
                digest.update(f"\0{named}\0missing".encode())
    return digest.hexdigest()


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml_list(values: tuple[str, ...]) -> str:
    return ", ".join(_toml_str(v) for v in values)


def render(config: Config) -> str:
    """The TOML text of `config`, in the layout docs/contracts.md documents."""
    folders = "\n".join(f"{_toml_str(k)} = {_toml_str(v)}" for k, v in config.scan.folders.items())
    urls = _toml_list(config.hq.urls)
    pubkey = f"pubkey = {_toml_str(config.hq.pubkey)}" if config.hq.pubkey else "# pubkey = \"hq.pub\""
    sync = "\n".join(f"{f.name} = {getattr(config.sync, f.name)!r}" for f in fields(SyncConfig))
    return f"""node_id = {_toml_str(config.node_id)}
election = {_toml_str(config.election)}

[scan]
settle_ms = {config.scan.settle_ms}                 # unchanged this long = finished
rescan_s = {config.scan.rescan_s}                   # full rescan: watch events get lost
poll = {str(config.scan.poll).lower()}                      # true on network mounts (no inotify)
max_settle_s = {config.scan.max_settle_s}             # still changing after this: quarantined
empty_s = {config.scan.empty_s}                  # still 0 bytes after this: quarantined

[scan.folders]                   # scanner id = folder (relative to the data dir or absolute)
{folders}

[image]
dpi = {config.image.dpi}
format = {_toml_str(config.image.format)}                  # or "jpeg"
quality = {config.image.quality}
color = {_toml_str(config.image.color)}                 # or "gray"

[web]
host = {_toml_str(config.web.host)}
port = {config.web.port}
# Behind a reverse proxy (deploy/README.md): its addresses, Secure cookies over HTTPS, and
# the public origin clerks use, e.g. trusted_origins = ["https://catd.example"].
trusted_proxies = [{_toml_list(config.web.trusted_proxies)}]
secure_cookies = {str(config.web.secure_cookies).lower()}
trusted_origins = [{_toml_list(config.web.trusted_origins)}]
# Open connections one device may hold; seconds for a request head (and a form body) to come.
max_connections_per_client = {config.web.max_connections_per_client}
request_timeout_s = {config.web.request_timeout_s}

[hq]
urls = [{urls}] # tried in order; the next one on failure
{pubkey}

[sync]                           # the replay to HQ (seconds)
{sync}
"""
