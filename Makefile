# Two commands set everything up on a fresh machine with Python >= 3.10 and make:
#   make quickstart   creates .venv, installs mobileseg with every toolchain, runs the main job
#   make test         creates .venv if needed, installs, runs the test suite
PYTHON ?= python3
VENV ?= .venv
# Extra pip arguments, e.g. PIP_ARGS="--extra-index-url https://download.pytorch.org/whl/cpu"
# on a machine where the registry's torch==2.13.0 would be a CUDA build.
PIP_ARGS ?=
PYTEST_ARGS ?=
# Two test processes: most tests keep one core busy (conversions, subprocesses); each file stays on one process,
# so its module fixtures are built once (tests/conftest.py gives each process one torch thread). PYTEST_PARALLEL=
# runs everything in one process.
PYTEST_PARALLEL ?= -n 2 --dist loadfile
STAMP := $(VENV)/.installed

.PHONY: quickstart test lint test-jvm bench-jvm test-android-compile install clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "mobileseg needs Python >= 3.10, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	# One pip call for the whole set: a second call can move shared pins (see docs/DEPENDENCIES.md).
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check $(PIP_ARGS) -e '.[all,dev]'
	@touch $@

install: $(STAMP)

quickstart: $(STAMP)
	$(VENV)/bin/mobileseg quickstart

# ruff and mypy read their settings from pyproject.toml; each must report nothing
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: lint
	$(VENV)/bin/python -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

# The Android app's JVM module alone (make test runs it too, with the cross-language checks).
JUNIT_CP := /usr/share/java/junit4.jar:/usr/share/java/hamcrest-core.jar
test-jvm:
	@command -v javac >/dev/null 2>&1 && [ -f /usr/share/java/junit4.jar ] || { echo "test-jvm needs a JDK and junit4 (Debian: apt-get install default-jdk-headless junit4)"; exit 1; }
	rm -rf .jvm-classes && mkdir -p .jvm-classes
	javac -Xlint:all -Werror --release 11 -cp $(JUNIT_CP) -d .jvm-classes $$(find android_demo/core/src -name '*.java')
	java -cp .jvm-classes:$(JUNIT_CP) org.junit.runner.JUnitCore $$(cd android_demo/core/src/test/java && find . -name '*Test.java' | sed 's|^./||; s|.java$$||; s|/|.|g')

# Milliseconds per camera frame for the app's frame conversion (camera image -> 1x3x480x864 input), the
# per-pixel path it replaced and the bulk-row path, on one core (taskset -c 0, one JIT/GC thread).
bench-jvm: test-jvm
	taskset -c 0 java -XX:ActiveProcessorCount=1 -XX:+UseSerialGC -cp .jvm-classes io.mobileseg.core.FrameConverterBench

# The app's Kotlin compiled with kotlinc 2.0.21 -Werror against declaration stubs of the Android, AndroidX,
# CameraX and LiteRT API it uses, the manifest and resources linked with Debian's aapt where installed
# (android_demo/compile-check/README.md). make test runs it too, with its negative controls
# (tests/integration/test_android_build.py); without kotlinc it says so and exits 0.
test-android-compile:
	@bash android_demo/compile-check/check.sh; rc=$$?; [ $$rc -eq 77 ] && exit 0; exit $$rc

clean:
	rm -rf $(VENV) mobileseg-quickstart .pytest_cache .jvm-classes
