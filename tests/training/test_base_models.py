"""The base models page: list, add a hub id or folder (checked by a worker in a child process), build a
tiny model. Who may add which folder: tests/training/test_base_model_sources.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from django.urls import reverse

from annotation.models import Membership, Role
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from training.models import BaseModel, BaseModelStatus
from training.tasks import build_tiny_base_model, check_base_model

LIST = reverse("base-model-list")
ADD = reverse("base-model-add")
BUILD = reverse("base-model-build")


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    """A real tiny model (config, weights, tokenizer with chat template), built once for this module."""
    from training.engine.tiny import build_tiny_model

    path = tmp_path_factory.mktemp("tiny-base")
    build_tiny_model(path, size="test")
    return path


@pytest.fixture
def no_template_folder(tiny_folder, tmp_path) -> Path:
    """The tiny model with its chat template removed from the tokenizer."""
    folder = tmp_path / "no-template"
    shutil.copytree(tiny_folder, folder)
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config.pop("chat_template", None)
    config_path.write_text(json.dumps(config))
    return folder


@pytest.fixture(autouse=True)
def models_dir(settings, tmp_path):
    settings.TRAINING_MODELS_DIR = tmp_path / "models"
    return settings.TRAINING_MODELS_DIR


@pytest.fixture(autouse=True)
def model_roots(settings, tmp_path_factory):
    """Owners may add folders under the operator's roots: here, the tests' temporary folders."""
    settings.ANNOTUNE_MODEL_ROOTS = [str(tmp_path_factory.getbasetemp())]


@pytest.fixture
def owner_client(client, owner, project):
    client.force_login(owner)
    return client


@pytest.fixture
def add(owner_client, owner, django_capture_on_commit_callbacks, monkeypatch):
    """POST the add form; the check it queues then runs as a worker runs it (the task's body).

    Returns (response, [task results]): no task when the form was refused."""
    sent: list[tuple] = []
    monkeypatch.setattr(check_base_model, "apply_async", lambda args, **_: sent.append(tuple(args)))

    def post(data: dict):
        sent.clear()
        with django_capture_on_commit_callbacks(execute=True):
            response = owner_client.post(ADD, data)
        assert all(args[1] == owner.pk for args in sent)  # the row id and who added it
        return response, [check_base_model(*args) for args in sent]

    return post


def test_list_shows_models_and_the_build_form(owner_client):
    BaseModel.objects.create(
        name="tiny-ready", source="/m/tiny", architecture="LlamaForCausalLM", parameter_count=3950848,
        has_chat_template=True,
    )  # fmt: skip
    BaseModel.objects.create(name="tiny-llama-bench", source="/m/b", status=BaseModelStatus.FAILED, error="disk full")
    response = owner_client.get(LIST)
    assert response.status_code == 200
    page = response.content.decode()
    assert "tiny-ready" in page
    assert "LlamaForCausalLM" in page
    assert "3,950,848" in page
    assert "disk full" in page
    assert 'data-status="failed"' in page
    assert "Build a tiny demo model" in page
    assert "Add base model" in page
    for size in ("test", "small", "bench"):
        assert f'<option value="{size}"' in page
    assert '<option value="small" selected>' in page


def test_list_is_a_fixed_number_of_queries(owner_client, django_assert_max_num_queries):
    for i in range(5):
        BaseModel.objects.create(name=f"m{i}", source=f"/m/{i}")
    with django_assert_max_num_queries(8):
        assert owner_client.get(LIST).status_code == 200


def test_add_a_local_folder(owner_client, add, tiny_folder):
    response, results = add({"source": str(tiny_folder), "name": "my tiny"})
    assert response.status_code == 302, response.content.decode()[-2000:]
    assert "Checking “my tiny”" in owner_client.get(LIST).content.decode()
    assert results == ["ready"]
    model = BaseModel.objects.get(name="my tiny")
    assert model.source == str(tiny_folder.resolve())
    assert not model.requested_source
    assert model.architecture == "LlamaForCausalLM"
    assert model.parameter_count > 0
    assert model.has_chat_template
    assert not model.template_note
    assert model.status == BaseModelStatus.READY
    assert check_base_model(model.pk, None) == "not queued"  # a second delivery does nothing
    page = owner_client.get(LIST).content.decode()
    assert "my tiny" in page
    assert 'data-status="ready"' in page


def test_the_request_only_queues_the_check(
    owner_client, owner, tiny_folder, django_capture_on_commit_callbacks, monkeypatch
):
    """No process is started in the web request: the row is queued, the page polls it."""
    sent = []
    monkeypatch.setattr(check_base_model, "apply_async", lambda args, **_: sent.append(args))
    monkeypatch.setattr("subprocess.run", lambda *a, **k: pytest.fail("a process was started in the request"))
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(ADD, {"source": str(tiny_folder), "name": "later"})
    assert response.status_code == 302
    model = BaseModel.objects.get(name="later")
    assert model.status == BaseModelStatus.QUEUED
    assert [tuple(args) for args in sent] == [(model.pk, owner.pk)]  # after the commit: the row, who added it
    row = owner_client.get(reverse("base-model-row", args=[model.pk])).content.decode()
    assert 'data-status="queued"' in row
    assert "waiting for a worker to check it" in row
    assert "hx-get" in row


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda tmp: tmp / "nowhere", "No model was found there"),
        (lambda tmp: tmp, "No model was found there"),
        (lambda tmp: (tmp / "file.txt").write_text("x") and tmp / "file.txt", "No model was found there"),
        (lambda tmp: (tmp / "config.json").write_text("{}") and tmp, "no weights"),
    ],
)
def test_add_a_bad_folder_names_the_problem_and_creates_nothing(owner_client, tmp_path, make, expected):
    path = make(tmp_path)
    response = owner_client.post(ADD, {"source": str(path)})
    assert response.status_code == 400
    page = response.content.decode()
    assert expected in page
    assert page.count(str(path)) == 1  # only in the form, which keeps what was typed: no message names it
    assert not BaseModel.objects.exists()


def test_add_with_an_unreadable_tokenizer(owner_client, add, tiny_folder, tmp_path):
    folder = tmp_path / "bad-tokenizer"
    shutil.copytree(tiny_folder, folder)
    (folder / "tokenizer.json").write_text("{not json")
    response, results = add({"source": str(folder)})
    assert response.status_code == 302
    assert results == ["failed"]
    model = BaseModel.objects.get()
    assert model.status == BaseModelStatus.FAILED
    assert "tokenizer could not be read:" in model.error
    assert str(tmp_path) not in model.error  # no server path in what owners read
    assert "tokenizer could not be read:" in owner_client.get(LIST).content.decode()


def test_add_with_an_unreadable_config(owner_client, add, tiny_folder, tmp_path):
    folder = tmp_path / "bad-config"
    shutil.copytree(tiny_folder, folder)
    (folder / "config.json").write_text("{not json")
    response, results = add({"source": str(folder)})
    assert results == ["failed"]
    model = BaseModel.objects.get()
    assert "config.json in the folder could not be read" in model.error
    assert str(tmp_path) not in model.error
    # A failed row does not block the name: adding again (fixed) replaces it.
    (folder / "config.json").write_text((tiny_folder / "config.json").read_text())
    response, results = add({"source": str(folder)})
    assert response.status_code == 302
    assert results == ["ready"]
    assert BaseModel.objects.get().status == BaseModelStatus.READY


def test_a_folder_without_chat_template_gets_the_default_with_the_reason(
    add, owner_client, no_template_folder, models_dir
):
    before = sorted(p.name for p in no_template_folder.iterdir())
    response, results = add({"source": str(no_template_folder), "name": "plain"})
    assert response.status_code == 302, response.content.decode()[-2000:]
    assert results == ["ready"]
    model = BaseModel.objects.get(name="plain")
    assert model.has_chat_template
    assert "no chat template" in model.template_note
    assert model.requested_source == str(no_template_folder.resolve())
    prepared = Path(model.source)
    assert prepared.parent == models_dir / "prepared"
    assert "<|im_start|>" in (prepared / "chat_template.jinja").read_text()
    assert (prepared / "model.safetensors").is_symlink()  # weights are linked, not copied
    assert sorted(p.name for p in no_template_folder.iterdir()) == before  # the original is untouched
    page = owner_client.get(LIST).content.decode()
    assert "default ChatML template" in page
    assert 'class="muted template-note"' in page
    assert str(no_template_folder) not in page  # owners see "local folder": server paths are for staff
    assert "local folder" in page


def test_the_prepared_folder_loads_with_the_template(add, no_template_folder):
    """What training will load: the tokenizer of the prepared folder renders conversations."""
    from transformers import AutoTokenizer

    add({"source": str(no_template_folder), "name": "plain"})
    tokenizer = AutoTokenizer.from_pretrained(BaseModel.objects.get(name="plain").source, local_files_only=True)
    text = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
    assert text == "<|im_start|>user\nhi<|im_end|>\n"


def test_offline_hub_id_not_in_the_cache(add, owner_client, settings, monkeypatch, tmp_path):
    settings.TRAINING_HF_OFFLINE = True
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    response, results = add({"source": "someorg/not-cached-model"})
    assert response.status_code == 302
    assert results == ["failed"]
    model = BaseModel.objects.get()
    assert "someorg/not-cached-model is not in the local Hugging Face cache and HF_HUB_OFFLINE is set" in model.error
    assert 'data-status="failed"' in owner_client.get(LIST).content.decode()


def test_empty_source_and_taken_name(owner_client, tiny_folder):
    response = owner_client.post(ADD, {"source": "  "})
    assert response.status_code == 400
    assert "Give a Hugging Face hub id" in response.content.decode()
    BaseModel.objects.create(name="taken", source="/m/x")
    response = owner_client.post(ADD, {"source": str(tiny_folder), "name": "taken"})
    assert response.status_code == 400
    assert "A base model named “taken” exists already" in response.content.decode()
    assert BaseModel.objects.count() == 1


# --- permissions -----------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["reviewer", "annotator", "outsider"])
def test_members_who_own_no_project_are_refused(client, project, request, who, tiny_folder):
    client.force_login(request.getfixturevalue(who))
    assert client.get(LIST).status_code == 403
    assert client.post(ADD, {"source": str(tiny_folder)}).status_code == 403
    assert client.post(BUILD, {"size": "test"}).status_code == 403
    assert not BaseModel.objects.exists()


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get(LIST)
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_owners_of_any_project_and_staff_are_allowed(client, db):
    owner = UserFactory(username="owner-elsewhere")
    MembershipFactory(project=ProjectFactory(created_by=owner), user=owner, role=Role.OWNER)
    client.force_login(owner)
    assert client.get(LIST).status_code == 200
    staff = UserFactory(username="staffer", is_staff=True)
    assert not Membership.objects.filter(user=staff).exists()
    client.force_login(staff)
    assert client.get(LIST).status_code == 200


def test_project_settings_link_to_the_page(owner_client, project):
    page = owner_client.get(reverse("project-settings", args=[project.pk])).content.decode()
    assert f'href="{LIST}" id="base-models-link"' in page


def test_settings_dropdown_offers_only_ready_models(owner_client, project):
    BaseModel.objects.create(name="ready-one", source="/m/r")
    BaseModel.objects.create(name="still-building", source="/m/b", status=BaseModelStatus.BUILDING)
    page = owner_client.get(reverse("project-settings", args=[project.pk])).content.decode()
    assert "ready-one" in page
    assert "still-building" not in page


# --- building a tiny model -------------------------------------------------------------------------


def test_build_queues_a_row_then_the_task_makes_it_ready(
    owner_client, models_dir, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    monkeypatch.setattr(build_tiny_base_model, "apply_async", lambda args, **_: sent.append(args[0]))
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(BUILD, {"size": "test"})
    assert response.status_code == 302
    model = BaseModel.objects.get(name="tiny-llama-test")
    assert sent == [model.pk]  # enqueued after the commit, with the id
    assert model.status == BaseModelStatus.QUEUED
    assert model.build_size == "test"
    row_url = reverse("base-model-row", args=[model.pk])
    row = owner_client.get(row_url).content.decode()
    assert 'data-status="queued"' in row
    assert f'hx-get="{row_url}"' in row
    assert "tiny-llama-test" in owner_client.get(LIST).content.decode()

    assert build_tiny_base_model(model.pk) == "ready"  # the task body, run for real

    model.refresh_from_db()
    assert model.status == BaseModelStatus.READY
    assert model.has_chat_template
    assert model.architecture == "LlamaForCausalLM"
    assert model.parameter_count > 0
    assert (Path(model.source) / "config.json").is_file()
    assert Path(model.source).parent == models_dir
    row = owner_client.get(row_url).content.decode()
    assert 'data-status="ready"' in row
    assert "hx-get" not in row
    assert build_tiny_base_model(model.pk) == "not queued"  # a second delivery does nothing

    again = owner_client.post(BUILD, {"size": "test"})
    assert again.status_code == 400
    assert "is built already" in again.content.decode()


def test_a_failed_build_shows_the_reason(owner_client, models_dir):
    model = BaseModel.objects.create(
        name="tiny-llama-test", source=str(models_dir / "x"), status=BaseModelStatus.QUEUED,
        build_arch="llama", build_size="enormous",
    )  # fmt: skip
    assert build_tiny_base_model(model.pk) == "failed"
    model.refresh_from_db()
    assert model.status == BaseModelStatus.FAILED
    assert "Unknown size 'enormous'" in model.error
    row = owner_client.get(reverse("base-model-row", args=[model.pk])).content.decode()
    assert 'data-status="failed"' in row
    assert "Unknown size" in row


def test_build_with_an_unknown_size_changes_nothing(owner_client):
    response = owner_client.post(BUILD, {"size": "huge"})
    assert response.status_code == 400
    assert "Unknown size &#x27;huge&#x27;" in response.content.decode()
    assert not BaseModel.objects.exists()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_build_through_a_real_worker(client, owner, project, models_dir):
    """The button, the default queue and a real Celery worker process: the row ends ready."""
    from tests.workers import celery_worker, wait_for

    client.force_login(owner)
    with celery_worker("default", env={"ANNOTUNE_MODELS_DIR": str(models_dir)}):
        assert client.post(BUILD, {"size": "test"}).status_code == 302
        model = BaseModel.objects.get(name="tiny-llama-test")
        done = wait_for(
            lambda: BaseModel.objects.filter(pk=model.pk, status__in=["ready", "failed"]).first(),
            timeout=180,
            message="the tiny model build to finish",
        )
    assert done.status == BaseModelStatus.READY, done.error
    assert (models_dir / "tiny-llama-test" / "config.json").is_file()
    assert 'data-status="ready"' in client.get(reverse("base-model-row", args=[model.pk])).content.decode()


def test_a_build_failure_shows_no_server_path(owner_client, models_dir, monkeypatch):
    folder = models_dir / "tiny-llama-test"
    model = BaseModel.objects.create(
        name="tiny-llama-test", source=str(folder), status=BaseModelStatus.QUEUED, build_arch="llama", build_size="test"
    )

    def disk_full(path, **_):
        raise OSError(28, "No space left on device", f"{path}/model.safetensors")

    monkeypatch.setattr("training.engine.tiny.build_tiny_model", disk_full)
    assert build_tiny_base_model(model.pk) == "failed"
    model.refresh_from_db()
    assert "No space left on device" in model.error
    assert str(models_dir) not in model.error
    assert "/" not in model.error.replace("the folder", "")
