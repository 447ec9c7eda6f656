"""GGUF round trip: the tiny Llama and a LoRA adapter written as GGUF, loaded by llama.cpp (llama-cpp-python),
give the logits transformers / PEFT give, and the adapter moves them the same way.

Tolerances (float32 files and KV cache, llama.cpp on CPU): every position's logits within 1e-4 (max abs) of
the Hugging Face ones (measured: 1e-6 base, 3e-5 with the adapter; logits' std ~0.3, the adapter moves them by
up to ~1.8); the adapter's change (with − without) has cosine > 0.9999 with PEFT's and the same norm within
0.1 %. The f16 base file (what the platform writes): within 5e-2, change cosine > 0.999.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.serving.adapter_helpers import CHAT, cached_base, random_adapter
from training.engine import local_runtimes
from training.engine.gguf_export import DORA_REASON, GGUFExportError, export_lora, export_model
from training.engine.gguf_vocab import TokenizerExportError, read_vocab

pytestmark = pytest.mark.slow

ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
SAMPLE_TEXT = (
    "<|im_start|>user\nWhere is the parcel? It's 42 km away... costs $3.50!\n"
    '{"key": "value"}  tabs\tand  spaces, naïve café 🚀<|im_end|>\n'
)


def _llama_cpp():
    return pytest.importorskip(
        "llama_cpp",
        reason="llama-cpp-python is not installed: `make install-dev` builds its wheel once (pip caches it)",
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The tiny Llama ("small": GQA, head_dim 32, vocab padded to 2048) and its GGUF files."""
    base = cached_base(size="small")
    root = tmp_path_factory.mktemp("gguf")
    lora = random_adapter(base, root / "lora", seed=5, rank=8, targets=ALL_LINEAR)
    # rsLoRA with per-module ranks and alphas: the scales llama.cpp computes differ per module.
    rs = random_adapter(base, root / "rs", seed=6, rank=4, targets=["q_proj", "k_proj", "v_proj"])
    _rewrite_config(rs, use_rslora=True, lora_alpha=2, alpha_pattern={"k_proj": 1.0})  # scales 1 (k: 0.5)
    dora = random_adapter(base, root / "dora", seed=7, rank=4, targets=["q_proj", "v_proj"], use_dora=True)
    return {
        "base_dir": base,
        "lora_dir": lora,
        "rs_dir": rs,
        "dora_dir": dora,
        "base": export_model(base, root / "base.gguf", dtype="f32") and root / "base.gguf",
        "base16": export_model(base, root / "base16.gguf", dtype="f16") and root / "base16.gguf",
        "lora": export_lora(lora, base, root / "lora.gguf") and root / "lora.gguf",
        "rs": export_lora(rs, base, root / "rs.gguf") and root / "rs.gguf",
        "merged": export_model(base, root / "merged.gguf", adapter_dir=lora, dtype="f32") and root / "merged.gguf",
        "dora_merged": export_model(base, root / "dm.gguf", adapter_dir=dora, dtype="f32") and root / "dm.gguf",
        "root": root,
    }


def _rewrite_config(folder, **changes):
    import json

    path = folder / "adapter_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


@pytest.fixture(scope="module")
def prompt_ids(files):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(files["base_dir"])
    ids = tokenizer.apply_chat_template(CHAT, add_generation_prompt=True, tokenize=True, return_dict=False)
    return [int(i) for i in ids]


def hf_logits(base_dir, ids, adapter_dir=None) -> np.ndarray:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    if adapter_dir is not None:
        model = PeftModel.from_pretrained(model, str(adapter_dir))
    with torch.inference_mode():
        return model.eval()(input_ids=torch.tensor([ids])).logits[0].numpy()


def cpp_logits(model_path, ids, lora_path=None) -> np.ndarray:
    llama_cpp = _llama_cpp()
    options = {"lora_path": str(lora_path)} if lora_path else {}
    f32 = llama_cpp.GGML_TYPE_F32  # the KV cache in float32 (llama.cpp's default f16 rounds K and V)
    llm = llama_cpp.Llama(
        model_path=str(model_path),
        n_ctx=128,
        logits_all=True,
        n_threads=2,
        verbose=False,
        type_k=f32,
        type_v=f32,
        **options,
    )
    try:
        llm.eval(ids)
        return np.array(llm.scores[: len(ids)], dtype=np.float32)
    finally:
        llm.close()


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel(), b.ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_llama_cpp_gives_the_logits_of_transformers_and_peft(files, prompt_ids):
    hf_base = hf_logits(files["base_dir"], prompt_ids)
    hf_lora = hf_logits(files["base_dir"], prompt_ids, files["lora_dir"])
    cpp_base = cpp_logits(files["base"], prompt_ids)
    cpp_lora = cpp_logits(files["base"], prompt_ids, files["lora"])
    cpp_merged = cpp_logits(files["merged"], prompt_ids)

    assert np.abs(cpp_base - hf_base).max() < 1e-4
    assert np.abs(cpp_lora - hf_lora).max() < 1e-4
    assert np.abs(cpp_merged - hf_lora).max() < 1e-4
    # A non-trivial adapter: it moves the logits by far more than the tolerance, the same way in both.
    hf_delta, cpp_delta = hf_lora - hf_base, cpp_lora - cpp_base
    assert np.abs(hf_delta).max() > 0.5
    assert cosine(cpp_delta, hf_delta) > 0.9999
    assert np.linalg.norm(cpp_delta) == pytest.approx(np.linalg.norm(hf_delta), rel=1e-3)
    assert int(cpp_lora[-1].argmax()) == int(hf_lora[-1].argmax())
    # The f16 base file (what the platform writes by default) stays close, the LoRA applies on it as well.
    assert np.abs(cpp_logits(files["base16"], prompt_ids) - hf_base).max() < 5e-2
    assert cosine(cpp_logits(files["base16"], prompt_ids, files["lora"]) - hf_base, hf_delta) > 0.999


