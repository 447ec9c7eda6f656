"""Real HTTP against pytest-django's live server, as a browser sends it: cookies, the CSRF token, one
client address per visitor (the server trusts one proxy in these tests, so X-Forwarded-For names it).

Tests that use it need `live_server` and a transactional database.
"""

from __future__ import annotations

import html
import re

import requests

TIMEOUT = 60


class Visitor:
    """One browser: a requests session with its cookies, from `address`."""

    def __init__(self, base_url: str, *, address: str = "198.51.100.1"):
        self.base = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["X-Forwarded-For"] = address

    def url(self, path: str) -> str:
        return path if path.startswith("http") else self.base + path

    def get(self, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("allow_redirects", False)
        return self.session.get(self.url(path), timeout=TIMEOUT, **kwargs)

    def csrf(self) -> str:
        if "csrftoken" not in self.session.cookies:
            self.get("/login/")
        return self.session.cookies["csrftoken"]

    def post(self, path: str, data: dict | None = None, **kwargs) -> requests.Response:
        """A form post with the CSRF token, as the page's form sends it."""
        kwargs.setdefault("allow_redirects", False)
        token = self.csrf()
        headers = {"Referer": self.url(path), **kwargs.pop("headers", {})}
        return self.session.post(
            self.url(path),
            data={**(data or {}), "csrfmiddlewaretoken": token},
            headers=headers,
            timeout=TIMEOUT,
            **kwargs,
        )

    def api(self, method: str, path: str, *, token: str, json: dict | None = None) -> requests.Response:
        headers = {"Authorization": f"Token {token}"}
        return self.session.request(method, self.url(path), json=json, headers=headers, timeout=TIMEOUT)

    def login(self, username: str, password: str) -> requests.Response:
        return self.post("/login/", {"username": username, "password": password})

    def signed_in(self) -> bool:
        return "sessionid" in self.session.cookies


def error_texts(page: str) -> list[str]:
    """The texts of the page's error messages (`class="error"` elements)."""
    found = re.findall(r'class="error[^"]*"[^>]*>(.*?)</', page, re.S)
    return [html.unescape(re.sub(r"\s+", " ", text).strip()) for text in found]
