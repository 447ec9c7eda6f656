"""The database restarts under a running web process: 503 while it is down, 200 again after, no restart.

A PostgreSQL cluster of the test's own (temporary folder, free port) and one gunicorn process
(DEBUG off) against it. While the cluster is stopped, pages answer a 503 page and the API a 503
JSON body, both with Retry-After; a review decision sent then changes nothing. Once the cluster is
back the same process (same pid) answers 200 and the decision goes through.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from .processes import Gunicorn, PostgresCluster, run_python, web_environment

pytestmark = [pytest.mark.slow, pytest.mark.faults, pytest.mark.timeout(120)]

SETUP = """
import json, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.test import Client
from accounts.services import api_token_create
from annotation.models import Role
from tests.factories import ExampleFactory, MembershipFactory, ProjectFactory, UserFactory
owner, reviewer, annotator = (UserFactory(username=n) for n in ("olivia", "rita", "anna"))
project = ProjectFactory(name="Outage project", created_by=owner)
for user, role in ((owner, Role.OWNER), (reviewer, Role.REVIEWER), (annotator, Role.ANNOTATOR)):
    MembershipFactory(project=project, user=user, role=role)
example = ExampleFactory(project=project, author=annotator, status="submitted", category="general", review_round=1)
client = Client()
client.force_login(reviewer)
key = api_token_create(user=reviewer, name="test")[1]
print(json.dumps({"project": project.pk, "example": example.pk, "token": key,
                  "session": client.cookies["sessionid"].value}))
"""


@pytest.fixture
def cluster():
    pg = PostgresCluster()
    try:
        pg.start()
        pg.create_database()
        yield pg
    finally:
        pg.destroy()


@pytest.fixture
def web(cluster):
    var = Path(tempfile.mkdtemp(prefix="annotune-web-"))
    env = web_environment(cluster.url, var)
    rows = run_python(SETUP, env)
    server = Gunicorn(env)
    try:
        yield server, rows
    finally:
        server.stop()


def test_outage_answers_503_and_the_same_process_recovers(cluster, web):
    server, rows = web
    page = f"/projects/{rows['project']}/"
    api = f"/api/v1/projects/{rows['project']}/"
    approve = f"/api/v1/projects/{rows['project']}/examples/{rows['example']}/approve/"
    browser = {"Cookie": f"sessionid={rows['session']}"}
    token = {"Authorization": f"Token {rows['token']}"}
    pid = server.process.pid

    # Twice each: the second request reuses the persistent connection the first one opened.
    for _ in range(2):
        assert server.request("GET", page, headers=browser)[0] == 200
        assert server.request("GET", api, headers=token)[0] == 200

    cluster.stop()

    status, headers, text = server.request("GET", page, headers=browser)
    assert status == 503, text[:2000]
    assert headers["Retry-After"].isdigit()
    assert headers["Content-Type"].startswith("text/html")
    assert "temporarily unavailable" in text
    assert "Traceback" not in text

    status, headers, text = server.request("GET", api, headers=token)
    assert status == 503, text[:2000]
    assert headers["Retry-After"].isdigit()
    body = json.loads(text)
    assert body["code"] == "database_unavailable"
    assert "database" in body["detail"]

    # A review decision during the outage: refused with the same 503, nothing written.
    status, headers, text = server.request("POST", approve, headers=token, body={"comment": "looks fine"})
    assert status == 503, text[:2000]
    assert json.loads(text)["code"] == "database_unavailable"

    cluster.start()

    status, _, text = server.request("GET", page, headers=browser)
    assert status == 200, text[:2000]
    assert server.request("GET", api, headers=token)[0] == 200
    assert server.process.poll() is None  # the same web process, never restarted
    assert server.process.pid == pid
    assert cluster.query("SELECT status FROM annotation_example WHERE id = %s", [rows["example"]]) == [("submitted",)]
    assert cluster.query("SELECT count(*) FROM annotation_review") == [(0,)]

    status, _, text = server.request("POST", approve, headers=token, body={"comment": "looks fine"})
    assert status == 200, text[:2000]
    assert json.loads(text)["example"]["status"] == "approved"
    assert cluster.query("SELECT count(*) FROM annotation_review") == [(1,)]
    assert "Traceback" not in server.output()
