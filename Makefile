# The two commands a new user needs: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
export PATH := $(CURDIR)/.venv/bin:$(PATH)

.PHONY: demo test setup serve lint bench clean

demo: ## set up, load the real Rutland data, compute, and serve on http://127.0.0.1:8000
	WITH_BROWSER=1 scripts/setup.sh
	locus demo

test: ## set up and run the whole suite against a real PostGIS (throwaway database)
	WITH_BROWSER=1 SKIP_DB=1 scripts/setup.sh
	scripts/test.sh

setup:
	WITH_BROWSER=1 scripts/setup.sh

serve:
	locus serve

lint: ## ruff, ruff format --check, mypy and the import-linter contracts (as CI runs them)
	scripts/lint.sh

bench:
	.venv/bin/pip install -q -e '.[dev,bench]'
	for b in bench/*.py; do echo "== $$b"; python $$b || exit 1; done

clean:
	rm -rf .cache app/web/dist
