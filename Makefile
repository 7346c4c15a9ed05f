# The doors into the project. Everything runs from the repo root inside .venv.
VENV ?= .venv
BIN := $(VENV)/bin
DBT := $(BIN)/dbt
DBT_ARGS := --project-dir dbt_project --profiles-dir .
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo build test test-spark lint bench docs clean

install: $(VENV)/.installed

# torch first, pinned: the CPU build lies on disk; an unpinned torch pulls a multi-GB CUDA build
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# the demo shop's service lines (postage, manual adjustments) are not products
DEMO_VARS := '{non_product_item_ids: [99990, 99991]}'

demo: install  ## demo data -> dbt build -> train -> score -> export -> what it made
	$(BIN)/recsql demo-data
	$(DBT) build $(DBT_ARGS) --vars $(DEMO_VARS)
	$(BIN)/recsql summary
	$(BIN)/recsql train
	$(BIN)/recsql score
	$(BIN)/recsql export
	$(BIN)/recsql show

build: install  ## dbt build on whatever the vars point at
	$(DBT) build $(DBT_ARGS)

test: install
	$(BIN)/pytest -q -m "not spark"

# the dbt models on Spark (session mode, Java 17) give DuckDB's tables: a few minutes
test-spark: install
	$(BIN)/pip install --quiet -e '.[spark]'
	RECSQL_REQUIRE_SPARK=1 $(BIN)/pytest -q -s -m spark tests/test_spark.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install  ## slow (about two hours on 2 cores): JSON figures in benchmarks/results/
	$(BIN)/python benchmarks/bench_dbt.py --preset demo --layer foundation
	$(BIN)/python benchmarks/bench_dbt.py --preset demo
	$(BIN)/python benchmarks/bench_dbt.py --preset large --layer foundation
	$(BIN)/python benchmarks/bench_dbt.py --preset large --reuse-data
	$(BIN)/python benchmarks/bench_embeddings.py --items 50000
	$(BIN)/python benchmarks/bench_training.py --warehouse benchmarks/results/work/large
	$(BIN)/pip install --quiet -e '.[bench]'
	cd benchmarks && ../$(BIN)/python bench_quality.py

docs: install
	$(DBT) docs generate $(DBT_ARGS)

clean:
	rm -rf warehouse/recsql.duckdb warehouse/raw warehouse/models warehouse/exports dbt_project/target
