"""Content-Security-Policy: on every response, no inline script allowed, and no template needs one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

TEMPLATES = Path(settings.BASE_DIR) / "templates"


def directives(header: str) -> dict[str, list[str]]:
    out = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def test_pages_and_api_carry_the_policy(client, owner, project):
    anonymous = client.get("/login/")
    client.force_login(owner)
    for response in (
        anonymous,
        client.get(f"/projects/{project.pk}/"),
        client.get("/api/v1/projects/"),
        client.get("/api/docs/"),
    ):
        policy = directives(response["Content-Security-Policy"])
        assert policy["script-src"] == ["'self'"]
        assert policy["object-src"] == ["'none'"]
        assert policy["frame-ancestors"] == ["'none'"]
        assert "'unsafe-inline'" not in policy["script-src"]
        assert "'unsafe-eval'" not in policy["script-src"]


INLINE = [
    re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I),
    re.compile(r"\son[a-z]+\s*=", re.I),  # onclick=, onchange=, ...
    re.compile(r"\bhx-on", re.I),
    re.compile(r"javascript:", re.I),
    re.compile(r"hx-vals\s*=\s*['\"]\s*js:", re.I),
]


def test_no_template_has_inline_script():
    found = []
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        for pattern in INLINE:
            found += [f"{path.relative_to(TEMPLATES)}: {m.group(0)}" for m in pattern.finditer(text)]
    assert found == []


def test_htmx_is_configured_for_the_policy(client, owner):
    client.force_login(owner)
    page = client.get("/projects/").content.decode()
    assert '"allowEval": false' in page
    assert '"includeIndicatorStyles": false' in page


def test_api_docs_page_has_no_inline_script(client, owner):
    client.force_login(owner)
    page = client.get("/api/docs/").content.decode()
    scripts = re.findall(r"<script[^>]*>", page)
    assert scripts
    assert all("src=" in tag for tag in scripts)


BROWSER_SCRIPT = r"""
import json, sys
from playwright.sync_api import sync_playwright

base, cookie, chromium, paths = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
violations, rendered = [], {}
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"], headless=True)
    context = browser.new_context(base_url=base)
    name, value = cookie.split("=", 1)
    context.add_cookies([{"name": name, "value": value, "url": base}])
    page = context.new_page()
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    for path, selector in paths:
        page.goto(path)
        page.wait_for_selector(selector, timeout=20000)
        page.wait_for_load_state("networkidle")
        rendered[path] = True
    browser.close()
print(json.dumps({"violations": violations, "rendered": rendered}))
"""


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_pages_run_without_policy_violations(live_server, client, project, owner):
    """Chromium enforces the header: Swagger UI and an htmx page work, and nothing is blocked.

    In a child process: Playwright's sync API cannot run twice in one process (tests/browser's).
    """
    import json
    import subprocess
    import sys

    from tests.browser.conftest import CHROMIUM

    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium binary at {CHROMIUM}")
    client.force_login(owner)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    paths = [
        ["/api/docs/", ".swagger-ui .info"],
        [f"/projects/{project.pk}/examples/new/", "#findings section.findings"],
    ]
    done = subprocess.run(
        [sys.executable, "-c", BROWSER_SCRIPT, live_server.url, cookie, str(CHROMIUM), json.dumps(paths)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["violations"] == []
    assert len(result["rendered"]) == 2
