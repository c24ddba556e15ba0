"""A clerk's browser, over plain HTTP: cookies, the page's forms, submitting them as a browser does.

The rehearsal drives the real web app the way Chromium would: it keeps the session cookie,
reads each page's forms (hidden fields and CSRF token included), fills the visible inputs
and posts them with the Origin and Sec-Fetch-Site headers a browser sends, following the
303 to the next page. No endpoint is called that a page does not offer.
"""

from __future__ import annotations

import asyncio
import html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import aiohttp

RETRY_STATUSES = frozenset({502, 503, 504})


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)       # name → value as the page gives it
    inputs: list[str] = field(default_factory=list)            # visible text inputs, page order
    selects: dict[str, list[str]] = field(default_factory=dict)  # name → option values
    unchecked: dict[str, str] = field(default_factory=dict)      # checkbox name → value if ticked


@dataclass
class Page:
    status: int
    url: str
    html: str
    forms: list[Form]

    def form(self, action: str) -> Form | None:
        """The first form posting to `action` (path only)."""
        return next((f for f in self.forms if f.action.split("?")[0] == action), None)

    def text(self) -> str:
        return _Text.of(self.html)


_FORM = re.compile(r"<form\b([^>]*)>(.*?)</form\s*>", re.S | re.I)
_TAG = re.compile(r"<(input|select|option|/select)\b([^>]*)>", re.I)
_ATTR = re.compile(r"""([^\s=/>"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?""")


def _attrs(text: str) -> dict[str, str]:
    return {m.group(1).lower(): html.unescape(m.group(2) or m.group(3) or m.group(4) or "")
            for m in _ATTR.finditer(text)}


def _form(head: str, body: str) -> Form:
    """One form's fields, as a browser would submit them (the app's pages are well formed:
    a few regular expressions read them some 20× faster than html.parser, which mattered at
    several pages per acta)."""
    a = _attrs(head)
    form = Form(action=a.get("action", ""), method=a.get("method", "get").lower())
    select: str | None = None
    chosen = False
    for match in _TAG.finditer(body):
        tag, attrs = match.group(1).lower(), _attrs(match.group(2))
        if tag == "input" and attrs.get("name"):
            name, kind = attrs["name"], attrs.get("type", "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                if kind == "checkbox":
                    form.unchecked[name] = attrs.get("value", "on")
                continue
            if kind not in ("submit", "button", "file"):
                form.fields[name] = attrs.get("value", "")
            if kind in ("text", "number", "tel"):
                form.inputs.append(name)
        elif tag == "select" and attrs.get("name"):
            select, chosen = attrs["name"], False
            form.selects[select] = []
        elif tag == "option" and select is not None:
            value = attrs.get("value", "")
            form.selects[select].append(value)
            if "selected" in attrs or (not chosen and len(form.selects[select]) == 1):
                form.fields[select] = value    # the selected option, else the first
                chosen = chosen or "selected" in attrs
        elif tag == "/select":
            select = None
    return form


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.skip += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self.skip -= tag in ("script", "style") and self.skip > 0

    def handle_data(self, data: str) -> None:
        if not self.skip and data.strip():
            self.parts.append(" ".join(data.split()))

    @classmethod
    def of(cls, page: str) -> str:
        parser = cls()
        parser.feed(page)
        return " ".join(parser.parts)


def forms_of(page: str) -> list[Form]:
    return [_form(m.group(1), m.group(2)) for m in _FORM.finditer(page)]


class Browser:
    """One clerk's browser on one node's web app; `await close()` when done."""

    def __init__(self, base: str, *, retry_for: float = 60.0) -> None:
        self.base = base.rstrip("/")
        self.retry_for = retry_for
        # unsafe=True: the node is addressed by IP (127.0.0.1), whose cookies aiohttp drops by default.
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                             timeout=aiohttp.ClientTimeout(total=60))
        self.requests = 0

    async def close(self) -> None:
        await self.session.close()

    async def _request(self, method: str, path: str, **kw: Any) -> Page:
        """One request, retried while the web service is down or restarting (its supervisor
        brings it back): a clerk reloads the page until it answers."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry_for
        delay = 0.05
        while True:
            try:
                self.requests += 1
                async with self.session.request(method, self.base + path, **kw) as response:
                    body = await response.text()
                    if response.status not in RETRY_STATUSES:
                        return Page(response.status, str(response.url), body, forms_of(body))
            except (TimeoutError, aiohttp.ClientConnectionError):
                if loop.time() > deadline:
                    raise
            if loop.time() > deadline:
                raise ConnectionError(f"{self.base}{path}: no answer for {self.retry_for:.0f} s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def get(self, path: str) -> Page:
        return await self._request("GET", path)

    async def get_bytes(self, path: str) -> bytes:
        async with self.session.get(self.base + path) as response:
            response.raise_for_status()
            return await response.read()

    async def submit(self, form: Form, values: dict[str, str] | None = None) -> Page:
        """Post `form` with the page's own fields, `values` typed over them."""
        data = {**form.fields, **(values or {})}
        headers = {"Origin": self.base, "Sec-Fetch-Site": "same-origin"}
        return await self._request("POST", form.action, data=data, headers=headers)

    async def login(self, user: str, password: str) -> Page:
        page = await self.get("/login")
        form = page.form("/login")
        if form is None:  # already signed in: the app sends us home
            return page
        done = await self.submit(form, {"usuario": user, "contrasena": password})
        if done.form("/login") is not None:
            raise PermissionError(f"{self.base}: login as {user} refused: {done.text()[:200]}")
        return done
