"""The product's own error pages: what `make run` users see for a wrong address, a refused page, a crash.

`make run` is a local install (ANNOTUNE_LOCAL=1) with DEBUG off: a key generated into var/, localhost,
plain HTTP, and these pages instead of Django's debug pages (which `make run DEBUG=1` keeps for developers).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

ROOT = Path(__file__).resolve().parent.parent


def test_unknown_address_gets_the_product_not_found_page(client, annotator):
    client.force_login(annotator)
    response = client.get("/projects/999999/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html
    assert 'class="topbar"' in html  # the product's layout, with its navigation
    assert "URLconf" not in html


def test_refused_page_says_who_may_use_it(client, project, annotator):
    client.force_login(annotator)
    response = client.get(reverse("review-bulk", args=[project.pk]))
    assert response.status_code == 403
    html = response.content.decode()
    assert "You cannot do this here" in html
    assert "Only owners run bulk actions." in html


def test_server_error_page_needs_no_request_or_database():
    from django.template.loader import render_to_string

    html = render_to_string("500.html")
    assert "Something went wrong on our side" in html
    assert "Traceback" not in html


def _run(code: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV"}}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "annotune.settings", "ANNOTUNE_VAR_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


PROBE = (
    "import django; django.setup(); from django.conf import settings; from django.test import Client; "
    "r = Client().get('/no-such-page/', HTTP_HOST='127.0.0.1'); html = r.content.decode(); "
    "print(settings.DEBUG, r.status_code, 'id=\"error-404\"' in html, 'URLconf' in html, "
    "settings.SESSION_COOKIE_SECURE, settings.SECURE_SSL_REDIRECT)"
)


@pytest.mark.parametrize(
    ("debug", "expected"),
    [("0", ["False", "404", "True", "False", "False", "False"]),  # make run: the product's page
     ("1", ["True", "404", "False", "True", "False", "False"])],  # make run DEBUG=1: Django's page, for developers
)  # fmt: skip
def test_a_local_install_starts_without_a_secret_and_shows_the_product_pages(tmp_path, debug, expected):
    result = _run(PROBE, {"ANNOTUNE_LOCAL": "1", "DEBUG": debug}, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == expected
    assert (tmp_path / "dev-secret-key").is_file()  # generated, as DEBUG did


def test_make_run_is_a_local_install_with_debug_off():
    makefile = (ROOT / "Makefile").read_text()
    run = makefile[makefile.index("\nrun:") : makefile.index("\nlint:")]
    assert "$(RUN_ENV) PATH=" in run
    assert "DEBUG=1" not in run
    assert "RUN_ENV = ANNOTUNE_LOCAL=1 DEBUG=$(if $(DEBUG),$(DEBUG),0)" in makefile
