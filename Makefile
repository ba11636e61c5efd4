# One command per job; README.md lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: up demo test lint bench bench-quick migrate catalogs screenshots clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

## up: Postgres + Camunda engine + migrations + worker + link server, locally; prints demo links
up: $(BIN)/.installed
	$(BIN)/python scripts/up.py

## demo: one more approval on a running `make up`, and its links (CAMUNDA_URL=… if up chose another port)
demo: $(BIN)/.installed
	$(BIN)/python scripts/demo.py $(if $(CAMUNDA_URL),--camunda-url $(CAMUNDA_URL))

## test: ruff, mypy, import contracts, then the whole pytest suite on real Postgres and Camunda
test: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(BIN)/.installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy && $(BIN)/lint-imports

# The bench extra: matplotlib, for the PNG each benchmark writes (the tests do not need it).
$(BIN)/.bench-installed: $(BIN)/.installed pyproject.toml
	$(BIN)/pip install --quiet -e '.[bench]'
	touch $@

## bench: the three benchmarks (not tests), then the goals table from their JSON results
# BENCH_ARGS goes to each benchmark, e.g. BENCH_ARGS="--max-load 1.5 --max-wait 60".
# The scaling scenario runs a million links here (about a minute to fill); the goal's ten
# million: python -m bench.latency --scenario scaling --links 10000000 (about eleven minutes).
BENCH_LINKS := 1000000
bench: $(BIN)/.bench-installed
	$(BIN)/python -m bench.redeem_vs_correlate $(BENCH_ARGS)
	$(BIN)/python -m bench.latency --links $(BENCH_LINKS) $(BENCH_ARGS)
	$(BIN)/python -m bench.issue_vs_bare $(BENCH_ARGS)
	$(BIN)/python -m bench.report

## bench-quick: the same with --quick sizes
bench-quick: $(BIN)/.bench-installed
	$(BIN)/python -m bench.redeem_vs_correlate --quick $(BENCH_ARGS)
	$(BIN)/python -m bench.latency --quick --links $(BENCH_LINKS) $(BENCH_ARGS)
	$(BIN)/python -m bench.issue_vs_bare --quick $(BENCH_ARGS)
	$(BIN)/python -m bench.report

## catalogs: extract the pages' messages (babel.cfg) and update every shipped catalog
catalogs: $(BIN)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k problem --no-location --omit-header \
		--sort-output -o linkserver/locales/messages.pot .
	$(BIN)/pybabel update -i linkserver/locales/messages.pot -d linkserver/locales \
		--no-fuzzy-matching --ignore-obsolete --width 100

## screenshots: the browser test, then seven of its screenshots into docs/screenshots (README)
SCREENSHOTS := approval-confirm-desktop approval-confirm-phone-de approval-outcome-desktop \
	other-amount-error-desktop other-amount-outcome-desktop approval-already-answered-desktop \
	invalid-link-page-desktop
ARTIFACTS := $(or $(ACTION_LINKS_ARTIFACTS),test-artifacts)
screenshots: $(BIN)/.installed
	ACTION_LINKS_ARTIFACTS=$(ARTIFACTS) $(BIN)/python -m pytest tests/e2e/test_browser.py -q -p no:cacheprovider
	mkdir -p docs/screenshots
	for name in $(SCREENSHOTS); do cp $(ARTIFACTS)/screenshots/$$name.png docs/screenshots/; done

## migrate: action-links migrate against ACTION_LINKS_DATABASE_URL
migrate: $(BIN)/.installed
	$(BIN)/action-links migrate

clean:
	rm -rf $(VENV) tests/engine/target .mypy_cache .ruff_cache .pytest_cache
