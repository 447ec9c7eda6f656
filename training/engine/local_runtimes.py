"""Local runtimes (llama.cpp, Ollama): what a GGUF export records and the lines that serve its files.

The worker writes a `GGUFExport` on the export operation (`AdapterOperation.params`); the adapter page and
the API read it back and build the Ollama Modelfile and the llama.cpp command from it here, so both name the
files exactly as the downloads do. Pure Python: no torch, no Django (the web process imports this module).
"""

from __future__ import annotations

import json
import re
from typing import Any, TypedDict

PARTS = ("base", "adapter", "merged")
PART_LABELS = {
    "base": "Base model GGUF",
    "adapter": "Adapter GGUF (LoRA)",
    "merged": "Merged model GGUF",
}


class GGUFFile(TypedDict):
    file: str  # name in the export's storage folder
    kind: str  # "model" | "adapter"
    dtype: str  # "f32" | "f16"
    size_bytes: int
    tensors: int


class GGUFExport(TypedDict):
    dtype: str
    files: dict[str, GGUFFile]  # part ("base" | "adapter" | "merged") -> file
    adapter_refusal: str  # why there is no adapter file (DoRA), or ""
    ollama_template: str  # Ollama's Go template for the chat format, "" when Ollama should read the GGUF's own
    stop: list[str]


# ChatML (the tiny models, Qwen, many fine-tunes) in Ollama's template language.
_CHATML_OLLAMA = (
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n"
)


def ollama_template(chat_template: str) -> str:
    """Ollama's TEMPLATE for a Jinja chat template it may not recognise; "" leaves it to Ollama (it reads
    tokenizer.chat_template from the GGUF for the formats it knows)."""
    if "<|im_start|>" in chat_template and "<|im_end|>" in chat_template:
        return _CHATML_OLLAMA
    return ""


def export_record(
    *, dtype: str, files: dict[str, GGUFFile], adapter_refusal: str, chat_template: str, stop: list[str]
) -> GGUFExport:
    return {
        "dtype": dtype,
        "files": {part: files[part] for part in PARTS if part in files},
        "adapter_refusal": adapter_refusal,
        "ollama_template": ollama_template(chat_template),
        "stop": [s for s in stop if s],
    }


def read_record(params: Any) -> GGUFExport:
    """The record stored on an operation (tolerates a partial or older row: missing keys read as empty)."""
    params = params if isinstance(params, dict) else {}
    files = params.get("files") if isinstance(params.get("files"), dict) else {}
    return {
        "dtype": str(params.get("dtype") or ""),
        "files": {p: files[p] for p in PARTS if isinstance(files.get(p), dict)},
        "adapter_refusal": str(params.get("adapter_refusal") or ""),
        "ollama_template": str(params.get("ollama_template") or ""),
        "stop": [str(s) for s in params.get("stop") or []],
    }


def download_stem(adapter_name: str, export_id: int) -> str:
    """The start of every download's file name of one export (and of the names the Modelfile uses)."""
    return f"{adapter_name or 'adapter'}-{export_id}"


def download_name(stem: str, part: str, dtype: str) -> str:
    """The file name a download gets, e.g. `support-7-lora.gguf`, `support-7-base-f16.gguf`."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.").lower() or "adapter"
    return f"{stem}-lora.gguf" if part == "adapter" else f"{stem}-{part}-{dtype}.gguf"


def ollama_modelfile(record: GGUFExport, stem: str) -> str:
    """FROM the base GGUF with the LoRA as ADAPTER; FROM the merged GGUF when there is no adapter file."""
    names = {part: download_name(stem, part, record["dtype"]) for part in record["files"]}
    if "adapter" in names and "base" in names:
        lines = [f"FROM ./{names['base']}", f"ADAPTER ./{names['adapter']}"]
    elif "merged" in names:
        lines = [f"FROM ./{names['merged']}"]
    else:
        return ""
    if record["ollama_template"]:
        lines.append(f'TEMPLATE """{record["ollama_template"]}"""')
    lines += [f"PARAMETER stop {json.dumps(s)}" for s in record["stop"]]
    return "\n".join(lines) + "\n"


def llama_cpp_command(record: GGUFExport, stem: str) -> str:
    """llama.cpp's OpenAI-compatible server on the base GGUF with the LoRA applied (or the merged GGUF)."""
    names = {part: download_name(stem, part, record["dtype"]) for part in record["files"]}
    if "adapter" in names and "base" in names:
        return f"llama-server -m ./{names['base']} --lora ./{names['adapter']} --jinja"
    if "merged" in names:
        return f"llama-server -m ./{names['merged']} --jinja"
    return ""
