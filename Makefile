# Two commands set everything up on a fresh machine with Python >= 3.10 and make:
#   make quickstart   creates .venv, installs mobileseg with every toolchain, runs the main job
#   make test         creates .venv if needed, installs, runs the test suite
PYTHON ?= python3
VENV ?= .venv
# Extra pip arguments, e.g. PIP_ARGS="--extra-index-url https://download.pytorch.org/whl/cpu"
# on a machine where the registry's torch==2.13.0 would be a CUDA build.
PIP_ARGS ?=
PYTEST_ARGS ?=
STAMP := $(VENV)/.installed

.PHONY: quickstart test install clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "mobileseg needs Python >= 3.10, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	# One pip call for the whole set: a second call can move shared pins (see DEPS.md).
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check $(PIP_ARGS) -e '.[all,dev]'
	@touch $@

install: $(STAMP)

quickstart: $(STAMP)
	$(VENV)/bin/mobileseg quickstart

test: $(STAMP)
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) mobileseg-quickstart .pytest_cache
