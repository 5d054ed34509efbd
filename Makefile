# HintQ: two set-up commands, `make demo` and `make test`; everything else they need is here.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := help

PYTHON      ?= python3.11
VENV         = .venv
PIPE         = $(VENV)/pipeline/bin
AIRFLOW      = $(VENV)/airflow/bin
DEMO_DATE   ?= 2026-11-01
DEMO_USERS  ?= 100
DEMO_SEED   ?= 7
DATA        ?= $(CURDIR)/data
REDIS_PORT  ?= 6399
SUDO        := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# pip here prints a warning per package for an empty local index; drop only those lines.
QUIET_PIP    = sed -u '/is ignored: it is neither a file nor a directory/d'

export HINTQ_MODEL_CACHE     ?= $(CURDIR)/.cache/models
export HINTQ_INPUT           ?= $(DATA)/input
export HINTQ_WAREHOUSE       ?= $(DATA)/warehouse
export HINTQ_PIPELINE_PYTHON ?= $(CURDIR)/$(PIPE)/python
export HINTQ_REDIS_URL       ?= redis://127.0.0.1:$(REDIS_PORT)/0
export AIRFLOW_HOME          ?= $(CURDIR)/airflow_home
export AIRFLOW__CORE__DAGS_FOLDER = $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES = False
export PYTHONDONTWRITEBYTECODE = 1

.PHONY: help demo test test-fast venvs model redis redis-up redis-down clean

# The demo's second night (its ranker learns from night 1 and day 2) and its held-out day.
DEMO_NIGHT2  = $(shell date -I -d "$(DEMO_DATE) + 1 day")
DEMO_HELDOUT = $(shell date -I -d "$(DEMO_DATE) + 2 days")
# The demo's nightly jobs select fewer Think triggers than the default, to keep two nights
# on 2 CPU cores within minutes (infra/demo_config.json); every other setting is the default.
DEMO_CONFIG ?= $(CURDIR)/infra/demo_config.json

help:
	@echo "make demo   install, generate a three-day sample world, run hintq_nightly through Airflow for $(DEMO_DATE)"
	@echo "            and the next day (night 1; the ranker trained on night 1 -> day 2; night 2 ranked by it),"
	@echo "            export to Redis, evaluate night 2 against day 3"
	@echo "make test   install what the tests need and run the whole suite"

# The pipeline environment: torch's local CPU build first, then the pinned lock without
# resolving (the lock is a full freeze; resolving would pull CUDA builds of torchvision).
$(PIPE)/.installed: requirements/pipeline.lock setup.py
	$(PYTHON) -m venv $(VENV)/pipeline
	$(PIPE)/pip install -q --disable-pip-version-check torch==2.13.0 2>&1 | $(QUIET_PIP)
	$(PIPE)/pip install -q --disable-pip-version-check --no-deps -r requirements/pipeline.lock 2>&1 | $(QUIET_PIP)
	$(PIPE)/pip install -q --disable-pip-version-check --no-deps -e . 2>&1 | $(QUIET_PIP)
	$(PIPE)/python -c "import vllm, apache_beam, faiss, sentence_transformers, polars, peft, lightgbm, pyiceberg.catalog.sql" 2>/dev/null
	touch $@

# The Airflow environment: Airflow and its Beam provider only; it launches jobs with the
# pipeline environment's interpreter and imports nothing of it.
$(AIRFLOW)/.installed: requirements/airflow.lock
	$(PYTHON) -m venv $(VENV)/airflow
	$(AIRFLOW)/pip install -q --disable-pip-version-check --no-deps -r requirements/airflow.lock 2>&1 | $(QUIET_PIP)
	$(AIRFLOW)/airflow db migrate > /dev/null
	touch $@

venvs: $(PIPE)/.installed $(AIRFLOW)/.installed

# Converts the packaged GGUF once into the model cache (no downloads at run time).
model: $(PIPE)/.installed
	$(PIPE)/hintq prepare-model 2>&1 | grep -v -i warn || true
	@test -n "$$(ls $(HINTQ_MODEL_CACHE) 2>/dev/null)" || { echo "model conversion failed"; exit 1; }

# Debian's redis-server: the tests start their own on free ports; the demo uses REDIS_PORT.
redis:
	@command -v redis-server >/dev/null || { $(SUDO) apt-get update -qq && \
	    $(SUDO) apt-get install -y -qq redis-server > /dev/null; }

redis-up: redis
	@redis-cli -p $(REDIS_PORT) ping > /dev/null 2>&1 || redis-server --port $(REDIS_PORT) --bind 127.0.0.1 \
	    --save "" --appendonly no --daemonize yes --dir /tmp > /dev/null

redis-down:
	-redis-cli -p $(REDIS_PORT) shutdown nosave

