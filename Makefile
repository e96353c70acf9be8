# Two entry points: `make demo` (the main job on real data) and `make test`.
# Both create .venv on first use: torch is installed first (the CPU build), then earmark.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
DATA ?= $(or $(EARMARK_DATA),../shared/data)
DEMO_OUT ?= runs/demo
DEMO_EPOCHS ?= 60

.PHONY: demo test lint typecheck bench clean install-aisfx

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==$(TORCH_VERSION)
	$(BIN)/pip install --quiet -e '.[dev,plots,tags,export,tune]'
	touch $@

# the optional aisfx front-end: --no-deps, since aisfx 0.1.2 pins old numpy and librosa
# (tqdm is the one module it imports that earmark does not install)
$(BIN)/.aisfx-installed: $(BIN)/.installed
	$(BIN)/pip install --quiet --no-deps aisfx==0.1.2 tqdm
	touch $@

install-aisfx: $(BIN)/.aisfx-installed

# the optional sentence-embedding group for `earmark tags collapse --method embedding`, after torch
$(BIN)/.embed-installed: $(BIN)/.installed
	$(BIN)/pip install --quiet -e '.[embed]'
	touch $@

# the main job: prepare real ESC-10, train on folds 1-4, evaluate on fold 5, tag one clip
demo: $(BIN)/.installed
	$(BIN)/earmark prepare folder --root "$(DATA)/esc10/audio" --out $(DEMO_OUT)/esc10 \
		--set 'fold_pattern=^(\d+)-' --on-error skip
	$(BIN)/earmark train --config recipes/esc10.yaml --run-dir $(DEMO_OUT)/esc10-run --overwrite \
		data.prepared=$(DEMO_OUT)/esc10 'data.test_folds=[5]' epochs=$(DEMO_EPOCHS)
	$(BIN)/earmark evaluate --predictions $(DEMO_OUT)/esc10-run/predictions/test.npz \
		--labels $(DEMO_OUT)/esc10/labels.csv --out $(DEMO_OUT)/esc10-run/evaluation
	$(BIN)/earmark predict --run $(DEMO_OUT)/esc10-run "$(DATA)/esc10/audio/001 - Dog bark/5-203128-A.flac" \
		--top-k 3 --out $(DEMO_OUT)/tags.csv
	@echo "report: $(DEMO_OUT)/esc10-run/evaluation/report.html (training curves: $(DEMO_OUT)/esc10-run/report/report.html)"
	@echo "model card: $(DEMO_OUT)/esc10-run/MODEL_CARD.md (written by the run; earmark model-card writes it again)"

test: $(BIN)/.installed $(BIN)/.aisfx-installed $(BIN)/.embed-installed
	$(BIN)/python -m pytest -q

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/prepare_speed.py --data "$(DATA)"

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
