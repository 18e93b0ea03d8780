# Everything a newcomer or CI needs, from a fresh clone: `make run`, `make test`, `make ui`.
# Each target creates the virtual environment and installs the pinned dependencies when needed.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# The shipped sample is a snapshot extracted on this date; `make run` reports it as of that date
# unless AS_OF_DATE or RAW_DATA_DIR is set, so it shows the same mix of customers on any day.
SAMPLE_AS_OF_DATE := 2026-11-20
# The as-of date of `make run` and of the UI's launches without config (`make ui`): AS_OF_DATE
# when set, else the sample's date for the sample, else empty (today).
AS_OF_DATE_DEFAULT = AS_OF_DATE="$${AS_OF_DATE:-$(if $(RAW_DATA_DIR),,$(SAMPLE_AS_OF_DATE))}"

export PATH := $(BIN):$(PATH)
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

# The DuckDB that BI drivers bundle, its Python package and its command-line tool
# (.venv-duckdb-1.4.4/bin/duckdb): the tests open the published reports with them.
BI_READER_DUCKDB := 1.4.4
BI_READER_VENV := .venv-duckdb-$(BI_READER_DUCKDB)

.PHONY: install install-spark run ui test lint manifest sample lock clean bi-reader bench ui-screenshots docs

$(VENV)/.installed: requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

install: $(VENV)/.installed

# The spark extra (dbt-spark and pyspark, about 450 MB), for DBT_TARGET=spark and its tests.
$(VENV)/.installed-spark: requirements-spark.lock $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-spark.lock
	@touch $@

install-spark: $(VENV)/.installed-spark

# The dbt manifest the Dagster definitions are built from.
manifest: install
	$(BIN)/python -c "from dagster_project.dbt_project import prepare_manifest; prepare_manifest()"

# `make run DBT_TARGET=spark` runs the models on Apache Spark, with the spark extra installed first.
run: install $(if $(filter spark,$(DBT_TARGET)),install-spark)
	$(AS_OF_DATE_DEFAULT) $(BIN)/python -m dagster_project.run

ui: manifest
	$(AS_OF_DATE_DEFAULT) $(BIN)/dagster dev --workspace workspace.yaml

# Screenshots of the UI's expanded asset lineage and asset pages, in headless Chromium (needs
# Debian's `chromium`, Node and npm): tools/ui_screenshots/out/.
ui-screenshots: manifest
	tools/ui_screenshots/run.sh

# dbt's documentation of every model and column, as one page that opens offline:
# dbt_project/target/docs/static_index.html (column types from the warehouse `make run` built, at
# WAREHOUSE_PATH). Its own target folder: the manifest the Dagster definitions read is left as it
# is, and the models are not compiled (an incremental model compiles only inside a build).
DOCS_TARGET := target/docs
docs: install
	@warehouse="$$(realpath -m "$${WAREHOUSE_PATH:-data/warehouse.duckdb}")"; \
	test -f "$$warehouse" || { echo "No warehouse at $$warehouse: run 'make run' first." >&2; exit 2; }; \
	cd dbt_project && export WAREHOUSE_PATH="$$warehouse" \
		&& $(BIN)/dbt parse --quiet --target-path $(DOCS_TARGET) \
		&& $(BIN)/dbt docs generate --quiet --static --no-compile --target-path $(DOCS_TARGET)
	@echo "dbt docs: $(CURDIR)/dbt_project/$(DOCS_TARGET)/static_index.html"

lint: install
	$(BIN)/ruff check dagster_project tests
	$(BIN)/ruff format --check dagster_project tests
	$(BIN)/sqlfluff lint dbt_project/models dbt_project/tests

$(BI_READER_VENV)/.installed-python-and-cli:
	@test -x $(BI_READER_VENV)/bin/python || $(PYTHON) -m venv $(BI_READER_VENV)
	$(BI_READER_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		duckdb==$(BI_READER_DUCKDB) duckdb-cli==$(BI_READER_DUCKDB)
	@# pip copies the tool's binary without its executable bit.
	chmod +x $(BI_READER_VENV)/bin/duckdb
	@touch $@

bi-reader: $(BI_READER_VENV)/.installed-python-and-cli

test: lint manifest bi-reader install-spark
	BI_READER_PYTHON=$(CURDIR)/$(BI_READER_VENV)/bin/python $(BIN)/python -m pytest

# The benchmark against bare DuckDB (benchmarks/bench.py): writes benchmarks/results.md. The data
# sets are generated once into .bench/ (about 2 GB at 30M lines) and kept for the next run.
BENCH_SIZES ?= 1M,10M,30M
BENCH_REPEATS ?= 3
BENCH_MEMORY_LIMIT ?= 2GiB
# Also one full run with the models on Apache Spark at these sizes (empty: none).
BENCH_SPARK_SIZES ?= 1M,10M
bench: manifest $(if $(BENCH_SPARK_SIZES),install-spark)
	$(BIN)/python benchmarks/bench.py --sizes $(BENCH_SIZES) --repeats $(BENCH_REPEATS) \
		--memory-limit "$(BENCH_MEMORY_LIMIT)" --spark-sizes "$(BENCH_SPARK_SIZES)"

# Rewrites the shipped sample extracts in data/raw/ (deterministic: same files every time).
sample: install
	$(BIN)/python -m dagster_project.sample_data --out data/raw

# Re-pins requirements.lock from pyproject.toml in a throwaway environment.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet -e ".[dev]"
	{ echo "# The exact set of packages a fresh machine installs (Python 3.11). Regenerate with 'make lock'"; \
	  echo "# after changing the dependencies in pyproject.toml."; \
	  .lock-venv/bin/python -m pip freeze --exclude-editable | grep -v '^inactive-customers' | sort -f; \
	} > requirements.lock
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) $(BI_READER_VENV) dbt_project/target dbt_project/logs data/warehouse.duckdb data/reports .bench
