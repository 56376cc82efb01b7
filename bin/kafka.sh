#!/usr/bin/env bash
# Start, stop or check the local single-node Kafka broker (KRaft) built from Maven Central jars.
# Usage: bin/kafka.sh start|stop|status. Data and logs live under .local/kafka.
set -euo pipefail
cd "$(dirname "$0")/.."
home=.local/kafka
pidfile=$home/broker.pid
config=conf/kafka/server.properties
classpath="$home/libs/*"
java_opts=(-Xmx1g -Dlog4j2.configurationFile=conf/kafka/log4j2.yaml)

running() { [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

answers() { (exec 3<>/dev/tcp/localhost/9092) 2>/dev/null; }

start() {
  if running; then echo "kafka: already running (pid $(cat "$pidfile"))"; return; fi
  [[ -d $home/libs ]] || { echo "kafka: no broker jars in $home/libs; run 'make setup'" >&2; exit 2; }
  if answers; then echo "kafka: port 9092 is taken by another process" >&2; exit 1; fi
  local data=$PWD/$home/data
  if [[ ! -f $data/meta.properties ]]; then
    local overrides=$home/server.properties
    { cat "$config"; echo "log.dirs=$data"; } > "$overrides"
    java "${java_opts[@]}" -cp "$classpath" kafka.tools.StorageTool format \
      --cluster-id "$(java -cp "$classpath" kafka.tools.StorageTool random-uuid)" \
      --config "$overrides" > "$home/format.log"
  fi
  nohup java "${java_opts[@]}" -cp "$classpath" kafka.Kafka "$home/server.properties" > "$home/broker.log" 2>&1 &
  echo $! > "$pidfile"
  for _ in $(seq 1 120); do
    if answers; then echo "kafka: up on localhost:9092 (pid $(cat "$pidfile"), log $home/broker.log)"; return; fi
    running || { echo "kafka: broker exited; see $home/broker.log" >&2; tail -n 20 "$home/broker.log" >&2; exit 1; }
    sleep 0.5
  done
  echo "kafka: broker did not answer on localhost:9092 within 60 s; see $home/broker.log" >&2
  exit 1
}

stop() {
  if ! running; then echo "kafka: not running"; rm -f "$pidfile"; return; fi
  local pid; pid=$(cat "$pidfile")
  kill "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  rm -f "$pidfile"
  echo "kafka: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running && answers; then echo "kafka: up (pid $(cat "$pidfile"))"; else echo "kafka: down"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
