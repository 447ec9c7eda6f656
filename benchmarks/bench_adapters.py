"""Adapter serving figures: switching adapters on a cached base vs reloading it; API latency.

    .venv/bin/python benchmarks/bench_adapters.py [--size bench|small] [--requests 8] [--tokens 24]
                                                  [--database-url postgres://...]

Prints JSON lines {"metric", "value", "unit", ...}:
  adapter_switch_median_ms (goal < 5): `set_adapter` between 10 adapters loaded on one base model;
  base_reload_median_ms: loading the base model (and tokenizer) afresh; reload_vs_switch_ratio (goal >= 100);
  generate_api_{base,adapter,merged}_median_ms: POST /api/v1/projects/{id}/generate answered by a real
  inference worker process (greedy, fixed tokens) with the base alone, with an unmerged adapter, and with
  the adapter merged into the base; adapter_vs_base_latency_ratio and merged_vs_base_latency_ratio
  (goal: merged within 10% of the base).
The model is a Llama-architecture tiny model built offline (size "bench" ~100M parameters, "small" ~4M).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, emit, setup_django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="bench", choices=["bench", "small", "test"])
    parser.add_argument("--adapters", type=int, default=10)
    parser.add_argument("--requests", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=24)
    parser.add_argument("--database-url")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    work = Path(tempfile.mkdtemp(prefix="bench-adapters-"))
    os.environ["ANNOTUNE_STORAGE_ROOT"] = str(work / "storage")
    os.environ.setdefault("ANNOTUNE_GENERATE_TIMEOUT_SECONDS", "300")
    setup_django(args.database_url)

    from serving.inference.cache import BaseModelCache, load_base
    from tests.serving.adapter_helpers import cached_base, random_adapter

    base_dir = cached_base(size=args.size)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj"]
    adapter_dirs = [
        random_adapter(base_dir, work / f"adapter-{i}", seed=100 + i, rank=16, targets=targets)
        for i in range(args.adapters)
    ]

    # (1) switching between loaded adapters vs reloading the base model.
    cache = BaseModelCache(max_adapters=args.adapters)
    names = [f"a{i}" for i in range(args.adapters)]
    for name, folder in zip(names, adapter_dirs, strict=True):
        cache.attach(base_dir, name, folder)
    switches = []
    for round_ in range(20):
        for i, name in enumerate(names):
            target = names[(i + 1 + round_) % len(names)] if len(names) > 1 else name
            started = time.perf_counter()
            cache.activate(base_dir, target)
            switches.append((time.perf_counter() - started) * 1000)
    reloads = []
    for _ in range(3):
        started = time.perf_counter()
        model, tokenizer = load_base(str(base_dir))
        reloads.append((time.perf_counter() - started) * 1000)
        del model, tokenizer
    switch_ms, reload_ms = statistics.median(switches), statistics.median(reloads)
    params = sum(p.numel() for p in cache.base(base_dir).model.get_base_model().parameters())
    emit("adapter_switch_median_ms", switch_ms, "ms", adapters=args.adapters, samples=len(switches), params=params)
    emit("base_reload_median_ms", reload_ms, "ms", samples=len(reloads))
    emit("reload_vs_switch_ratio", reload_ms / switch_ms, "x", goal=">= 100")
    del cache

    # (2) generation latency through the API with a real inference worker.
    api_latencies(base_dir, adapter_dirs[0], work, args)


def api_latencies(base_dir: Path, adapter_dir: Path, work: Path, args) -> None:
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from annotation.models import Membership, Project, Role
    from annotune.celery import app
    from serving.inference.merge import merge_adapter
    from serving.models import Adapter
    from tests.workers import celery_worker, isolated_broker
    from training.models import BaseModel
    from training.services import folders

    isolated_broker(app)
    user, _ = get_user_model().objects.get_or_create(username="bench-adapters")
    merged_dir = work / "merged"
    merge_adapter(base_dir, adapter_dir, merged_dir)
    stamp = str(int(time.time()))
    base = BaseModel.objects.create(name=f"bench-base-{stamp}", source=str(base_dir), has_chat_template=True)
    merged = BaseModel.objects.create(name=f"bench-merged-{stamp}", source=str(merged_dir), has_chat_template=True)
    projects = {}
    for key, model in (("base", base), ("merged", merged)):
        project = Project.objects.create(name=f"Adapter bench {key} {stamp}", base_model=model, created_by=user)
        Membership.objects.create(project=project, user=user, role=Role.OWNER)
        projects[key] = project
    prefix = f"adapters/bench-{stamp}"
    size = folders.save_folder(adapter_dir, prefix)
    adapter = Adapter.objects.create(
        project=projects["base"], base_model=base, name="bench", storage_path=prefix, size_bytes=size, created_by=user
    )
    client = APIClient()
    client.force_authenticate(user)
    chat = [{"role": "user", "content": "Where is the parcel? Please explain what happens to my order next."}]
    body = {"messages": chat, "max_new_tokens": args.tokens, "temperature": 0, "timeout": 300}
    cases = {
        "base": (projects["base"], None),
        "adapter": (projects["base"], adapter.pk),
        "merged": (projects["merged"], None),
    }
    results: dict[str, list[float]] = {key: [] for key in cases}
    tokens: dict[str, list[int]] = {key: [] for key in cases}
    with celery_worker("inference", env={"ANNOTUNE_STORAGE_ROOT": os.environ["ANNOTUNE_STORAGE_ROOT"]}):
        for project, adapter_id in cases.values():  # warm-up: load each base and the adapter once
            client.post(f"/api/v1/projects/{project.pk}/generate", {**body, "adapter": adapter_id}, format="json")
        for _ in range(args.requests):
            for key, (project, adapter_id) in cases.items():  # interleaved, so drift hits all three alike
                started = time.perf_counter()
                response = client.post(
                    f"/api/v1/projects/{project.pk}/generate", {**body, "adapter": adapter_id}, format="json"
                )
                results[key].append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.json()
                tokens[key].append(response.json()["new_tokens"])
    medians = {key: statistics.median(values) for key, values in results.items()}
    for key, value in medians.items():
        per_token = value / max(1, statistics.median(tokens[key]))
        emit(f"generate_api_{key}_median_ms", value, "ms", new_tokens=statistics.median(tokens[key]),
             ms_per_token=round(per_token, 3), requests=args.requests)  # fmt: skip
    emit("adapter_vs_base_latency_ratio", medians["adapter"] / medians["base"], "x")
    emit("merged_vs_base_latency_ratio", medians["merged"] / medians["base"], "x", goal="<= 1.10")


if __name__ == "__main__":
    main()
