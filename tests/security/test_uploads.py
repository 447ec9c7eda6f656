"""Uploads: permission first, then a per-endpoint size limit before the body is read, then streamed reading.

The memory figures come from a child process that sends the request through the WSGI handler with a
body generated on the fly (so the 270 MB body itself never sits in memory) and reports its peak RSS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse

from accounts.services import api_token_create
from annotation.models import KnowledgeDocument

MB = 1024 * 1024
ROOT = Path(settings.BASE_DIR)

CHILD = r"""
import json, os, resource, sys
import django
django.setup()
from django.core.handlers.wsgi import WSGIHandler

BOUNDARY = "annotuneboundary"


class Body:
    # A multipart body with one file of `size` bytes, generated as it is read; counts what was read.
    def __init__(self, name, size, fields):
        head = "".join(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items()
        )
        head += f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        head += "Content-Type: text/plain\r\n\r\n"
        self.parts = [head.encode(), None, f"\r\n--{BOUNDARY}--\r\n".encode()]
        self.size, self.left, self.read_bytes = size, size, 0
        self.length = len(self.parts[0]) + size + len(self.parts[2])

    def read(self, n=-1):
        if n is None or n < 0:
            n = 1 << 20
        out = b""
        while len(out) < n:
            if self.parts[0]:
                take, self.parts[0] = self.parts[0][: n - len(out)], self.parts[0][n - len(out):]
                out += take
            elif self.left:
                k = min(n - len(out), self.left)
                out += b"a" * (k - 1) + b"\n"
                self.left -= k
            elif self.parts[2]:
                take, self.parts[2] = self.parts[2][: n - len(out)], self.parts[2][n - len(out):]
                out += take
            else:
                break
        self.read_bytes += len(out)
        return out

    def readline(self, n=-1):
        return self.read(n if n and n > 0 else 65536)


def call(app, method, path, cookie, body=None, headers=None):
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "localhost",
        "SERVER_PORT": "80", "HTTP_HOST": "localhost", "wsgi.url_scheme": "http",
        "wsgi.input": body or Body("x", 0, {}),
        "wsgi.errors": sys.stderr, "HTTP_COOKIE": cookie, "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_LENGTH": str(body.length) if body else "0",
        "HTTP_X_CSRFTOKEN": "a" * 32,
    }
    if body:
        environ["CONTENT_TYPE"] = f"multipart/form-data; boundary={BOUNDARY}"
    environ.update(headers or {})
    status = []
    chunks = app(environ, lambda s, h, exc_info=None: status.append(s))
    b"".join(chunks)
    return int(status[0].split()[0])


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


app = WSGIHandler()
spec = json.loads(sys.argv[1])
call(app, "GET", spec["warmup"], spec["cookie"])  # templates, URLconf, database connection
results = []
for case in spec["cases"]:
    body = Body(case["filename"], case["size"], case["fields"])
    before = peak_mb()
    status = call(app, "POST", case["path"], case["cookie"], body, case.get("headers"))
    results.append({"status": status, "peak_growth_mb": peak_mb() - before, "body_read": body.read_bytes,
                    "body_length": body.length})
