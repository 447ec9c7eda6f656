"""Who may register which local folder as a base model (training/services/model_sources.py).

The attack (issue #25, finding 1): a merged model lives at a guessable folder under the storage root;
an owner of any project registered it as "their" base model and chatted with, or exported, another
project's weights; refusals told which server paths exist; the API showed server paths to anyone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from django.urls import reverse

from annotation.models import Role
from tests.factories import PASSWORD, MembershipFactory, ProjectFactory, UserFactory
from tests.live_http import Visitor, error_texts
from training.models import BaseModel, BaseModelStatus
from training.services import model_sources
from training.tasks import check_base_model

ADD = reverse("base-model-add")
LIST = reverse("base-model-list")


def fake_model(folder: Path) -> Path:
    """A folder that passes the checks that read no library: config.json and weights."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (folder / "model.safetensors").write_bytes(b"secret weights")
    return folder


@pytest.fixture
def places(settings, tmp_path):
    """The server's storage (with another project's merged model in it) and the operator's model root."""
    settings.STORAGE_ROOT = tmp_path / "storage"
    settings.TRAINING_MODELS_DIR = tmp_path / "models"
    roots = tmp_path / "model-roots"
    roots.mkdir()
    settings.ANNOTUNE_MODEL_ROOTS = [str(roots)]
    victim = fake_model(settings.STORAGE_ROOT / "merged" / "project-1" / "merge-1")
    return {"roots": roots, "victim": victim, "tmp": tmp_path}


def attacks(places) -> dict[str, str]:
    """Every way tried to reach the victim's weights (or to learn what exists) from an owner's form."""
    roots, victim, tmp = places["roots"], places["victim"], places["tmp"]
    (roots / "evil-link").symlink_to(victim, target_is_directory=True)
    (roots / "linked-dir").mkdir()
    (roots / "linked-dir" / "inner").symlink_to(victim.parent, target_is_directory=True)
    return {
        "the merged folder": str(victim),
        "a symlink under the allowed root": str(roots / "evil-link"),
        "a path through a symlinked folder": str(roots / "linked-dir" / "inner" / victim.name),
        "dot-dot out of the allowed root": f"{roots}/../storage/merged/project-1/merge-1",
        "a folder that does not exist": str(tmp / "storage" / "merged" / "project-9" / "merge-9"),
        "a file": "/etc/hostname",
        "a home folder": "~/.ssh",
        "relative to the code": "./var/storage",
    }


@pytest.mark.django_db(transaction=True)
def test_an_owner_cannot_register_another_projects_weights_over_http(live_server, settings, places):
    """Through the web server as a browser reaches it: every variant is refused with the same words,
    naming no path, and nothing is created; a folder under the allowed root is accepted."""
    settings.ANNOTUNE_TRUSTED_PROXY_COUNT = 1
    attacker = UserFactory(username="mallory")
    MembershipFactory(project=ProjectFactory(created_by=attacker), user=attacker, role=Role.OWNER)
    browser = Visitor(live_server.url)
    assert browser.login("mallory", PASSWORD).status_code == 302

    answers = {}
    for what, source in attacks(places).items():
        response = browser.post(ADD, {"source": source, "name": f"stolen {len(answers)}"})
        assert response.status_code == 400, what
        answers[what] = error_texts(response.text)
        assert "/" not in " ".join(answers[what]), (what, answers[what])  # no server path in the refusal
    assert set(map(tuple, answers.values())) == {(model_sources.NOT_ALLOWED,)}, answers
    assert not BaseModel.objects.exists()

    # Inside the allowed root, a folder whose weights link to the victim's is refused too.
    mixed = places["roots"] / "mixed"
    mixed.mkdir()
    (mixed / "config.json").write_text("{}")
    (mixed / "model.safetensors").symlink_to(places["victim"] / "model.safetensors")
    response = browser.post(ADD, {"source": str(mixed)})
    assert error_texts(response.text) == [model_sources.LINKS_OUT]
    assert not BaseModel.objects.exists()

    # A real folder under the root: queued for a worker's check (the request starts no process).
    fake_model(places["roots"] / "ours")
    response = browser.post(ADD, {"source": str(places["roots"] / "ours"), "name": "ours"})
    assert response.status_code == 302
    assert BaseModel.objects.get(name="ours").status == BaseModelStatus.QUEUED


@pytest.mark.django_db
def test_without_model_roots_owners_add_hub_ids_only(client, settings, places, owner, project):
    settings.ANNOTUNE_MODEL_ROOTS = []
    fake_model(places["tmp"] / "somewhere")
    client.force_login(owner)
    for source in (str(places["tmp"] / "somewhere"), str(places["victim"]), "/nowhere/at/all"):
        response = client.post(ADD, {"source": source})
        assert response.status_code == 400
        assert error_texts(response.content.decode()) == [model_sources.NO_ROOTS]
    assert client.post(ADD, {"source": "HuggingFaceTB/SmolLM2-135M-Instruct"}).status_code == 302
    assert BaseModel.objects.get().source == "HuggingFaceTB/SmolLM2-135M-Instruct"
    for source in ("org/../../etc", "not a hub id", "a--b/c"):
        response = client.post(ADD, {"source": source})
        assert response.status_code == 400, source
    assert BaseModel.objects.count() == 1


