# NeuFace Motion Suite. `make quickstart` installs and runs the main job; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export GRADIO_ANALYTICS_ENABLED := False
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install quickstart demo test test-fast bench prior-benchmark clean

install: $(VENV)/.installed

# torch is installed first, pinned to the CPU wheel the suite is tested with (an unpinned torch would pull
# a multi-GB CUDA build); the project's own dependency is a range (torch>=2.4), which it then satisfies.
# MediaPipe's wheel goes in without its declared dependencies (pyproject.toml, [face]).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install "torch==2.13.0"
	$(PIP) install -e ".[dev]"
	$(PIP) install --no-deps "mediapipe==0.10.14"
	$(PY) -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"
	touch $@

quickstart: install
	$(VENV)/bin/neuface-quickstart --config configs/demos/quickstart.yaml

demo: install
	$(VENV)/bin/neuface-demo

test: install
	$(PY) -m pytest -q -n 2 --dist worksteal

# the edit-test loop: everything but the end-to-end tests marked slow (under a minute on 2 cores)
test-fast: install
	$(PY) -m pytest -q -n 2 --dist worksteal -m "not slow"

bench: install
	$(PY) -m eval bench all

prior-benchmark: install
	$(PY) -m eval prior-benchmark --config configs/eval/prior_benchmark.yaml

clean:
	rm -rf runs/quickstart runs/bench runs/demo runs/prior_benchmark .pytest_cache