demo: venvs model redis-up
	@start=$$(date +%s); \
	$(PIPE)/hintq sample-world --out $(HINTQ_INPUT) --start $(DEMO_DATE) --days 3 \
	    --users $(DEMO_USERS) --seed $(DEMO_SEED) > /dev/null; \
	echo "sample world (3 days) written to $(HINTQ_INPUT)"; \
	for night in $(DEMO_DATE) $(DEMO_NIGHT2); do \
	    echo "running DAG hintq_nightly for $$night through Airflow (log: $(DATA)/demo_airflow_$$night.log) ..."; \
	    HINTQ_CONFIG=$(DEMO_CONFIG) $(AIRFLOW)/airflow dags test hintq_nightly $$night > $(DATA)/demo_airflow_$$night.log 2>&1 \
	        || { tail -40 $(DATA)/demo_airflow_$$night.log; exit 1; }; \
	    grep -q "state=success" $(DATA)/demo_airflow_$$night.log || { tail -40 $(DATA)/demo_airflow_$$night.log; exit 1; }; \
	    echo "  done after $$(( $$(date +%s) - start )) s"; \
	done; \
	echo; echo "the ranker the DAG trained on night $(DEMO_DATE)'s candidates and day $(DEMO_NIGHT2)'s behaviour:"; \
	$(PIPE)/hintq ranker --warehouse $(HINTQ_WAREHOUSE) --date $(DEMO_DATE); \
	echo; $(PIPE)/hintq summary --warehouse $(HINTQ_WAREHOUSE) --date $(DEMO_NIGHT2); \
	user=$$($(PIPE)/python -c "from warehouse.files import read_published_table as t; \
	    print(t('$(HINTQ_WAREHOUSE)', 'u2q', '$(DEMO_NIGHT2)').column('user_id')[0])"); \
	trigger=$$($(PIPE)/python -c "from warehouse.files import read_published_table as t; \
	    rows = t('$(HINTQ_WAREHOUSE)', 'x2q', '$(DEMO_NIGHT2)').to_pylist(); \
	    gen = lambda r: any(q['source'] == 'generated' for q in r['queries']); \
	    pick = sorted(rows, key=lambda r: (not r['queries'], r['selected_as'] != 'cold', not gen(r), r['trigger_id']))[0]; \
	    print(pick['trigger_type'] + ':' + pick['trigger_id'])"); \
	echo; echo "a cold-start trigger's x2q row, or a popular one's if no cold one has a list (hintq show x2q):"; \
	$(PIPE)/hintq show x2q --warehouse $(HINTQ_WAREHOUSE) --date $(DEMO_NIGHT2) --trigger "$$trigger"; \
	echo; echo "served from Redis ($(HINTQ_REDIS_URL)) through the reader library:"; \
	$(PIPE)/hintq lookup --redis $(HINTQ_REDIS_URL) --user $$user --limit 10; \
	$(PIPE)/hintq lookup --redis $(HINTQ_REDIS_URL) --trigger "$$trigger" --limit 10; \
	echo "(Redis stays up on port $(REDIS_PORT); stop it with: make redis-down)"; \
	echo; echo "evaluation of night $(DEMO_NIGHT2) against day $(DEMO_HELDOUT), with the baselines, the hand-weighted"; \
	echo "order of the same night (before learning) and the ranked lists without the LLM (hintq eval):"; \
	$(PIPE)/hintq eval --warehouse $(HINTQ_WAREHOUSE) --date $(DEMO_NIGHT2) --input $(HINTQ_INPUT) 2>&1 \
	    | grep -v -i -E "warn|loading weights| INFO "; \
	echo; echo "every table is an Iceberg table (catalog $(HINTQ_WAREHOUSE)/catalog.db); x2q of $(DEMO_NIGHT2) again (hintq run):"; \
	$(PIPE)/hintq run --table x2q --date $(DEMO_NIGHT2) --input $(HINTQ_INPUT) --warehouse $(HINTQ_WAREHOUSE) \
	    --config=$(DEMO_CONFIG) > $(DATA)/demo_rerun_x2q.log 2>&1 || { tail -20 $(DATA)/demo_rerun_x2q.log; exit 1; }; \
	echo "the two runs' files (sha256):"; \
	(cd $(HINTQ_WAREHOUSE)/x2q/data/dt=$(DEMO_NIGHT2) && sha256sum run=*/*.parquet); \
	$(PIPE)/hintq rollback-table --warehouse $(HINTQ_WAREHOUSE) --table x2q --date $(DEMO_NIGHT2) > /dev/null; \
	echo "hintq history --table x2q, after the re-run and a rollback to the first run (hintq rollback-table):"; \
	$(PIPE)/hintq history --warehouse $(HINTQ_WAREHOUSE) --table x2q; \
	echo "  demo wall time      $$(( $$(date +%s) - start )) s (two DAG runs, the evaluation, an x2q re-run)"

test: venvs model redis
	$(PIPE)/python -m pytest -q tests --ignore=tests/dags
	$(AIRFLOW)/python -m pytest -q tests/dags

test-fast: venvs
	$(PIPE)/python -m pytest -q tests -m "not slow" --ignore=tests/dags

clean:
	rm -rf $(DATA) $(AIRFLOW_HOME) .pytest_cache