@pytest.mark.django_db
def test_staff_add_folders_anywhere_but_the_servers_own_data(client, settings, places):
    staff = UserFactory(username="stella", is_staff=True)
    client.force_login(staff)
    for folder in (places["victim"], Path(settings.TRAINING_MODELS_DIR) / "x", Path(settings.VAR_DIR) / "storage"):
        response = client.post(ADD, {"source": str(folder)})
        assert response.status_code == 400
        assert error_texts(response.content.decode()) == [model_sources.SERVER_FOLDER]
    elsewhere = fake_model(places["tmp"] / "elsewhere")  # outside the owners' roots: staff may
    assert client.post(ADD, {"source": str(elsewhere), "name": "staff pick"}).status_code == 302
    assert BaseModel.objects.get().source == str(elsewhere.resolve())
    page = client.get(LIST).content.decode()
    assert str(elsewhere.resolve()) in page  # staff see the path


@pytest.mark.django_db
def test_the_worker_checks_the_folder_again(client, owner, project, places, monkeypatch):
    """Swapped for a link to the victim after the request: the worker's check refuses it."""
    monkeypatch.setattr(check_base_model, "apply_async", lambda *a, **k: None)
    folder = fake_model(places["roots"] / "swap")
    client.force_login(owner)
    assert client.post(ADD, {"source": str(folder), "name": "swap"}).status_code == 302
    model = BaseModel.objects.get()
    for item in folder.iterdir():
        item.unlink()
    folder.rmdir()
    folder.symlink_to(places["victim"], target_is_directory=True)
    assert check_base_model(model.pk, owner.pk) == "failed"
    model.refresh_from_db()
    assert model.status == BaseModelStatus.FAILED
    assert model.error == model_sources.NOT_ALLOWED
    # Who added it may no longer add base models: the check refuses too.
    fresh = fake_model(places["roots"] / "fresh")
    assert client.post(ADD, {"source": str(fresh), "name": "fresh"}).status_code == 302
    project.memberships.filter(user=owner).update(role=Role.ANNOTATOR)
    fresh_row = BaseModel.objects.get(name="fresh")
    assert check_base_model(fresh_row.pk, owner.pk) == "failed"
    assert "may no longer add base models" in BaseModel.objects.get(name="fresh").error


@pytest.mark.django_db
def test_server_paths_are_shown_to_staff_only(client, api, owner, project, annotator, places):
    BaseModel.objects.create(name="local", source=str(places["roots"] / "m"))
    BaseModel.objects.create(name="hub", source="org/model")
    staff = UserFactory(username="stella", is_staff=True)
    for user in (owner, annotator):
        rows = api(user).get("/api/v1/base-models/").json()
        assert {row["name"] for row in rows} == {"local", "hub"}
        assert all("source" not in row for row in rows), rows
    rows = {row["name"]: row for row in api(staff).get("/api/v1/base-models/").json()}
    assert rows["local"]["source"] == str(places["roots"] / "m")
    client.force_login(owner)
    page = client.get(LIST).content.decode()
    assert str(places["roots"]) not in page
    assert "local folder" in page
    assert "org/model" in page  # a hub id is no server path


def test_scrubbed_messages_keep_hub_ids_and_lose_paths():
    text = "config.json in /srv/models/x could not be read: see /home/u/.cache/hf/y (org/model)"
    scrubbed = model_sources.scrub_paths(text, "/srv/models/x")
    assert scrubbed == "config.json in the folder could not be read: see … (org/model)"


@pytest.mark.django_db
def test_a_symlink_inside_the_root_to_elsewhere_in_the_root_is_fine(places, settings):
    """Links are judged by where they lead: a link to another folder under the same root is allowed."""
    real = fake_model(places["roots"] / "real")
    alias = places["roots"] / "alias"
    alias.mkdir()
    (alias / "config.json").write_text("{}")
    os.symlink(real / "model.safetensors", alias / "model.safetensors")
    assert model_sources.folder_refusal(str(alias), staff=False) is None
    assert model_sources.folder_refusal(str(real), staff=False) is None


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_add_through_a_real_worker(client, owner, project, settings, tmp_path):
    """The Add button, the default queue and a real Celery worker process: the row ends ready."""
    from tests.workers import celery_worker, wait_for
    from training.engine.tiny import build_tiny_model

    roots = tmp_path / "roots"
    build_tiny_model(roots / "tiny", size="test")
    settings.ANNOTUNE_MODEL_ROOTS = [str(roots)]
    client.force_login(owner)
    env = {"ANNOTUNE_MODEL_ROOTS": str(roots), "ANNOTUNE_MODELS_DIR": str(tmp_path / "models")}
    with celery_worker("default", env=env):
        assert client.post(ADD, {"source": str(roots / "tiny"), "name": "via worker"}).status_code == 302
        model = BaseModel.objects.get(name="via worker")
        done = wait_for(
            lambda: BaseModel.objects.filter(pk=model.pk, status__in=["ready", "failed"]).first(),
            timeout=180,
            message="the base model check to finish",
        )
    assert done.status == BaseModelStatus.READY, done.error
    assert done.architecture == "LlamaForCausalLM"