def test_rslora_and_per_module_alphas_scale_as_in_peft(files, prompt_ids):
    hf_base = hf_logits(files["base_dir"], prompt_ids)
    hf_rs = hf_logits(files["base_dir"], prompt_ids, files["rs_dir"])
    cpp_rs = cpp_logits(files["base"], prompt_ids, files["rs"])
    assert np.abs(cpp_rs - hf_rs).max() < 1e-4
    assert cosine(cpp_rs - cpp_logits(files["base"], prompt_ids), hf_rs - hf_base) > 0.9999


def test_a_dora_adapter_is_refused_with_the_reason_and_its_merged_model_serves_it(files, prompt_ids):
    out = files["root"] / "dora.gguf"
    with pytest.raises(GGUFExportError) as refused:
        export_lora(files["dora_dir"], files["base_dir"], out)
    assert refused.value.message == DORA_REASON
    assert "merged model" in DORA_REASON
    assert not list(files["root"].glob("dora.gguf*"))  # nothing written, not even a partial file
    hf_dora = hf_logits(files["base_dir"], prompt_ids, files["dora_dir"])
    assert np.abs(cpp_logits(files["dora_merged"], prompt_ids) - hf_dora).max() < 1e-4


def test_llama_cpp_tokenizes_like_the_hf_tokenizer_and_renders_the_chat_template(files):
    from transformers import AutoTokenizer

    llama_cpp = _llama_cpp()
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    tokenizer = AutoTokenizer.from_pretrained(files["base_dir"])
    llm = llama_cpp.Llama(model_path=str(files["base"]), n_ctx=128, n_threads=2, verbose=False)
    try:
        for text in (SAMPLE_TEXT, tokenizer.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)):
            expected = tokenizer.encode(text, add_special_tokens=False)
            assert llm.tokenize(text.encode(), add_bos=False, special=True) == expected
            assert llm.detokenize(expected, special=True).decode() == text
        metadata = llm.metadata
    finally:
        llm.close()
    assert metadata["tokenizer.ggml.pre"] == "gpt-2"
    assert int(metadata["tokenizer.ggml.eos_token_id"]) == tokenizer.eos_token_id
    # The transformers-only {% generation %} tag is gone, and the template renders what transformers renders.
    template = metadata["tokenizer.chat_template"]
    assert "{% generation %}" in (files["base_dir"] / "chat_template.jinja").read_text()
    assert "{% generation %}" not in template
    assert "endgeneration" not in template
    rendered = Jinja2ChatFormatter(template=template, eos_token="<|im_end|>", bos_token="<s>")(messages=CHAT)
    assert rendered.prompt == tokenizer.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)


def test_the_vocab_is_padded_to_the_embedding_and_foreign_tokenizers_are_refused(files, tmp_path):
    import json
    import shutil

    vocab = read_vocab(files["base_dir"], 2048)
    assert len(vocab.tokens) == len(vocab.token_types) == 2048
    assert (vocab.tokens[-1], vocab.token_types[-1]) == ("[PAD2047]", 5)  # unused rows
    assert vocab.token_types[3] == 3  # <|im_end|>: a control token
    folder = tmp_path / "other"
    shutil.copytree(files["base_dir"], folder)
    spec = json.loads((folder / "tokenizer.json").read_text())
    spec["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True}
    (folder / "tokenizer.json").write_text(json.dumps(spec))
    with pytest.raises(TokenizerExportError, match="no llama.cpp equivalent"):
        read_vocab(folder, 2048)
    with pytest.raises(TokenizerExportError, match="no llama.cpp equivalent"):
        export_model(folder, tmp_path / "other.gguf", dtype="f32")
    assert not (tmp_path / "other.gguf").exists()


def test_the_modelfile_names_the_downloads():
    files = {
        part: {"file": f"{part}.gguf", "kind": "model", "dtype": "f16", "size_bytes": 1, "tensors": 1}
        for part in ("base", "adapter", "merged")
    }
    record = local_runtimes.export_record(
        dtype="f16", files=files, adapter_refusal="", chat_template="<|im_start|>{{ x }}<|im_end|>", stop=["<|im_end|>"]
    )
    stem = local_runtimes.download_stem("Support bot", 7)
    text = local_runtimes.ollama_modelfile(record, stem)
    assert text.startswith('FROM ./support-bot-7-base-f16.gguf\nADAPTER ./support-bot-7-lora.gguf\nTEMPLATE """')
    assert text.endswith('PARAMETER stop "<|im_end|>"\n')
    assert local_runtimes.llama_cpp_command(record, stem) == (
        "llama-server -m ./support-bot-7-base-f16.gguf --lora ./support-bot-7-lora.gguf --jinja"
    )
    del files["adapter"]
    dora = local_runtimes.export_record(
        dtype="f16", files=files, adapter_refusal=DORA_REASON, chat_template="", stop=[]
    )
    assert local_runtimes.ollama_modelfile(dora, stem) == "FROM ./support-bot-7-merged-f16.gguf\n"
