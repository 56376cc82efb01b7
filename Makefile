# make run   set up, start the local Kafka broker, produce the sample, run the job, show the summary
# make check  lint (ruff), formatting (ruff format), types (mypy settlement) and every test that needs neither a broker nor a JVM
# make test  every test: make check, then the tests against the real brokers, Spark and Delta
# make lock  requirements/*.txt anew from pyproject.toml: every version pinned, with hashes (LOCK_ARGS=--upgrade for the newest)
# make stream  the job running on, over make run's topic and tables, with metrics on :9108 (curl localhost:9108/metrics)
# make fuzz  the input path's property tests with many more, new random examples (FUZZ_EXAMPLES)
# make backfill ARGS="rederive --from 2025-05-17 --to 2025-05-19 --dry-run"  (docs/operations.md, Backfill)
# make bench  the job against the engine's ceiling, 1,000,000 payments (ARGS="--help"; docs/performance.md)
# make maintain  compact and VACUUM every table, safe beside the stream (ARGS="--tables settlement_base")
# make notebooks  JupyterLab on notebooks/ (overview, reconciliation, data quality of the tables)
# make package  dist/: the wheel, the same as settlement.zip for spark-submit --py-files, the dedup jar, requirements.txt (the executors' lock)
# make cluster-start / cluster-stop  a Spark standalone master and two workers on this machine
# make cluster-run  make run's sample through the job on that cluster (docs/operations.md, Running on a cluster)
# make stop  stop the broker and the cluster; make clean removes everything local (.venv, .local, dist)
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
# The pip that installs the locks into .venv (the locks pin everything else).
PIP_VERSION := 26.3
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

.PHONY: help setup check check-static lock run stream test fuzz maintain chaos backfill bench notebooks stop clean kafka-start package cluster-start cluster-stop cluster-run

help:
	@sed -n 's/^# \(make .*\)/\1/p' Makefile

