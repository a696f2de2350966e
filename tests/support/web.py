"""The status page of a daemon under test, spoken to as a browser would (cookies, forms), with
the standard library's HTTP client."""
from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from tests.support.configs import PREVIEW_CONFIG
from tests.support.ports import free_port


def web_config(port: int | None = None, base: str = PREVIEW_CONFIG, **server) -> str:
    """``base`` with the status page on 127.0.0.1 (``port``: a free one) and more ``server`` keys."""
    extra = "".join(f'{key} = "{value}"\n' for key, value in server.items())
    text = base.replace("[server]\n", "[server]\n" + extra, 1)
    return text + f'\n[web]\nlisten = "127.0.0.1:{port or free_port()}"\n'


@dataclass
class Answer:
    status: int
    body: str
    headers: dict


class Browser:
    """One browser's cookies, signed in with a link from ``hcq web-login`` (or not at all)."""

    def __init__(self, base: str):
        self.base = base
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    @classmethod
    def signed_in(cls, link: str) -> Browser:
        parts = urllib.parse.urlsplit(link)
        browser = cls(f"{parts.scheme}://{parts.netloc}")
        answer = browser.sign_in(f"{parts.path}?{parts.query}")
        assert answer.status == 200, answer
        return browser

    def sign_in(self, path: str, origin: str | None = None) -> Answer:
        """Open a sign-in link and press its button (the form posts the link's token back, from
        ``origin``: this site's by default)."""
        page = self.get(path)
        found = re.search(r'<form method="post" action="/login">\s*<input type="hidden" name="token" value="([^"]+)"',
                          page.body)
        if not found:
            return page
        return self.post("/login", {"token": found.group(1)}, origin=origin or self.base)

    def _open(self, request: urllib.request.Request) -> Answer:
        try:
            with self.opener.open(request, timeout=60) as response:
                return Answer(response.status, response.read().decode(errors="replace"), dict(response.headers))
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, exc.read().decode(errors="replace"), dict(exc.headers))

    def get(self, path: str) -> Answer:
        return self._open(urllib.request.Request(self.base + path))

    def post(self, path: str, fields: dict, origin: str | None = None) -> Answer:
        headers = {"Origin": origin} if origin else {}
        data = urllib.parse.urlencode(fields).encode()
        return self._open(urllib.request.Request(self.base + path, data=data, headers=headers))

    def cookie(self) -> str:
        """The Cookie header this browser sends."""
        return "; ".join(f"{c.name}={c.value}" for c in self.cookies)

    def csrf(self) -> str:
        """The CSRF token of this browser's session, as its forms carry it."""
        found = re.search(r'name="csrf" value="([^"]+)"', self.get("/").body)
        assert found, "no form with a CSRF token on the printers page"
        return found.group(1)


def get_with_cookie(base: str, path: str, cookie: str) -> list:
    """GET ``path`` with a Cookie header of another browser's (a stolen cookie): [status, body]."""
    request = urllib.request.Request(base + path, headers={"Cookie": cookie})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return [response.status, response.read().decode(errors="replace")]
    except urllib.error.HTTPError as exc:
        return [exc.code, exc.read().decode(errors="replace")]
