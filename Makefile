# make run   set up, start the local Kafka broker, produce the sample, run the job, show the summary
# make test  the test suite against the real broker, Spark and Delta
# make fuzz  the input path's property tests with many more, new random examples (FUZZ_EXAMPLES)
# make backfill ARGS="rederive --from 2025-05-17 --to 2025-05-19 --dry-run"  (see README, Backfill)
# make bench  the job against the engine's ceiling, 1,000,000 payments (ARGS="--help"; README, Performance)
# make maintain  compact and VACUUM every table, safe beside the stream (ARGS="--tables settlement_base")
# make notebooks  JupyterLab on notebooks/ (overview, reconciliation, data quality of the tables)
# make package  dist/: the wheel, the same as settlement.zip for spark-submit --py-files, the dedup jar, requirements.txt
# make cluster-start / cluster-stop  a Spark standalone master and two workers on this machine
# make cluster-run  make run's sample through the job on that cluster (README, Running on a cluster)
# make stop  stop the broker and the cluster; make clean removes everything local (.venv, .local, dist)
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
# The same job on bin/cluster.sh's standalone cluster: the package goes with it, executors run
# their own Python (the driver keeps PYSPARK_DRIVER_PYTHON).
CLUSTER_SUBMIT = $(VENV)/bin/spark-submit --master spark://127.0.0.1:7077 --py-files dist/settlement.zip \
	--conf spark.pyspark.python=$(CURDIR)/.local/cluster/python/bin/python --conf spark.pyspark.driver.python=$(CURDIR)/$(PY) \
	--jars $(shell ls .local/jars/*.jar | paste -sd, -)

FUZZ_EXAMPLES ?= 20000
KILLS ?= 10
CHAOS_PAYMENTS ?= 200000

.PHONY: help setup run test fuzz maintain chaos backfill bench notebooks stop clean kafka-start package cluster-start cluster-stop cluster-run

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

# The dedup operator (jvm/): compiled against the Spark that pyspark brings, beside the other jars.
.local/jars/settlement-jvm.jar: $(wildcard jvm/settlement/*.java) .local/jars/.resolved $(VENV)/.installed
	rm -rf .local/jvm && mkdir -p .local/jvm
	javac -nowarn --release 17 -d .local/jvm -cp "$$($(PY) -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')/jars/*" $(filter %.java,$^)
	jar cf $@ -C .local/jvm .

setup: $(VENV)/.installed .local/jars/.resolved .local/kafka/libs/.resolved .local/jars/settlement-jvm.jar

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

test: kafka-start package
	$(PY) -m pytest

# Validation's properties over new random inputs (tests/test_input_path.py), and more of them
# through the real stream; a failure prints the example and how to replay it.
fuzz: kafka-start
	HYPOTHESIS_PROFILE=fuzz FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest tests/test_input_path.py tests/test_hostile_stream.py

# What spark-submit ships to executors: the package as a wheel, which is a zip Python imports from
# (--py-files dist/settlement.zip), and the dependencies executors' Python must have, which are the
# project's less what the cluster's Spark brings (pyspark; delta-spark is only the driver's).
package: setup
	rm -rf dist build
	$(PY) -m pip wheel -q --no-deps -w dist .
	rm -rf build
	cp dist/settlement-*.whl dist/settlement.zip
	cp .local/jars/settlement-jvm.jar dist/
	$(PY) -c 'import tomllib; print(*(d for d in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"] if not d.startswith(("pyspark", "delta-spark"))), sep="\n")' > dist/requirements.txt

cluster-start: package
	bin/cluster.sh start

cluster-stop:
	bin/cluster.sh stop

# The sample of make run, through the job on the standalone cluster (its own tables and checkpoint).
cluster-run: kafka-start cluster-start
	rm -rf .local/cluster/lake .local/cluster/checkpoints
	$(PY) jobs/sample.py --reset --payments $(PAYMENTS)
	SETTLEMENT_CONFIG=conf/cluster.toml $(CLUSTER_SUBMIT) jobs/load_reference.py
	time SETTLEMENT_CONFIG=conf/cluster.toml $(CLUSTER_SUBMIT) jobs/settlement.py --available-now
	SETTLEMENT_CONFIG=conf/cluster.toml $(PY) jobs/summary.py

# A backfill over the tables make run left: ARGS are jobs/backfill.py's (rederive, log, topic, abandon).
backfill: kafka-start
	$(SPARK_SUBMIT) jobs/backfill.py $(ARGS)

# Compaction and VACUUM of the tables make run (or the settings) point at; ARGS are jobs/maintain.py's.
maintain: setup
	$(SPARK_SUBMIT) jobs/maintain.py $(ARGS)

# The full chaos run (tests/chaos.py): the job killed KILLS times while CHAOS_PAYMENTS are produced.
chaos: kafka-start
	$(PY) -m tests.chaos --payments $(CHAOS_PAYMENTS) --kills $(KILLS)

bench: kafka-start
	$(PY) -m benchmarks $(ARGS)

# The kernels find conf/settlement.toml above notebooks/, so they read the tables make run wrote.
notebooks: setup
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

stop:
	bin/cluster.sh stop
	bin/kafka.sh stop

clean: stop
	rm -rf $(VENV) .local dist build
