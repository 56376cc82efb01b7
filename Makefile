# make run   set up, start the local Kafka broker, produce the sample, run the job, show the summary
# make test  the test suite against the real broker, Spark and Delta
# make backfill ARGS="rederive --from 2025-05-17 --to 2025-05-19 --dry-run"  (see README, Backfill)
# make bench  the job against the engine's ceiling, 1,000,000 payments (ARGS="--help"; README, Performance)
# make notebooks  JupyterLab on notebooks/ (overview, reconciliation, data quality of the tables)
# make stop  stop the broker; make clean removes everything local (.venv, .local)
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PAYMENTS ?= 20000
MVN := mvn -B -q --no-transfer-progress

export PYSPARK_PYTHON := $(CURDIR)/$(PY)
export PYSPARK_DRIVER_PYTHON := $(CURDIR)/$(PY)
export SPARK_CONF_DIR := $(CURDIR)/conf/spark
# The Spark Kafka source and Delta, resolved by Maven (see conf/spark/pom.xml).
SPARK_SUBMIT = $(VENV)/bin/spark-submit --master local[2] --jars $(shell ls .local/jars/*.jar | paste -sd, -)

KILLS ?= 10
CHAOS_PAYMENTS ?= 200000

.PHONY: help setup run test chaos backfill bench notebooks stop clean kafka-start

help:
	@sed -n 's/^# \(make .*\)/\1/p' Makefile

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,notebooks]'
	touch $@

.local/jars/.resolved: conf/spark/pom.xml
	rm -rf .local/jars
	$(MVN) -f conf/spark/pom.xml dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=$(CURDIR)/.local/jars
	touch $@

.local/kafka/libs/.resolved: conf/kafka/pom.xml
	rm -rf .local/kafka/libs
	$(MVN) -f conf/kafka/pom.xml dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=$(CURDIR)/.local/kafka/libs
	touch $@

setup: $(VENV)/.installed .local/jars/.resolved .local/kafka/libs/.resolved

kafka-start: setup
	bin/kafka.sh start

run: kafka-start
	rm -rf .local/lake .local/checkpoints
	$(PY) jobs/sample.py --reset --payments $(PAYMENTS)
	$(SPARK_SUBMIT) jobs/load_reference.py
	time $(SPARK_SUBMIT) jobs/settlement.py --available-now
	$(PY) jobs/summary.py
	@echo
	@echo "Explore these tables: make notebooks (JupyterLab opens notebooks/ in your browser),"
	@echo "or ask the operator's command: $(PY) -m settlement --help"

test: kafka-start
	$(PY) -m pytest

# A backfill over the tables make run left: ARGS are jobs/backfill.py's (rederive, log, topic, abandon).
backfill: kafka-start
	$(SPARK_SUBMIT) jobs/backfill.py $(ARGS)

# The full chaos run (tests/chaos.py): the job killed KILLS times while CHAOS_PAYMENTS are produced.
chaos: kafka-start
	$(PY) -m tests.chaos --payments $(CHAOS_PAYMENTS) --kills $(KILLS)

bench: kafka-start
	$(PY) -m benchmarks $(ARGS)

# The kernels find conf/settlement.toml above notebooks/, so they read the tables make run wrote.
notebooks: setup
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

stop:
	bin/kafka.sh stop

clean: stop
	rm -rf $(VENV) .local
