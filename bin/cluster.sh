#!/usr/bin/env bash
# A Spark standalone cluster on this machine, from the pyspark installation: one master and two
# workers, each its own JVM, whose executors run Python from an environment of their own (the
# job's dependencies, not the settlement package: that comes with the job, dist/settlement.zip).
# Usage: bin/cluster.sh start|stop|status|kill-worker N. Logs and work folders live under .local/cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
home=.local/cluster
master_url=spark://127.0.0.1:7077
workers=(1 2)
worker_cores=${CLUSTER_WORKER_CORES:-1}
worker_memory=${CLUSTER_WORKER_MEMORY:-2g}
executor_python=$home/python/bin/python

running() { [[ -f $home/$1.pid ]] && kill -0 "$(cat "$home/$1.pid")" 2>/dev/null; }

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Each daemon in a session of its own: killing a worker's group takes its executors with it, as
# losing the machine would.
daemon() {
  local name=$1; shift
  local spark_home; spark_home=$(.venv/bin/python -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
  SPARK_HOME=$spark_home setsid nohup "$spark_home/bin/spark-class" "$@" > "$home/$name.log" 2>&1 &
  echo $! > "$home/$name.pid"
}

executor_environment() {
  [[ -f dist/requirements.txt ]] || { echo "cluster: no dist/requirements.txt; run 'make package'" >&2; exit 2; }
  if [[ ! -x $executor_python ]] || ! cmp -s dist/requirements.txt "$home/python/requirements.txt"; then
    echo "cluster: executors' Python environment from dist/requirements.txt ..."
    rm -rf "$home/python"
    python3.11 -m venv "$home/python"
    "$executor_python" -m pip install -q --require-hashes -r dist/requirements.txt
    cp dist/requirements.txt "$home/python/requirements.txt"
  fi
}

start_worker() {
  local n=$1
  running "worker-$n" && return
  mkdir -p "$home/work-$n"
  daemon "worker-$n" org.apache.spark.deploy.worker.Worker --host 127.0.0.1 --cores "$worker_cores" \
    --memory "$worker_memory" --webui-port "$((8080 + n))" --work-dir "$home/work-$n" "$master_url"
}

registered_workers() {
  curl -sf http://127.0.0.1:8080/json/ | .venv/bin/python -c \
    'import json, sys; print(sum(w["state"] == "ALIVE" for w in json.load(sys.stdin)["workers"]))'
}

start() {
  mkdir -p "$home"
  executor_environment
  if ! running master; then
    if answers 7077; then echo "cluster: port 7077 is taken by another process" >&2; exit 1; fi
    daemon master org.apache.spark.deploy.master.Master --host 127.0.0.1 --port 7077 --webui-port 8080
  fi
  for n in "${workers[@]}"; do start_worker "$n"; done
  for _ in $(seq 1 120); do
    if [[ $(registered_workers 2>/dev/null || echo 0) -ge ${#workers[@]} ]]; then
      echo "cluster: master $master_url (UI http://127.0.0.1:8080), ${#workers[@]} workers of $worker_cores core(s)" \
        "and $worker_memory; executors run $executor_python"
      return
    fi
    for name in master "${workers[@]/#/worker-}"; do
      running "$name" || { echo "cluster: $name exited; see $home/$name.log" >&2; tail -n 20 "$home/$name.log" >&2; exit 1; }
    done
    sleep 0.5
  done
  echo "cluster: workers did not register with the master within 60 s; see $home/*.log" >&2
  exit 1
}

stop_daemon() {
  local name=$1
  if running "$name"; then
    local pid; pid=$(cat "$home/$name.pid")
    kill -- "-$pid" 2>/dev/null || kill "$pid"
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$home/$name.pid"
}

stop() {
  for n in "${workers[@]}"; do stop_daemon "worker-$n"; done
  stop_daemon master
  echo "cluster: stopped"
}

kill_worker() {
  local n=$1
  running "worker-$n" || { echo "cluster: worker $n is not running" >&2; exit 1; }
  kill -9 -- "-$(cat "$home/worker-$n.pid")"
  rm -f "$home/worker-$n.pid"
  echo "cluster: worker $n and its executors killed"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status)
    if running master && answers 7077; then echo "cluster: up, $(registered_workers) workers alive"; else echo "cluster: down"; exit 1; fi ;;
  kill-worker) kill_worker "${2:?worker number}" ;;
  *) echo "usage: $0 start|stop|status|kill-worker N" >&2; exit 2 ;;
esac
