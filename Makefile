# Two entry points: `make demo` (the main job on real data) and `make test`.
# Both create .venv on first use: torch is installed first (the CPU build), then earmark.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
DATA ?= $(or $(EARMARK_DATA),../shared/data)
DEMO_OUT ?= runs/demo

.PHONY: demo test lint typecheck bench clean install-aisfx

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==$(TORCH_VERSION)
	$(BIN)/pip install --quiet -e '.[dev,plots,tags]'
	touch $@

# the optional aisfx front-end: --no-deps, since aisfx 0.1.2 pins old numpy and librosa
# (tqdm is the one module it imports that earmark does not install)
$(BIN)/.aisfx-installed: $(BIN)/.installed
	$(BIN)/pip install --quiet --no-deps aisfx==0.1.2 tqdm
	touch $@

install-aisfx: $(BIN)/.aisfx-installed

demo: $(BIN)/.installed
	$(BIN)/earmark prepare folder --root "$(DATA)/esc10/audio" --out $(DEMO_OUT)/esc10 \
		--set 'fold_pattern=^(\d+)-' --on-error skip
	$(BIN)/earmark info $(DEMO_OUT)/esc10

test: $(BIN)/.installed $(BIN)/.aisfx-installed
	$(BIN)/python -m pytest -q

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/prepare_speed.py --data "$(DATA)"

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
