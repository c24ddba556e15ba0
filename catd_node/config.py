"""`catd.toml`: the node configuration, read into frozen dataclasses with named errors."""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from catd_node.errors import BadInput

FORMATS = ("webp", "jpeg")
COLOR_MODES = ("color", "gray")


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
class Config:
    node_id: str
    election: str = "election.json"
    scan: ScanConfig = field(default_factory=ScanConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    web: WebConfig = field(default_factory=WebConfig)
    hq: HQConfig = field(default_factory=HQConfig)


def _get(table: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any,
         where: str) -> Any:
    if key not in table:
        return default
    value = table[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise BadInput(f"{where} {key}" if where.endswith(":") else f"{where}.{key}",
                       f"expected {names}, got {value!r}")
    return value


def parse(data: dict[str, Any], source: str = "catd.toml") -> Config:
    """Build a Config from parsed TOML, naming the bad field on error."""
    def table(name: str) -> dict[str, Any]:
        value = data.get(name, {})
        if not isinstance(value, dict):
            raise BadInput(f"{source}: [{name}]", "expected a table")
        return value

    node_id = _get(data, "node_id", str, None, f"{source}:")
    if not node_id:
        raise BadInput(f"{source}: node_id", "missing")
    scan_t, image_t, web_t, hq_t = table("scan"), table("image"), table("web"), table("hq")
    folders_t = scan_t.get("folders", ScanConfig().folders)
    if not isinstance(folders_t, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in folders_t.items()
    ):
        raise BadInput(f"{source}: [scan.folders]", "expected scanner-id = \"folder\" lines")
    scan = ScanConfig(
        settle_ms=_get(scan_t, "settle_ms", int, 1500, f"{source}: scan"),
        rescan_s=_get(scan_t, "rescan_s", int, 300, f"{source}: scan"),
        poll=_get(scan_t, "poll", bool, False, f"{source}: scan"),
        max_settle_s=_get(scan_t, "max_settle_s", int, 600, f"{source}: scan"),
        empty_s=_get(scan_t, "empty_s", int, 600, f"{source}: scan"),
        folders=dict(folders_t),
    )
    image = ImageConfig(
        dpi=_get(image_t, "dpi", int, 200, f"{source}: image"),
        format=_get(image_t, "format", str, "webp", f"{source}: image"),
        quality=_get(image_t, "quality", int, 60, f"{source}: image"),
        color=_get(image_t, "color", str, "color", f"{source}: image"),
    )
    if image.format not in FORMATS:
        raise BadInput(f"{source}: image.format", f"must be one of {FORMATS}, got {image.format!r}")
    if image.color not in COLOR_MODES:
        raise BadInput(f"{source}: image.color", f"must be one of {COLOR_MODES}")
    if not 150 <= image.dpi <= 600:
        raise BadInput(f"{source}: image.dpi", "must be 150–600 (below 150 handwriting blurs)")
    if not 1 <= image.quality <= 100:
        raise BadInput(f"{source}: image.quality", "must be 1–100")
    if scan.settle_ms < 0 or scan.rescan_s < 1:
        raise BadInput(f"{source}: scan", "settle_ms must be ≥ 0 and rescan_s ≥ 1")
    if scan.max_settle_s * 1000 < scan.settle_ms or scan.empty_s < 1:
        raise BadInput(f"{source}: scan", "max_settle_s must be ≥ settle_ms and empty_s ≥ 1")
    web = _web(web_t, source)
    urls = _get(hq_t, "urls", list, [], f"{source}: hq")
    if not all(isinstance(u, str) and u.startswith(("http://", "https://")) for u in urls):
        raise BadInput(f"{source}: hq.urls", "expected a list of http(s) URLs")
    hq = HQConfig(urls=tuple(urls), pubkey=_get(hq_t, "pubkey", str, None, f"{source}: hq"))
    return Config(
        node_id=node_id, election=_get(data, "election", str, "election.json", f"{source}:"),
        scan=scan, image=image, web=web, hq=hq,
    )


def _strings(table: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    values = _get(table, key, list, [], where)
    if not all(isinstance(v, str) and v.strip() for v in values):
        raise BadInput(f"{where}.{key}", "expected a list of non-empty strings")
    return tuple(v.strip() for v in values)


def _web(web_t: dict[str, Any], source: str) -> WebConfig:
    where = f"{source}: web"
    web = WebConfig(
        host=_get(web_t, "host", str, "0.0.0.0", where),
        port=_get(web_t, "port", int, 8080, where),
        trusted_proxies=_strings(web_t, "trusted_proxies", where),
        secure_cookies=_get(web_t, "secure_cookies", bool, False, where),
        trusted_origins=_strings(web_t, "trusted_origins", where),
        max_connections_per_client=_get(web_t, "max_connections_per_client", int, 32, where),
        request_timeout_s=_get(web_t, "request_timeout_s", int, 30, where),
    )
    if not 0 <= web.port <= 65535:
        raise BadInput(f"{source}: web.port", f"{web.port} is not a TCP port")
    for proxy in web.trusted_proxies:
        try:
            ipaddress.ip_address(proxy)
        except ValueError as exc:
            raise BadInput(f"{source}: web.trusted_proxies", f"{proxy!r} is not an IP address") from exc
    for origin in web.trusted_origins:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or origin.endswith("/"):
            raise BadInput(f"{source}: web.trusted_origins",
                           f"{origin!r} is not an origin like \"https://catd.example\" (no path)")
    if web.max_connections_per_client < 1:
        raise BadInput(f"{source}: web.max_connections_per_client", "must be ≥ 1")
    if not 1 <= web.request_timeout_s <= 3600:
        raise BadInput(f"{source}: web.request_timeout_s", "must be 1–3600")
    return web


def load(path: Path) -> Config:
    """Read and parse `catd.toml`."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BadInput(str(path), "not found (run `catd-node init` first)") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(str(path), f"not valid TOML ({exc})") from exc
    return parse(data, str(path))


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml_list(values: tuple[str, ...]) -> str:
    return ", ".join(_toml_str(v) for v in values)


def render(config: Config) -> str:
    """The TOML text of `config`, in the layout CONTRACTS.md documents."""
    folders = "\n".join(f"{_toml_str(k)} = {_toml_str(v)}" for k, v in config.scan.folders.items())
    urls = _toml_list(config.hq.urls)
    pubkey = f"pubkey = {_toml_str(config.hq.pubkey)}" if config.hq.pubkey else "# pubkey = \"hq.pub\""
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
"""