# The locks in requirements/ (make lock writes them from pyproject.toml, all with hashes):
#   dev.txt       .venv: the project's dependencies, its dev and notebooks extras (make run, make test)
#   runtime.txt   the project's dependencies alone, at the dev lock's versions
#   executor.txt  what the cluster's executors install (make package's dist/requirements.txt): the
#                 project's dependencies less what the cluster's Spark brings (pyspark; delta-spark
#                 is only the driver's), at the runtime lock's versions
# The executors' share of pyproject.toml's dependencies:
EXECUTOR_DEPS = import tomllib; print(*(d for d in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"] if not d.startswith(("pyspark", "delta-spark"))), sep="\n")

# Every version pyproject.toml pins is the one its locks hold: otherwise they are stale.
define LOCK_CHECK
import re, sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
deps, extras = project["dependencies"], project["optional-dependencies"]
locks = {
    "requirements/dev.txt": deps + extras["dev"] + extras["notebooks"],
    "requirements/runtime.txt": deps,
    "requirements/executor.txt": [d for d in deps if not d.startswith(("pyspark", "delta-spark"))],
}
def pin(line):
    name, _, version = line.split(";")[0].replace("\\", "").replace(" ", "").strip().partition("==")
    return re.sub(r"[-_.]+", "-", name.lower()), version
stale = []
for lock, wanted in locks.items():
    pins = {pin(line) for line in open(lock) if line[:1].isalnum()}
    stale += [f"{lock} lacks {w}" for w in wanted if "==" in w and pin(w) not in pins]
if stale:
    sys.exit("The locks are older than pyproject.toml; run make lock:\n  " + "\n  ".join(stale))
endef
export LOCK_CHECK

# uv resolves for Python 3.11 on any platform (--universal) and keeps the versions a lock already
# has where pyproject.toml still allows them; LOCK_ARGS=--upgrade takes the newest instead. The
# runtime lock is constrained to the dev lock, the executors' to the runtime lock: one version each.
LOCK = $(VENV)/bin/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command 'make lock' $(LOCK_ARGS)

$(VENV)/.installed: requirements/dev.txt pyproject.toml
	$(PYTHON) -c "$$LOCK_CHECK"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q pip==$(PIP_VERSION)
	$(PY) -m pip install -q --require-hashes -r requirements/dev.txt
	$(PY) -m pip install -q --no-deps -e .
	$(PY) -m pip check
	touch $@

# Needs only uv (pyproject.toml's version) in .venv, not an install of the locks it replaces.
lock:
	[[ -x $(PY) ]] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "$$(grep -o '"uv==[^"]*"' pyproject.toml | tr -d '"')"
	mkdir -p requirements
	$(LOCK) pyproject.toml --extra dev --extra notebooks -o requirements/dev.txt
	$(LOCK) pyproject.toml -c requirements/dev.txt -o requirements/runtime.txt
	$(PYTHON) -c '$(EXECUTOR_DEPS)' | $(LOCK) - -c requirements/runtime.txt -o requirements/executor.txt

.local/jars/.resolved: conf/spark/pom.xml
	rm -rf .local/jars
	$(MVN) -f conf/spark/pom.xml dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=$(CURDIR)/.local/jars
	touch $@

.local/kafka/libs/.resolved: conf/kafka/pom.xml
	rm -rf .local/kafka/libs
	$(MVN) -f conf/kafka/pom.xml dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=$(CURDIR)/.local/kafka/libs
	touch $@

# The dedup operator and the statistics' transaction (jvm/): compiled against the Spark that pyspark
# brings and the Delta of the jars above, and put beside them.
.local/jars/settlement-jvm.jar: $(wildcard jvm/settlement/*.java) .local/jars/.resolved $(VENV)/.installed
	rm -rf .local/jvm && mkdir -p .local/jvm
	javac -nowarn --release 17 -d .local/jvm -cp "$$($(PY) -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')/jars/*:$(abspath $(wildcard .local/jars/delta-spark_*.jar))" $(filter %.java,$^)
	jar cf $@ -C .local/jvm .

# promtool, for the alert rules' tests (conf/prometheus): Debian's Prometheus package, unpacked
# here (no root, no install), so its version is the one named.
PROMETHEUS_DEB := prometheus=2.42.0+ds-5+deb12u1
.local/bin/promtool:
	rm -rf .local/prometheus && mkdir -p .local/prometheus .local/bin
	cd .local/prometheus && apt-get download -q $(PROMETHEUS_DEB) && dpkg -x prometheus_*.deb root
	ln -sf ../prometheus/root/usr/bin/promtool $@

setup: $(VENV)/.installed .local/jars/.resolved .local/kafka/libs/.resolved .local/jars/settlement-jvm.jar .local/bin/promtool

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

# The stream as production runs it: continuously, metrics served, until Ctrl-C. Beside it, in
# another terminal: curl -s localhost:9108/metrics | grep ^settlement, or python -m settlement status.
stream: kafka-start
	SETTLEMENT_MONITORING__METRICS_PORT=9108 SETTLEMENT_STREAM__TRIGGER_INTERVAL="5 seconds" \
		$(SPARK_SUBMIT) jobs/settlement.py

# Lint, formatting and types: each runs, and the target fails if any of them failed.
check-static: $(VENV)/.installed
	status=0; \
	$(VENV)/bin/ruff check . || status=1; \
	$(VENV)/bin/ruff format --check . || status=1; \
	$(VENV)/bin/mypy settlement || status=1; \
	exit $$status

# No broker, no jars: the tests not marked integration (pyproject.toml) run on the venv alone.
check: check-static .local/bin/promtool
	$(PY) -m pytest -m "not integration"

# make check first (lint, types, the tests that need neither broker nor JVM), then the rest; the
# security tests (tests/test_security.py) need the secured broker beside the plain one.
test: check kafka-start package
	bin/kafka.sh start secure
	$(PY) -m pytest -m integration

# Validation's properties over new random inputs (tests/test_input_path.py), and more of them
# through the real stream; a failure prints the example and how to replay it.
fuzz: kafka-start
	HYPOTHESIS_PROFILE=fuzz FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest tests/test_input_path.py tests/test_fast_path.py tests/test_hostile_stream.py

# What spark-submit ships to executors: the package as a wheel, which is a zip Python imports from
# (--py-files dist/settlement.zip), and the dependencies executors' Python must have, which are the
# project's less what the cluster's Spark brings (pyspark; delta-spark is only the driver's): their
# lock, requirements/executor.txt, which bin/cluster.sh installs with --require-hashes.
package: setup requirements/executor.txt
	rm -rf dist build
	$(PY) -m pip wheel -q --no-deps -w dist .
	rm -rf build
	cp dist/settlement-*.whl dist/settlement.zip
	cp .local/jars/settlement-jvm.jar dist/
	cp requirements/executor.txt dist/requirements.txt

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
	bin/kafka.sh stop secure

clean: stop
	rm -rf $(VENV) .local dist build .mypy_cache .ruff_cache
