"""Server paths are shown to staff only (issue #25, finding 1): an owner who is not staff reads a local base
model as "local folder" (or `./<folder name>` where a command needs it) in the adapter's API rows, lineage and
model card; staff see the folder."""

from __future__ import annotations

import json
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
