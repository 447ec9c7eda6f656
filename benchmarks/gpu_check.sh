#!/usr/bin/env bash
# The checks that need NVIDIA GPUs, in one prepared run (a GPU machine is lent for minutes, not hours).
#
#   benchmarks/gpu_check.sh            # from the repository root, with .venv installed (make install-dev)
#
# Prints JSON lines {"metric", "value", "unit", ...} and section headers on stderr:
#   1. QLoRA vs LoRA on one GPU with the "bench" tiny model (~100M parameters): tokens/s and peak GPU memory.
#   2. Two-GPU DDP (LoRA, two processes vs one) and FSDP-QLoRA (the 4-bit base sharded over two GPUs,
#      bnb_4bit_quant_storage in the compute dtype): only where the machine has two GPUs or more.
#   3. vLLM: benchmarks/vllm_check.py (written and owned by the vLLM work; placeholder section below).
# Each section runs on its own; a failing one is reported and the next still runs. Exit status 0 only when
# every section that ran passed.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
STEPS=${GPU_CHECK_STEPS:-30}
failed=0

section() { echo "== $*" >&2; }
run() {
    if ! "$@"; then
        echo "!! failed: $*" >&2
        failed=1
    fi
}

if ! command -v nvidia-smi >/dev/null; then
    echo "gpu_check.sh: no nvidia-smi here; this script is for a machine with NVIDIA GPUs" >&2
    exit 2
fi
nvidia-smi -L >&2
gpus=$(nvidia-smi -L | grep -c '^GPU')
"$PYTHON" -c 'import torch; assert torch.cuda.is_available(), "torch sees no CUDA device"; print(torch.__version__, torch.version.cuda)' >&2 || exit 2

section "1. QLoRA vs LoRA on one GPU (bench model)"
run env CUDA_VISIBLE_DEVICES=0 "$PYTHON" benchmarks/bench_distributed.py --size bench --methods qlora,lora \
    --processes 1 --steps "$STEPS"

if [ "$gpus" -ge 2 ]; then
    section "2a. DDP: LoRA on two GPUs vs one (tokens/s, speed-up, peak memory per GPU)"
    run "$PYTHON" benchmarks/bench_distributed.py --size bench --methods lora --processes 1,2 --steps "$STEPS"
    section "2b. FSDP-QLoRA on two GPUs (the base sharded, quantised storage in bf16)"
    run "$PYTHON" benchmarks/bench_distributed.py --size bench --methods qlora --processes 2 --distributed fsdp \
        --steps "$STEPS"
else
    section "2. skipped: $gpus GPU here, DDP and FSDP need two"
fi

# ---------------------------------------------------------------------------------------------------
# 3. vLLM — PLACEHOLDER owned by the vLLM work (benchmarks/vllm_check.py is theirs; only called here).
# ---------------------------------------------------------------------------------------------------
section "3. vLLM check (benchmarks/vllm_check.py)"
if [ -f benchmarks/vllm_check.py ]; then
    run "$PYTHON" benchmarks/vllm_check.py ${VLLM_CHECK_ARGS:-}
else
    echo "benchmarks/vllm_check.py is not there yet; skipped" >&2
fi

exit "$failed"
