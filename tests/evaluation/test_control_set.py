"""The forgetting check's control set: owners replace it with their own JSONL or go back to the built-in one."""

from __future__ import annotations

import json

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from training.services.execution import CONTROL_SET_PATH

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }


def conversations(n: int) -> bytes:
    lines = [
        {"messages": [{"role": "user", "content": f"Question {i}?"}, {"role": "assistant", "content": f"Answer {i}."}]}
        for i in range(n)
    ]
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def post(client, project, **data):
    return client.post(f"/projects/{project.pk}/training/control-set/", data, follow=True)


def stored(project) -> list[dict]:
    path = CONTROL_SET_PATH.format(project_id=project.pk)
    if not default_storage.exists(path):
        return []
    with default_storage.open(path, "rb") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def test_owner_replaces_the_control_set_and_goes_back_to_the_builtin_one(client_as, project, owner):
    client = client_as(owner)
    page = client.get(f"/projects/{project.pk}/training/").content.decode()
    assert "built-in, 300 conversations" in page

    response = post(client, project, file=SimpleUploadedFile("mine.jsonl", conversations(10)), action="upload")
    assert "this project's own, 10 conversations" in response.content.decode()
    assert len(stored(project)) == 10
    assert stored(project)[0]["messages"][1] == {"role": "assistant", "content": "Answer 0."}

    response = post(client, project, action="reset")
    assert "built-in, 300 conversations" in response.content.decode()
    assert stored(project) == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (conversations(9) + b"{not json\n", "Line 10 is not JSON"),
        (conversations(3), "Only 3 conversation(s): a control set needs at least 8"),
        (conversations(9) + b'{"messages": [{"role": "user", "content": "no answer"}]}\n', "line 10: no assistant"),
    ],
)
def test_a_bad_file_is_refused_with_its_line_and_changes_nothing(client_as, project, owner, body, message):
    client = client_as(owner)
    post(client, project, file=SimpleUploadedFile("first.jsonl", conversations(12)), action="upload")
    response = post(client, project, file=SimpleUploadedFile("bad.jsonl", body), action="upload")
    assert "The control set was not changed" in response.content.decode()
    assert message in response.content.decode()
    assert len(stored(project)) == 12  # the previous set stays


def test_only_owners_change_it(client_as, project, reviewer, annotator, outsider):
    upload = conversations(10)
    for user, status in ((reviewer, 403), (annotator, 403), (outsider, 404)):
        response = client_as(user).post(
            f"/projects/{project.pk}/training/control-set/", {"file": SimpleUploadedFile("x.jsonl", upload)}
        )
        assert response.status_code == status
    assert stored(project) == []
