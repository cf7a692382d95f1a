# The two commands of the README: `make run` and `make test`. Both set everything up first
# (a virtual environment in .venv, the package, the offline assets) and are idempotent.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
SERVER  = $(VENV)/.server-installed

.PHONY: setup assets run test test-server lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# llama-cpp-python[server]: llama.cpp builds from source on the first install (~5 min on 2 cores).
# Portable AVX2 build, not -march=native: on Sapphire Rapids VMs the native build enables ggml's AMX
# kernels, whose worker threads fault (general protection) without per-thread XTILEDATA permission
# (ggml-org/llama.cpp#26954). No wheel cache, so these flags always apply.
LLAMA_CMAKE = -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
$(SERVER): $(STAMP)
	CMAKE_ARGS="$(LLAMA_CMAKE)" $(BIN)/python -m pip install --quiet --no-cache-dir -e '.[dev,server]'
	touch $(SERVER)

assets: setup
	$(BIN)/superalign assets fetch

run: assets
	$(BIN)/superalign run

lint: setup
	$(BIN)/ruff check superalign tests bench examples
	$(BIN)/ruff format --check superalign tests bench examples

test: assets lint
	$(BIN)/python -m pytest -q

# the slow tests against a real OpenAI-compatible server: llama.cpp serving SmolLM2 on 127.0.0.1
test-server: assets $(SERVER)
	$(BIN)/python -m pytest -q -m slow tests/test_llm.py -k real_openai

bench: assets
	$(BIN)/python bench/run_default.py

clean:
	rm -rf $(VENV) runs
