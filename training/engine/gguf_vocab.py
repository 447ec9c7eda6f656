"""The tokenizer of a Hugging Face model folder as llama.cpp reads it from a GGUF file (`gpt2` BPE model).

Read from tokenizer.json / tokenizer_config.json alone (no transformers): the byte-level token strings,
their types (normal, control, user-defined, unused), the merges, the special token ids and the chat
template. Only tokenizers whose pre-tokenizer llama.cpp implements under a known name are accepted;
anything else is refused with the reason, since a wrong pre-tokenizer silently splits text differently.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import EngineError

# llama.cpp token types (gguf.TokenType), kept here so this module needs no numpy / gguf import.
NORMAL, CONTROL, USER_DEFINED, UNUSED = 1, 3, 4, 5

# `{% generation %}` is a transformers-only Jinja tag (assistant masks); llama.cpp's and
# llama-cpp-python's Jinja engines reject unknown tags, and the tag prints nothing, so it is dropped.
_GENERATION_TAG = re.compile(r"\{%-?\s*(?:end)?generation\s*-?%\}")


class TokenizerExportError(EngineError):
    code = "gguf_tokenizer"


@dataclass(frozen=True)
class GGUFVocab:
    tokens: list[str]
    token_types: list[int]
    merges: list[str]
    pre: str  # llama.cpp's name of the pre-tokenizer
    bos_id: int | None
    eos_id: int | None
    pad_id: int | None
    unk_id: int | None
    add_bos: bool
    chat_template: str


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise TokenizerExportError(f"{path.name} is not valid JSON: {exc}") from exc


def _pre_tokenizer_name(spec: dict[str, Any]) -> str:
    """llama.cpp's name for the tokenizer's pre-tokenizer, or a TokenizerExportError saying why not."""
    model = spec.get("model") or {}
    if model.get("type") != "BPE":
        raise TokenizerExportError(
            f"The tokenizer is a {model.get('type') or 'non-BPE'} model; this export writes byte-level BPE "
            "tokenizers only. Convert the model with llama.cpp's convert_hf_to_gguf.py instead."
        )
    if model.get("byte_fallback") or model.get("ignore_merges"):
        raise TokenizerExportError(
            "The BPE tokenizer uses byte fallback or ignores merges; llama.cpp's gpt-2 BPE does not."
        )
    if spec.get("normalizer"):
        raise TokenizerExportError("The tokenizer normalises text before splitting; llama.cpp's gpt-2 BPE does not.")
    pre = spec.get("pre_tokenizer") or {}
    if pre.get("type") == "Sequence" and len(pre.get("pretokenizers") or []) == 1:
        pre = pre["pretokenizers"][0]
    # GPT-2's byte-level split ('s|'t|… ?\p{L}+| ?\p{N}+|…) is llama.cpp's "gpt-2" pre-tokenizer.
    if pre.get("type") == "ByteLevel" and pre.get("use_regex", True) and not pre.get("add_prefix_space"):
        return "gpt-2"
    raise TokenizerExportError(
        f"The tokenizer's pre-tokenizer ({json.dumps(pre)[:120]}) has no llama.cpp equivalent this export knows "
        "(it writes GPT-2 style byte-level tokenizers). Convert the model with llama.cpp's convert_hf_to_gguf.py."
    )


def _chat_template(folder: Path, config: dict[str, Any]) -> str:
    template = folder / "chat_template.jinja"
    text = template.read_text(encoding="utf-8") if template.is_file() else config.get("chat_template") or ""
    if not isinstance(text, str):  # a list of named templates: llama.cpp takes the default one
        text = next((t.get("template", "") for t in text if t.get("name") == "default"), "")
    return _GENERATION_TAG.sub("", text)


def _token_name(value: Any) -> str | None:
    if isinstance(value, dict):  # older tokenizer_config.json: {"content": "<s>", ...}
        value = value.get("content")
    return value if isinstance(value, str) else None


def read_vocab(folder: str | Path, vocab_size: int) -> GGUFVocab:
    """The tokenizer of `folder` padded to the model's `vocab_size` (rows of the embedding matrix)."""
    folder = Path(folder)
    spec = _read_json(folder / "tokenizer.json")
    if not spec:
        raise TokenizerExportError(f"No tokenizer.json in {folder}: only fast (tokenizers) tokenizers can be exported.")
    pre = _pre_tokenizer_name(spec)
    config = _read_json(folder / "tokenizer_config.json")
    model = spec["model"]
    by_id: dict[int, str] = {int(i): t for t, i in model.get("vocab", {}).items()}
    types = dict.fromkeys(by_id, NORMAL)
    for added in spec.get("added_tokens", []):
        by_id[int(added["id"])] = added["content"]
        types[int(added["id"])] = CONTROL if added.get("special") else USER_DEFINED
    if by_id and max(by_id) >= vocab_size:
        raise TokenizerExportError(
            f"The tokenizer has token id {max(by_id)} but the model's embedding has only {vocab_size} rows."
        )
    # Rows of the embedding no token uses (vocab padded to a multiple of 64) get placeholder names.
    tokens = [by_id.get(i, f"[PAD{i}]") for i in range(vocab_size)]
    token_types = [types.get(i, UNUSED) for i in range(vocab_size)]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    ids = {t: i for i, t in by_id.items()}

    def special_id(key: str) -> int | None:
        name = _token_name(config.get(key))
        return ids.get(name) if name is not None else None

    bos_id = special_id("bos_token")
    single = (spec.get("post_processor") or {}).get("single") or []
    bos_name = _token_name(config.get("bos_token"))
    add_bos = any((part.get("SpecialToken") or {}).get("id") == bos_name for part in single) if bos_name else False
    return GGUFVocab(
        tokens=tokens,
        token_types=token_types,
        merges=merges,
        pre=pre,
        bos_id=bos_id,
        eos_id=special_id("eos_token"),
        pad_id=special_id("pad_token"),
        unk_id=special_id("unk_token"),
        add_bos=add_bos,
        chat_template=_chat_template(folder, config),
    )
