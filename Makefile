# Two commands for a newcomer: `make demo` and `make test`. Everything else is detail.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
VF     := $(VENV)/bin/visionflow
DEMO   := demo-output

.PHONY: demo test install install-demo install-test bench clean

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

$(VENV)/.test-installed: pyproject.toml | $(PY)
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

bench:
	$(MAKE) -C bench

clean:
	rm -rf $(DEMO) .pytest_cache .hypothesis
