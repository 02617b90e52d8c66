# Two commands set up everything on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
SHIPLINE := $(VENV)/bin/shipline

.PHONY: bootstrap demo test lint up clean bench bench-detect bench-build

bootstrap:
	bash deploy/dev/bootstrap.sh

demo: bootstrap
	$(SHIPLINE) demo

test: bootstrap
	$(VENV)/bin/ruff check services tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q

lint: bootstrap
	$(VENV)/bin/ruff check services tests bench
	$(VENV)/bin/ruff format --check services tests bench
	$(VENV)/bin/mypy

up: bootstrap
	$(SHIPLINE) up

bench: bootstrap  # Shipline vs baselines (bench/run.py): writes BENCHMARKS.md and bench/results/
	$(PY) -m bench.run $(BENCH_ARGS)

bench-detect: bootstrap  # change detection vs plain `git diff --name-only` (bench/bench_detect.py)
	$(PY) bench/bench_detect.py

bench-build: bootstrap  # builder vs the same docker build + push by hand; 8 builds vs one (bench/bench_build.py)
	$(PY) bench/bench_build.py

clean:
	rm -rf .shipline .pytest_cache .ruff_cache
