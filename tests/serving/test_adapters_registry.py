"""Adapter registry: list, rename, archive, activate, delete (files too), compare, download, combine checks."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile

import pytest

from serving.models import Adapter, AdapterOperation
from tests.serving.adapter_fixtures import *  # noqa: F403
from training.models import BaseModel

API = "/api/v1/projects/{}/adapters/"


@pytest.fixture
def two(make_adapter, adapter_dirs):
    return make_adapter("Lawyer", adapter_dirs["a"]), make_adapter("Support", adapter_dirs["b"])


def test_list_shows_lineage_metrics_and_size_without_n_plus_one(
    api, owner, project, two, django_assert_max_num_queries
):
    with django_assert_max_num_queries(4):
        response = api(owner).get(API.format(project.pk))
    assert response.status_code == 200
    rows = {row["name"]: row for row in response.json()}
    assert set(rows) == {"Lawyer", "Support"}
    assert rows["Lawyer"]["lineage"]["dataset_sha256"] == "ab" * 32
    assert rows["Lawyer"]["metrics"]["perplexity"] == 4.48
    assert rows["Lawyer"]["size_bytes"] > 0
    assert rows["Lawyer"]["created_by"] == "olivia"


def test_rename_archive_and_one_active_adapter(api, owner, project, two):
    lawyer, support = two
    client = api(owner)
    url = API.format(project.pk) + "{}/"
    assert client.patch(url.format(lawyer.pk), {"is_active": True}, format="json").json()["is_active"]
    assert client.patch(url.format(support.pk), {"is_active": True}, format="json").status_code == 200
    assert list(Adapter.objects.filter(is_active=True)) == [support]
    assert client.patch(url.format(support.pk), {"name": "  Support v2 "}, format="json").json()["name"] == "Support v2"
    archived = client.patch(url.format(support.pk), {"archived": True}, format="json").json()
    assert archived["archived"]
    assert not archived["is_active"]
    assert [a["name"] for a in client.get(API.format(project.pk)).json()] == ["Lawyer"]
    refused = client.patch(url.format(support.pk), {"is_active": True}, format="json")
    assert refused.status_code == 400
    assert "archived" in refused.json()["detail"]


def test_delete_removes_the_files(api, owner, project, two, storage, django_capture_on_commit_callbacks):
    lawyer, _ = two
    folder = storage / lawyer.storage_path
    assert (folder / "adapter_model.safetensors").is_file()
    with django_capture_on_commit_callbacks(execute=True):
        assert api(owner).delete(API.format(project.pk) + f"{lawyer.pk}/").status_code == 204
    assert not Adapter.objects.filter(pk=lawyer.pk).exists()
    assert not folder.exists()


def test_delete_page_asks_for_confirmation(client, owner, project, two, storage, django_capture_on_commit_callbacks):
    lawyer, _ = two
    client.force_login(owner)
    url = f"/projects/{project.pk}/adapters/{lawyer.pk}/delete/"
    assert b"Type the adapter" in client.get(url).content
    client.post(url, {"confirm": "wrong"})
    assert Adapter.objects.filter(pk=lawyer.pk).exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url, {"confirm": "Lawyer"}).status_code == 302
    assert not Adapter.objects.filter(pk=lawyer.pk).exists()
    assert not (storage / lawyer.storage_path).exists()


def test_compare_shows_config_diff_and_metrics(client, owner, project, make_adapter, adapter_dirs):
    a = make_adapter("Rank 4", adapter_dirs["a"])
    b = make_adapter("Rank 8", adapter_dirs["r8"], rank=8, metrics={"eval_loss": 1.2, "perplexity": 3.3})
    client.force_login(owner)
    response = client.get(f"/projects/{project.pk}/adapters/compare/?a={a.pk}&b={b.pk}")
    assert response.status_code == 200
    rows = {row["key"]: row for row in response.context["comparison"]["config"]}
    assert rows["rank"]["differs"]
    assert not rows["target_modules"]["differs"]
    metrics = {row["key"]: (row["a"], row["b"]) for row in response.context["comparison"]["metrics"]}
    assert metrics["perplexity"] == (4.48, 3.3)


def test_pages_render(client, owner, annotator, project, two):
    lawyer, _ = two
    for user in (owner, annotator):
        client.force_login(user)
        for url in ("adapters/", f"adapters/{lawyer.pk}/", "playground/", "adapters/compare/"):
            response = client.get(f"/projects/{project.pk}/{url}")
            assert response.status_code == 200, url
    assert b"Merge" not in client.get(f"/projects/{project.pk}/adapters/{lawyer.pk}/").content  # annotator


def test_download_is_a_peft_zip_that_loads_in_a_fresh_process(api, annotator, project, two, tiny_model_dir, tmp_path):
    lawyer, _ = two
    response = api(annotator).get(API.format(project.pk) + f"{lawyer.pk}/download/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    data = b"".join(response.streaming_content)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path / "x")
    root = names[0].split("/")[0]
    assert {f"{root}/adapter_config.json", f"{root}/adapter_model.safetensors", f"{root}/README.md"} <= set(names)
    script = (
        "import sys, torch; from peft import PeftModel; from transformers import AutoModelForCausalLM\n"
        "base = AutoModelForCausalLM.from_pretrained(sys.argv[1])\n"
        "model = PeftModel.from_pretrained(base, sys.argv[2])\n"
        "print('loaded', sorted(model.peft_config))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tiny_model_dir), str(tmp_path / "x" / root)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "loaded ['default']" in done.stdout


def test_missing_files_give_a_clear_error(api, owner, project, two, storage):
    lawyer, _ = two
    (storage / lawyer.storage_path / "adapter_model.safetensors").unlink()
    response = api(owner).get(API.format(project.pk) + f"{lawyer.pk}/download/")
    assert response.status_code == 400
    assert "missing" in response.json()["detail"]
    assert api(owner).post(API.format(project.pk) + f"{lawyer.pk}/merge/").status_code == 202  # config present


def test_combine_refuses_other_base_models_and_unequal_ranks(api, owner, project, make_adapter, adapter_dirs):
    a = make_adapter("A", adapter_dirs["a"])
    r8 = make_adapter("R8", adapter_dirs["r8"], rank=8)
    other = BaseModel.objects.create(name="other-base", source="/nowhere")
    foreign = make_adapter("Foreign", adapter_dirs["b"], base=other)
    url = API.format(project.pk) + "combine/"
    client = api(owner)
    response = client.post(
        url,
        {"name": "mix", "method": "linear", "sources": [{"adapter_id": a.pk}, {"adapter_id": r8.pk}]},
        format="json",
    )
    assert response.status_code == 400
    assert "equal rank" in response.json()["detail"]
    response = client.post(
        url,
        {"name": "mix", "method": "cat", "sources": [{"adapter_id": a.pk}, {"adapter_id": foreign.pk}]},
        format="json",
    )
    assert response.status_code == 400
    assert "different base models" in response.json()["detail"]
    response = client.post(url, {"name": "mix", "method": "cat", "sources": [{"adapter_id": a.pk}]}, format="json")
    assert response.status_code == 400
    assert not AdapterOperation.objects.exists()
    ok = client.post(
        url,
        {"name": "mix", "method": "cat", "sources": [{"adapter_id": a.pk, "weight": 0.5}, {"adapter_id": r8.pk}]},
        format="json",
    )
    assert ok.status_code == 202
    assert ok.json()["sources"][0] == {"adapter_id": a.pk, "name": "A", "weight": 0.5}


def test_generate_refuses_bad_input(api, owner, project, base_model):
    url = f"/api/v1/projects/{project.pk}/generate"
    client = api(owner)
    chat = [{"role": "user", "content": "Hi"}]
    assert client.post(url, {"messages": [{"role": "assistant", "content": "x"}]}, format="json").status_code == 400
    bad = client.post(url, {"messages": chat, "temperature": 5, "max_new_tokens": 0}, format="json")
    assert set(bad.json()["errors"]) == {"temperature", "max_new_tokens"}
    assert client.post(url, {"messages": chat, "adapter": 99999}, format="json").status_code == 400


def test_playground_refuses_adapters_of_different_base_models(client, owner, project, make_adapter, adapter_dirs):
    other = BaseModel.objects.create(name="other-base", source="/nowhere")
    a = make_adapter("A", adapter_dirs["a"])
    foreign = make_adapter("Foreign", adapter_dirs["b"], base=other)
    client.force_login(owner)
    response = client.post(
        f"/projects/{project.pk}/playground/", {"conversation": "Hello?", "adapters": [a.pk, foreign.pk], "base": "1"}
    )
    assert response.status_code == 400
    assert "different base models" in response.content.decode()


def test_web_modules_do_not_import_torch():
    code = (
        "import os, sys, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'annotune.settings'); django.setup()\n"
        "import annotune.urls, serving.views.adapters, serving.apis.adapters, serving.tasks\n"
        "import serving.services.adapters, serving.services.generation, serving.inference.combine\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"DEBUG": "1", "PATH": ""})
    assert done.stdout.strip() == "False", done.stderr[-2000:]


def test_combine_page_refuses_weights_the_api_refuses(client, owner, project, make_adapter, adapter_dirs):
    """The page parses weights with float(): "inf" and "1e999" got through to the row (a 500 on PostgreSQL,
    whose JSON has no Infinity) and any size of weight was queued where the API allows -10 to 10."""
    a, b = make_adapter("A", adapter_dirs["a"]), make_adapter("B", adapter_dirs["b"])
    client.force_login(owner)
    for weight in ("inf", "-1e999", "11"):
        response = client.post(
            f"/projects/{project.pk}/adapters/combine/",
            {f"use_{a.pk}": "1", f"use_{b.pk}": "1", f"weight_{b.pk}": weight, "method": "cat", "name": "mix"},
        )
        assert response.status_code == 400, weight
        assert "from -10 to 10" in response.content.decode()
    assert not AdapterOperation.objects.exists()


@pytest.fixture
def finished_merge(project, owner, storage):
    folder = storage / "merged" / "m"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"architectures": ["LlamaForCausalLM"]}')
    return AdapterOperation.objects.create(
        project=project, kind="merge", status="succeeded", storage_path="merged/m", created_by=owner
    )


def test_a_merge_registered_twice_at_once_gives_one_base_model(owner, finished_merge):
    """Both requests loaded the operation before either committed (a double click on Register)."""
    from annotune.errors import ApplicationError
    from serving.services.adapters import merged_register

    first, second = (AdapterOperation.objects.get(pk=finished_merge.pk) for _ in range(2))
    base = merged_register(operation=first, user=owner, name="merged-a")
    with pytest.raises(ApplicationError, match="Already registered as “merged-a”"):
        merged_register(operation=second, user=owner, name="merged-b")
    assert list(BaseModel.objects.values_list("name", flat=True)) == ["merged-a"]
    assert AdapterOperation.objects.get(pk=finished_merge.pk).registered_base_model_id == base.pk


def test_a_name_taken_during_registration_is_a_clear_refusal(api, owner, project, finished_merge, monkeypatch):
    """Another registration takes the name after this one checked it: 400 naming it, not an IntegrityError."""
    from serving.services import adapters as services

    local_folder = services.folders.local_folder

    def meanwhile(prefix):
        BaseModel.objects.create(name="merged-a", source="/elsewhere")
        return local_folder(prefix)

    monkeypatch.setattr(services.folders, "local_folder", meanwhile)
    url = f"/api/v1/projects/{project.pk}/adapter-operations/{finished_merge.pk}/register/"
    response = api(owner).post(url, {"name": "merged-a"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"name": ["Choose another name."]}
    assert AdapterOperation.objects.get(pk=finished_merge.pk).registered_base_model_id is None


def test_a_merge_whose_files_are_gone_is_not_downloaded_as_an_empty_zip(api, owner, project, two, storage, client):
    """A finished merge whose folder was deleted (or lost a file) streamed an empty zip answered 200."""
    lawyer, _ = two
    folder = storage / "merged" / "gone"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"weights")
    merge = AdapterOperation.objects.create(
        project=project, kind="merge", adapter=lawyer, status="succeeded", storage_path="merged/gone",
        params={"files": ["config.json", "model.safetensors"]},
    )  # fmt: skip
    url = f"/api/v1/projects/{project.pk}/adapter-operations/{merge.pk}/download/"
    page = f"/projects/{project.pk}/adapter-operations/{merge.pk}/download/"
    complete = api(owner).get(url)
    assert complete.status_code == 200
    assert set(zipfile.ZipFile(io.BytesIO(b"".join(complete.streaming_content))).namelist()) >= {
        f"merged-Lawyer-{merge.pk}/config.json",
        f"merged-Lawyer-{merge.pk}/model.safetensors",
    }
    (folder / "model.safetensors").unlink()  # one file gone
    response = api(owner).get(url)
    assert response.status_code == 400
    assert "missing from storage" in response.json()["detail"]
    assert response.json()["errors"] == {"operation": ["missing_files"]}
    (folder / "config.json").unlink()  # the whole folder gone
    folder.rmdir()
    assert api(owner).get(url).status_code == 400
    client.force_login(owner)
    response = client.get(page)  # the page's download link: an error page, not a zip
    assert response.status_code == 400
    assert "missing from storage" in response.content.decode()
