# Two commands set up everything on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
SHIPLINE := $(VENV)/bin/shipline
# strict (mkdocs.yml): a broken link or a page missing from the nav fails the build
MKDOCS := NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs
# make test-parallel: the tests on parallel workers (pytest-xdist; a module stays on one
# worker, so its module fixtures start once), then the `serial` ones (tests/lanes.py) alone
TEST_WORKERS ?= 3
PYTEST_PARALLEL := $(VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not serial"
PYTEST_SERIAL := $(VENV)/bin/pytest -q -m serial

.PHONY: bootstrap venv demo test test-parallel unit lint docs up clean bench bench-detect bench-build

bootstrap:
	bash deploy/dev/bootstrap.sh

venv:  # the project's .venv alone (pip): no Debian packages, no components
	bash deploy/dev/bootstrap.sh --venv-only

demo: bootstrap
	$(SHIPLINE) demo

test: bootstrap
	$(VENV)/bin/ruff check services tests bench
	$(VENV)/bin/mypy
	$(MKDOCS) build --quiet
	$(VENV)/bin/pytest -q

test-parallel: bootstrap  # the same tests in about 20 min instead of 31 (docs/development.md)
	$(PYTEST_PARALLEL); parallel=$$?; $(PYTEST_SERIAL) && exit $$parallel

unit: venv  # the tests that need no external component (tests/lanes.py), in under a minute
	GIT_PYTHON_REFRESH=quiet $(VENV)/bin/pytest --unit -q  # GitPython imports without git

lint: bootstrap
	$(VENV)/bin/ruff check services tests bench
	$(VENV)/bin/ruff format --check services tests bench
	$(VENV)/bin/mypy

docs: bootstrap  # the documentation site into .shipline/site (`.venv/bin/mkdocs serve` serves it)
	$(MKDOCS) build

up: bootstrap
	$(SHIPLINE) up

bench: bootstrap  # Shipline vs baselines (bench/run.py): writes docs/benchmarks.md (+ .png) and bench/results/
	$(PY) -m bench.run $(BENCH_ARGS)

bench-detect: bootstrap  # change detection vs plain `git diff --name-only` (bench/bench_detect.py)
	$(PY) bench/bench_detect.py

bench-build: bootstrap  # builder vs the same docker build + push by hand; 8 builds vs one (bench/bench_build.py)
	$(PY) bench/bench_build.py

clean:
	rm -rf .shipline .pytest_cache .ruff_cache
