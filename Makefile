# Two commands for a newcomer: `make demo` and `make test`. Everything else is detail.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
VF     := $(VENV)/bin/visionflow
DEMO   := demo-output
TORCH  ?= torch==2.13.0

.PHONY: demo test install install-demo install-test bench clean docs

# One venv, two install sets, each with its own stamp: the demo needs only scikit-image (its
# photos) and the transforms extra (examples/recipe.yaml), ~550 MB; the tests need every peer
# library they compare against (`dev`: TensorFlow, Ray, Datumaro, ...), ~2.7 GB.
$(PY):
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "visionflow needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.demo-installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[demo,transforms]'
	touch $@

# torch first and pinned (override with TORCH=...): the CI machines hold a CPU build of
# 2.13.0 that pip takes from disk, where a bare `torch` would fetch a multi-GB CUDA build.
# The extras ask only for torch>=2.1, which this install then satisfies.
$(VENV)/.test-installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install-demo: $(VENV)/.demo-installed
install-test: $(VENV)/.test-installed
install: install-test

demo: install-demo
	$(PY) examples/build_demo.py $(DEMO)/photos
	$(VF) detect $(DEMO)/photos
	$(VF) info $(DEMO)/photos
	$(VF) check $(DEMO)/photos --report $(DEMO)/health.html
	rm -rf $(DEMO)/yolo $(DEMO)/voc $(DEMO)/coco-from-yolo $(DEMO)/augmented
	$(VF) convert $(DEMO)/photos $(DEMO)/yolo --to yolo
	$(VF) convert $(DEMO)/photos $(DEMO)/voc --to voc
	$(VF) convert $(DEMO)/yolo $(DEMO)/coco-from-yolo --to coco
	$(VF) info $(DEMO)/coco-from-yolo
	$(VF) show $(DEMO)/photos --out $(DEMO)/photos.png
	$(VF) show $(DEMO)/yolo --out $(DEMO)/yolo.png
	$(VF) show $(DEMO)/voc --out $(DEMO)/voc.png
	$(VF) transform $(DEMO)/photos $(DEMO)/augmented --recipe examples/recipe.yaml --seed 7
	$(VF) show $(DEMO)/augmented --out $(DEMO)/augmented.png --limit 12
	@echo "demo done: open $(DEMO)/photos.png, yolo.png, voc.png, augmented.png and health.html"

test: install-test
	$(PY) -m pytest -n 2 -q

# The documentation site into site/ (docs/gen.py generates the reference pages at each build).
docs: install-test
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

bench:
	$(MAKE) -C bench

clean:
	rm -rf $(DEMO) .pytest_cache .hypothesis site
