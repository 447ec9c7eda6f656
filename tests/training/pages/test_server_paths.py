"""Server paths are shown to staff only (issue #25, finding 1): an owner who is not staff reads a local base
model as "local folder" (or `./<folder name>` where a command needs it) in the adapter's API rows, lineage and
model card; staff see the folder."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path


def api(pages, url: str) -> tuple[dict | list, str]:
    response = pages.get(url)
    assert response.status_code == 200, response.content[:500]
    return response.json(), response.content.decode()


def test_the_adapter_api_shows_no_server_path_to_an_owner(pages, adapter, owner):
    source = adapter.base_model.source
    project = adapter.project_id
    urls = (
        f"/api/v1/projects/{project}/adapters/",
        f"/api/v1/projects/{project}/adapters/{adapter.pk}/",
        f"/api/v1/projects/{project}/training-jobs/{adapter.job_id}/adapter/",
    )
    for url in urls:
        data, raw = api(pages, url)
        assert source not in raw, url
        row = data[0] if isinstance(data, list) else data
        assert row["lineage"]["base_model"]["source"] == "local folder", url
    job_row, _ = api(pages, urls[2])
    assert "source" not in job_row["base_model"]
    assert f'from_pretrained("./{Path(source).name}")' in job_row["model_card"]

    owner.is_staff = True
    owner.save()
    for url in urls:
        _, raw = api(pages, url)
        assert json.dumps(source)[1:-1] in raw, url  # staff see the folder


def download(pages, url: str) -> dict[str, bytes]:
    response = pages.get(url)
    assert response.status_code == 200, url
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        return {name.split("/", 1)[1]: archive.read(name) for name in archive.namelist()}


def test_the_downloaded_adapter_names_a_local_base_by_its_folder_for_an_owner(pages, adapter, owner):
    source = adapter.base_model.source
    folder = f"./{Path(source).name}"
    project = adapter.project_id
    urls = (
        f"/projects/{project}/adapters/{adapter.pk}/download/",
        f"/api/v1/projects/{project}/adapters/{adapter.pk}/download/",
    )
    for url in urls:
        files = download(pages, url)
        assert json.loads(files["adapter_config.json"])["base_model_name_or_path"] == folder, url
        assert not [name for name, data in files.items() if source.encode() in data], url
        assert folder.encode() in files["README.md"]
        assert any(name.startswith("adapter_model") for name in files)  # the weights, as stored

    owner.is_staff = True
    owner.save()
    for url in urls:
        files = download(pages, url)
        assert json.loads(files["adapter_config.json"])["base_model_name_or_path"] == source, url