print(json.dumps(results))
"""


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


def run_child(cases: list[dict], warmup: str, cookie: str) -> list[dict]:
    env = {**os.environ, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "annotune.settings", "DATABASE_URL": database_url()}
    spec = json.dumps({"cases": cases, "warmup": warmup, "cookie": cookie})
    done = subprocess.run(
        [sys.executable, "-c", CHILD, spec], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[:3000]
    return json.loads(done.stdout.strip().splitlines()[-1])


def session_cookie(client, user) -> str:
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}; csrftoken={'a' * 32}"


@pytest.mark.django_db(transaction=True)
def test_large_uploads_are_refused_unread_with_flat_memory(client, project, owner, annotator):
    """270 MB: an annotator gets 403, an owner 413, and neither request reads the body or grows memory."""
    knowledge = reverse("knowledge", args=[project.pk])
    big = 270 * MB
    as_annotator = session_cookie(client, annotator)
    as_owner = session_cookie(client.__class__(), owner)
    token = api_token_create(user=annotator, name="test")[1]
    fields = {"action": "document", "title": "Manual", "csrfmiddlewaretoken": "a" * 32}
    cases = [
        {"path": knowledge, "cookie": as_annotator, "filename": "manual.txt", "size": big, "fields": fields},
        {"path": knowledge, "cookie": as_owner, "filename": "manual.txt", "size": big, "fields": fields},
        # Imports: the page and the API (token: no session, no CSRF), past the 256 MB import limit.
        {"path": reverse("dataset-import", args=[project.pk]), "cookie": as_owner, "filename": "rows.jsonl",
         "size": big, "fields": {"file_format": "auto", "status": "draft"}},
        {"path": f"/api/v1/projects/{project.pk}/imports/", "cookie": "", "filename": "rows.jsonl", "size": big,
         "fields": {}, "headers": {"HTTP_AUTHORIZATION": f"Token {token}"}},
        # Within the limit: 1.5 MB of text is accepted and streamed (spooled to a temporary file).
        {"path": knowledge, "cookie": as_owner, "filename": "manual.txt", "size": int(1.5 * MB), "fields": fields},
    ]  # fmt: skip
    results = run_child(cases, knowledge, as_owner)
    print(json.dumps(results, indent=1))
    refused_annotator, refused_owner, import_page, import_api, accepted = results
    assert refused_annotator["status"] == 403
    assert refused_owner["status"] == 413
    assert import_page["status"] == 413
    assert import_api["status"] == 403  # an annotator's token: permission comes first
    for result in (refused_annotator, refused_owner, import_page, import_api):
        assert result["body_read"] == 0, result
        assert result["peak_growth_mb"] < 16, result
    assert accepted["status"] == 302, accepted
    assert accepted["body_read"] == accepted["body_length"]
    # Decoding keeps the text (1.5 M characters as a str) and a chunk, not several copies of the file.
    assert accepted["peak_growth_mb"] < 24, accepted
    assert KnowledgeDocument.objects.get(project=project).text.count("\n") > 20


def test_knowledge_upload_over_the_limit_is_413(client, project, owner, settings):
    settings.ANNOTUNE_KNOWLEDGE_MAX_UPLOAD_BYTES = 1000
    client.force_login(owner)
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("notes.txt", b"x" * 5000)
    response = client.post(reverse("knowledge", args=[project.pk]), {"action": "document", "file": upload})
    assert response.status_code == 413
    assert "at most 1,000 bytes" in response.content.decode()
    assert not KnowledgeDocument.objects.exists()


def test_knowledge_upload_by_annotator_is_403(client, project, annotator):
    client.force_login(annotator)
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("notes.txt", b"Fact: invoices are monthly.")
    response = client.post(reverse("knowledge", args=[project.pk]), {"action": "document", "file": upload})
    assert response.status_code == 403


def test_knowledge_upload_is_decoded_in_chunks(client, project, owner):
    client.force_login(owner)
    from django.core.files.uploadedfile import SimpleUploadedFile

    text = "Ünïcode line that crosses chunk boundaries.\n" * 5000
    upload = SimpleUploadedFile("notes.md", "\ufeff".encode() + text.encode())
    response = client.post(reverse("knowledge", args=[project.pk]), {"action": "document", "file": upload})
    assert response.status_code == 302
    assert KnowledgeDocument.objects.get().text == text.strip()
    bad = SimpleUploadedFile("bad.txt", b"\xff\xfe not utf-8")
    response = client.post(reverse("knowledge", args=[project.pk]), {"action": "document", "file": bad})
    assert response.status_code == 400
    assert "not UTF-8" in response.content.decode()


def test_knowledge_upload_needs_csrf(project, owner):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    upload = SimpleUploadedFile("notes.txt", b"Fact.")
    response = client.post(reverse("knowledge", args=[project.pk]), {"action": "document", "file": upload})
    assert response.status_code == 403
    assert not KnowledgeDocument.objects.exists()


def test_api_upload_over_the_limit_is_413_json(project, owner, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from rest_framework.test import APIClient

    settings.ANNOTUNE_IMPORT_MAX_FILE_BYTES = 1000
    client = APIClient()
    client.force_authenticate(owner)
    upload = SimpleUploadedFile("rows.jsonl", b"{}\n" * 2000)
    response = client.post(f"/api/v1/projects/{project.pk}/imports/", {"file": upload}, format="multipart")
    assert response.status_code == 413
    assert "at most 1,000 bytes" in response.json()["detail"]


def test_default_limit_applies_to_other_endpoints(client, project, owner, settings):
    settings.ANNOTUNE_UPLOAD_MAX_BYTES = 1000
    client.force_login(owner)
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("x.txt", b"x" * 200_000)
    response = client.post(reverse("example-create", args=[project.pk]), {"file": upload})
    assert response.status_code == 413
