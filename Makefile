# aectl — the two commands: `make train` and `make test`. Both set everything up.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
ARGS    ?=
LOGDIR  ?= outputs

.PHONY: train test test-fast lint bench tensorboard wheel clean install

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev,sweep]'
	@touch $(STAMP)

install: $(STAMP)

train: $(STAMP)
	$(BIN)/aectl train $(ARGS)

# Two workers, one test file each at a time (module fixtures are shared within a file).
# Two pytest-xdist workers, one torch thread each (and in every `aectl` they start): two
# workers with two threads each on CI's two cores spin-wait on each other (6.7 min -> 4.5).
test: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 --dist loadfile $(ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check aectl tests
	$(BIN)/ruff format --check aectl tests

bench: $(STAMP)
	$(BIN)/aectl bench $(ARGS)

tensorboard: $(STAMP)
	$(BIN)/tensorboard --logdir $(LOGDIR)

wheel: $(STAMP)
	$(BIN)/python -m build --wheel --outdir dist .

clean:
	rm -rf dist build .pytest_cache .ruff_cache *.egg-info
	find . -name __pycache__ -prune -exec rm -rf {} +
